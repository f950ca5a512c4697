//! The sweep and the per-sandbox directories, on the real filesystem.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use super::*;
use crate::plan::tests::{boundary_parent, facts, outcome};
use crate::policy::{Policy, ResolveContext};

fn run_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let run = std::fs::canonicalize(t.path()).unwrap().join(RUN_DIR);
    std::fs::create_dir(&run).unwrap();
    (t, run)
}

#[test]
fn start_time_is_field_22_even_with_parentheses_in_the_name() {
    let mut line = b"42 (a) b) (c) S".to_vec();
    for field in 4..=21 {
        line.extend_from_slice(format!(" {field}").as_bytes());
    }
    line.extend_from_slice(b" 987654 23 24\n");
    assert_eq!(start_time_of(&line), Some(987654));
    assert_eq!(start_time_of(b"42 (x) S 1 2"), None);
    let me = std::process::id();
    let own = own_identity();
    assert_eq!((own.pid, own.start), (me, start_time(me).unwrap()));
    assert_eq!(own.boot.len(), 8, "{own:?}");
}

#[test]
fn names_are_fresh_owned_by_this_process_and_created_once() {
    let (_t, run) = run_dir();
    let a = name_fresh(&run);
    let b = name_fresh(&run);
    assert_ne!(a.dir, b.dir);
    assert_eq!(owner_of(a.dir.file_name().unwrap()), Some(own_identity()));
    assert!(!a.dir.exists(), "named, not made: explain leaves nothing");
    let guard = create(&a).unwrap();
    for d in [&a.dir, &a.home, &a.tmp] {
        let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    let err = create(&a).unwrap_err().to_string();
    assert!(err.contains("exists already"), "{err}");
    drop(guard);
    assert!(!a.dir.exists(), "removed with its guard");
}

#[test]
fn the_sweep_keeps_live_owners_and_odd_names_and_removes_the_rest() {
    let (_t, run) = run_dir();
    // Live: this process (and any seq of it).
    let live = name_fresh(&run);
    let _live = create(&live).unwrap();
    // Gone: pid 1 with a start time it never had; a pid that cannot exist;
    // this very process, but in an earlier boot.
    let boot = this_boot();
    let ns = this_pid_ns();
    let pid1 = start_time(1).unwrap_or(0);
    let recycled = run.join(format!("{boot}-{ns}-1-{}-0", pid1 + 1));
    let gone = run.join(format!("{boot}-{ns}-4194305-5-0"));
    let me = own_identity();
    let other = if boot == "00000000" {
        "ffffffff"
    } else {
        "00000000"
    };
    let rebooted = run.join(format!("{other}-{ns}-{}-{}-0", me.pid, me.start));
    // Another pid namespace of this boot (a container sharing the cache):
    // its pids are not ours to look up, so it is never taken for gone;
    // of an earlier boot, it is.
    let elsewhere = run.join(format!("{boot}-{}-4194305-5-0", ns + 1));
    let elsewhere_rebooted = run.join(format!("{other}-{}-4194305-5-0", ns + 1));
    // An owner that could not read its namespace: never taken for gone.
    let unknown_ns = run.join(format!("{boot}-0-4194305-5-0"));
    let odd = run.join("not-a-sandbox");
    let live_pid1 = run.join(format!("{boot}-{ns}-1-{pid1}-0"));
    for d in [
        &recycled,
        &gone,
        &rebooted,
        &odd,
        &live_pid1,
        &elsewhere,
        &elsewhere_rebooted,
        &unknown_ns,
    ] {
        std::fs::create_dir_all(d.join("home/.config")).unwrap();
    }
    assert_eq!(sweep(&run), None);
    assert!(live.home.is_dir());
    assert!(odd.is_dir(), "only sandspawn's names are touched");
    assert_eq!(live_pid1.is_dir(), start_time(1).is_some(), "pid 1 lives");
    assert!(!recycled.exists() && !gone.exists() && !rebooted.exists());
    assert!(elsewhere.is_dir(), "another pid namespace's is kept");
    assert!(unknown_ns.is_dir(), "an unknown namespace's is kept");
    assert!(!elsewhere_rebooted.exists());
}

#[test]
fn the_sweep_removes_unreadable_trees_and_never_follows_a_link() {
    let (t, run) = run_dir();
    let outside = t.path().join("precious");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "x").unwrap();
    let left = run.join(format!("{}-{}-4194305-5-1", this_boot(), this_pid_ns()));
    let home = left.join("home");
    std::fs::create_dir_all(home.join("locked/deeper")).unwrap();
    std::fs::write(home.join("locked/deeper/f"), "x").unwrap();
    symlink(&outside, home.join("link-dir")).unwrap();
    symlink(outside.join("keep"), home.join("link-file")).unwrap();
    symlink(&outside, home.join("locked/link")).unwrap();
    let ro = home.join("readonly");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("f"), "x").unwrap();
    for (d, mode) in [
        (&home.join("locked/deeper"), 0),
        (&home.join("locked"), 0),
        (&ro, 0o500),
    ] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    assert_eq!(sweep(&run), None);
    assert!(!left.exists());
    assert_eq!(std::fs::read_to_string(outside.join("keep")).unwrap(), "x");
    let mode = std::fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
    assert_ne!(mode, 0, "the link's target keeps its mode");
}

#[test]
fn a_tree_too_deep_is_reported_in_one_line_naming_it() {
    let (_t, run) = run_dir();
    let left = run.join(format!("{}-{}-4194305-5-2", this_boot(), this_pid_ns()));
    let mut deep = left.clone();
    for _ in 0..(MAX_DEPTH + 2) {
        deep = deep.join("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    let warning = sweep(&run).expect("reported");
    assert!(
        warning.starts_with("1 old Landlock HOME/TMPDIR directory could not be removed (first: ")
            && warning.contains(&left.display().to_string())
            && warning.ends_with("remove it by hand"),
        "{warning}"
    );
    assert!(!warning.contains('\n'));
    // The path once, from `run` down to the entry, then the error.
    let name = left.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(warning.matches(name.as_str()).count(), 1, "{warning}");
    assert!(warning.contains("/d/d/d: "), "{warning}");
}

#[test]
fn what_a_concurrent_sweep_removed_first_is_no_failure() {
    // Parallel plannings (an MCP client starting its servers at once)
    // sweep the same leftovers: one finds entries the other just removed,
    // and said "could not be removed (…: No such file or directory)".
    let (_t, run) = run_dir();
    let gone = run.join(format!("{}-{}-4194305-5-3", this_boot(), this_pid_ns()));
    let mut budget = 10;
    assert!(remove_within(&gone, &mut budget).is_ok());
    std::fs::create_dir_all(gone.join("home")).unwrap();
    let parent = open_dir(None, gone.as_os_str()).unwrap();
    std::fs::remove_dir(gone.join("home")).unwrap();
    assert!(remove_at(&parent, "home".as_ref(), 1, &mut budget).is_ok());
    assert!(remove_within(&gone, &mut budget).is_ok());
    assert!(!gone.exists());
}

#[test]
fn a_fresh_copy_of_a_plan_moves_home_tmpdir_and_their_grants() {
    let (_t, run) = run_dir();
    let dirs = name_fresh(&run);
    let mut plan = landlock_plan(dirs.clone());
    let (fresh, guard) = plan.with_fresh_private_dirs().unwrap();
    let new = fresh.private_dirs.clone().unwrap();
    assert_ne!(new.dir, dirs.dir);
    assert_eq!(
        guard.as_ref().and_then(|g| g.dir()),
        Some(new.dir.as_path())
    );
    assert_eq!(fresh.env.get("HOME"), Some(new.home.as_os_str()));
    assert_eq!(fresh.env.get("TMPDIR"), Some(new.tmp.as_os_str()));
    assert!(fresh.fs.writable(&new.home) && fresh.fs.writable(&new.tmp));
    assert!(!fresh.fs.readable(&dirs.home));
    assert!(new.home.is_dir() && !dirs.dir.exists());
    plan.private_dirs = None;
    assert!(plan.with_fresh_private_dirs().unwrap().1.is_none());
}

/// A plan that hides HOME and /tmp, with `dirs` standing in for them.
fn landlock_plan(dirs: PrivateDirs) -> crate::plan::Plan {
    let mut f = facts();
    f.no_private_mounts = Some(dirs);
    let cwd = Path::new("/work/proj");
    let ctx = ResolveContext {
        cwd,
        home: Some(Path::new("/home/u")),
    };
    let policy = Policy::resolve(&[], &ctx).unwrap();
    let parent = boundary_parent();
    let plan = crate::plan::assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &parent,
        outcome(true, false),
        &f,
    );
    assert!(plan.env.get("HOME").is_some_and(|h| h != "/home/u"));
    plan
}

#[test]
fn a_huge_leftover_is_removed_over_several_sweeps_without_a_warning() {
    let (_t, run) = run_dir();
    let left = run.join(format!("{}-{}-4194305-5-3", this_boot(), this_pid_ns()));
    let tmp = left.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let files = SWEEP_BUDGET + SWEEP_BUDGET / 2;
    for i in 0..files {
        std::fs::write(tmp.join(i.to_string()), "").unwrap();
    }
    assert_eq!(sweep(&run), None, "deferred, not failed");
    let left_over = std::fs::read_dir(&tmp).unwrap().count();
    assert!(left_over > 0 && left_over < files, "{left_over}");
    assert_eq!(sweep(&run), None);
    assert!(!left.exists(), "the second sweep finished it");
}

#[test]
fn the_older_shared_home_and_tmp_are_swept_and_what_stays_is_named() {
    let t = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(t.path()).unwrap();
    let cache = root.join("sandspawn");
    std::fs::create_dir_all(cache.join("home/.ssh")).unwrap();
    // A cache root of another name (a library host's `cache_dir` of
    // `~/.cache/trust` makes it `~/.cache`) holds someone else's `home`:
    // never touched.
    let other = root.join("elsewhere");
    std::fs::create_dir_all(other.join("home/keep")).unwrap();
    std::fs::create_dir_all(other.join("tmp")).unwrap();
    assert_eq!(sweep_legacy(&other), (Vec::new(), None));
    assert!(other.join("home/keep").is_dir() && other.join("tmp").is_dir());
    // A link there is not ours to follow or remove.
    symlink(&other, cache.join("tmp")).unwrap();
    std::fs::write(cache.join("home/.ssh/id"), "k").unwrap();
    std::fs::write(root.join("keep"), "mine").unwrap();
    symlink(root.join("keep"), cache.join("home/out")).unwrap();
    assert_eq!(sweep_legacy(&cache), (Vec::new(), None));
    assert!(!cache.join("home").exists());
    assert!(cache.join("tmp").is_symlink() && other.join("home/keep").is_dir());
    assert_eq!(std::fs::read_to_string(root.join("keep")).unwrap(), "mine");
    // Nothing there: nothing done, nothing said.
    assert_eq!(sweep_legacy(&cache), (Vec::new(), None));
}

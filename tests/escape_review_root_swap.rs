//! A root replaced between planning and start: the plan judged `out` a
//! plain directory of the workspace, then a process that writes the
//! workspace (a sandbox still running with `--write .`) swapped it for a
//! link to `~/tgt`, and bwrap's `--bind` followed the link: `touch
//! out/pwn` created `~/tgt/pwn` on the host (7 in 30 tries, racing). Now
//! each user root, and each protected path bound read-only inside one, is
//! checked by identity (device and inode) inside the sandbox before the
//! command runs: refused, 125, one line; under `run` and `mcp` (whose
//! child gets the spec encoded).
//!
//! No race: a `bwrap` earlier on PATH (outside every root, as sandspawn
//! requires) does the swap and then execs the real one, exactly when the
//! concurrent writer would have to. Swapped before bwrap starts, the link
//! is followed at both ends of the bind, so it must lead somewhere that
//! exists inside too, relative (bwrap mounts below its new root):
//! `out -> ../home` (the sandbox's private HOME is there) binds the
//! host's HOME over it. The Landlock backend's check (on the rule's own
//! descriptor) is driven through the helper in
//! `linux/tests/helper_entry.rs` and `ruleset`'s unit tests: under
//! `sandspawn`, planning and confinement run in one process with nothing
//! to step in between.
//!
//! Skips print their reason and fail under `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{scrubbed, skip, stderr, write_script, Scratch};

use std::path::Path;
use std::process::Output;

/// `home` (HOME, where the link leads), `ws/out` (the workspace and the
/// root inside it), `bin` (the stand-in bwrap) and `xdg` (sandspawn's
/// cache, not under HOME).
fn scratch() -> Scratch {
    Scratch::new(&["home", "ws/out", "bin", "xdg"])
}

/// The real bwrap, when this host has one.
fn real_bwrap() -> Option<&'static Path> {
    ["/usr/bin/bwrap", "/bin/bwrap"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

/// A `bwrap` in `bin` that runs `swap` once (the first call comes after
/// sandspawn has planned: it looks for bwrap only to start the sandbox;
/// `marker` says it ran), then the real one.
fn swapping_bwrap(s: &Scratch, real: &Path, swap: &str) {
    let marker = s.path("bin/swapped");
    write_script(
        &s.path("bin/bwrap"),
        &format!(
            "#!/bin/sh\n[ -e '{m}' ] || {{ {swap} && : > '{m}'; }}\nexec {} \"$@\"\n",
            real.display(),
            m = marker.display()
        ),
    );
}

/// `sandspawn run --backend bwrap --write . --write out -- CMD` in `ws`,
/// with `bin` first on PATH.
fn run(s: &Scratch, cmd: &[&str]) -> Output {
    run_as(s, "run", cmd)
}

/// [`run`] under subcommand `sub` (`mcp` hands the spec to a child of its
/// own, encoded, and that child starts the sandbox).
fn run_as(s: &Scratch, sub: &str, cmd: &[&str]) -> Output {
    scrubbed(&s.path("home"), Some(&s.path("xdg")), &s.path("ws"))
        .env("PATH", format!("{}:/usr/bin:/bin", s.path("bin").display()))
        .args([
            sub,
            "--backend",
            "bwrap",
            "--write",
            ".",
            "--write",
            "out",
            "--",
        ])
        .args(cmd)
        .output()
        .unwrap()
}

fn changed(s: &Scratch) -> String {
    changed_at(&s.path("ws/out"))
}

fn changed_at(root: &Path) -> String {
    format!(
        "sandspawn: root {} changed between planning and start (another object or none is there now: device/inode differ; was it replaced or moved?); \
         nothing was run: check what writes there, then plan and start again\n",
        root.display()
    )
}

fn usable() -> Option<&'static Path> {
    let Some(real) = real_bwrap() else {
        skip("no bwrap on this host");
        return None;
    };
    let s = scratch();
    swapping_bwrap(&s, real, ":");
    let out = run(&s, &["true"]);
    if !out.status.success() {
        skip(&format!(
            "`sandspawn run --backend bwrap` does not work here: {}",
            stderr(&out)
        ));
        return None;
    }
    Some(real)
}

#[test]
fn a_root_swapped_for_a_link_after_planning_is_refused() {
    let Some(real) = usable() else { return };
    for sub in ["run", "mcp"] {
        let s = scratch();
        let (out_dir, tgt) = (s.path("ws/out"), s.path("home"));
        swapping_bwrap(
            &s,
            real,
            &format!(
                "rmdir '{}' && ln -s ../home '{}'",
                out_dir.display(),
                out_dir.display()
            ),
        );
        let out = run_as(&s, sub, &["touch", "out/pwn"]);
        assert_eq!(out.status.code(), Some(125), "{sub}: {}", stderr(&out));
        assert_eq!(stderr(&out), changed(&s), "{sub}");
        assert!(out_dir.is_symlink(), "{sub}: the stand-in did swap it");
        let left: Vec<_> = std::fs::read_dir(&tgt).unwrap().collect();
        assert!(left.is_empty(), "{sub}: {left:?}");
    }
}

/// Not only links: another directory at the same path is another root.
#[test]
fn a_root_replaced_by_another_directory_is_refused() {
    let Some(real) = usable() else { return };
    let s = scratch();
    let out_dir = s.path("ws/out");
    swapping_bwrap(
        &s,
        real,
        &format!("mv '{d}' '{d}.old' && mkdir '{d}'", d = out_dir.display()),
    );
    let out = run(&s, &["touch", "out/pwn"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(stderr(&out), changed(&s));
    assert!(!out_dir.join("pwn").exists());
    assert!(!s.path("ws/out.old/pwn").exists());
}

/// A protected path inside a writable root (`.git`, bound read-only) is
/// a root of its own: swapped for `../home`, bwrap bound the host's HOME
/// read-only over the sandbox's private one, and the child read it.
#[test]
fn a_protected_path_swapped_for_a_link_after_planning_is_refused() {
    let Some(real) = usable() else { return };
    let s = scratch();
    std::fs::create_dir(s.path("ws/.git")).unwrap();
    std::fs::write(s.path("home/secret"), "host secret\n").unwrap();
    let git = s.path("ws/.git");
    swapping_bwrap(
        &s,
        real,
        &format!(
            "mv '{g}' '{g}.old' && ln -s ../home '{g}'",
            g = git.display()
        ),
    );
    let secret = s.path("home/secret");
    let out = run(&s, &["cat", secret.to_str().unwrap()]);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(stderr(&out), changed_at(&git));
}

/// Unchanged roots start as before, on both backends.
#[test]
fn unchanged_roots_start_as_before() {
    for backend in support::backends(|b| support::unusable(b, || Ok(plain(&scratch(), b, "x")))) {
        let s = scratch();
        let out = plain(&s, backend, "ok");
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        assert!(s.path("ws/out/ok").is_file(), "{backend}");
    }
}

fn plain(s: &Scratch, backend: &str, name: &str) -> Output {
    scrubbed(&s.path("home"), Some(&s.path("xdg")), &s.path("ws"))
        .args([
            "run",
            "--backend",
            backend,
            "--write",
            ".",
            "--write",
            "out",
        ])
        .args(["--", "touch", &format!("out/{name}")])
        .output()
        .unwrap()
}

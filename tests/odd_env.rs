//! `sandspawn run` in odd environments: each gets sandspawn's own one-line
//! refusal (exit 125) or runs as planned, never a failure of a tool
//! underneath that looks like the child's, and never a host view the plan
//! did not promise.
//!
//! Skips print their reason and fail under `SANDSPAWN_MUST_WORK=1`.

use std::path::Path;
use std::process::{Command, Output};

mod support;
use support::{scrubbed, skip, SANDSPAWN};

fn run(home: &Path, cwd: &Path, args: &[&str]) -> Output {
    scrubbed(home, Some(&home.join("cache")), cwd)
        .args(args)
        .output()
        .unwrap()
}

fn bwrap_works(home: &Path) -> bool {
    let probe = run(home, home, &["run", "--backend", "bwrap", "--", "true"]);
    if !probe.status.success() {
        skip(&format!(
            "bwrap does not work here: {}",
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    probe.status.success()
}

/// A grant of /proc (here the working directory's) must not bind the host's
/// /proc over the sandbox's fresh one: the pid namespace would show every
/// host process. Inside, only the sandbox's own processes are listed.
#[test]
fn a_working_directory_of_proc_shows_the_sandboxs_own_proc() {
    let home = tempfile::tempdir().unwrap();
    if !bwrap_works(home.path()) {
        return;
    }
    let out = run(
        home.path(),
        Path::new("/proc"),
        &[
            "run",
            "--backend",
            "bwrap",
            "--",
            "sh",
            "-c",
            // The sandbox's pid 1 is its init, and our sh one of a few pids.
            "ls -d [0-9]* | wc -l",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let pids: u32 = stdout.trim().parse().unwrap();
    assert!(pids <= 4, "host processes show through: {pids} pids");
    assert!(
        stderr.contains(
            "sandspawn: warning: /proc: the sandbox's own /proc stands in for the host's (bwrap backend)"
        ),
        "{stderr}"
    );
}

/// A working directory below /proc (`cd /proc/self`) does not exist in the
/// sandbox's fresh /proc: one line of sandspawn's, not bwrap's "Can't mkdir
/// /proc/N" and exit 1.
#[test]
fn a_working_directory_below_proc_is_refused_on_bwrap() {
    let home = tempfile::tempdir().unwrap();
    if !bwrap_works(home.path()) {
        return;
    }
    let cwd = std::fs::canonicalize("/proc/self").unwrap();
    let out = run(
        home.path(),
        &cwd,
        &["run", "--backend", "bwrap", "--", "true"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "sandspawn: working directory {}: inside /proc, which the bwrap sandbox replaces \
             with its own; run from another directory, or use --backend landlock\n",
            cwd.display()
        )
    );
}

/// Nested under a sandbox that left HOME read-only, the Landlock backend
/// cannot make its stand-in HOME and TMPDIR beside the trust cache: the
/// line says what to do, as the trust cache's own errors do.
#[test]
fn an_unwritable_landlock_home_names_the_remedy() {
    let home = tempfile::tempdir().unwrap();
    let base = home.path().join("cache/sandspawn");
    std::fs::create_dir_all(&base).unwrap();
    // A file where the directory goes: mkdir fails as it would read-only.
    std::fs::write(base.join("run"), "").unwrap();
    let out = run(
        home.path(),
        home.path(),
        &["run", "--backend", "landlock", "--", "true"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "sandspawn: creating {}: File exists (os error 17); \
             set XDG_CACHE_HOME to a directory you own\n",
            base.join("run").display()
        )
    );
}

/// `doctor` inside a sandbox (an agent host that is itself sandboxed): the
/// outer sandbox's seccomp filter is what refuses user namespaces, and the
/// remedy says so, rather than sending the user to their container's
/// seccomp profile.
#[test]
fn doctor_inside_a_sandbox_blames_the_outer_sandbox() {
    let home = tempfile::tempdir().unwrap();
    if !bwrap_works(home.path()) {
        return;
    }
    // HOME outside the working directory: the sandbox's HOME is a private,
    // writable tmpfs, so the inner trust cache has somewhere to go.
    let ws = home.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    let out = run(
        home.path(),
        &ws,
        &["run", "--read", SANDSPAWN, "--", SANDSPAWN, "doctor"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "\n    fix: this process already runs in a sandbox (a seccomp filter under \
             no_new_privs), which refuses new user namespaces; use --backend landlock \
             (auto does), or start it outside that sandbox\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("seccomp=unconfined"), "{stdout}");
}

/// `mcp --report` with the default `auto` names why the backend was
/// picked, as `run --report` does, not "requested".
#[test]
fn mcp_report_says_why_auto_picked_its_backend() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        home.path(),
        &["mcp", "--report", "--no-host-env", "--", "true"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("sandspawn: backend: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(!line.ends_with("(requested)"), "{line}");
    let run_line = run(home.path(), home.path(), &["run", "--report", "--", "true"]);
    let run_stderr = String::from_utf8_lossy(&run_line.stderr);
    assert!(
        run_stderr.lines().any(|l| l == line),
        "{line}\n{run_stderr}"
    );
}

/// A cache directory another user can write into (a shared
/// XDG_CACHE_HOME such as /tmp, where anyone may create `sandspawn/` first)
/// is refused: the Landlock backend's stand-in TMPDIR and HOME live there,
/// and so does the trust cache.
#[test]
fn planted_shared_cache_directories_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("cache/sandspawn");
    let tmp = root.join("run");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(
        home.path(),
        home.path(),
        &["run", "--backend", "landlock", "--", "true"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "sandspawn: cache directory {} is accessible to other users (mode 777); \
             remove it or use another cache directory\n",
            tmp.display()
        )
    );
    // The directory everything sits in, planted writable for all.
    std::fs::remove_dir(&tmp).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(home.path(), home.path(), &["run", "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "sandspawn: cache directory {} is group- or world-writable (mode 777); \
             remove it or use another cache directory\n",
            root.display()
        )
    );
}

/// A working directory without search permission (`chmod 000`): bwrap
/// cannot enter it even for root (its sandbox has no capabilities), and
/// failed with its own "Can't chdir" and exit 1, the child's status space.
#[test]
fn an_unsearchable_working_directory_is_refused_on_bwrap() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    if !bwrap_works(home.path()) {
        return;
    }
    let ws = home.path().join("locked");
    std::fs::create_dir(&ws).unwrap();
    std::fs::set_permissions(&ws, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(
        home.path(),
        home.path(),
        &["run", "--backend", "bwrap", "--cwd", "locked", "--", "true"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "sandspawn: working directory {}: not searchable (mode 600), so the sandbox \
             cannot start in it; chmod u+x it or run from another directory\n",
            ws.display()
        )
    );
}

/// HOME naming a file: the line says it is not a directory, not that it
/// does not exist.
#[test]
fn a_home_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("home-file");
    std::fs::write(&file, "").unwrap();
    let out = scrubbed(&file, None, dir.path())
        .args(["run", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "sandspawn: cache directory {0}/.cache/sandspawn/trust would be made under {0}, \
             which is not a directory (is HOME or XDG_CACHE_HOME right?); \
             set XDG_CACHE_HOME to a directory you own\n",
            file.display()
        )
    );
}

/// Runs `args` and returns its output, or None when it is still running
/// after `secs` (then it is killed).
fn finishes_within(home: &Path, args: &[&str], secs: u64) -> Option<Output> {
    let mut child = scrubbed(home, Some(&home.join("cache")), home)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(secs) {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A FIFO nobody writes to, or an endless device, named as a policy or a
/// client config: sandspawn must answer, not block in open() or read until
/// memory runs out. The FIFO's writer is waited for (one may still come),
/// for the pipe wait of 10 s, then it is an error naming the file: not an
/// empty policy or config.
#[test]
fn policy_and_config_files_that_never_end_do_not_hang() {
    let home = tempfile::tempdir().unwrap();
    let fifo = home.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();
    let waited = "not a regular file, and no writer opened it within 10 s";
    for (args, want) in [
        (
            &["run", "--policy", fifo, "--", "true"][..],
            format!("sandspawn: policy file {fifo}: {waited}; check the path and its permissions"),
        ),
        (
            &["mcp", "--config", fifo, "--server", "x"],
            format!("sandspawn: MCP config {fifo}: {waited}"),
        ),
        (
            &["mcp", "--config", "/dev/zero", "--server", "x"],
            format!(
                "sandspawn: MCP config /dev/zero: larger than {} bytes",
                16 << 20
            ),
        ),
    ] {
        let out = finishes_within(home.path(), args, 20)
            .unwrap_or_else(|| panic!("{args:?} still running after 20 s"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end(), want, "{args:?}");
    }
    // The user config (XDG_CONFIG_HOME/sandspawn/config.toml) too.
    let config = home.path().join("xdg/sandspawn");
    std::fs::create_dir_all(&config).unwrap();
    std::os::unix::fs::symlink("/dev/zero", config.join("config.toml")).unwrap();
    let cache = home.path().join("cache");
    let out = scrubbed(home.path(), Some(&cache), home.path())
        .env("XDG_CONFIG_HOME", home.path().join("xdg"))
        .args(["mcp", "--no-host-env", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");
}

/// Landlock has no right for file modes, times or user xattrs: as root
/// that reaches every root-owned host file. Said on every Landlock run as
/// root (a degraded control is never silent), and only then.
#[test]
fn landlock_as_root_says_that_file_metadata_stays_changeable() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        home.path(),
        &["run", "--backend", "landlock", "--", "true"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = format!(
        "sandspawn: landlock backend: {}\n",
        sandspawn_linux::ROOT_METADATA
    );
    let root = nix::unistd::geteuid().is_root();
    assert_eq!(
        stderr.contains(&line),
        root,
        "root: {root}; stderr: {stderr}"
    );
}

/// Landlock shows a hidden directory's names (it governs opening, not
/// lookup): a PATH entry the sandbox hides must not be searched, or a shell
/// (and Python, for `sys.executable`) takes a program there that cannot
/// run, where bwrap's search goes on to the next entry. Here a pyenv-like
/// shim directory in the hidden HOME comes first in PATH.
#[test]
fn landlock_leaves_hidden_directories_out_of_path() {
    let home = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let shims = home.path().join("shims");
    for dir in [shims.as_path(), tools.path()] {
        std::fs::create_dir_all(dir).unwrap();
        let tool = dir.join("qa-tool");
        support::write_script(&tool, "#!/bin/sh\necho ran\n");
    }
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        shims.display(),
        tools.path().display()
    );
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        // The working directory is readable (and HOME, beside it, hidden).
        .current_dir(tools.path())
        .args(["run", "--backend", "landlock", "--", "sh", "-c"])
        .arg("echo \"$PATH\"; command -v qa-tool")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("Landlock") && stderr.contains("not supported") {
        skip(&format!("Landlock unavailable: {stderr}"));
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let visible = tools.path().join("qa-tool");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}:/usr/bin:/bin\n{}\n",
            tools.path().display(),
            visible.display()
        )
    );
}

/// A TMPDIR below the private /tmp (pam_tmpdir's /tmp/user/UID) exists on
/// the host but not in the sandbox's fresh tmpfs: it is replaced, so
/// mktemp works inside on both backends, and the host's directory stays
/// untouched.
#[test]
fn a_tmpdir_below_the_private_tmp_is_replaced_so_mktemp_works() {
    let home = tempfile::tempdir().unwrap();
    if !bwrap_works(home.path()) {
        return;
    }
    let host_tmp = tempfile::Builder::new()
        .prefix("pam-tmpdir")
        .tempdir_in("/tmp")
        .unwrap();
    let tmpdir = host_tmp.path().join("user").join("1000");
    std::fs::create_dir_all(&tmpdir).unwrap();
    for (backend, want) in [("bwrap", Some("/tmp")), ("landlock", None)] {
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env("TMPDIR", &tmpdir)
            .current_dir(home.path())
            .args(["run", "--backend", backend, "--"])
            .args(["sh", "-c", "printf '%s\\n' \"$TMPDIR\" && mktemp"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{backend}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = stdout.lines();
        let inside = lines.next().unwrap_or_default();
        assert_ne!(Path::new(inside), tmpdir, "{backend}");
        if let Some(want) = want {
            assert_eq!(inside, want, "{backend}");
        }
        let made = lines.next().unwrap_or_default();
        assert!(
            made.starts_with(&format!("{inside}/tmp.")),
            "{backend}: {made}"
        );
    }
    assert_eq!(std::fs::read_dir(&tmpdir).unwrap().count(), 0);
}

//! Run from HOME, the default preset's "working directory readable" would
//! be all of HOME: a proxy's CA key in `~/.mitmproxy`, an MCP client's
//! tokens. Such a directory is no project: presets leave it out, with one
//! warning naming the remedy, on both backends; a `--read .` of the user's
//! still grants it.
//!
//! Skips print their reason and fail under `SANDSPAWN_MUST_WORK=1`.

mod support;

use support::{backend_runs_with, scrubbed, stderr};

const WARNING: &str = "sandspawn: warning: the working directory {HOME} holds HOME: preset \
                       readonly does not make it readable (that would expose every file there \
                       to the command); run from a project directory, or pass --read . to grant \
                       it anyway\n";

#[test]
fn run_from_home_does_not_read_home_unless_asked() {
    let home = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let home = std::fs::canonicalize(home.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let key = home.join(".mitmproxy/mitmproxy-ca.pem");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let warning = WARNING.replace("{HOME}", home.to_str().unwrap());
    for (backend, errno) in [("bwrap", "ENOENT"), ("landlock", "EACCES")] {
        if !backend_runs_with(
            backend,
            &[("HOME", &home), ("XDG_CACHE_HOME", cache.path())],
        ) {
            continue;
        }
        let read = |extra: &[&str]| {
            scrubbed(&home, Some(cache.path()), &home)
                .args(["run", "--backend", backend])
                .args(extra)
                .args(["--", "/usr/bin/python3", "-c"])
                .arg(
                    "import errno, sys\n\
                     try:\n    open(sys.argv[1]).read(); print('OK')\n\
                     except OSError as e: print(errno.errorcode[e.errno])",
                )
                .arg(&key)
                .output()
                .unwrap()
        };
        let out = read(&[]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{errno}\n"),
            "{backend}"
        );
        assert!(
            stderr(&out).contains(&warning),
            "{backend}: {}",
            stderr(&out)
        );
        assert_eq!(
            stderr(&out).matches("working directory").count(),
            1,
            "{backend}"
        );
        // The user's own `.` grants it, and nothing is said.
        let out = read(&["--read", "."]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n", "{backend}");
        assert!(
            !stderr(&out).contains("working directory"),
            "{backend}: {}",
            stderr(&out)
        );
    }
}

/// `--write ~` from a project under HOME: the default preset's `read .`
/// is the deeper rule there and made the project read-only, narrowing
/// what the user wrote. A preset's read within a user's write is dropped;
/// the default denies (credential stores) still win inside that HOME.
#[test]
fn write_home_keeps_the_project_writable_and_credentials_hidden() {
    let home = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let home = std::fs::canonicalize(home.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let proj = home.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let key = home.join(".ssh/id_ed25519");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, "secret\n").unwrap();
    for (backend, errno) in [("bwrap", "ENOENT"), ("landlock", "EACCES")] {
        if !backend_runs_with(
            backend,
            &[("HOME", &home), ("XDG_CACHE_HOME", cache.path())],
        ) {
            continue;
        }
        let out = scrubbed(&home, Some(cache.path()), &proj)
            .args(["run", "--backend", backend, "--write", "~"])
            .args(["--", "/usr/bin/python3", "-c"])
            .arg(
                "import errno, sys\n\
                 def t(op, p):\n    try:\n        open(p, op).close(); return 'OK'\n    \
                 except OSError as e: return errno.errorcode[e.errno]\n\
                 print(t('w', sys.argv[1]), t('r', sys.argv[2]))",
            )
            .arg(proj.join("f"))
            .arg(&key)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("OK {errno}\n"),
            "{backend}: {}",
            stderr(&out)
        );
        assert!(proj.join("f").exists(), "{backend}");
        std::fs::remove_file(proj.join("f")).unwrap();
    }
}

/// A working directory that is itself hidden (`--deny .`, or run from
/// `~/.ssh`) left the command in an empty or unreadable directory without
/// a word; only one strictly inside a hidden path was warned about.
#[test]
fn a_hidden_working_directory_is_warned_about() {
    let home = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let home = std::fs::canonicalize(home.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let proj = home.join("proj");
    let ssh = home.join(".ssh");
    for d in [&proj, &ssh] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("file"), "x").unwrap();
    }
    for backend in ["bwrap", "landlock"] {
        if !backend_runs_with(
            backend,
            &[("HOME", &home), ("XDG_CACHE_HOME", cache.path())],
        ) {
            continue;
        }
        for (cwd, extra, reason) in [
            (&proj, &["--deny", "."][..], "flags"),
            (&ssh, &[][..], "default deny (credential stores)"),
        ] {
            let out = scrubbed(&home, Some(cache.path()), cwd)
                .args(["run", "--backend", backend])
                .args(extra)
                .args(["--", "/bin/cat", "file"])
                .output()
                .unwrap();
            assert!(out.stdout.is_empty(), "{backend}: the file is hidden");
            let want = format!(
                "sandspawn: warning: the working directory {cwd} is hidden (deny {cwd} \
                 [{reason}]): the command starts there but sees none of it; run from another \
                 directory (a deny at the same path wins over a grant there)",
                cwd = cwd.display()
            );
            assert_eq!(
                stderr(&out).lines().filter(|l| *l == want).count(),
                1,
                "{backend}: want\n{want}\ngot\n{}",
                stderr(&out)
            );
        }
    }
}

/// A `--read .` of the user's does not make up for the write that
/// `workspace` withheld from HOME: that is still said.
#[test]
fn a_withheld_write_is_said_though_the_user_reads_the_directory() {
    let home = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let home = std::fs::canonicalize(home.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    if !backend_runs_with(
        "bwrap",
        &[("HOME", &home), ("XDG_CACHE_HOME", cache.path())],
    ) {
        return;
    }
    let out = scrubbed(&home, Some(cache.path()), &home)
        .args(["run", "--preset", "workspace", "--read", ".", "--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let want = format!(
        "sandspawn: warning: the working directory {} holds HOME: preset workspace does not make \
         it writable (that would expose every file there to the command); run from a project \
         directory, or pass --write . to grant it anyway\n",
        home.display()
    );
    assert_eq!(stderr(&out).matches(&want).count(), 1, "{}", stderr(&out));
}

//! Policy paths at the edges, through the real binary on both backends:
//! what `explain` lists must be what `run` then enforces. The parent's
//! environment is scrubbed.

use std::path::Path;
use std::process::{Command, Output};

mod support;
use support::{backend_runs, SANDSPAWN};

fn sandspawn(r: &Path, args: &[&str]) -> Output {
    Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", r.join("home"))
        .env("XDG_CACHE_HOME", r.join("cache"))
        .current_dir(r.join("ws"))
        .args(args)
        .output()
        .unwrap()
}

/// A root that is a symlink leading nowhere (dangling, or a loop) is a
/// missing root: listed with a warning, not mounted. bwrap was asked to
/// bind its target and failed ("Can't find source path …", exit 1), while
/// explain showed a plain grant and Landlock ran.
#[test]
fn a_root_that_is_a_link_leading_nowhere_is_a_missing_root_on_both_backends() {
    for backend in ["bwrap", "landlock"] {
        if !backend_runs(backend) {
            continue;
        }
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // The links lie outside the project: in it, a link leading out
        // of it or nowhere is refused as one a sandbox could have left
        // (tests/escape_redteam_grant_links.rs).
        for dir in ["home", "ws", "cache", "links"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink(r.join("gone"), r.join("links/dangling")).unwrap();
        std::os::unix::fs::symlink("loop2", r.join("links/loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", r.join("links/loop2")).unwrap();
        let (dangling, loop1) = (r.join("links/dangling"), r.join("links/loop1"));
        let args = [
            "--backend",
            backend,
            "--write",
            dangling.to_str().unwrap(),
            "--read",
            loop1.to_str().unwrap(),
        ];
        let warning = |path: &str, what: &str, why: &str| {
            format!(
                "sandspawn: warning: {what} {} (from flags): a symlink that leads nowhere ({why}); it will not be visible in the sandbox",
                r.join("links").join(path).display()
            )
        };
        let want = [
            warning(
                "dangling",
                "--write",
                "No such file or directory (os error 2)",
            ),
            warning(
                "loop1",
                "--read",
                "Too many levels of symbolic links (os error 40)",
            ),
        ];
        let mut run_args = vec!["run"];
        run_args.extend(args);
        run_args.extend(["--", "/bin/sh", "-c", "echo started"]);
        let out = sandspawn(r, &run_args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{backend}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "started\n");
        for line in &want {
            assert!(
                stderr.lines().any(|l| l == line),
                "{backend}: {line}\n{stderr}"
            );
        }
        assert!(
            !r.join("gone").exists(),
            "{backend}: the target was created"
        );

        let mut verify_args = vec!["explain", "--verify"];
        verify_args.extend(args);
        verify_args.extend(["--", "true"]);
        let out = sandspawn(r, &verify_args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{backend}: {stdout}");
        assert!(!stdout.contains("FAIL"), "{backend}: {stdout}");
    }
}

/// `explain --verify` on paths bwrap must show the way through: a working
/// directory inside a hidden directory (the command starts there), and a
/// hidden link whose target holds a granted file. Both failed "1 entries
/// visible" (exit 1) on bwrap where the plan held; and a cwd inside a
/// hidden /tmp (the private /tmp replaces the deny) did not exist at all
/// ("Can't chdir").
#[test]
fn a_hidden_dir_showing_only_the_way_to_the_cwd_or_a_grant_verifies_clean() {
    for backend in ["bwrap", "landlock"] {
        if !backend_runs(backend) {
            continue;
        }
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for dir in ["home", "ws/deep/cwd", "cache", "outside"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::write(r.join("ws/deep/host.txt"), "host\n").unwrap();
        std::fs::write(r.join("outside/o.txt"), "o\n").unwrap();
        std::fs::write(r.join("outside/p.txt"), "p\n").unwrap();
        std::os::unix::fs::symlink(r.join("outside"), r.join("ws/link")).unwrap();
        // The temporary directory holding it all (/tmp: replaced by the
        // private /tmp on bwrap, which then hid the cwd too).
        let temp = r.parent().unwrap().to_str().unwrap();
        // Through a link in a read root, a grant must lead where one
        // written without it does (else it is refused as planted, see
        // tests/escape_redteam_grant_links.rs): `o.txt` is named too.
        let o = r.join("outside/o.txt");
        let cases: [&[&str]; 3] = [
            // Relative paths are the command's: `..` is ws/deep.
            &["--cwd", "deep/cwd", "--preset", "read-all", "--deny", ".."],
            &[
                "--read",
                ".",
                "--deny",
                "link",
                "--read",
                "link/o.txt",
                "--read",
                o.to_str().unwrap(),
            ],
            &["--preset", "read-all", "--deny", temp],
        ];
        for case in cases {
            let mut args = vec!["explain", "--verify", "--backend", backend];
            args.extend(case);
            args.extend(["--", "true"]);
            let out = sandspawn(r, &args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let report: Vec<&str> = stdout
                .lines()
                .skip_while(|l| !l.starts_with("verify (inside"))
                .collect();
            let report = report.join("\n");
            assert_eq!(out.status.code(), Some(0), "{backend} {case:?}:\n{report}");
            assert!(!report.contains("FAIL"), "{backend} {case:?}:\n{report}");
        }
    }
}

/// A grant of /dev or of a node the private /dev has (`--read /dev/null`,
/// an agent host's defensive habit) left /dev/null refusing every open on
/// bwrap (EACCES: the host's node bound without device access) while
/// explain listed it as readable. The sandbox's own /dev answers it now.
#[test]
fn granting_dev_nodes_keeps_them_working_on_both_backends() {
    for backend in ["bwrap", "landlock"] {
        if !backend_runs(backend) {
            continue;
        }
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for dir in ["home", "ws", "cache"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        let grants = [
            "--read",
            "/dev",
            "--read",
            "/dev/null",
            "--write",
            "/dev/urandom",
        ];
        let mut args = vec!["run", "--backend", backend];
        args.extend(grants);
        let script =
            "cat /dev/null && echo x > /dev/null && head -c1 /dev/urandom >/dev/null && echo ok";
        args.extend(["--", "/bin/sh", "-c", script]);
        let out = sandspawn(r, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "{backend}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(0), "{backend}: {stderr}");
        if backend == "bwrap" {
            let line = "sandspawn: warning: /dev/null: the sandbox's own /dev stands in for the host's (bwrap backend)";
            assert!(stderr.lines().any(|l| l == line), "{stderr}");
        }
    }
}

//! Landlock sandboxes' own HOME and TMPDIR live under the cache root of
//! their environment (`~/.cache/sandspawn/run/…` for an MCP client's
//! servers given HOME alone). Every plan hid its own cache root's `run`,
//! but a run whose environment names another (XDG_CACHE_HOME set, as in a
//! shell) with `--read ~` read a live Landlock sandbox's HOME there, a
//! token it saved included, on both backends. Now the `run` of both
//! default cache roots is hidden.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{skip, stderr, SANDSPAWN};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `top/home` (HOME), `top/xdg` and `top/ws` (the cwd).
struct Top {
    _tmp: tempfile::TempDir,
    top: PathBuf,
}

impl Top {
    fn new() -> Top {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["home", "xdg", "ws"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        Top { _tmp: tmp, top }
    }

    fn command(&self, backend: &str, xdg: bool, flags: &[&str], cmd: &[&str]) -> Command {
        let mut c = Command::new(SANDSPAWN);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.top.join("home"))
            .current_dir(self.top.join("ws"))
            .args(["run", "--backend", backend])
            .args(flags)
            .arg("--")
            .args(cmd);
        if xdg {
            c.env("XDG_CACHE_HOME", self.top.join("xdg"));
        }
        c
    }
}

fn works(backend: &str) -> bool {
    let out = (Top::new().command(backend, false, &[], &["true"]).output()).unwrap();
    if !out.status.success() {
        skip(&format!(
            "`sandspawn run --backend {backend}` does not work here: {}",
            stderr(&out)
        ));
    }
    out.status.success()
}

/// The token a live Landlock sandbox (HOME alone) saved, once there.
fn token_under(run: &Path) -> Option<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let found = std::fs::read_dir(run).ok().and_then(|list| {
            list.flatten()
                .map(|e| e.path().join("home/token"))
                .find(|p| p.exists())
        });
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_run_with_another_cache_home_cannot_read_a_live_landlock_sandboxs_home() {
    if !works("landlock") {
        return;
    }
    for backend in ["bwrap", "landlock"] {
        if backend == "bwrap" && !works(backend) {
            continue;
        }
        let t = Top::new();
        let mut live = t
            .command(
                "landlock",
                false,
                &[],
                &["sh", "-c", "echo TOKEN > \"$HOME/token\"; sleep 20"],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let token = token_under(&t.top.join("home/.cache/sandspawn/run"));
        let home = t.top.join("home");
        let out = token.as_ref().map(|token| {
            t.command(
                backend,
                true,
                &["--read", home.to_str().unwrap()],
                &["cat", token.to_str().unwrap()],
            )
            .output()
            .unwrap()
        });
        let _ = live.kill();
        let _ = live.wait();
        let (Some(token), Some(out)) = (token, out) else {
            panic!("{backend}: the live sandbox saved no token");
        };
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{backend}");
        // bwrap masks the directory with an empty one; Landlock grants nothing.
        let why = if backend == "bwrap" {
            "No such file or directory"
        } else {
            "Permission denied"
        };
        let lines: Vec<String> = (stderr(&out).lines())
            .filter(|l| !l.starts_with("sandspawn:"))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            lines,
            [format!("cat: {}: {why}", token.display())],
            "{backend}"
        );
        assert!(Path::new(&token).exists());
    }
}

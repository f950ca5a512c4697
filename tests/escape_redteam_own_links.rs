//! sandspawn's own state (the user config, the trust cache and its memo
//! files) granted through a link a sandbox left in the workspace: `--write
//! cfg` with `cfg -> ~/.config/sandspawn` let the child write the user
//! config every later run reads (`write = ["/"]`), and `--write tr` with
//! `tr -> ~/.cache/sandspawn/trust` a memo later runs replay, on both
//! backends: a grant of the very path lifts its protection, and the link
//! made it one. Granted by its own name it still does; through a link it
//! is not granted now (bwrap keeps it read-only, Landlock hidden), with a
//! warning, when named from another project; from the workspace itself,
//! writable or not, it is refused (125, see `plan::grant_links`).
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{stderr, PYTHON, SANDSPAWN};

use std::path::PathBuf;
use std::process::{Command, Output};

/// Per argument PATH: create it, OK or the errno name.
const PROBE: &str = "import errno, sys\n\
                     def t(p):\n    try:\n        open(p, 'w').write('write = [\"/\"]')\n        \
                     return 'OK'\n    \
                     except OSError as e:\n        return errno.errorcode[e.errno]\n\
                     print(' '.join(t(a) for a in sys.argv[1:]))";

/// `top/home` (HOME, with `.config/sandspawn`), `top/ws` (the cwd) and
/// `top/other` (another project).
struct Top {
    _tmp: tempfile::TempDir,
    top: PathBuf,
}

impl Top {
    fn new() -> Top {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["home/.config/sandspawn", "ws", "other"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        Top { _tmp: tmp, top }
    }

    /// `preset` `workspace` makes the cwd writable, `readonly` readable.
    fn run(&self, backend: &str, preset: &str, flags: &[&str], cmd: &[&str]) -> Output {
        self.run_in("ws", backend, preset, flags, cmd)
    }

    /// [`Top::run`] in `top/DIR`.
    fn run_in(
        &self,
        dir: &str,
        backend: &str,
        preset: &str,
        flags: &[&str],
        cmd: &[&str],
    ) -> Output {
        Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.top.join("home"))
            .current_dir(self.top.join(dir))
            .args(["run", "--backend", backend, "--preset", preset])
            .args(flags)
            .arg("--")
            .args(cmd)
            .output()
            .unwrap()
    }
}

fn backends() -> Vec<&'static str> {
    let why = |backend: &str| {
        let out = Top::new().run(backend, "workspace", &[], &["true"]);
        (!out.status.success()).then(|| {
            format!(
                "`sandspawn run --backend {backend}` does not work here: {}",
                stderr(&out)
            )
        })
    };
    support::backends(why)
}

#[test]
fn own_state_through_a_planted_link_stays_out_of_reach() {
    for backend in backends() {
        let t = Top::new();
        let config = t.top.join("home/.config/sandspawn");
        let trust = t.top.join("home/.cache/sandspawn/trust");
        // The earlier run: its child plants the links in the workspace.
        let plant = format!(
            "import os; os.symlink({:?}, 'cfg'); os.symlink({:?}, 'tr')",
            config.to_str().unwrap(),
            trust.to_str().unwrap()
        );
        let out = t.run(backend, "workspace", &[], &[PYTHON, "-c", &plant]);
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        assert!(trust.is_dir(), "{backend}: the first run made the cache");
        // The later run grants them by name from another project: from
        // the workspace, writable or not, they are refused outright (below;
        // tests/escape_redteam_grant_links.rs).
        let (cfg, tr) = (t.top.join("ws/cfg"), t.top.join("ws/tr"));
        let (cfg, tr) = (cfg.to_str().unwrap(), tr.to_str().unwrap());
        let out = t.run_in(
            "other",
            backend,
            "readonly",
            &["--write", cfg, "--write", tr],
            &[
                PYTHON,
                "-c",
                PROBE,
                "../ws/cfg/config.toml",
                "../ws/tr/memo-x.json",
            ],
        );
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let err = stderr(&out);
        // bwrap keeps own state read-only (its protection), Landlock hides it.
        let want = if backend == "bwrap" {
            "EROFS EROFS"
        } else {
            "EACCES EACCES"
        };
        assert_eq!(got, want, "{backend}: {err}");
        assert!(!config.join("config.toml").exists(), "{backend}");
        assert!(!trust.join("memo-x.json").exists(), "{backend}");
        for (link, to) in [("cfg", &config), ("tr", &trust)] {
            let line = format!(
                "sandspawn: warning: {}: a write root (flags) that leads through a symlink to \
                 {}, which is sandspawn's own state; not granted in the sandbox (a link where \
                 a sandbox could write may have been left there by it): grant {} by that name \
                 if it is meant",
                t.top.join("ws").join(link).display(),
                to.display(),
                to.display()
            );
            assert!(err.lines().any(|l| l == line), "{backend}: {err}");
        }
        // From the workspace, writable or only readable, refused outright.
        for (preset, place) in [
            ("workspace", "writable root"),
            ("readonly", "working directory"),
        ] {
            let out = t.run(
                backend,
                preset,
                &["--write", "cfg"],
                &[PYTHON, "-c", PROBE, "cfg/config.toml"],
            );
            let ws = t.top.join("ws");
            let line = format!(
                "sandspawn: write root {link} (flags) crosses the symlink {link} (-> {to}), \
                 which lies in the {place} {ws} where a sandbox could have left it, and leads \
                 to {to}; refusing to grant it: name {to} instead if that is what is meant, or \
                 remove the link",
                link = ws.join("cfg").display(),
                to = config.display(),
                ws = ws.display()
            );
            support::assert_refused(&out, &format!("{backend} {preset}"), &line);
            assert!(!config.join("config.toml").exists(), "{backend}");
        }
    }
}

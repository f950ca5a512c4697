//! A root written through a symlink that leads inside a deny: an earlier
//! run's child, able to write the workspace, leaves `out ->
//! ~/.ssh/id_test` there, and a later run granting `out` (`--read out`,
//! `--write out`) must not hand over what the credential-store deny hides.
//! Before, the grant of the link's target, deeper than the deny of
//! `~/.ssh`, won over it: the key was readable and writable on both
//! backends, with nothing said. Now both names are hidden, with one line.
//! (Named from the workspace itself the grant is refused outright,
//! tests/escape_redteam_grant_links.rs; from another project, as here, the
//! link lies nowhere that rule looks.)
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{stderr, PYTHON, SANDSPAWN};

use std::path::PathBuf;
use std::process::{Command, Output};

/// Per argument `r:PATH` (read) or `w:PATH` (append): OK or the errno name.
const PROBE: &str = "import errno, sys\n\
                     def t(a):\n    op, p = a.split(':', 1)\n    try:\n        \
                     open(p).read() if op == 'r' else open(p, 'a').write('x')\n        \
                     return 'OK'\n    \
                     except OSError as e:\n        return errno.errorcode[e.errno]\n\
                     print(' '.join(t(a) for a in sys.argv[1:]))";

/// `top/ws` (the cwd), `top/other` (another project) and `top/home` (HOME)
/// holding `.ssh/id_test`.
struct Ws {
    _tmp: tempfile::TempDir,
    top: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["ws", "other", "home/.ssh"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("home/.ssh/id_test"), "SECRET").unwrap();
        Ws { _tmp: tmp, top }
    }

    fn key(&self) -> PathBuf {
        self.top.join("home/.ssh/id_test")
    }

    /// `preset` `workspace` makes the cwd writable, `readonly` readable.
    fn run(&self, backend: &str, preset: &str, flags: &[&str], cmd: &[&str]) -> Output {
        self.run_in("ws", backend, preset, flags, cmd)
    }

    /// [`Ws::run`] in `top/DIR`.
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
    support::backends(|backend| {
        support::unusable(backend, || {
            Ok(Ws::new().run(backend, "workspace", &[], &["true"]))
        })
    })
}

#[test]
fn a_root_through_a_link_planted_into_a_deny_stays_hidden() {
    for backend in backends() {
        for (flag, what) in [("--read", "read"), ("--write", "write")] {
            let ws = Ws::new();
            let key = ws.key();
            // The earlier run: its child plants the link in the workspace.
            let plant = format!("import os; os.symlink({:?}, 'out')", key.to_str().unwrap());
            let out = ws.run(backend, "workspace", &[], &[PYTHON, "-c", &plant]);
            assert!(out.status.success(), "{backend}: {}", stderr(&out));
            // The later run grants the link by name from another project:
            // from the workspace, writable or not, it is refused outright
            // (tests/escape_redteam_grant_links.rs).
            let link = ws.top.join("ws/out");
            let real = format!("r:{}", key.display());
            let probe = [PYTHON, "-c", PROBE, "r:out", "w:out", &real];
            let out = ws.run(backend, "readonly", &[flag, "out"], &probe);
            let refused = format!(
                "sandspawn: {what} root {link} (flags) crosses the symlink {link} (-> {key}), \
                 which lies in the working directory {ws} where a sandbox could have left it, \
                 and leads to {key}; refusing to grant it: name {key} instead if that is what \
                 is meant, or remove the link",
                link = link.display(),
                key = key.display(),
                ws = ws.top.join("ws").display()
            );
            support::assert_refused(&out, backend, &refused);
            let probe = [PYTHON, "-c", PROBE, "r:../ws/out", "w:../ws/out", &real];
            let out = ws.run_in(
                "other",
                backend,
                "readonly",
                &[flag, link.to_str().unwrap()],
                &probe,
            );
            let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let err = stderr(&out);
            let case = format!("{backend} {flag}");
            assert_eq!(got, "EACCES EACCES EACCES", "{case}: {err}");
            assert_eq!(std::fs::read_to_string(&key).unwrap(), "SECRET", "{case}");
            let line = format!(
                "sandspawn: warning: {}: a {what} root (flags) that leads through a symlink to \
                 {}, inside {} which is hidden (default deny (credential stores)); hidden in \
                 the sandbox (a link where a sandbox could write may have been left there by \
                 it): grant {} by that name if it is meant",
                ws.top.join("ws/out").display(),
                key.display(),
                ws.top.join("home/.ssh").display(),
                key.display()
            );
            assert!(err.lines().any(|l| l == line), "{case}: {err}");
        }
    }
}

/// Granted by its own name, the file inside the deny is the user's choice,
/// as before: readable, and no line about links.
#[test]
fn a_file_granted_by_its_own_name_inside_a_deny_stays_granted() {
    for backend in backends() {
        let ws = Ws::new();
        let key = ws.key();
        let real = format!("r:{}", key.display());
        let out = ws.run(
            backend,
            "workspace",
            &["--read", key.to_str().unwrap()],
            &[PYTHON, "-c", PROBE, &real],
        );
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(got, "OK", "{backend}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("leads through a symlink"),
            "{backend}"
        );
    }
}

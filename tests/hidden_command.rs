//! A program the policy hides is refused before anything starts, with one
//! status (126) and one line naming the path, what hides it and the grant
//! that shows it, on both backends. Before, bwrap's exec found no such
//! path (127, "No such file or directory") and Landlock's was refused
//! (126, "Permission denied"), and neither said why.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::{skip, SANDSPAWN};

/// `home` (readable, its `.ssh` denied by default) holding a program in
/// `.ssh` and one in `bin`; `outside`, under no root.
struct Host {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Host {
    fn new() -> Host {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        for dir in ["home/.ssh", "home/bin", "outside", "cache"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for p in ["home/.ssh/tool", "home/bin/tool", "outside/tool"] {
            let path = root.join(p);
            support::write_script(&path, "#!/bin/sh\necho ran\n");
        }
        Host { _tmp: tmp, root }
    }

    fn sandspawn(&self, path_var: &str, args: &[&str]) -> Output {
        Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", path_var)
            .env("HOME", self.root.join("home"))
            .env("XDG_CACHE_HOME", self.root.join("cache"))
            .current_dir(self.root.join("home"))
            .args(args)
            .output()
            .unwrap()
    }

    fn run(&self, backend: &str, path_var: &str, program: &Path) -> (Option<i32>, String) {
        let home = self.root.join("home");
        let out = self.sandspawn(
            path_var,
            &[
                "run",
                "--backend",
                backend,
                "--read",
                home.to_str().unwrap(),
                "--",
                program.to_str().unwrap(),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Landlock's own notes (unexpressed parts of the view) are not
        // about the command.
        let lines: Vec<&str> = (stderr.lines())
            .filter(|l| !l.starts_with("sandspawn: landlock backend:"))
            .collect();
        let stdout = String::from_utf8_lossy(&out.stdout);
        (out.status.code(), format!("{}{stdout}", lines.join("\n")))
    }
}

fn usable(backend: &str) -> bool {
    let host = Host::new();
    let (code, text) = host.run(backend, "/usr/bin:/bin", Path::new("true"));
    if code != Some(0) {
        skip(&format!(
            "`sandspawn run --backend {backend}` does not work here: {text}"
        ));
        return false;
    }
    true
}

const REFUSED: &str = "so the sandbox cannot run it; grant it with";

#[test]
fn a_program_the_policy_hides_is_refused_alike_on_both_backends() {
    for backend in ["bwrap", "landlock"] {
        if !usable(backend) {
            continue;
        }
        let host = Host::new();
        let r = &host.root;
        let denied = r.join("home/.ssh/tool");
        let why = format!(
            "hidden by the policy (deny {}: default deny (credential stores)), {REFUSED} \
             `--read {}` (`read` in a policy file)",
            r.join("home/.ssh").display(),
            denied.display()
        );
        // By absolute path, by a relative one, and found on PATH.
        assert_eq!(
            host.run(backend, "/usr/bin:/bin", &denied),
            (Some(126), format!("sandspawn: {}: {why}", denied.display())),
            "{backend}"
        );
        assert_eq!(
            host.run(backend, "/usr/bin:/bin", Path::new(".ssh/tool")),
            (
                Some(126),
                format!("sandspawn: .ssh/tool ({}): {why}", denied.display())
            ),
            "{backend}"
        );
        let search = format!("/usr/bin:/bin:{}", r.join("home/.ssh").display());
        assert_eq!(
            host.run(backend, &search, Path::new("tool")),
            (
                Some(126),
                format!("sandspawn: tool ({}): {why}", denied.display())
            ),
            "{backend}"
        );
        // A visible one earlier on PATH is the one run.
        let search = format!(
            "/usr/bin:/bin:{}:{}",
            r.join("home/bin").display(),
            r.join("home/.ssh").display()
        );
        assert_eq!(
            host.run(backend, &search, Path::new("tool")),
            (Some(0), "ran\n".to_string()),
            "{backend}"
        );
        // A hidden one earlier on PATH: the search skips it inside (on
        // both backends) and the later one runs; said, not silent.
        let search = format!(
            "{}:{}:/usr/bin:/bin",
            r.join("home/.ssh").display(),
            r.join("home/bin").display()
        );
        assert_eq!(
            host.run(backend, &search, Path::new("tool")),
            (
                Some(0),
                format!(
                    "sandspawn: warning: tool: {d} comes first on PATH, but hidden by the \
                     policy (deny {}: default deny (credential stores)), so the sandbox runs \
                     {} instead; grant it with `--read {d}` to run that oneran\n",
                    r.join("home/.ssh").display(),
                    r.join("home/bin/tool").display(),
                    d = denied.display()
                )
            ),
            "{backend}"
        );
        // The hidden one is a link to the one that runs: the same program
        // runs, nothing to say.
        let linked = r.join("home/.ssh/same");
        std::os::unix::fs::symlink(r.join("home/bin/tool"), &linked).unwrap();
        let search = format!(
            "{}:{}:/usr/bin:/bin",
            r.join("home/.ssh").display(),
            r.join("home/bin").display()
        );
        std::os::unix::fs::symlink(r.join("home/bin/tool"), r.join("home/bin/same")).unwrap();
        assert_eq!(
            host.run(backend, &search, Path::new("same")),
            (Some(0), "ran\n".to_string()),
            "{backend}"
        );
        // An empty PATH entry is the working directory (home here): its
        // tool runs before the hidden one; it was refused as hidden.
        let own = r.join("home/tool");
        support::write_script(&own, "#!/bin/sh\necho ran\n");
        let search = format!("/usr/bin::{}", r.join("home/.ssh").display());
        assert_eq!(
            host.run(backend, &search, Path::new("tool")),
            (Some(0), "ran\n".to_string()),
            "{backend}"
        );
        std::fs::remove_file(&own).unwrap();
        // A program under no root: the view differs (bwrap replaces /tmp
        // with its own, Landlock grants nothing there), the status not.
        let outside = r.join("outside/tool");
        let view = if outside.starts_with("/tmp") && backend == "bwrap" {
            "under the sandbox's private /tmp, which replaces the host's".to_string()
        } else {
            "outside the sandbox's view (under no read or write root)".to_string()
        };
        assert_eq!(
            host.run(backend, "/usr/bin:/bin", &outside),
            (
                Some(126),
                format!(
                    "sandspawn: {o}: {view}, {REFUSED} `--read {o}` (`read` in a policy file)",
                    o = outside.display()
                )
            ),
            "{backend}"
        );
        // A shown script whose `#!` interpreter is hidden: bwrap said
        // ENOENT (127) and Landlock EACCES (126), both of the script.
        let script = r.join("home/bin/script");
        support::write_script(&script, &format!("#!{}\n", outside.display()));
        assert_eq!(
            host.run(backend, "/usr/bin:/bin", &script),
            (
                Some(126),
                format!(
                    "sandspawn: {s}: its `#!` interpreter {o}: {view}, {REFUSED} `--read {o}` \
                     (`read` in a policy file)",
                    s = script.display(),
                    o = outside.display()
                )
            ),
            "{backend}"
        );
        // Missing on the host too: "not found", as before, on both.
        let (code, text) = host.run(backend, "/usr/bin:/bin", &r.join("home/nope"));
        assert_eq!(code, Some(127), "{backend}: {text}");
        assert!(
            text.contains("No such file or directory"),
            "{backend}: {text}"
        );
    }
}

/// `sandspawn mcp` refuses a hidden server program the same way.
#[test]
fn mcp_refuses_a_hidden_server_program_alike() {
    for backend in ["bwrap", "landlock"] {
        if !usable(backend) {
            continue;
        }
        let host = Host::new();
        let denied = host.root.join("home/.ssh/tool");
        let out = host.sandspawn(
            "/usr/bin:/bin",
            &[
                "mcp",
                "--no-host-env",
                "--backend",
                backend,
                "--read",
                host.root.join("home").to_str().unwrap(),
                "--",
                denied.to_str().unwrap(),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(126), "{backend}: {stderr}");
        let want = format!("sandspawn: {}: hidden by the policy", denied.display());
        assert_eq!(
            (stderr.lines())
                .filter(|l| l.starts_with(&want) && l.contains(REFUSED))
                .count(),
            1,
            "{backend}: {stderr}"
        );
    }
}

/// The library's `spawn` refuses it with the same line, before starting
/// anything.
#[tokio::test(flavor = "multi_thread")]
async fn the_library_refuses_a_hidden_server_program_alike() {
    use sandspawn::mcp::process::{spawn, SpawnError, SpawnOptions};
    use sandspawn::policy::{Backend, Layer};
    for (backend, name) in [(Backend::Bwrap, "bwrap"), (Backend::Landlock, "landlock")] {
        if !usable(name) {
            continue;
        }
        let host = Host::new();
        let home = host.root.join("home");
        let denied = home.join(".ssh/tool");
        let plan = sandspawn::plan::build(&sandspawn::plan::Request {
            command: vec![denied.clone().into()],
            cwd: None,
            parent_cwd: home.clone(),
            parent_env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("HOME".into(), home.clone().into()),
            ],
            layers: vec![Layer {
                origin: "test".into(),
                read: vec![home.clone()],
                backend: Some(backend),
                ..Layer::default()
            }],
            cache_dir: Some(host.root.join("cache/sandspawn/trust")),
            system_root: "/".into(),
        })
        .unwrap();
        let opts = SpawnOptions {
            sandspawn_exe: Some(SANDSPAWN.into()),
            ..SpawnOptions::default()
        };
        let Err(SpawnError::HiddenCommand(line)) = spawn(&plan, &opts).await else {
            panic!("{name}: the hidden program was started");
        };
        assert_eq!(
            line,
            format!(
                "{d}: hidden by the policy (deny {}: default deny (credential stores)), \
                 {REFUSED} `--read {d}` (`read` in a policy file)",
                home.join(".ssh").display(),
                d = denied.display()
            ),
            "{name}"
        );
    }
}

//! A parent that ignores SIGCHLD passes that on through exec. Inside the
//! sandbox the command must still see its own children's exit statuses:
//! with SIGCHLD ignored the kernel reaps them itself, `waitpid` fails with
//! ECHILD and Python's `subprocess` takes that for exit status 0.

mod support;

use std::process::{Command, Output};

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

/// `sandspawn run --backend BACKEND -- ARGS`, started by a Python that
/// ignores SIGCHLD and then execs it (the disposition is kept through
/// exec).
fn run_ignoring_sigchld(backend: &str, args: &[&str]) -> std::io::Result<Output> {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    Command::new(support::PYTHON)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .current_dir(cwd.path())
        .args([
            "-c",
            "import os, signal, sys\n\
             signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n\
             os.execv(sys.argv[1], sys.argv[1:])",
            SANDSPAWN,
            "run",
            "--backend",
            backend,
            "--",
        ])
        .args(args)
        .output()
}

#[test]
fn a_command_sees_its_childs_exit_status_when_the_host_ignores_sigchld() {
    let backends = support::backends(|backend| {
        support::unusable(backend, || run_ignoring_sigchld(backend, &["true"]))
    });
    for backend in backends {
        let out = run_ignoring_sigchld(
            backend,
            &[
                support::PYTHON,
                "-c",
                "import subprocess; print(subprocess.run(['false']).returncode)",
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1\n",
            "{backend}: {}",
            support::stderr(&out)
        );
        assert_eq!(out.status.code(), Some(0), "{backend}");
    }
}

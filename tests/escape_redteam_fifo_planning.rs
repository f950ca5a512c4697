//! Files planning reads where a sandbox could have written, made FIFOs: a
//! child that may write the workspace (`--write .`) leaves `sub/.git`, an
//! include of `sub`'s git config, or the command itself as a FIFO, and a
//! later run that opened one blocking (`sandspawn run --write sub`,
//! `sandspawn mcp -- ./prog`) waited forever for a writer. Each now has a
//! bounded, specific outcome; each run is given 20 s, so a regression
//! fails instead of hanging the suite.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{assert_refused, assert_said, output_within, scrubbed, stderr, Scratch};

use std::process::{Command, Output};

/// `sandspawn SUB --backend BACKEND ARGS` in `ws`, HOME `home`, within
/// 20 s.
fn run(s: &Scratch, sub: &str, backend: &str, args: &[&str]) -> Output {
    let mut cmd: Command = scrubbed(&s.path("home"), Some(&s.path("xdg")), &s.path("ws"));
    cmd.args([sub, "--backend", backend]).args(args);
    output_within(&mut cmd, 20).unwrap_or_else(|| panic!("{backend} {sub} {args:?}: hangs"))
}

fn backends() -> Vec<&'static str> {
    support::backends(|backend| {
        let s = Scratch::new(&["home", "ws"]);
        support::unusable(backend, || Ok(run(&s, "run", backend, &["--", "true"])))
    })
}

/// Run 1, the child that plants: `script` under `--write .`.
fn plant(s: &Scratch, backend: &str, script: &str) {
    let out = run(
        s,
        "run",
        backend,
        &["--write", ".", "--", "sh", "-c", script],
    );
    assert!(out.status.success(), "{backend}: {}", stderr(&out));
}

/// A FIFO `.git` is no repository git would follow (it takes a `.git`
/// file only when regular): kept as it is, read-only, and the run starts.
#[test]
fn a_fifo_git_is_kept_and_the_run_starts() {
    for backend in backends() {
        let s = Scratch::new(&["home", "ws/sub"]);
        plant(&s, backend, "mkfifo sub/.git");
        let out = run(
            &s,
            "run",
            backend,
            &[
                "--write",
                "sub",
                "--",
                "sh",
                "-c",
                "rm -f sub/.git 2>/dev/null; test -p sub/.git && echo kept",
            ],
        );
        assert_said(&out, "kept", backend);
        assert_eq!(out.status.code(), Some(0), "{backend}");
    }
}

/// A FIFO among the config files git on the host reads (an include the
/// child wrote into `sub`'s config, which `--write .` did not protect):
/// refused unread, naming it.
#[test]
fn a_fifo_in_the_git_config_include_chain_is_refused() {
    for backend in backends() {
        let s = Scratch::new(&["home", "ws/sub/.git"]);
        plant(
            &s,
            backend,
            "printf '[include]\\n\\tpath = ../inc\\n' > sub/.git/config && mkfifo sub/inc",
        );
        let out = run(&s, "run", backend, &["--write", "sub", "--", "true"]);
        let want = format!(
            "sandspawn: protected path {}: include.path of {}, which git on the host reads, is \
             a FIFO, not a regular file: git would wait on it, or take as config whatever a \
             process writes into it; remove it, or keep the repository out of the --write \
             roots; refusing to start (a writable root must not redirect it)",
            s.path("ws/sub/inc").display(),
            s.path("ws/sub/.git/config").display()
        );
        assert_refused(&out, backend, &want);
    }
}

/// The command a FIFO: `sandspawn mcp` read its `#!` line with a blocking
/// open; now it is no script, and exec refuses it as the shell would (126).
#[test]
fn a_fifo_command_is_refused_by_exec_under_mcp() {
    for backend in backends() {
        let s = Scratch::new(&["home", "ws"]);
        plant(&s, backend, "mkfifo prog");
        let out = run(&s, "mcp", backend, &["--no-host-env", "--", "./prog"]);
        assert_eq!(out.status.code(), Some(126), "{backend}: {}", stderr(&out));
        // The kernel's EACCES for a FIFO, not the refusal of a command
        // hidden from the sandbox (which is 126 as well); the last line,
        // after the backend's own warnings.
        assert_eq!(
            stderr(&out).lines().last(),
            Some("sandspawn: executing ./prog: Permission denied (os error 13)"),
            "{backend}: {}",
            stderr(&out)
        );
    }
}

/// A policy named as a FIFO whose writer neither sends an end nor closes
/// (a process left holding it): an error after the pipe wait, not a hang.
#[test]
fn a_policy_fifo_whose_writer_never_finishes_is_an_error() {
    let s = Scratch::new(&["home", "ws"]);
    let fifo = s.path("ws/policy.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Read and write: opens at once, and holds the write end open.
    let _writer = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let named = fifo.to_str().unwrap();
    let out = run(&s, "run", "bwrap", &["--policy", named, "--", "true"]);
    let want = format!(
        "sandspawn: policy file {}: not a regular file, and its writer sent no end within 10 \
         s; check the path and its permissions",
        fifo.display()
    );
    assert_refused(&out, "policy", &want);
}

/// A policy FIFO whose writer opens it only after sandspawn did: read
/// once written, not taken as an empty policy (network none) because a
/// read found no writer yet.
#[test]
fn a_policy_fifo_whose_writer_comes_late_is_read() {
    let s = Scratch::new(&["home", "ws"]);
    let fifo = s.path("ws/policy.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let late = fifo.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        // Read and write: does not wait for a reader, so a sandspawn that
        // already read (nothing) and left does not hang this thread.
        let mut w = std::fs::File::options()
            .read(true)
            .write(true)
            .open(late)
            .unwrap();
        std::io::Write::write_all(&mut w, b"net = \"full\"\n").unwrap();
    });
    let named = fifo.to_str().unwrap();
    let out = run(&s, "explain", "bwrap", &["--policy", named, "--", "true"]);
    writer.join().unwrap();
    assert_network_full(&out, "late writer");
}

/// `--policy <(gen)` from a shell: a generator done at once, and one that
/// takes a second.
#[test]
fn a_policy_from_process_substitution_is_read() {
    for gen in ["echo 'net = \"full\"'", "sleep 1; echo 'net = \"full\"'"] {
        let s = Scratch::new(&["home", "ws"]);
        let script = format!("exec \"$0\" explain --backend bwrap --policy <({gen}) -- true");
        let mut bash = Command::new("/bin/bash");
        bash.args(["-c", &script, support::SANDSPAWN])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", s.path("home"))
            .env("XDG_CACHE_HOME", s.path("xdg"))
            .current_dir(s.path("ws"));
        let out = output_within(&mut bash, 20).unwrap_or_else(|| panic!("{gen}: hangs"));
        assert_network_full(&out, gen);
    }
}

/// `explain` planned the policy's `net = "full"` (not the default none).
#[track_caller]
fn assert_network_full(out: &Output, label: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{label}: {}", stderr(out));
    assert!(
        stdout.lines().any(|l| l == "network:  full"),
        "{label}: {stdout}{}",
        stderr(out)
    );
}

/// The bound itself: a child writing more than a pipe holds (64 KiB) to
/// both outputs ends and is read whole, not reported as a hang.
#[test]
fn output_within_reads_a_large_output_while_the_child_runs() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        "head -c 200000 /dev/zero; head -c 100000 /dev/zero >&2",
    ]);
    let out = output_within(&mut cmd, 20).expect("a 300 kB writer reported as a hang");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!((out.stdout.len(), out.stderr.len()), (200_000, 100_000));
}

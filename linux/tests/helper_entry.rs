//! The helper binary as a host calls it: `sandspawn-linux-sandbox POLICY --
//! CMD` (or with the `__helper` token first), exit statuses and the one
//! error line on failure.

use std::process::{Command, Output};

const HELPER: &str = env!("CARGO_BIN_EXE_sandspawn-linux-sandbox");

/// Best-effort Landlock: these tests are about the entry point, not about
/// whether this kernel has Landlock (escape.rs covers enforcement).
fn helper(args: &[&str]) -> Output {
    Command::new(HELPER)
        .args(["--read", "/", "--landlock", "best-effort"])
        .args(args)
        .output()
        .expect("the helper binary starts")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_childs_status_passes_through() {
    let out = helper(&["--", "sh", "-c", "exit 9"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
}

#[test]
fn the_helper_token_after_the_binary_name_is_accepted() {
    let out = Command::new(HELPER)
        .args(["__helper", "--read", "/", "--landlock", "best-effort"])
        .args(["--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

#[test]
fn a_missing_command_is_127_and_a_non_executable_one_126() {
    let out = helper(&["--", "/nonexistent/cmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        stderr(&out),
        "sandspawn: executing /nonexistent/cmd: No such file or directory (os error 2)\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-exec.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let out = helper(&["--", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
}

#[test]
fn a_malformed_policy_is_one_line_and_125() {
    let out = helper(&["--bogus", "x", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        format!("sandspawn: helper arguments: unknown helper flag \"--bogus\"{USAGE}\n")
    );
    let out = helper(&[]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        format!("sandspawn: helper arguments: no command after `--`{USAGE}\n")
    );
}

/// `--net proxy` is the bwrap stage's mode (a network namespace whose only
/// way out is the inside listener). Called directly it allowed inet sockets
/// and nothing stood in the way: the host's whole network.
#[test]
fn net_proxy_from_a_host_is_refused_not_left_open() {
    let out = helper(&["--net", "proxy", "--", "sh", "-c", "echo ran"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the command ran");
    assert_eq!(
        stderr(&out),
        "sandspawn: helper arguments: `--net proxy` works only inside the bwrap backend's \
         network namespace (with --proxy-port); called directly, the command would reach \
         the host's network: use `--net none` or `--net full`\n"
    );
}

/// The port flag alone does not make a network namespace: a host that
/// passes bwrap's internal `--proxy-port` too is still outside one, and is
/// refused by what the namespace holds (interfaces besides `lo`), before
/// any listener or socket is made.
#[test]
fn net_proxy_with_the_port_flag_outside_a_namespace_is_refused() {
    let out = helper(&[
        "--net",
        "proxy",
        "--proxy-port",
        "1",
        "--",
        "sh",
        "-c",
        "echo ran",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the command ran");
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "sandspawn: network proxy: this network namespace has interfaces besides lo ("
        ) && err.ends_with(
            "): the helper is not inside the bwrap backend's namespace, and the command would reach the host's network\n"
        ),
        "{err}"
    );
}

/// A command left without `--` (or a last `--help`) read as a flag missing
/// its value.
#[test]
fn a_forgotten_double_dash_names_the_word_as_unknown() {
    let out = helper(&["true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        format!("sandspawn: helper arguments: unknown helper flag \"true\"{USAGE}\n")
    );
    // `--help`, the first thing someone calling the documented helper tries,
    // gets the same line: the usage, not a bare "unknown flag".
    let out = helper(&["--help"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        format!("sandspawn: helper arguments: unknown helper flag \"--help\"{USAGE}\n")
    );
}

/// The usage the helper's argument errors end with.
const USAGE: &str = "; usage: sandspawn-linux-sandbox [--read PATH]... [--write PATH]... [--net none|full] [--landlock required|best-effort] -- CMD [ARGS]";

/// A command that cannot be executed is 126 and one not found 127, whatever
/// the errno: a symlink loop (ELOOP) and a path through a file (ENOTDIR)
/// read as 125, sandspawn's own failure.
#[test]
fn every_exec_failure_is_126_or_127_never_125() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("loop-a");
    let b = dir.path().join("loop-b");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let out = helper(&["--", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "sandspawn: executing {}: Too many levels of symbolic links (os error 40)\n",
            a.display()
        )
    );
    let out = helper(&["--", "/etc/passwd/x"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "sandspawn: executing /etc/passwd/x: Not a directory (os error 20)\n"
    );
}

/// Pids of processes whose argv is exactly `sleep MARKER`.
fn sleeps(marker: &str) -> Vec<i32> {
    let want = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
        })
        .collect()
}

/// The command is the host's child: a host killed by SIGKILL left it
/// running, confined but orphaned, for good.
#[test]
fn the_command_dies_with_the_host() {
    use std::time::{Duration, Instant};
    // Of this process alone: a fixed one could be another concurrent run's.
    let marker = &format!("27.1828{}", std::process::id());
    // The host is killed once the command runs: a fixed delay could kill
    // it before, and the check below would then pass at once.
    let host = format!("'{HELPER}' --read / --landlock best-effort -- sleep {marker} & wait");
    let mut host = Command::new("/bin/sh")
        .args(["-c", &host])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sleeps(marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = !sleeps(marker).is_empty();
    // std's kill is SIGKILL.
    host.kill().unwrap();
    let status = host.wait().unwrap();
    assert!(started, "the command never started");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the host");
    // A bound for a loaded machine: an orphaned command outlives any.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = sleeps(marker);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        left = sleeps(marker);
    }
    for pid in &left {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(left.is_empty(), "the command outlived its host: {left:?}");
}

/// A rule path that does not exist grants nothing (Landlock skips it), and
/// nothing said so: a typo surfaced only as the command's EACCES. An empty
/// path was taken the same way.
#[test]
fn a_missing_rule_path_is_one_warning_and_an_empty_one_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let out = helper(&[
        "--write",
        missing.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "sandspawn: warning: --write {}: no such path on this host; it grants nothing\n",
            missing.display()
        )
    );
    let out = helper(&["--read", "", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        "sandspawn: helper arguments: helper flag \"--read\" does not accept \"\"\n"
    );
}

/// Exit status of the helper with `args` whose stderr is a pipe nobody
/// reads any more (a host that closed its end).
fn with_stderr_gone(args: &[&str]) -> std::process::ExitStatus {
    // A socket pair (std::io::pipe is past the MSRV): a write to one
    // whose peer is gone fails with EPIPE, as on a pipe.
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    Command::new(HELPER)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::os::fd::OwnedFd::from(writer))
        .status()
        .unwrap()
}

/// `eprintln!` panics when stderr cannot be written: a warning made the
/// command's run exit 101 and an error report a panic; after a failed exec
/// SIGPIPE (reset to default for the exec) killed the report instead.
#[test]
fn a_stderr_nobody_reads_changes_no_exit_status() {
    use std::os::unix::process::ExitStatusExt;
    let status = with_stderr_gone(&[
        "--read",
        "/",
        "--read",
        "/no-such-qa-path",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(status.code(), Some(3), "{status:?}");
    let status = with_stderr_gone(&["--read", "/", "--", "/nonexistent/cmd"]);
    assert_eq!((status.code(), status.signal()), (Some(127), None));
    let status = with_stderr_gone(&["--bogus"]);
    assert_eq!(status.code(), Some(125), "{status:?}");
}

/// `--pin PATH DEV:INO`: the root must still be the object the caller
/// recorded (sandspawn's plan, on both backends). Recorded a directory,
/// replaced by a link to `tgt` before the helper starts: refused, 125, one
/// line, and nothing reaches `tgt`. Unchanged, the command runs.
#[test]
fn a_pinned_root_replaced_by_a_link_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (out, tgt) = (dir.path().join("out"), dir.path().join("tgt"));
    std::fs::create_dir(&out).unwrap();
    std::fs::create_dir(&tgt).unwrap();
    let meta = std::fs::metadata(&out).unwrap();
    let id = format!("{}:{}", meta.dev(), meta.ino());
    let outs = out.to_str().unwrap();
    let touch = |name: &str| {
        helper(&[
            "--write",
            outs,
            "--pin",
            outs,
            &id,
            "--",
            "touch",
            &format!("{outs}/{name}"),
        ])
    };
    let ok = touch("ok");
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(out.join("ok").is_file());
    std::fs::remove_file(out.join("ok")).unwrap();
    std::fs::remove_dir(&out).unwrap();
    std::os::unix::fs::symlink(&tgt, &out).unwrap();
    let refused = touch("pwn");
    assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
    assert_eq!(
        stderr(&refused),
        format!(
            "sandspawn: root {outs} changed between planning and start (another object or none \
             is there now: device/inode differ; was it replaced or moved?); nothing was run: \
             check what writes there, then plan and start again\n"
        )
    );
    assert_eq!(std::fs::read_dir(&tgt).unwrap().count(), 0);
    let bad = helper(&["--pin", outs, "12", "--", "true"]);
    assert_eq!(bad.status.code(), Some(125));
    assert_eq!(
        stderr(&bad),
        "sandspawn: helper arguments: helper flag \"--pin\" does not accept \"12\"\n"
    );
}

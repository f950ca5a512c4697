//! Limits of `sandspawn run` that the user can reach from the command line
//! fail with one line of sandspawn's own and exit 125, never with a
//! message of a tool underneath and a status the child could have had.
//!
//! Skips print their reason and fail under `SANDSPAWN_MUST_WORK=1`.

use std::process::Command;

mod support;
use support::{scrubbed, skip, SANDSPAWN};

fn sandspawn(home: &std::path::Path) -> Command {
    // Not from HOME, which presets leave out with a warning line of its own.
    scrubbed(
        home,
        Some(&home.join("cache")),
        std::path::Path::new("/usr"),
    )
}

/// bwrap refuses more than 9000 arguments in all ("Exceeded maximum number
/// of arguments 9000", exit 1, as if the child had failed).
#[test]
fn a_command_line_too_long_for_bwrap_is_refused_by_sandspawn() {
    let home = tempfile::tempdir().unwrap();
    let probe = sandspawn(home.path())
        .args(["run", "--backend", "bwrap", "--", "true"])
        .output()
        .unwrap();
    if !probe.status.success() {
        return skip(&format!(
            "bwrap does not work here: {}",
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    let out = sandspawn(home.path())
        .args(["run", "--backend", "bwrap", "--", "true"])
        .args((0..9000).map(|i| i.to_string()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("sandspawn: bwrap accepts at most 9000 arguments and this sandbox needs ")
            && stderr.ends_with(
                " (9001 of them the command's); use --backend landlock, or pass the arguments through a file\n"
            )
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(125));
    // Landlock has no such limit: the same command runs.
    let out = sandspawn(home.path())
        .args([
            "run",
            "--backend",
            "landlock",
            "--",
            "sh",
            "-c",
            "echo $#",
            "sh",
        ])
        .args((0..9000).map(|i| i.to_string()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "9000\n");
}

/// A usage error is sandspawn's failure (125), not clap's 2: a host that
/// starts `sandspawn run -- CMD` could not tell 2 from CMD's own status.
#[test]
fn a_usage_error_exits_125_and_help_exits_0() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["run", "--net", "nope", "--", "true"][..],
        &["run", "--bogus", "--", "true"],
        &["run"],
        &["mcp", "--bogus", "--", "true"],
        &["bogus"],
    ] {
        let out = sandspawn(home.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    for args in [&["--help"][..], &["run", "--help"], &["--version"]] {
        let out = sandspawn(home.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

/// With few descriptors left under `ulimit -n`, bwrap fails half-way
/// ("open /proc/N/ns/ns failed: Too many open files", exit 1) and its
/// sandbox's pid 1 stays behind for good, holding our stderr: sandspawn
/// refuses before starting bwrap instead.
#[test]
fn a_descriptor_limit_too_low_for_bwrap_is_refused_by_sandspawn() {
    let home = tempfile::tempdir().unwrap();
    let probe = sandspawn(home.path())
        .args(["run", "--backend", "bwrap", "--", "true"])
        .output()
        .unwrap();
    if !probe.status.success() {
        return skip(&format!(
            "bwrap does not work here: {}",
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    // Files, not pipes: bwrap's leftover would keep a pipe open forever.
    let err_path = home.path().join("stderr");
    let status = Command::new("sh")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .current_dir("/usr")
        .args(["-c", "ulimit -n 8 && exec \"$0\" \"$@\"", SANDSPAWN])
        .args(["run", "--backend", "bwrap", "--", "echo", "ran"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(home.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert_eq!(status.code(), Some(125), "{stderr}");
    assert!(
        stderr.starts_with("sandspawn: bwrap backend: the open-file limit (ulimit -n) is 8 and ")
            && stderr.ends_with(
                " more to set up the sandbox; raise the limit (ulimit -n 64) or use --backend landlock\n"
            )
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// Past bwrap's 9000 arguments because of the environment (each variable
/// is a `--setenv NAME VALUE`), the line names the variables, not the
/// command's arguments.
#[test]
fn an_environment_too_big_for_bwrap_names_the_variables() {
    let home = tempfile::tempdir().unwrap();
    let probe = sandspawn(home.path())
        .args(["run", "--backend", "bwrap", "--", "true"])
        .output()
        .unwrap();
    if !probe.status.success() {
        return skip(&format!(
            "bwrap does not work here: {}",
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    let out = sandspawn(home.path())
        .envs((0..4000).map(|i| (format!("LC_QA{i}"), "x")))
        .args(["run", "--backend", "bwrap", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.starts_with("sandspawn: bwrap accepts at most 9000 arguments and this sandbox needs ")
            && stderr.contains(" of them for 40")
            && stderr.ends_with(
                " environment variables); use --backend landlock, or pass fewer variables (--deny-env)\n"
            )
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// A variable past the kernel's 128 KiB for one string (a credentials
/// blob in an MCP config's `env`, which no command line could carry) is
/// named on one line, on both backends; exec said only "Argument list too
/// long", of bwrap or of the command.
#[test]
fn a_variable_past_the_kernels_limit_is_named() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("mcp.json");
    let entry = serde_json::json!({"mcpServers": {"s": {
        "command": "true",
        "env": {"BIG_BLOB": "x".repeat(200_000)},
    }}});
    std::fs::write(&config, entry.to_string()).unwrap();
    for backend in ["bwrap", "landlock"] {
        let out = sandspawn(home.path())
            .args(["mcp", "--no-host-env", "--backend", backend, "--config"])
            .arg(&config)
            .args(["--server", "s"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{backend}: {stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some("sandspawn: the variable BIG_BLOB is 200009 bytes; the kernel passes at most 131072 bytes in one (MAX_ARG_STRLEN); pass it in a file and name the file instead"),
            "{backend}: {stderr}"
        );
        assert!(!stderr.contains("xxxx"), "{backend}: {stderr}");
    }
}

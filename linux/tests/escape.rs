//! Escape suite: each probe runs in a real sandbox (bwrap, then Landlock) and
//! must be refused with the *specific* errno. This suite drives the helper's
//! debug runner with a hand-written spec, so it pins the enforcement layer
//! alone; tests/escape_cli.rs runs the same probes through `sandspawn run`.
//! Skips say why; with `SANDSPAWN_MUST_WORK=1` a skip is a failure.

use std::path::Path;
use std::process::{Command, Output};

#[path = "common/fixture.rs"]
mod fixture;
#[path = "common/probes.rs"]
mod probes;
use fixture::{skip, Fixture, PYTHON};
use probes::Probe;

const HELPER: &str = env!("CARGO_BIN_EXE_sandspawn-linux-sandbox");
const PROBE: &str = include_str!("probe.py");

fn fixture(tag: &str) -> Fixture {
    Fixture::new(Path::new(env!("CARGO_TARGET_TMPDIR")), tag)
}

/// The debug runner's spec flags: system roots, the home read-only with
/// `.ssh` masked, the workspace writable with `.git` protected.
fn spec_args(fx: &Fixture, backend: &str) -> Vec<String> {
    let r = fx.root.display();
    let mut a: Vec<String> = vec![
        "--backend".into(),
        backend.into(),
        "--net".into(),
        "none".into(),
    ];
    for (t, p) in [
        ("usr/bin", "/bin"),
        ("usr/lib", "/lib"),
        ("usr/lib64", "/lib64"),
        ("usr/sbin", "/sbin"),
    ] {
        a.extend(["--symlink".into(), t.into(), p.into()]);
    }
    for m in [
        "--ro /usr".to_string(),
        "--ro /etc".into(),
        format!("--ro {r}/home"),
        format!("--mask-dir {r}/home/.ssh"),
        format!("--rw {r}/ws"),
        format!("--ro {r}/ws/.git"),
        format!("--cwd {r}/ws"),
        "--env PATH=/usr/bin:/bin".into(),
    ] {
        a.extend(m.split(' ').map(String::from));
    }
    a
}

fn answer(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !stdout.is_empty() {
        return stdout;
    }
    use std::os::unix::process::ExitStatusExt;
    match out.status.signal() {
        Some(31) => "SIGSYS".into(),
        _ => format!(
            "NOTHING({:?}: {})",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

fn run_probe(fx: &Fixture, backend: &str, probe: &str) -> String {
    let out = Command::new(HELPER)
        .arg("run")
        .args(spec_args(fx, backend))
        .args(["--", PYTHON, "-c", PROBE, probe])
        .args(fx.probe_args())
        .output()
        .unwrap();
    answer(out)
}

fn usable(backend: &str) -> Result<(), String> {
    if !Path::new(PYTHON).exists() {
        return Err(format!("{PYTHON} is missing (the probes are Python)"));
    }
    let out = Command::new(HELPER)
        .args(["probe", "--backend", "auto", "--", "true"])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let landlock_ok = text
        .lines()
        .any(|l| l.contains("landlock-fs") && !l.contains("absent"));
    match backend {
        "bwrap" if !text.contains("trial sandbox") => Err(format!("bwrap unusable here: {text}")),
        "landlock" if !landlock_ok => Err(format!("Landlock unavailable: {text}")),
        _ => Ok(()),
    }
}

fn run_suite(backend: &str, expect: impl Fn(&Probe) -> &'static str) {
    if let Err(reason) = usable(backend) {
        return skip(&reason);
    }
    let fx = fixture(backend);
    fx.assert_all(backend, expect, |probe| run_probe(&fx, backend, probe));
}

#[test]
fn escape_bwrap() {
    run_suite("bwrap", |p| p.1);
}

#[test]
fn escape_landlock() {
    run_suite("landlock", |p| p.2);
}

/// Canary: a probe that reads the secret must fail the suite when told to
/// expect success, so a harness that swallows failures cannot go green.
#[test]
#[should_panic(expected = "escapes")]
fn canary_failures_still_fail() {
    if usable("bwrap").is_err() {
        panic!("escapes: (bwrap unusable; the canary fails on purpose)");
    }
    let fx = fixture("canary");
    fx.assert_all(
        "canary bwrap",
        |_| "OK",
        |probe| {
            if probe == "read_secret" {
                run_probe(&fx, "bwrap", probe)
            } else {
                "OK".into()
            }
        },
    );
}

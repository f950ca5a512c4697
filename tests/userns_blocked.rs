//! A host where user namespaces are blocked, simulated: the binary runs
//! under a seccomp filter that answers `unshare(CLONE_NEWUSER)` and
//! `clone(CLONE_NEWUSER)` with EPERM (and `clone3`, whose flags a filter
//! cannot read, with ENOSYS so libc falls back to `clone`), the way a
//! container runtime's default profile does. `auto` must fall back to
//! Landlock and say why, `--backend bwrap` must fail with one line, and a
//! bwrap trial cached before the block must not make the host look fine.
//!
//! Skips print their reason; with `SANDSPAWN_MUST_WORK=1` a skip fails.
// `Command::pre_exec` is unsafe; this test crate's only unsafe block
// installs the filter in the forked child, with its SAFETY argument.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde_json::Value;

mod support;
use support::{scrubbed, skip};

fn arch() -> Option<TargetArch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(TargetArch::x86_64),
        "aarch64" => Some(TargetArch::aarch64),
        _ => None,
    }
}

/// The two filters: EPERM for new user namespaces, ENOSYS for clone3.
fn userns_filters() -> Option<[BpfProgram; 2]> {
    let arch = arch()?;
    let newuser = libc::CLONE_NEWUSER as u64;
    let has_newuser = || {
        let cond = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(newuser),
            newuser,
        )
        .ok()?;
        SeccompRule::new(vec![cond]).ok()
    };
    let eperm: BTreeMap<i64, Vec<SeccompRule>> = [
        (libc::SYS_unshare, vec![has_newuser()?]),
        (libc::SYS_clone, vec![has_newuser()?]),
    ]
    .into();
    let enosys: BTreeMap<i64, Vec<SeccompRule>> = [(libc::SYS_clone3, vec![])].into();
    let compile = |rules, errno: i32| -> Option<BpfProgram> {
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .ok()?;
        filter.try_into().ok()
    };
    Some([compile(eperm, libc::EPERM)?, compile(enosys, libc::ENOSYS)?])
}

/// `cmd` as it will run on a host that blocks user namespaces.
fn blocked(cmd: &mut Command) -> Option<&mut Command> {
    let filters = userns_filters()?;
    // SAFETY: the closure runs in the forked child before exec. It only
    // calls seccompiler::apply_filter on programs compiled before the fork
    // (no allocation, no lock): prctl(PR_SET_NO_NEW_PRIVS) and
    // seccomp(SECCOMP_SET_MODE_FILTER) with a pointer to that memory.
    unsafe {
        cmd.pre_exec(move || {
            for f in &filters {
                seccompiler::apply_filter(f).map_err(std::io::Error::other)?;
            }
            Ok(())
        })
    };
    Some(cmd)
}

/// A scrubbed environment (this machine exports a dozen CA variables).
struct Host {
    root: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let root = tempfile::Builder::new()
            .prefix("userns-blocked")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        for d in ["home", "work", "cache", "secret"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        std::fs::write(root.path().join("secret/key"), "TOP-SECRET\n").unwrap();
        Host { root }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let (home, cache) = (self.path("home"), self.path("cache"));
        let mut cmd = scrubbed(&home, Some(&cache), &self.path("work"));
        cmd.args(args);
        cmd
    }

    /// What doctor says about the real (unfiltered) host.
    fn doctor(&self) -> Value {
        let out = self.cmd(&["doctor", "--json"]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The status word of one control in a `--report` printed to stderr.
fn control<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .filter_map(|l| l.strip_prefix("sandspawn:"))
        .map(str::split_whitespace)
        .find_map(|mut w| (w.next() == Some(name)).then(|| w.next()).flatten())
        .unwrap_or("missing")
}

/// The `backend:` line of a `--report`, asserted to name Landlock.
fn landlock_backend_line(err: &str) -> &str {
    let backend = err
        .lines()
        .find(|l| l.starts_with("sandspawn: backend: "))
        .unwrap_or_else(|| panic!("no backend line: {err}"));
    assert!(
        backend.starts_with("sandspawn: backend: landlock ("),
        "{backend}"
    );
    backend
}

/// Landlock is needed for the fallback; the filter for the simulation.
fn ready(host: &Host) -> Option<Value> {
    let real = host.doctor();
    if real["landlock_abi"].as_u64().unwrap_or(0) < 6 {
        skip("Landlock ABI < 6 on this host: the fallback cannot be shown in full");
        return None;
    }
    if userns_filters().is_none() {
        skip("no seccomp filter for this architecture");
        return None;
    }
    Some(real)
}

#[test]
fn auto_falls_back_to_landlock_and_says_why() {
    let host = Host::new();
    let Some(real) = ready(&host) else { return };
    // Warm the bwrap probe cache with a successful trial on the real host,
    // so the blocked run below must not trust it.
    if real["bwrap_trial"]["ok"] == true {
        let out = host
            .cmd(&["run", "--backend", "auto", "--", "true"])
            .output()
            .unwrap();
        assert!(out.status.success(), "unfiltered run: {}", stderr(&out));
        let cached = std::fs::read_to_string(host.path("cache/sandspawn/bwrap-probe.v1")).unwrap();
        assert!(cached.contains(" trial-ok:"), "trial not cached: {cached}");
    } else {
        skip("bwrap does not work on this host: the stale-cache case is not exercised");
    }

    let mut cmd = host.cmd(&["run", "--report", "--backend", "auto", "--", "true"]);
    let out = blocked(&mut cmd).unwrap().output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    let backend = landlock_backend_line(&err);
    assert!(backend.contains("user namespaces are blocked"), "{backend}");
    assert!(backend.contains("bwrap trial"), "{backend}");
    for (name, want) in [
        ("landlock-net", "enforced"),
        ("landlock-scope", "enforced"),
        ("seccomp", "enforced"),
        ("no-new-privs", "enforced"),
        ("mount-ns", "absent"),
    ] {
        assert_eq!(control(&err, name), want, "{name}: {err}");
    }
    // The file rules are in force (degraded only by what Landlock cannot
    // express, which the report lists).
    let fs = control(&err, "landlock-fs");
    assert!(
        fs == "enforced" || fs == "degraded",
        "landlock-fs {fs}: {err}"
    );

    // ... and they bite: a file outside the read roots is not readable.
    let secret = host.path("secret/key");
    let script = format!("cat {} 2>&1; echo rc=$?", secret.display());
    let mut cmd = host.cmd(&["run", "--backend", "auto", "--", "sh", "-c", &script]);
    let out = blocked(&mut cmd).unwrap().output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    // The fallback is said without --report too, once.
    let err = stderr(&out);
    assert_eq!(
        err.matches(
            "sandspawn: warning: --backend auto chose landlock: bwrap does not work here ("
        )
        .count(),
        1,
        "{err}"
    );
    assert!(err.contains("user namespaces are blocked"), "{err}");
    assert!(!said.contains("TOP-SECRET"), "secret read: {said}");
    assert!(
        said.contains("Permission denied") && said.contains("rc=1"),
        "{said}"
    );
}

#[test]
fn doctor_reports_blocked_user_namespaces_and_landlock() {
    let host = Host::new();
    if ready(&host).is_none() {
        return;
    }
    let mut cmd = host.cmd(&["doctor", "--json"]);
    let out = blocked(&mut cmd).unwrap().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["user_namespaces"]["ok"], false, "{v:#}");
    let detail = v["user_namespaces"]["detail"].as_str().unwrap();
    assert!(detail.contains("Operation not permitted"), "{detail}");
    assert_eq!(v["bwrap_trial"]["ok"], false);
    assert_eq!(v["auto"], "landlock");
    let why = v["auto_why"].as_str().unwrap();
    assert!(why.contains("user namespaces are blocked"), "{why}");
    assert_eq!(v["ok"], true);
    let problems = v["problems"].as_array().unwrap();
    let userns = problems
        .iter()
        .find(|p| {
            p["problem"]
                .as_str()
                .unwrap()
                .starts_with("user namespaces are blocked")
        })
        .unwrap_or_else(|| panic!("no user-namespace problem: {problems:?}"));
    assert!(!userns["remedy"].as_str().unwrap().contains('\n'));
}

#[test]
fn explicit_bwrap_fails_with_one_line_naming_user_namespaces() {
    let host = Host::new();
    let Some(real) = ready(&host) else { return };
    if real["bwrap"]["version"].is_null() {
        skip("no bwrap on this host");
        return;
    }
    // A cached successful trial must not hide the block here either.
    let out = host
        .cmd(&["run", "--backend", "bwrap", "--", "true"])
        .output()
        .unwrap();
    if !out.status.success() {
        skip("bwrap does not work on this host even unfiltered");
        return;
    }
    let mut cmd = host.cmd(&["run", "--backend", "bwrap", "--", "true"]);
    let out = blocked(&mut cmd).unwrap().output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("sandspawn: bwrap backend: "), "{err}");
    assert!(err.contains("user namespaces are blocked"), "{err}");
    assert!(err.contains("--backend landlock"), "{err}");
}

/// The filter itself works (a canary: without it the tests above prove nothing).
#[test]
fn the_filter_blocks_user_namespaces() {
    if userns_filters().is_none() {
        skip("no seccomp filter for this architecture");
        return;
    }
    let unshare = Path::new("/usr/bin/unshare");
    if !unshare.exists() {
        skip("no /usr/bin/unshare");
        return;
    }
    let mut cmd = Command::new(unshare);
    cmd.env_clear().args(["--user", "true"]);
    let out = blocked(&mut cmd).unwrap().output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

/// A `bwrap` that hangs (a wedged binary, a filesystem that stopped
/// answering) must not hang the spawn: its probe is bounded, `auto` falls
/// back to Landlock naming the timeout, `--backend bwrap` fails in one line.
#[test]
fn a_hung_bwrap_is_bounded_and_reported() {
    let host = Host::new();
    if ready(&host).is_none() {
        return;
    }
    let bin = host.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("bwrap");
    // `exec` so the killed process is the sleeper itself.
    support::write_script(&fake, "#!/bin/sh\nexec sleep 600\n");
    let path = format!("{}:/usr/bin:/bin", bin.display());

    let started = std::time::Instant::now();
    let out = host
        .cmd(&["run", "--report", "--backend", "auto", "--", "true"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    let backend = landlock_backend_line(&err);
    assert!(backend.contains("timed out"), "{backend}");

    let out = host
        .cmd(&["run", "--backend", "bwrap", "--", "true"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.contains(&*fake.to_string_lossy()), "{err}");
    assert!(err.contains("timed out"), "{err}");
}

//! `sandspawn doctor` on this host, through the real binary, with the
//! parent's environment scrubbed (this machine exports a dozen CA and proxy
//! variables; only what each test sets reaches the binary).
//!
//! Skips print their reason; with `SANDSPAWN_MUST_WORK=1` a skip fails.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod support;
use support::{scrubbed, skip, SANDSPAWN};

fn doctor(home: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = scrubbed(home, Some(&home.join("cache")), home);
    cmd.arg("doctor").args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

const PROXY: (&str, &str) = ("HTTPS_PROXY", "http://u:secret@h:1");

#[test]
fn json_on_this_host_picks_bwrap_and_masks_proxy_credentials() {
    let home = tempfile::tempdir().unwrap();
    let out = doctor(home.path(), &[PROXY], &["--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("secret") && !stderr.contains("secret"),
        "{stdout}{stderr}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    for key in [
        "ok",
        "user_namespaces",
        "sysctls",
        "apparmor",
        "bwrap",
        "bwrap_userns",
        "fresh_proc",
        "bwrap_trial",
        "landlock_abi",
        "seccomp",
        "pidfd",
        "inside_sandbox",
        "auto",
        "auto_why",
        "can_enforce",
        "trust",
        "proxy",
        "problems",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}: {v:#}");
    }
    assert_eq!(v["proxy"][0]["name"], "HTTPS_PROXY");
    assert_eq!(v["proxy"][0]["value"], "http://***@h:1");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(out.status.code(), Some(0));
    let abi = v["landlock_abi"].as_u64().unwrap();
    eprintln!("landlock ABI {abi}");
    assert!(abi >= 1, "Landlock: {v:#}");
    assert_eq!(v["seccomp"], true);
    assert_eq!(
        v["pidfd"],
        serde_json::json!({"ok": true, "detail": "pidfd_open, pidfd_send_signal, waitid(P_PIDFD)"})
    );
    if v["bwrap"]["version"].is_null() {
        return skip("no bwrap on this host");
    }
    let version = v["bwrap"]["version"].as_str().unwrap();
    assert!(version.starts_with("0."), "{version}");
    assert_eq!(v["bwrap"]["setuid"], false);
    assert_eq!(v["bwrap"]["flags"]["--unshare-user"], true);
    if v["user_namespaces"]["ok"] != true {
        return skip("user namespaces are blocked on this host");
    }
    assert_eq!(v["bwrap_userns"]["ok"], true, "{v:#}");
    assert_eq!(v["fresh_proc"]["ok"], true, "{v:#}");
    assert_eq!(v["bwrap_trial"]["ok"], true, "{v:#}");
    assert_eq!(v["auto"], "bwrap");
    assert!(v["problems"].as_array().unwrap().is_empty(), "{v:#}");
}

#[test]
fn text_masks_proxy_credentials_and_names_the_backend() {
    let home = tempfile::tempdir().unwrap();
    let out = doctor(home.path(), &[PROXY, ("http_proxy", "http://a:b@p:3")], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        !stdout.contains("secret") && !stdout.contains(":b@"),
        "{stdout}"
    );
    assert!(stdout.contains("HTTPS_PROXY=http://***@h:1"), "{stdout}");
    assert!(stdout.contains("\nauto backend     "), "{stdout}");
    assert!(stdout.contains("\nlandlock         ABI "), "{stdout}");
    assert!(
        stdout.contains("\nok: the default policy can be enforced"),
        "{stdout}"
    );
}

/// A host without AppArmor says so and nothing more: it printed
/// "not present; bwrap profiles: unknown (/sys/kernel/security/apparmor/
/// profiles: No such file or directory …)", an error for what is no
/// problem there.
#[test]
fn apparmor_absent_is_one_plain_line() {
    let home = tempfile::tempdir().unwrap();
    let out = doctor(home.path(), &[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("apparmor "))
        .unwrap_or_else(|| panic!("no apparmor line: {stdout}"));
    if Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        assert!(
            line.starts_with("apparmor         enabled; bwrap profiles: ")
                || line.starts_with("apparmor         disabled; bwrap profiles: "),
            "{line}"
        );
    } else {
        assert_eq!(line, "apparmor         not present");
    }
}

#[test]
fn a_bad_trust_variable_is_a_problem_with_one_remedy() {
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nTUlJQg==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let key = key.to_string_lossy().into_owned();
    let out = doctor(home.path(), &[("SSL_CERT_FILE", &key)], &["--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let input = v["trust"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["origin"] == "SSL_CERT_FILE")
        .unwrap_or_else(|| panic!("no SSL_CERT_FILE input: {v:#}"));
    assert!(!input["skipped"].is_null(), "{input}");
    let problem = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["problem"].as_str().unwrap().contains("SSL_CERT_FILE"))
        .unwrap_or_else(|| panic!("no problem: {v:#}"));
    assert!(problem["remedy"].as_str().unwrap().contains("unset it"));
    // A skipped input is a warning: the host can still enforce.
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_hanging_bwrap_cannot_hang_doctor() {
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("bwrap");
    support::write_script(
        &fake,
        "#!/bin/sh\ncase \"$1\" in\n--version) echo 'bubblewrap 0.8.0';;\n--help) echo '--unshare-user';;\n*) exec sleep 60;;\nesac\n",
    );
    let started = std::time::Instant::now();
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .current_dir(home.path())
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Three trials side by side, 2 s at most, plus slack for a loaded machine.
    assert!(took.as_secs() < 8, "doctor took {took:?}");
    assert_eq!(v["bwrap_trial"]["ok"], false);
    assert_eq!(v["bwrap_trial"]["detail"], "timed out after 2 s");
    if v["landlock_abi"].as_u64().unwrap_or(0) > 0 {
        assert_eq!(v["auto"], "landlock", "{v:#}");
    }
}

//! `--proxy URL` outside `--net proxy`: with `--net full` the child gets
//! it as HTTPS_PROXY and HTTP_PROXY (as `sandspawn mcp --proxy` gives a
//! server), with `--net none` it can do nothing and one warning says so;
//! both were silent, the child getting no proxy variable at all.

mod support;

use support::{backend_runs, scrubbed, stderr, Scratch};

const URL: &str = "http://proxy.test:3128";
const WARNING: &str = "sandspawn: warning: --proxy has no effect with --net none (the sandbox \
                       has no network): pass --net proxy to go out through it, or --net full \
                       to hand it to the command as HTTPS_PROXY and HTTP_PROXY";

#[test]
fn net_full_hands_the_proxy_to_the_command() {
    if !backend_runs("bwrap") {
        return;
    }
    let s = Scratch::new(&["home", "proj"]);
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .args(["run", "--net", "full", "--proxy", URL])
        .args(["--", "/bin/sh", "-c", "echo \"$HTTPS_PROXY $HTTP_PROXY\""])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{URL} {URL}\n"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("--proxy"), "{}", stderr(&out));
    // A proxy variable of the parent's is kept, as under `sandspawn mcp`.
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .env("https_proxy", "http://parent.test:1")
        .args(["env", "--net", "full", "--proxy", URL])
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.contains("\nhttps_proxy=http://parent.test:1\n"),
        "{env}"
    );
    assert!(!env.contains(URL), "{env}");
}

#[test]
fn net_none_says_the_proxy_does_nothing() {
    let s = Scratch::new(&["home", "proj"]);
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .args(["env", "--net", "none", "--proxy", URL])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).lines().any(|l| l == WARNING),
        "{}",
        stderr(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PROXY"));
}

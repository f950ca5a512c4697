//! Usage errors and help text through the real binary: what a user who
//! mistypes an option meets before anything is planned or run.

mod support;

use std::process::Output;

use support::{assert_refused, scrubbed, stderr, Scratch};

/// `sandspawn ARGS` from a project directory under a scratch HOME.
fn sandspawn(args: &[&str]) -> Output {
    let s = Scratch::new(&["home", "proj"]);
    scrubbed(&s.path("home"), None, &s.path("proj"))
        .args(args)
        .output()
        .unwrap()
}

/// A probe URL that is not https:// is refused before the verification
/// runs, as a usage error naming --probe; it was one FAIL line after the
/// whole verification (exit 1).
#[test]
fn a_probe_url_that_is_not_https_is_refused_up_front() {
    for args in [
        &["explain", "--probe", "http://origin.test/", "--", "true"][..],
        &[
            "mcp",
            "explain",
            "--probe",
            "http://origin.test/",
            "--",
            "true",
        ][..],
    ] {
        let out = sandspawn(args);
        assert_refused(
            &out,
            &args.join(" "),
            "error: invalid value 'http://origin.test/' for '--probe <URL>': \
             --probe takes an https:// URL",
        );
        assert!(!stderr(&out).contains("FAIL"), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `sandspawn run true` was clap's "unexpected argument 'true' found":
/// the command may now follow the options without `--`, everything from
/// the first non-option on being the command (its own options, a `--`,
/// included); `--` still works, and still lets a command start with `-`.
#[test]
fn run_and_explain_take_the_command_without_a_double_dash() {
    let out = sandspawn(&["explain", "--net", "full", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("command:  true\n"), "{text}");
    assert!(text.contains("\nnetwork:  full\n"), "{text}");
    if !support::backend_runs("bwrap") {
        return;
    }
    let out = sandspawn(&[
        "run",
        "--backend",
        "bwrap",
        "/bin/echo",
        "--net",
        "full",
        "--",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "--net full -- x\n");
    let out = sandspawn(&["run", "--backend", "bwrap", "--", "/bin/echo", "--", "y"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-- y\n");
    // A command starting with `-` still needs `--`: without it, it is an
    // option of sandspawn's.
    let out = sandspawn(&["run", "--", "--weird"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let out = sandspawn(&["run", "--weird"]);
    assert_refused(
        &out,
        "run --weird",
        "error: unexpected argument '--weird' found",
    );
}

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

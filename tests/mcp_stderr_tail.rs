//! The stderr tail a failed handshake reports: the newest text, a line
//! without its newline included, from a real child under each backend.

mod mcp_support;

use std::time::Duration;

use mcp_support::*;
use sandspawn::mcp::process::{spawn, SpawnOptions};
use sandspawn::mcp::session::initialize;
use sandspawn::policy::Layer;

/// Why a handshake with a server that exits at once fails: it closed
/// stdout, or it was gone before the request was written.
const GONE: [&str; 2] = [
    "the server closed stdout (exited?) before answering",
    "writing to the server's stdin: Broken pipe (os error 32)",
];

/// The error text of a handshake with `sh -c script`, each line's
/// timestamp (`[   0.123s]`) read as `[t]`, a reason in [`GONE`] as
/// `<gone>`.
async fn handshake_error(backend: &str, script: &str, timeout: Duration) -> String {
    let host = Host::new();
    let cmd = vec!["sh".into(), "-c".into(), script.into()];
    let plan = host.plan(cmd, backend, Layer::default());
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    let mut server = spawn(&plan, &opts).await.unwrap();
    let err = initialize(&mut server, timeout).await.unwrap_err();
    server.shutdown(Duration::from_millis(200)).await.unwrap();
    let text = err.to_string();
    let text = match GONE.iter().find(|r| **r == err.reason) {
        Some(reason) => text.replacen(reason, "<gone>", 1),
        None => text,
    };
    without_times(&text)
}

/// Without the Landlock backend's notes, which every Landlock server
/// prints first.
fn without_times(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("] sandspawn: landlock backend: "))
        .map(|l| match (l.starts_with('['), l.find("s] ")) {
            (true, Some(end)) => format!("[t] {}", &l[end + 3..]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const EXITED: &str = "initialize: <gone>; server exit status: 1\nstderr (last lines):\n";

async fn tails(backend: &str) {
    if !usable(backend) {
        return;
    }
    let long = Duration::from_secs(30);
    // The last words, with no newline after them, were dropped.
    let text = handshake_error(
        backend,
        "printf 'starting\\nfatal: no token' >&2; exit 1",
        long,
    )
    .await;
    assert_eq!(
        text,
        format!("{EXITED}[t] starting\n[t] fatal: no token"),
        "{backend}"
    );

    // The same, the server leaving a child that holds stderr open: no EOF
    // came to flush the line.
    let text = handshake_error(
        backend,
        "sleep 30 & printf 'starting\\nfatal: no token' >&2; exit 1",
        long,
    )
    .await;
    assert_eq!(
        text,
        format!("{EXITED}[t] starting\n[t] fatal: no token"),
        "{backend}"
    );

    // Progress rewritten in place with CR: the ring kept the oldest 4 KiB
    // of it ("step 1/3000 …", cut) and never the newest.
    let text = handshake_error(
        backend,
        "i=1; while [ $i -le 3000 ]; do printf 'step %d/3000\\r' $i >&2; i=$((i+1)); done; exit 1",
        long,
    )
    .await;
    assert_eq!(text, format!("{EXITED}[t] step 3000/3000"), "{backend}");

    // A line longer than the line bound, no newline: cut and marked.
    let text = handshake_error(
        backend,
        "head -c 5000 /dev/zero | tr '\\0' x >&2; exit 1",
        long,
    )
    .await;
    assert_eq!(
        text,
        format!("{EXITED}[t] {} …(cut)", "x".repeat(4096)),
        "{backend}"
    );

    // Still running, the line unfinished: it is shown all the same. The
    // timeout leaves a loaded machine room to start the sandbox and print.
    let text = handshake_error(
        backend,
        "printf 'waiting for a token' >&2; exec sleep 30",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        text,
        "initialize: no answer within 10.0 s (startup timeout)\n\
         stderr (last lines):\n[t] waiting for a token",
        "{backend}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tails_bwrap() {
    tails("bwrap").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tails_landlock() {
    tails("landlock").await;
}

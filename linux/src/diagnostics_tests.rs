use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_repeated_line_is_held_and_summed_up_before_the_next_line() {
    let d = Diagnostics::default();
    let t = Instant::now();
    let down = "upstream down";
    assert_eq!(
        d.lines(Refused::Unreachable, down, t),
        ["sandspawn: proxy bridge: upstream down"]
    );
    assert!(d.lines(Refused::Unreachable, down, t + 100 * MS).is_empty());
    assert!(d.lines(Refused::Unreachable, down, t + 200 * MS).is_empty());
    assert_eq!(
        d.lines(Refused::NotSpoken, "other", t + 300 * MS),
        [
            "sandspawn: proxy bridge: 2 more refused (2 upstream not reachable)",
            "sandspawn: proxy bridge: other",
        ]
    );
    // Past REPEAT_AFTER the same line is printed again.
    assert_eq!(
        d.lines(Refused::Unreachable, down, t + REPEAT_AFTER + MS),
        ["sandspawn: proxy bridge: upstream down"]
    );
}

#[test]
fn a_burst_of_distinct_lines_is_cut_to_the_window_and_summed_up_when_quiet() {
    let d = Diagnostics::default();
    let t = Instant::now();
    let mut printed = Vec::new();
    for i in 0..100u32 {
        let kind = if i % 10 == 9 {
            Refused::Unreachable
        } else {
            Refused::NotSpoken
        };
        printed.extend(d.lines(kind, &format!("first byte {i}"), t + i * MS));
    }
    assert_eq!(
        printed,
        [
            "sandspawn: proxy bridge: first byte 0",
            "sandspawn: proxy bridge: first byte 1",
            "sandspawn: proxy bridge: first byte 2",
        ]
    );
    let last = t + 99 * MS;
    assert_eq!(d.summary_due(last + QUIET - MS), None);
    assert_eq!(
        d.summary_due(last + QUIET).as_deref(),
        Some("sandspawn: proxy bridge: 97 more refused (10 upstream not reachable, 87 not HTTP or SOCKS5)")
    );
    assert_eq!(d.summary_due(last + QUIET * 2), None);
    // A new window lets lines out again.
    assert_eq!(
        d.lines(Refused::Login, "login", last + QUIET * 2),
        ["sandspawn: proxy bridge: login"]
    );
}

#[test]
fn a_burst_that_never_ends_is_still_summed_up_every_repeat_interval() {
    let d = Diagnostics::default();
    let t = Instant::now();
    let mut lines = Vec::new();
    let mut at = t;
    while at < t + REPEAT_AFTER + Duration::from_secs(1) {
        lines.extend(d.lines(Refused::Tunnel, "refused a tunnel", at));
        lines.extend(d.summary_due(at));
        at += 100 * MS;
    }
    // The line once, then at REPEAT_AFTER after the first held one the
    // summary, then the line again (its repeat interval is over too).
    assert_eq!(
        lines,
        [
            "sandspawn: proxy bridge: refused a tunnel".to_string(),
            format!(
                "sandspawn: proxy bridge: {} more refused ({0} tunnel refused or failed)",
                REPEAT_AFTER.as_millis() / 100 - 1
            ),
            "sandspawn: proxy bridge: refused a tunnel".to_string(),
        ]
    );
}

#[test]
fn memory_stays_bounded_under_endless_distinct_lines() {
    let d = Diagnostics::default();
    let t = Instant::now();
    let mut printed = 0;
    for i in 0..20_000u32 {
        // 20 s of a line every millisecond, each different.
        printed += d
            .lines(Refused::NotSpoken, &format!("line {i}"), t + i * MS)
            .len();
        assert!(d.reported().len() <= MAX_SEEN);
    }
    // 20 windows of LINES_PER_WINDOW lines, each after the first with the
    // summary of the window before.
    assert_eq!(printed, 20 * LINES_PER_WINDOW as usize + 19);
}

type Kept = Arc<Mutex<Vec<String>>>;

/// Diagnostics whose lines are kept, and whose sink stops on the first
/// summary until told to go on: as if the flusher were preempted there.
fn stalled_on_summary() -> (Diagnostics, Kept, Receiver<()>, Sender<()>) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&out);
    let (started, started_rx) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let started = Mutex::new(started);
    let d = Diagnostics::with_sink(move |line| {
        if line.contains("more refused") {
            let _ = started.lock().unwrap().send(());
            let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
        }
        kept.lock().unwrap().push(line.to_owned());
    });
    // One line printed and one held, a burst long over.
    let t = Instant::now() - Duration::from_secs(10);
    assert_eq!(d.lines(Refused::Unreachable, "down", t).len(), 1);
    assert!(d.lines(Refused::Unreachable, "down", t + MS).is_empty());
    (d, out, started_rx, go)
}

#[test]
fn the_exit_flush_returns_only_once_a_summary_taken_by_the_flusher_is_out() {
    let (d, out, started, go) = stalled_on_summary();
    let flusher = d.clone();
    let flusher = std::thread::spawn(move || flusher.flush_when_quiet());
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    let exiting = d.clone();
    let kept = Arc::clone(&out);
    // What the bridge's exit sees once its flush has returned.
    let exiting = std::thread::spawn(move || {
        exiting.flush();
        kept.lock().unwrap().clone()
    });
    std::thread::sleep(200 * MS);
    go.send(()).unwrap();
    assert_eq!(
        exiting.join().unwrap(),
        ["sandspawn: proxy bridge: 1 more refused (1 upstream not reachable)"]
    );
    flusher.join().unwrap();
}

#[test]
fn a_line_reported_while_the_flusher_writes_comes_after_its_summary() {
    let (d, out, started, go) = stalled_on_summary();
    let flusher = d.clone();
    let flusher = std::thread::spawn(move || flusher.flush_when_quiet());
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    let reporter = d.clone();
    let reporter = std::thread::spawn(move || reporter.report(Refused::NotSpoken, "other"));
    std::thread::sleep(200 * MS);
    go.send(()).unwrap();
    reporter.join().unwrap();
    flusher.join().unwrap();
    assert_eq!(
        *out.lock().unwrap(),
        [
            "sandspawn: proxy bridge: 1 more refused (1 upstream not reachable)",
            "sandspawn: proxy bridge: other",
        ]
    );
}

#[test]
fn the_summary_names_a_bad_request_line_and_a_track_as_what_they_are() {
    let d = Diagnostics::default();
    let t = Instant::now();
    let line = "a request head that does not start with an HTTP/1.x request line";
    let echo = "a TRACK request";
    assert_eq!(d.lines(Refused::BadRequestLine, line, t).len(), 1);
    assert_eq!(d.lines(Refused::Echo, echo, t + MS).len(), 1);
    assert!(d
        .lines(Refused::BadRequestLine, line, t + 2 * MS)
        .is_empty());
    assert!(d.lines(Refused::Echo, echo, t + 3 * MS).is_empty());
    assert_eq!(
        d.summary_due(t + 3 * MS + QUIET).as_deref(),
        Some(
            "sandspawn: proxy bridge: 2 more refused (1 not an HTTP/1.x request line, \
             1 TRACE/TRACK refused (it would echo the credentials))"
        )
    );
}

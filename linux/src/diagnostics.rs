//! The host bridge's refusal lines on stderr, which is the MCP host's (or
//! the terminal's) and shared with the child: bounded however hard a child
//! hammers the bridge. Each distinct line is printed at most once per
//! [`REPEAT_AFTER`]; all lines together at most [`LINES_PER_WINDOW`] per
//! [`WINDOW`]. What is held back is counted by kind, and one summary line
//! (`N more refused (7 upstream not reachable, 2 not HTTP or SOCKS5)`)
//! follows when the burst ends or comes before the next printed line. The
//! memory held is a fixed count per kind plus the recent distinct lines,
//! at most [`MAX_SEEN`] of them.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The same line is printed at most once per this interval.
pub const REPEAT_AFTER: Duration = Duration::from_secs(30);

/// The window of the rate limit.
pub const WINDOW: Duration = Duration::from_secs(1);

/// At most this many refusal lines per [`WINDOW`] (a summary line, at most
/// one before each of them or one when a burst ends, not counted).
pub const LINES_PER_WINDOW: u32 = 3;

/// A burst has ended when no refusal came for this long.
pub const QUIET: Duration = Duration::from_secs(1);

/// At most this many distinct recent lines are remembered; with the rate
/// limit, fewer than `LINES_PER_WINDOW` × 30 are ever recent.
pub const MAX_SEEN: usize = 256;

/// The kind of a refusal: what the summary of held lines counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The upstream proxy could not be reached.
    Unreachable,
    /// The child spoke neither HTTP nor SOCKS5 (SOCKS4, TLS, other bytes).
    NotSpoken,
    /// A SOCKS5 child of an HTTP upstream.
    WrongProtocol,
    /// The upstream refused or wanted the login.
    Login,
    /// A request head too large, or not complete in time.
    BadHead,
    /// A request head that does not start with an HTTP/1.x request line.
    BadRequestLine,
    /// The SOCKS5 upstream refused or failed a tunnel.
    Tunnel,
    /// The origin's answer to a plain `http://` request could not be relayed.
    Origin,
    /// A `TRACE`/`TRACK`, whose echo would carry the credentials.
    Echo,
    /// A target on the host itself (`crate::local_target`).
    Local,
}

impl Refused {
    const ALL: [Refused; 10] = [
        Refused::Unreachable,
        Refused::NotSpoken,
        Refused::WrongProtocol,
        Refused::Login,
        Refused::BadHead,
        Refused::BadRequestLine,
        Refused::Tunnel,
        Refused::Origin,
        Refused::Echo,
        Refused::Local,
    ];

    fn label(self) -> &'static str {
        match self {
            Refused::Unreachable => "upstream not reachable",
            Refused::NotSpoken => "not HTTP or SOCKS5",
            Refused::WrongProtocol => "SOCKS5 to an HTTP upstream",
            Refused::Login => "login refused",
            Refused::BadHead => "request head too large or too slow",
            Refused::BadRequestLine => "not an HTTP/1.x request line",
            Refused::Tunnel => "tunnel refused or failed",
            Refused::Origin => "origin answer not relayed",
            Refused::Echo => "TRACE/TRACK refused (it would echo the credentials)",
            Refused::Local => "host-local target",
        }
    }

    fn index(self) -> usize {
        Refused::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// Where the lines go: stderr, or (in tests) a closure that keeps them.
type Sink = Box<dyn FnMut(&str) + Send>;

#[derive(Default)]
struct State {
    /// `None` is stderr. Lines are written while this state is locked, so
    /// a summary taken is out before anyone else sees the state again: its
    /// order before the next line, and the exit flush, are exact.
    sink: Option<Sink>,
    /// When each recent distinct line was printed.
    seen: HashMap<String, Instant>,
    /// The current window and how many lines it printed.
    window: Option<(Instant, u32)>,
    /// Lines held back, by kind, since the last summary.
    held: [u64; Refused::ALL.len()],
    /// When the first of them was held.
    held_since: Option<Instant>,
    /// When the last refusal came.
    last: Option<Instant>,
    /// Whether a thread is waiting to print the summary.
    flusher: bool,
}

impl State {
    fn write(&mut self, lines: &[String]) {
        for line in lines {
            match &mut self.sink {
                Some(sink) => sink(line),
                None => write_stderr(line),
            }
        }
    }

    fn held_total(&self) -> u64 {
        self.held.iter().sum()
    }

    /// The summary of what was held, which it clears; `None` if nothing.
    fn take_summary(&mut self) -> Option<String> {
        let total = self.held_total();
        if total == 0 {
            return None;
        }
        let kinds: Vec<String> = Refused::ALL
            .iter()
            .zip(self.held)
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{n} {}", kind.label()))
            .collect();
        self.held = Default::default();
        self.held_since = None;
        Some(format!(
            "sandspawn: proxy bridge: {total} more refused ({})",
            kinds.join(", ")
        ))
    }

    /// Whether the window lets one more line out at `now` (and count it).
    fn allowed(&mut self, now: Instant) -> bool {
        let (start, printed) = match self.window {
            Some((start, printed)) if now.duration_since(start) < WINDOW => (start, printed),
            _ => (now, 0),
        };
        let allowed = printed < LINES_PER_WINDOW;
        self.window = Some((start, printed + u32::from(allowed)));
        allowed
    }

    fn remember(&mut self, message: &str, now: Instant) {
        if self.seen.len() >= MAX_SEEN && !self.seen.contains_key(message) {
            self.seen
                .retain(|_, at| now.duration_since(*at) < REPEAT_AFTER);
            if self.seen.len() >= MAX_SEEN {
                let oldest = self.seen.iter().min_by_key(|(_, at)| **at);
                if let Some(oldest) = oldest.map(|(m, _)| m.clone()) {
                    self.seen.remove(&oldest);
                }
            }
        }
        self.seen.insert(message.to_owned(), now);
    }
}

/// Refusal lines for stderr, bounded as the module says.
#[derive(Default, Clone)]
pub struct Diagnostics {
    state: Arc<Mutex<State>>,
}

impl Diagnostics {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The lines to print for `message` (of `kind`) at `now`: none (held
    /// back), the line, or the summary of what was held and then the line.
    #[cfg(test)]
    pub fn lines(&self, kind: Refused, message: &str, now: Instant) -> Vec<String> {
        Self::lines_of(&mut self.lock(), kind, message, now)
    }

    fn lines_of(state: &mut State, kind: Refused, message: &str, now: Instant) -> Vec<String> {
        state.last = Some(now);
        let repeat = state
            .seen
            .get(message)
            .is_some_and(|at| now.duration_since(*at) < REPEAT_AFTER);
        if repeat || !state.allowed(now) {
            state.held[kind.index()] += 1;
            state.held_since.get_or_insert(now);
            return Vec::new();
        }
        state.remember(message, now);
        let mut out: Vec<String> = state.take_summary().into_iter().collect();
        out.push(format!("sandspawn: proxy bridge: {message}"));
        out
    }

    /// The summary once the burst is over at `now` (no refusal for
    /// [`QUIET`]), or once lines have been held for [`REPEAT_AFTER`] (a
    /// burst that never ends is still summed up now and then).
    #[cfg(test)]
    pub fn summary_due(&self, now: Instant) -> Option<String> {
        Self::summary_due_of(&mut self.lock(), now)
    }

    fn summary_due_of(state: &mut State, now: Instant) -> Option<String> {
        let quiet = state.last.is_some_and(|t| now.duration_since(t) >= QUIET);
        let long = state
            .held_since
            .is_some_and(|t| now.duration_since(t) >= REPEAT_AFTER);
        if quiet || long {
            state.take_summary()
        } else {
            None
        }
    }

    /// Print the summary of what is held now, burst over or not: the
    /// bridge is about to exit.
    pub fn flush(&self) {
        let mut state = self.lock();
        let summary = state.take_summary();
        state.write(&Vec::from_iter(summary));
    }

    /// Diagnostics whose lines go to `sink` instead of stderr.
    #[cfg(test)]
    fn with_sink(sink: impl FnMut(&str) + Send + 'static) -> Diagnostics {
        let d = Diagnostics::default();
        d.lock().sink = Some(Box::new(sink));
        d
    }

    /// Every distinct message printed lately, sorted.
    #[cfg(test)]
    pub fn reported(&self) -> Vec<String> {
        let mut all: Vec<String> = self.lock().seen.keys().cloned().collect();
        all.sort();
        all
    }

    /// Print `message` (of `kind`) to stderr as [`Diagnostics::lines`]
    /// says. Each line goes out in one write: the child shares this stderr,
    /// and `eprintln!` writes the newline apart, so the child's own words
    /// could land between them. While lines are held, one thread waits to
    /// print their summary when the burst ends.
    pub fn report(&self, kind: Refused, message: &str) {
        let start = {
            let mut state = self.lock();
            let lines = Self::lines_of(&mut state, kind, message, Instant::now());
            state.write(&lines);
            let start = state.held_total() > 0 && !state.flusher;
            state.flusher |= start;
            start
        };
        if start {
            let this = self.clone();
            let spawned = std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || this.flush_when_quiet());
            if spawned.is_err() {
                // The summary comes before the next printed line instead.
                self.lock().flusher = false;
            }
        }
    }

    fn flush_when_quiet(&self) {
        loop {
            std::thread::sleep(QUIET / 4);
            let mut state = self.lock();
            let summary = Self::summary_due_of(&mut state, Instant::now());
            state.write(&Vec::from_iter(summary));
            if state.held_total() == 0 {
                state.flusher = false;
                return;
            }
        }
    }
}

fn write_stderr(line: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{line}\n").as_bytes());
}

#[cfg(test)]
#[path = "diagnostics_tests.rs"]
mod tests;

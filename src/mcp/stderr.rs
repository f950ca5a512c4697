//! The server's stderr, drained concurrently into a bounded ring of lines
//! (last N bytes, each line bounded, each with the time since spawn). The
//! reader never stops reading, so the child can never block on a full pipe.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bounds of the ring.
#[derive(Debug, Clone, Copy)]
pub struct StderrLimits {
    /// Total bytes kept (the newest lines), each line's newline included:
    /// an empty line is not free, so a flood of them stays bounded too.
    pub total: usize,
    /// Bytes kept of one line; the rest is cut and marked.
    pub line: usize,
}

impl Default for StderrLimits {
    fn default() -> Self {
        StderrLimits {
            total: 64 * 1024,
            line: 4 * 1024,
        }
    }
}

/// One line of stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StderrLine {
    /// Time since the server was spawned.
    pub at: Duration,
    /// The line (lossy UTF-8, cut at the line bound; of a line rewritten
    /// with CR, the text after the last CR).
    pub text: String,
    /// Whether the line was cut.
    pub truncated: bool,
}

/// The ring: shared between the reader task and the handle.
#[derive(Debug, Default)]
pub struct Ring {
    lines: VecDeque<StderrLine>,
    bytes: usize,
    dropped: u64,
    /// The line being written: shown with the others, never lost for want
    /// of a final newline.
    partial: Vec<u8>,
    partial_cut: bool,
    /// When its newest bytes came.
    partial_at: Duration,
    /// The partial line ended in a CR that is not (yet) part of a CRLF:
    /// the next bytes overwrite the line, as on a terminal.
    partial_cr: bool,
    limits: Option<StderrLimits>,
}

impl Ring {
    /// An empty ring with `limits`.
    pub fn new(limits: StderrLimits) -> Ring {
        Ring {
            limits: Some(limits),
            ..Ring::default()
        }
    }

    fn limits(&self) -> StderrLimits {
        self.limits.unwrap_or_default()
    }

    /// Feed bytes read at `at`. A CR not followed by a newline starts the
    /// line over (progress rewritten in place): the newest text is kept,
    /// not the oldest, and no CR reaches the text.
    pub fn feed(&mut self, chunk: &[u8], at: Duration) {
        for part in chunk.split_inclusive(|b| *b == b'\n') {
            let (body, done) = match part.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (part, false),
            };
            let mut segments = body.split(|b| *b == b'\r');
            self.extend(segments.next().unwrap_or_default(), at);
            for segment in segments {
                self.partial_cr = true;
                self.extend(segment, at);
            }
            if done {
                self.finish_line(at);
            }
        }
    }

    /// Add `bytes` to the partial line, within the line bound.
    fn extend(&mut self, bytes: &[u8], at: Duration) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.partial_cr) {
            self.partial.clear();
            self.partial_cut = false;
        }
        self.partial_at = at;
        let room = self.limits().line.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial_cut = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Flush a final line without a newline.
    pub fn flush(&mut self, at: Duration) {
        if !self.partial.is_empty() {
            self.finish_line(at);
        }
    }

    fn finish_line(&mut self, at: Duration) {
        let line = self.partial_line(at, false);
        self.partial.clear();
        self.partial_cut = false;
        self.partial_cr = false;
        self.bytes += line.text.len() + 1;
        self.lines.push_back(line);
        let total = self.limits().total;
        while self.bytes > total {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.text.len() + 1;
                    self.dropped += 1;
                }
                None => break,
            }
        }
    }

    /// The partial line as a line read at `at`; `unfinished`: more of it
    /// may come.
    fn partial_line(&self, at: Duration, unfinished: bool) -> StderrLine {
        let mut raw = self.partial.as_slice();
        let mut truncated = self.partial_cut;
        if truncated || unfinished {
            // The byte cut, or the read, may have split the last character.
            raw = &raw[..raw.len() - incomplete_tail(raw)];
        }
        let mut text = String::from_utf8_lossy(raw).into_owned();
        // The bound is on the text: each invalid byte becomes U+FFFD, three
        // bytes of it.
        let bound = self.limits().line;
        if text.len() > bound {
            let mut end = bound;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            truncated = true;
        }
        StderrLine {
            at,
            text,
            truncated,
        }
    }

    /// The kept lines, oldest first; the last may be one still being
    /// written (no newline yet, or none ever: a server that died mid-line,
    /// or whose EOF is held off by a child sharing its stderr).
    pub fn lines(&self) -> Vec<StderrLine> {
        let mut lines: Vec<StderrLine> = self.lines.iter().cloned().collect();
        if !self.partial.is_empty() {
            lines.push(self.partial_line(self.partial_at, true));
        }
        lines
    }

    /// Lines dropped from the front to stay within the bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// How many bytes at the end of `raw` start a UTF-8 sequence that is cut
/// short (0 when it ends on a character boundary).
fn incomplete_tail(raw: &[u8]) -> usize {
    for back in 1..=raw.len().min(3) {
        let b = raw[raw.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// Shared handle to a ring.
pub type SharedRing = Arc<Mutex<Ring>>;

/// Drain `reader` into `ring` until EOF or error.
pub async fn drain<R: AsyncRead + Unpin>(mut reader: R, ring: SharedRing, started: Instant) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut r) = ring.lock() {
                    r.feed(&buf[..n], started.elapsed());
                }
            }
        }
    }
    if let Ok(mut r) = ring.lock() {
        r.flush(started.elapsed());
    }
}

/// Lines that look like a sandbox denial: permission errors (EACCES,
/// EPERM, Python's PermissionError) and a read-only file system. The
/// Landlock backend's start-up notes (`sandspawn: landlock backend: …`)
/// are not counted: every Landlock server prints them.
pub fn denials(lines: &[StderrLine]) -> Vec<String> {
    const HINTS: &[&str] = &[
        "EACCES",
        "EPERM",
        "EROFS",
        "Permission denied",
        "Operation not permitted",
        "Read-only file system",
        "PermissionError",
    ];
    lines
        .iter()
        .filter(|l| HINTS.iter().any(|h| l.text.contains(h)))
        .map(|l| l.text.clone())
        .collect()
}

/// The last lines as text, `[  1.234s] line` each.
pub fn render(lines: &[StderrLine]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&format!(
            "[{:>8.3}s] {}{}\n",
            l.at.as_secs_f64(),
            l.text,
            if l.truncated { " …(cut)" } else { "" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines_and_total() {
        let mut r = Ring::new(StderrLimits { total: 20, line: 5 });
        let t = Duration::ZERO;
        r.feed(b"abcdefgh\nxy", t);
        r.feed(b"z\r\n", t);
        let lines = r.lines();
        assert_eq!(lines[0].text, "abcde");
        assert!(lines[0].truncated);
        assert_eq!(lines[1].text, "xyz");
        for _ in 0..10 {
            r.feed(b"1234\n", t);
        }
        assert!(r.lines().iter().map(|l| l.text.len()).sum::<usize>() <= 20);
        assert!(r.dropped() > 0);
        r.feed(&vec![b'x'; 100_000], t);
        r.flush(t);
        assert_eq!(r.lines().last().unwrap().text, "xxxxx");
    }

    /// Empty lines counted nothing against the total, so a server writing
    /// only newlines (`yes '' >&2`) grew the ring without bound: the host
    /// took on hundreds of MB a second. Each line now counts its newline.
    #[test]
    fn empty_lines_count_against_the_total() {
        let mut r = Ring::new(StderrLimits::default());
        r.feed(&vec![b'\n'; 1_000_000], Duration::ZERO);
        assert_eq!(r.lines().len(), 64 * 1024);
        assert_eq!(r.dropped(), 1_000_000 - 64 * 1024);
    }

    fn texts(r: &Ring) -> Vec<(String, bool)> {
        r.lines()
            .into_iter()
            .map(|l| (l.text, l.truncated))
            .collect()
    }

    /// A line still without its newline is shown (it was kept back until
    /// EOF, and lost if EOF never came): whole characters only while more
    /// may come, and marked once it is cut.
    #[test]
    fn the_line_being_written_is_shown() {
        let mut r = Ring::new(StderrLimits { total: 64, line: 9 });
        let t = Duration::from_millis(7);
        r.feed(b"one\nfatal: \xc3", t);
        assert_eq!(
            texts(&r),
            [("one".into(), false), ("fatal: ".into(), false)]
        );
        assert_eq!(r.lines()[1].at, t);
        r.feed(b"\xa9tape", Duration::ZERO);
        assert_eq!(texts(&r)[1], ("fatal: \u{e9}".into(), true));
        r.flush(Duration::ZERO);
        assert_eq!(texts(&r).len(), 2);
    }

    /// Progress rewritten with CR: each rewrite replaces the line, across
    /// reads too, so the newest is kept (the oldest 4 KiB were, CRs and
    /// all); a CR before the newline is a CRLF ending.
    #[test]
    fn a_carriage_return_starts_the_line_over() {
        let mut r = Ring::new(StderrLimits { total: 64, line: 8 });
        let t = Duration::ZERO;
        r.feed(b"10%\r20%\r", t);
        assert_eq!(texts(&r), [("20%".into(), false)]);
        r.feed(b"30%", t);
        assert_eq!(texts(&r), [("30%".into(), false)]);
        r.feed(b"\r\n\rx\r\n", t);
        r.feed(&b"0123456789\r".repeat(100), t);
        r.feed(b"done", t);
        assert_eq!(
            texts(&r),
            [
                ("30%".into(), false),
                ("x".into(), false),
                ("done".into(), false)
            ]
        );
    }

    #[test]
    fn invalid_utf8_stays_within_the_line_bound() {
        // Each invalid byte reads as U+FFFD, three bytes of text.
        let mut r = Ring::new(StderrLimits {
            total: 1 << 20,
            line: 4096,
        });
        r.feed(&[0xff; 10_000], Duration::ZERO);
        r.feed(b"\n", Duration::ZERO);
        // 1 + 2 * 3000 bytes: the cut at 4096 falls inside an "é".
        r.feed(format!("x{}", "é".repeat(3000)).as_bytes(), Duration::ZERO);
        r.flush(Duration::ZERO);
        let lines = r.lines();
        assert_eq!(lines.len(), 2);
        for l in &lines {
            assert!(l.text.len() <= 4096, "{}", l.text.len());
            assert!(l.truncated);
        }
        assert!(lines[0].text.starts_with('\u{fffd}'));
        // Cut on a character boundary: no U+FFFD from a split "é".
        assert_eq!(lines[1].text, format!("x{}", "é".repeat(2047)));
    }
}

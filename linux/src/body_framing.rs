//! Where a plain request's body ends, as its head frames it: after
//! `Content-Length` bytes, or after the last chunk and trailers of a
//! chunked one (RFC 9112 §7.1). The bridge passes the child's bytes on to
//! the upstream up to that end and no further, so that a second request
//! sent on the heels of the first (pipelined) never reaches an upstream
//! that would read on after `Connection: close`, unchecked.
//!
//! A chunked body that breaks the syntax (a size over eight hex digits, a
//! trailer that is not `token: value`) ends where it breaks: the request
//! is refused, and the upstream gets no more of it.

use crate::front_parse::is_tchar;

/// Why a request whose body [`Framing::broken`] is refused.
pub const BROKEN: &str = "a malformed chunked request body (a chunk size over eight hex digits past its leading zeros, a trailer line that is not `name: value`, or bytes out of place)";

/// The end of one body, found as its bytes go by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes are left (`Content-Length`).
    Length(u64),
    /// A chunk-size line: its value so far, whether a digit came, and
    /// whether an extension (`;…`) started.
    Size { value: u64, digits: bool, ext: bool },
    /// The size line's CR came; its LF is due.
    SizeLf { value: u64 },
    /// This many bytes of chunk data are left.
    Data(u64),
    /// The CR after the data is due.
    DataCr,
    /// The LF after the data is due.
    DataLf,
    /// The start of a trailer line, or of the final empty line.
    TrailerStart,
    /// Inside a trailer line's name.
    TrailerName,
    /// Inside a trailer line's value.
    TrailerValue,
    /// A trailer line's LF is due.
    TrailerLf,
    /// The final empty line's LF is due.
    EndLf,
    /// The body is over.
    Done,
    /// The syntax broke at the last byte seen, which is not the body's.
    Broken,
}

impl Framing {
    /// A body of `length` bytes.
    pub fn length(length: u64) -> Framing {
        let state = if length == 0 {
            State::Done
        } else {
            State::Length(length)
        };
        Framing { state }
    }

    /// A chunked body.
    pub fn chunked() -> Framing {
        Framing {
            state: State::Size {
                value: 0,
                digits: false,
                ext: false,
            },
        }
    }

    /// Whether the syntax broke: the body is over, but not as it should
    /// have ended, and the request is to be refused.
    pub fn broken(&self) -> bool {
        self.state == State::Broken
    }

    /// Whether the body is over: nothing more belongs to it.
    pub fn done(&self) -> bool {
        matches!(self.state, State::Done | State::Broken)
    }

    /// How many of `bytes` (the next ones the child sent) belong to the
    /// body; the rest, if any, come after its end.
    pub fn take(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            match self.state {
                State::Done | State::Broken => return at,
                State::Length(left) | State::Data(left) => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - at);
                    at += n;
                    let left = left - n as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::DataCr,
                        _ => State::Data(left),
                    };
                }
                _ => {
                    self.state = self.step(bytes[at]);
                    if self.state == State::Broken {
                        return at;
                    }
                    at += 1;
                }
            }
        }
        at
    }

    /// The state after one byte of the chunked syntax.
    fn step(&self, b: u8) -> State {
        match (self.state, b) {
            (
                State::Size {
                    ext: true, value, ..
                },
                b'\r',
            ) => State::SizeLf { value },
            (State::Size { ext: true, .. }, b'\n') => State::Broken,
            (State::Size { ext: true, .. }, _) => self.state,
            (State::Size { value, .. }, b) if b.is_ascii_hexdigit() => {
                // Eight hex digits past the leading zeros (4 GiB) are
                // more than any sane chunk; a reader that cut a longer
                // size short would read the body otherwise.
                if value >> 28 != 0 {
                    return State::Broken;
                }
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                State::Size {
                    value: value << 4 | digit,
                    digits: true,
                    ext: false,
                }
            }
            (
                State::Size {
                    value,
                    digits: true,
                    ..
                },
                b';' | b' ' | b'\t',
            ) => State::Size {
                value,
                digits: true,
                ext: true,
            },
            (
                State::Size {
                    value,
                    digits: true,
                    ..
                },
                b'\r',
            ) => State::SizeLf { value },
            (State::SizeLf { value: 0 }, b'\n') => State::TrailerStart,
            (State::SizeLf { value }, b'\n') => State::Data(value),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size {
                value: 0,
                digits: false,
                ext: false,
            },
            // Trailer lines are `token: value`, as header lines are
            // (`crate::request_fields`): no folding, no control bytes.
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::TrailerName, b) if is_tchar(b) => State::TrailerName,
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, b) if b == b'\t' || !b.is_ascii_control() => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            // Anything else breaks the syntax: the body ends here.
            _ => State::Broken,
        }
    }
}

#[cfg(test)]
#[path = "body_framing_tests.rs"]
mod tests;

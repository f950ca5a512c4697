//! The header lines of a child's request head, checked the one way both
//! the HTTP front and the HTTP bridge go by, and where the body they frame
//! ends.
//!
//! A head that two parsers could read two ways lets a second request hide
//! in the first one's body (request smuggling): the bridge would check the
//! one it sees, the upstream or origin would act on the one it sees. So
//! whatever a lenient reader might take otherwise is refused with a `400`
//! before anything goes on: `Content-Length` beside `Transfer-Encoding`,
//! `Transfer-Encoding` in an HTTP/1.0 request or on more than one line,
//! different `Content-Length` values, a name that is no token (`Name :`),
//! a folded line, a control byte other than HT.

use crate::body_framing::Framing;
use crate::front_parse::{is_tchar, Refusal};

fn bad(reason: String) -> Refusal {
    Refusal {
        status: "400 Bad Request",
        reason,
    }
}

/// At most 80 bytes of `line`, for messages.
fn quoted(line: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(&line[..line.len().min(80)]))
}

/// Check `head` (the request line, then the header lines, each ended by
/// CRLF or LF, no blank line) and return where its body ends: chunked
/// (`Transfer-Encoding`, whose last coding must be `chunked`), else
/// `Content-Length` bytes, else none at all.
pub(crate) fn check_head(head: &[u8]) -> Result<Framing, Refusal> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request = lines.next().unwrap_or_default();
    let http10 = request.ends_with(b" HTTP/1.0");
    let mut length: Option<u64> = None;
    let mut codings: Option<String> = None;
    for line in lines {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err(bad(format!(
                "a folded header line (a line starting with a space or tab): {}",
                quoted(line)
            )));
        }
        if line.iter().any(|&b| b != b'\t' && b.is_ascii_control()) {
            return Err(bad(format!(
                "a control character in a header line: {}",
                quoted(line)
            )));
        }
        let colon = line.iter().position(|&b| b == b':');
        let Some(colon) = colon.filter(|&c| c > 0 && line[..c].iter().all(|&b| is_tchar(b))) else {
            return Err(bad(format!(
                "not a header line (a name of token characters, then ':'): {}",
                quoted(line)
            )));
        };
        let name = &line[..colon];
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if codings.is_some() {
                return Err(bad("more than one Transfer-Encoding header".into()));
            }
            codings = Some(value.to_string());
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = value
                .parse::<u64>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| bad(format!("Content-Length {value:?} is not a number")))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("two different Content-Length headers".into()));
            }
            length = Some(n);
        }
    }
    match codings {
        Some(_) if length.is_some() => Err(bad(
            "Content-Length and Transfer-Encoding together (the body's end could be read two ways)"
                .into(),
        )),
        Some(_) if http10 => Err(bad(
            "Transfer-Encoding in an HTTP/1.0 request (HTTP/1.0 has no transfer codings)".into(),
        )),
        Some(codings) => {
            let last = codings.rsplit(',').next().unwrap_or_default().trim();
            if last.eq_ignore_ascii_case("chunked") {
                Ok(Framing::chunked())
            } else {
                Err(bad(format!(
                    "Transfer-Encoding {codings:?} does not end in chunked (the body's end could not be told)"
                )))
            }
        }
        None => Ok(Framing::length(length.unwrap_or(0))),
    }
}

#[cfg(test)]
#[path = "request_fields_tests.rs"]
mod tests;

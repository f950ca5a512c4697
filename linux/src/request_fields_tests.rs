use super::*;

fn checked(fields: &str) -> Result<Framing, Refusal> {
    check_head(format!("POST http://x/ HTTP/1.1\r\n{fields}").as_bytes())
}

#[test]
fn the_body_is_what_the_head_frames() {
    let mut none = check_head(b"GET http://x/ HTTP/1.1\r\nHost: x").unwrap();
    assert!(none.done());
    assert_eq!(none.take(b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n"), 0);
    let mut twelve = checked("Content-Length: 12").unwrap();
    assert_eq!(twelve.take(&[b'a'; 20]), 12);
    let mut same = checked("Content-Length: 3\r\nContent-Length: 3").unwrap();
    assert_eq!(same.take(&[b'a'; 20]), 3);
    let mut chunked = checked("Transfer-Encoding: gzip, chunked\r\nX-A:\tb c").unwrap();
    assert_eq!(chunked.take(b"3\r\nabc\r\n0\r\n\r\nGET"), 13);
    // LF alone ends a line too (the bridge sends every line with CRLF).
    assert!(check_head(b"GET http://x/ HTTP/1.1\nHost: x\nAccept: */*").is_ok());
}

#[test]
fn heads_a_lenient_reader_could_read_otherwise_are_refused() {
    for (fields, reason) in [
        ("Content-Length: +1", "Content-Length \"+1\" is not a number"),
        (
            "Content-Length: 1\r\nContent-Length: 2",
            "two different Content-Length headers",
        ),
        (
            "Transfer-Encoding: gzip",
            "Transfer-Encoding \"gzip\" does not end in chunked (the body's end could not be told)",
        ),
        (
            "Content-Length: 3\r\nTransfer-Encoding: chunked",
            "Content-Length and Transfer-Encoding together (the body's end could be read two ways)",
        ),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: 3",
            "Content-Length and Transfer-Encoding together (the body's end could be read two ways)",
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            "more than one Transfer-Encoding header",
        ),
        (
            "Transfer-Encoding : chunked",
            "not a header line (a name of token characters, then ':'): \"Transfer-Encoding : chunked\"",
        ),
        (
            "X: 1\r\n Transfer-Encoding: chunked",
            "a folded header line (a line starting with a space or tab): \" Transfer-Encoding: chunked\"",
        ),
        (
            "X: 1\r\n\tfolded",
            "a folded header line (a line starting with a space or tab): \"\\tfolded\"",
        ),
        (
            "X: a\rTransfer-Encoding: chunked",
            "a control character in a header line: \"X: a\\rTransfer-Encoding: chunked\"",
        ),
        (
            "X: a\0b",
            "a control character in a header line: \"X: a\\0b\"",
        ),
        (
            "X: a\x7fb",
            "a control character in a header line: \"X: a\\u{7f}b\"",
        ),
        (
            "no colon here",
            "not a header line (a name of token characters, then ':'): \"no colon here\"",
        ),
        (
            ": empty name",
            "not a header line (a name of token characters, then ':'): \": empty name\"",
        ),
    ] {
        let e = checked(fields).unwrap_err();
        assert_eq!((e.status, e.reason.as_str()), ("400 Bad Request", reason), "{fields:?}");
    }
    let e = check_head(b"POST http://x/ HTTP/1.0\r\nTransfer-Encoding: chunked").unwrap_err();
    assert_eq!(
        e.reason,
        "Transfer-Encoding in an HTTP/1.0 request (HTTP/1.0 has no transfer codings)"
    );
}

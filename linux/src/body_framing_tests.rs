use super::*;

/// How much of `bytes`, fed in pieces of `step`, belongs to the body.
fn body_of(mut framing: Framing, bytes: &[u8], step: usize) -> usize {
    let mut taken = 0;
    for piece in bytes.chunks(step) {
        let n = framing.take(piece);
        taken += n;
        if n < piece.len() {
            break;
        }
    }
    taken
}

const NEXT: &[u8] = b"GET http://127.0.0.1:6379/ HTTP/1.1\r\n\r\n";

#[test]
fn a_length_ends_the_body_there() {
    let mut bytes = b"hello".to_vec();
    bytes.extend_from_slice(NEXT);
    for step in [1, 2, 3, 100] {
        assert_eq!(body_of(Framing::length(5), &bytes, step), 5, "{step}");
    }
    let mut none = Framing::length(0);
    assert!(none.done());
    assert_eq!(none.take(NEXT), 0);
}

#[test]
fn a_chunked_body_ends_after_its_last_chunk_and_trailers() {
    for body in [
        &b"5\r\nhello\r\n0\r\n\r\n"[..],
        b"5;name=value\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n",
        b"A\r\n0123456789\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
        b"0\r\n\r\n",
    ] {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(NEXT);
        for step in [1, 2, 7, 1000] {
            let mut framing = Framing::chunked();
            assert_eq!(
                body_of(framing.clone(), &bytes, step),
                body.len(),
                "{:?} in pieces of {step}",
                String::from_utf8_lossy(body)
            );
            // Whole, it is done.
            assert_eq!(framing.take(&bytes), body.len());
            assert!(framing.done());
        }
    }
}

#[test]
fn a_broken_chunked_body_ends_where_it_breaks() {
    for (body, kept) in [
        (&b"zz\r\n"[..], 0),
        (b"5\nhello", 1),
        (b"5\r\nhelloXX", 8),
        (b"\r\n", 0),
        (b"11111111111111111\r\n", 8),
        // More than 8 hex digits past the leading zeros: no sane size.
        (b"100000000\r\n", 8),
        (b"0000000000000000100000000\r\n", 24),
        // Trailers are `token: value`.
        (b"0\r\nX-T : 1\r\n\r\n", 6),
        (b"0\r\n folded\r\n\r\n", 3),
        (b"0\r\nno colon\r\n\r\n", 5),
        (b"0\r\n: v\r\n\r\n", 3),
        (b"0\r\nX: a\x00b\r\n\r\n", 7),
    ] {
        let mut framing = Framing::chunked();
        assert_eq!(
            framing.take(body),
            kept,
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert!(framing.done());
        assert!(framing.broken());
        assert_eq!(framing.take(NEXT), 0);
    }
}

#[test]
fn sizes_up_to_eight_hex_digits_are_read_past_any_leading_zeros() {
    let mut framing = Framing::chunked();
    assert_eq!(framing.take(b"000000000000ffffffff\r\n"), 22);
    assert!(!framing.done());
    let mut framing = Framing::chunked();
    let body = b"0000000000000000003\r\nabc\r\n0\r\nX-T:\tv w\r\n\r\n";
    assert_eq!(framing.take(body), body.len());
    assert!(framing.done() && !framing.broken());
}

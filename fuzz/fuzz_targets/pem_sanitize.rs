//! The certificates-only sanitiser on arbitrary bytes: never panics, keeps
//! only DER that parses as a certificate, and is idempotent through the
//! bundle encoding (what we write is exactly what we would read back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandspawn::trust::{encode_bundle, sanitize_pem};

fuzz_target!(|data: &[u8]| {
    let first = sanitize_pem(data);
    let bundle = encode_bundle(&first.certificates);
    let second = sanitize_pem(&bundle);
    assert_eq!(first.certificates, second.certificates, "bundle round trip changed the certificates");
    assert!(second.dropped.is_empty(), "our own bundle had something to drop: {:?}", second.dropped);
});

//! The certificates-only sanitiser: bytes in, DER certificates and a list of
//! what was dropped out. Pure: no I/O, no global state.
//!
//! Why a hand-written framer instead of `x509_parser::pem::Pem::iter_from_buffer`:
//! that iterator reads a block until the next `-----END ` line, so a block whose
//! END line is missing swallows every later block (a truncated key would hide
//! the certificates after it), it needs UTF-8 lines, and it decodes with strict
//! padding. Ours works on bytes, treats a new BEGIN line as the end of an
//! unterminated block (so it always resyncs), and never even decodes the body
//! of a block whose label is not a certificate label: key material is skipped
//! by position, never copied.
//!
//! Every kept certificate is exactly the bytes `x509_parser` consumed when it
//! parsed them, so nothing that trails a certificate (the OpenSSL `X509_AUX`
//! of a `TRUSTED CERTIFICATE`, or anything else) can reach a bundle.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine};
use serde::{Deserialize, Serialize};

/// Why a PEM block (or a whole file) was not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A block whose label contains `PRIVATE KEY` (PKCS#8, RSA, EC, OpenSSH…).
    PrivateKey { label: String },
    /// An `X509 CRL` block.
    Crl,
    /// Any other label (`PUBLIC KEY`, `CERTIFICATE REQUEST`, …).
    OtherLabel { label: String },
    /// A certificate label (or a label-less file) whose bytes are not a certificate.
    NotACertificate,
    /// A certificate block whose body is not base64.
    BadBase64,
    /// A certificate block with no matching END line (cut short, or followed
    /// by another BEGIN line). Not in the original brief: neither "bad base64"
    /// nor "not a certificate" tells the user what is wrong.
    Truncated,
}

/// The result of [`sanitize_pem`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sanitized {
    /// DER certificates in file order (duplicates kept; callers deduplicate).
    pub certificates: Vec<Vec<u8>>,
    /// `(block, reason)`: block is the 1-based index of the PEM block, or 0 for
    /// the whole file when it holds no PEM block at all.
    pub dropped: Vec<(usize, DropReason)>,
}

/// How thoroughly a candidate certificate is checked (see `bundle`/`mod.rs`:
/// the warm path re-uses a cached bundle as proof that its certificates were
/// fully parsed when it was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// `x509_parser::parse_x509_certificate` must accept it.
    Full,
    /// Only the outer DER shape: SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING }.
    Shape,
}

/// Lenient about padding (some tools drop it); strict about the alphabet.
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const CERT_LABELS: [&[u8]; 3] = [b"CERTIFICATE", b"TRUSTED CERTIFICATE", b"X509 CERTIFICATE"];

/// Keep only certificates from `bytes` (a PEM bundle, or one DER certificate).
pub fn sanitize_pem(bytes: &[u8]) -> Sanitized {
    sanitize_with(bytes, Check::Full)
}

pub(crate) fn sanitize_with(bytes: &[u8], check: Check) -> Sanitized {
    // A UTF-8 byte order mark (Notepad, PowerShell) hid the first BEGIN
    // line; OpenSSL, Python and Node read such files.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut out = Sanitized::default();
    let blocks = frame(bytes);
    let mut scratch = Vec::new(); // one buffer for every block's base64
    for (i, block) in blocks.iter().enumerate() {
        match keep_block(block, check, &mut scratch) {
            Ok(der) => out.certificates.push(der),
            Err(reason) => out.dropped.push((i + 1, reason)),
        }
    }
    if blocks.is_empty() && !bytes.trim_ascii().is_empty() {
        // No PEM framing at all: accept exactly one DER certificate filling the
        // whole file (some tools write DER); anything else is not a certificate.
        match certificate_len(bytes, check) {
            Some(n) if n == bytes.len() => out.certificates.push(bytes.to_vec()),
            _ => out.dropped.push((0, DropReason::NotACertificate)),
        }
    }
    out
}

/// The length of the certificate at the start of `der`, if it is one.
pub(crate) fn certificate_len(der: &[u8], check: Check) -> Option<usize> {
    match check {
        Check::Full => x509_parser::parse_x509_certificate(der)
            .ok()
            .map(|(rest, _)| der.len() - rest.len()),
        Check::Shape => shape_len(der),
    }
}

/// Cheap structural test for the warm path, where a cached bundle proves
/// the full parse already happened (see `prepare`). Still rejects every key format: PKCS#1,
/// PKCS#8 and SEC1 keys all start their SEQUENCE with an INTEGER.
fn shape_len(der: &[u8]) -> Option<usize> {
    let (tag, body, total) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = body;
    for want in [0x30, 0x30, 0x03] {
        let (tag, _, len) = tlv(rest)?;
        if tag != want {
            return None;
        }
        rest = &rest[len..];
    }
    rest.is_empty().then_some(total)
}

/// One definite-length DER TLV: (tag, contents, total length).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None; // indefinite length is not DER; >4 GiB is not a certificate
        }
        let mut len = 0usize;
        for &byte in b.get(2..2 + n)? {
            len = (len << 8) | byte as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, b.get(hdr..end)?, end))
}

/// One framed block: its label, the bytes between its BEGIN and END lines,
/// and whether a matching END line closed it.
struct Block<'a> {
    label: &'a [u8],
    body: &'a [u8],
    terminated: bool,
}

fn keep_block(
    block: &Block<'_>,
    check: Check,
    scratch: &mut Vec<u8>,
) -> Result<Vec<u8>, DropReason> {
    let label = block.label;
    if !CERT_LABELS.contains(&label) {
        // Decided on the label alone: the body is never decoded or copied.
        let text = super::printable(&String::from_utf8_lossy(label));
        return Err(if text.to_ascii_uppercase().contains("PRIVATE KEY") {
            DropReason::PrivateKey { label: text }
        } else if label == b"X509 CRL" {
            DropReason::Crl
        } else {
            DropReason::OtherLabel { label: text }
        });
    }
    if !block.terminated {
        return Err(DropReason::Truncated);
    }
    let mut der = decode_body(block.body, scratch).ok_or(DropReason::BadBase64)?;
    // TRUSTED CERTIFICATE = certificate ++ X509_AUX: keep the first item only,
    // and the same cut removes any trailing bytes after a plain CERTIFICATE.
    let len = certificate_len(&der, check).ok_or(DropReason::NotACertificate)?;
    der.truncate(len);
    Ok(der)
}

/// Split `bytes` into PEM blocks. Text outside blocks is ignored; a BEGIN
/// line inside an open block closes that block as unterminated and opens a
/// new one, so one broken block never hides the blocks after it.
fn frame(bytes: &[u8]) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut open: Option<(&[u8], usize)> = None;
    // Jump from one "-----" to the next (a few per certificate) rather than
    // visiting every base64 line; `next` is the start of the first line not
    // yet looked at.
    let mut next = 0;
    for hit in memchr::memmem::find_iter(bytes, b"-----") {
        if hit < next {
            continue; // the closing dashes of a line already handled
        }
        let line_start = memchr::memrchr(b'\n', &bytes[next..hit]).map_or(next, |p| next + p + 1);
        let line_end = memchr::memchr(b'\n', &bytes[hit..]).map_or(bytes.len(), |p| hit + p);
        next = line_end + 1;
        let line = bytes[line_start..line_end].trim_ascii();
        if !line.starts_with(b"-----") {
            continue; // dashes in the middle of a line
        }
        if let Some(label) = armour(line, b"-----BEGIN ") {
            if let Some((label, start)) = open.replace((label, next)) {
                blocks.push(Block {
                    label,
                    body: &bytes[start..line_start],
                    terminated: false,
                });
            }
        } else if let Some(end_label) = armour(line, b"-----END ") {
            // A stray END line outside any block is ignored.
            if let Some((label, start)) = open.take() {
                blocks.push(Block {
                    label,
                    body: &bytes[start..line_start],
                    terminated: end_label == label,
                });
            }
        }
    }
    if let Some((label, start)) = open {
        blocks.push(Block {
            label,
            body: &bytes[start.min(bytes.len())..],
            terminated: false,
        });
    }
    blocks
}

/// `(start, end)` of each line, without its `\n` (memchr: a byte-at-a-time
/// scan of a 220 KB distro bundle cost ~100 µs on every spawn).
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    memchr::memchr_iter(b'\n', bytes)
        .chain(std::iter::once(bytes.len()))
        .map(move |end| {
            let line = (start.min(end), end);
            start = end + 1;
            line
        })
}

/// Base64 body to bytes, tolerating CRLF and indentation. Fast path: trim
/// each line; only if that fails, drop every whitespace byte and retry.
fn decode_body(body: &[u8], compact: &mut Vec<u8>) -> Option<Vec<u8>> {
    compact.clear();
    for (start, end) in lines(body) {
        compact.extend_from_slice(body[start..end].trim_ascii());
    }
    DECODER.decode(&*compact).ok().or_else(|| {
        compact.retain(|b| !b.is_ascii_whitespace());
        DECODER.decode(&*compact).ok()
    })
}

/// The label of a `-----BEGIN LABEL-----` / `-----END LABEL-----` line.
fn armour<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    line.strip_prefix(prefix)?.strip_suffix(b"-----")
}

/// PEM `CERTIFICATE` blocks, base64 wrapped at 64 columns, `\n` line ends.
pub fn encode_bundle(ders: &[Vec<u8>]) -> Vec<u8> {
    encode_slices(ders.iter().map(Vec::as_slice))
}

pub(crate) fn encode_slices<'a>(ders: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----\n";
    const END: &[u8] = b"-----END CERTIFICATE-----\n";
    let mut out = Vec::new();
    let mut b64 = String::new();
    for der in ders {
        b64.clear();
        base64::engine::general_purpose::STANDARD.encode_string(der, &mut b64);
        out.reserve(BEGIN.len() + END.len() + b64.len() + b64.len() / 64 + 1);
        out.extend_from_slice(BEGIN);
        for chunk in b64.as_bytes().chunks(64) {
            out.extend_from_slice(chunk);
            out.push(b'\n');
        }
        out.extend_from_slice(END);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    pub(crate) fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        (params.self_signed(&key).unwrap(), key)
    }

    fn block(label: &str, der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn trusted(der: &[u8]) -> Vec<u8> {
        // X509_AUX stand-in: a small SEQUENCE { UTF8String "aux" }.
        let mut t = der.to_vec();
        t.extend_from_slice(&[0x30, 0x05, 0x0c, 0x03, b'a', b'u', b'x']);
        t
    }

    /// 16-byte windows of a key's DER that are secret: the PKCS#8 key also
    /// carries the public key, which its own certificate legitimately holds,
    /// so windows that occur in that certificate are not evidence of a leak.
    fn secret_windows<'a>(key_der: &'a [u8], cert_der: &[u8]) -> Vec<&'a [u8]> {
        let public: std::collections::HashSet<&[u8]> = cert_der.windows(16).collect();
        let secret: Vec<&[u8]> = key_der
            .windows(16)
            .filter(|w| !public.contains(w))
            .collect();
        assert!(secret.len() >= 17, "the 32-byte private scalar at least");
        secret
    }

    fn leaks(hay: &[u8], secret: &[&[u8]]) -> bool {
        let hay: std::collections::HashSet<&[u8]> = hay.windows(16).collect();
        secret.iter().any(|w| hay.contains(w))
    }

    #[test]
    fn keys_never_leak_and_drops_are_in_order() {
        let (cert, key) = ca("leak test CA");
        let (other, _) = ca("trusted CA");
        let key_der = key.serialize_der();
        let mut file = String::new();
        file.push_str("# a comment line outside any block\n");
        file.push_str(&cert.pem());
        file.push_str(&key.serialize_pem());
        file.push_str(&block("X509 CRL", b"\x30\x03\x02\x01\x01"));
        file.push_str("-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n");
        file.push_str(&block("CERTIFICATE", b"\x30\x03\x02\x01\x07"));
        file.push_str(&block("TRUSTED CERTIFICATE", &trusted(other.der())));
        let s = sanitize_pem(file.as_bytes());
        assert_eq!(
            s.certificates,
            vec![cert.der().to_vec(), other.der().to_vec()]
        );
        assert_eq!(
            s.dropped,
            vec![
                (
                    2,
                    DropReason::PrivateKey {
                        label: "PRIVATE KEY".into()
                    }
                ),
                (3, DropReason::Crl),
                (4, DropReason::BadBase64),
                (5, DropReason::NotACertificate),
            ]
        );
        let bundle = encode_bundle(&s.certificates);
        let key_b64 = STANDARD.encode(&key_der);
        let text = String::from_utf8(bundle.clone()).unwrap();
        for line in key_b64.as_bytes().chunks(64) {
            assert!(!text.contains(std::str::from_utf8(line).unwrap()));
        }
        let secret = secret_windows(&key_der, cert.der());
        assert!(!leaks(&s.certificates.concat(), &secret));
        assert!(!leaks(&bundle, &secret));
        // Re-labelled: the TRUSTED CERTIFICATE comes out as a plain CERTIFICATE.
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(!text.contains("TRUSTED"));
        assert_eq!(sanitize_pem(&bundle).certificates, s.certificates);
    }

    #[test]
    fn unterminated_block_does_not_hide_later_blocks() {
        let (a, key) = ca("a");
        let (b, _) = ca("b");
        let key_pem = key.serialize_pem();
        let cut_key = &key_pem[..key_pem.len() / 2];
        let cert_a = a.pem();
        let cut_cert = &cert_a[..cert_a.len() - 30];
        let file = format!("{cut_key}\n{cut_cert}\n{}", b.pem());
        let s = sanitize_pem(file.as_bytes());
        assert_eq!(s.certificates, vec![b.der().to_vec()]);
        assert_eq!(
            s.dropped,
            vec![
                (
                    1,
                    DropReason::PrivateKey {
                        label: "PRIVATE KEY".into()
                    }
                ),
                (2, DropReason::Truncated),
            ]
        );
        // Mismatched END label: truncated too.
        let odd = cert_a.replace("END CERTIFICATE", "END X509 CRL");
        assert_eq!(
            sanitize_pem(odd.as_bytes()).dropped,
            vec![(1, DropReason::Truncated)]
        );
    }

    #[test]
    fn crlf_whitespace_labels_der_and_empty() {
        let (a, _) = ca("crlf");
        let crlf = format!("  {}", a.pem().replace('\n', "\r\n"));
        assert_eq!(
            sanitize_pem(crlf.as_bytes()).certificates,
            vec![a.der().to_vec()]
        );
        let unpadded = block("X509 CERTIFICATE", a.der()).replace('=', "");
        assert_eq!(sanitize_pem(unpadded.as_bytes()).certificates.len(), 1);
        // Trailing bytes after a plain CERTIFICATE are cut too.
        let mut long = a.der().to_vec();
        long.extend_from_slice(b"\x04\x02hi");
        assert_eq!(
            sanitize_pem(block("CERTIFICATE", &long).as_bytes()).certificates,
            vec![a.der().to_vec()]
        );
        assert_eq!(sanitize_pem(a.der()).certificates, vec![a.der().to_vec()]);
        assert_eq!(sanitize_pem(b"").dropped, vec![]);
        assert_eq!(sanitize_pem(b" \n\n").dropped, vec![]);
        assert_eq!(
            sanitize_pem(b"hello\xff world").dropped,
            vec![(0, DropReason::NotACertificate)]
        );
        let other = block("PUBLIC KEY", b"\x30\x00");
        assert_eq!(
            sanitize_pem(other.as_bytes()).dropped,
            vec![(
                1,
                DropReason::OtherLabel {
                    label: "PUBLIC KEY".into()
                }
            )]
        );
    }

    #[test]
    fn shape_check_agrees_on_real_certificates_and_rejects_keys() {
        let (a, key) = ca("shape");
        assert_eq!(shape_len(a.der()), Some(a.der().len()));
        assert_eq!(shape_len(&trusted(a.der())), Some(a.der().len()));
        assert_eq!(shape_len(&key.serialize_der()), None);
        assert_eq!(shape_len(b"\x30\x80\x00\x00"), None);
        assert_eq!(shape_len(b"\x30\x84\xff\xff\xff\xff"), None);
    }

    #[test]
    fn encode_wraps_at_64() {
        let (a, _) = ca("wrap");
        let out = String::from_utf8(encode_bundle(&[a.der().to_vec()])).unwrap();
        assert!(out.lines().all(|l| l.len() <= 64));
        assert!(out.ends_with("-----END CERTIFICATE-----\n"));
        assert!(!out.contains('\r'));
        assert!(encode_bundle(&[]).is_empty());
    }

    struct KeyFixture {
        key_der: Vec<u8>,
        key_pem: String,
        cert_der: Vec<u8>,
        secret: Vec<Vec<u8>>,
    }

    fn key_fixture() -> &'static KeyFixture {
        static FIXTURE: std::sync::OnceLock<KeyFixture> = std::sync::OnceLock::new();
        FIXTURE.get_or_init(|| {
            let (cert, key) = ca("prop");
            let key_der = key.serialize_der();
            let secret = secret_windows(&key_der, cert.der())
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect();
            KeyFixture {
                key_pem: key.serialize_pem(),
                cert_der: cert.der().to_vec(),
                key_der,
                secret,
            }
        })
    }

    /// The obvious line-by-line framer `frame` must agree with.
    fn frame_by_lines(bytes: &[u8]) -> Vec<Block<'_>> {
        let mut blocks = Vec::new();
        let mut open: Option<(&[u8], usize)> = None;
        for (line_start, line_end) in lines(bytes) {
            let line = bytes[line_start..line_end].trim_ascii();
            if let Some(label) = armour(line, b"-----BEGIN ") {
                if let Some((label, start)) = open.replace((label, line_end + 1)) {
                    let body = &bytes[start..line_start];
                    blocks.push(Block {
                        label,
                        body,
                        terminated: false,
                    });
                }
            } else if let Some(end) = armour(line, b"-----END ") {
                if let Some((label, start)) = open.take() {
                    let body = &bytes[start..line_start];
                    blocks.push(Block {
                        label,
                        body,
                        terminated: end == label,
                    });
                }
            }
        }
        if let Some((label, start)) = open {
            let body = &bytes[start.min(bytes.len())..];
            blocks.push(Block {
                label,
                body,
                terminated: false,
            });
        }
        blocks
    }

    proptest! {
        /// Framing edge cases: dash runs, armour mid-line, missing newlines,
        /// CRLF, blocks cut anywhere. Never panics; output re-reads equal.
        #[test]
        fn framing_survives_line_soup(picks in proptest::collection::vec(0usize..10, 0..40), cut in any::<bool>()) {
            let cert_der = &key_fixture().cert_der;
            let cert = block("CERTIFICATE", cert_der);
            let parts = [
                "-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", "----------\n",
                "text -----BEGIN CERTIFICATE----- text\n", "-----BEGIN X----------END X-----\n",
                "MIIB\r\n", "\r\n", "-----END PRIVATE KEY-----", cert.as_str(), "-----BEGIN RSA PRIVATE KEY-----\n",
            ];
            let mut soup: String = picks.iter().map(|&i| parts[i]).collect();
            if cut && !soup.is_empty() {
                soup.truncate(soup.len() / 2);
            }
            let view = |b: &[Block<'_>]| -> Vec<(Vec<u8>, Vec<u8>, bool)> {
                b.iter().map(|b| (b.label.to_vec(), b.body.to_vec(), b.terminated)).collect()
            };
            prop_assert_eq!(view(&frame(soup.as_bytes())), view(&frame_by_lines(soup.as_bytes())));
            let s = sanitize_pem(soup.as_bytes());
            prop_assert!(s.certificates.iter().all(|c| c == cert_der));
            let again = sanitize_pem(&encode_bundle(&s.certificates));
            prop_assert_eq!(again.certificates, s.certificates);
        }
    }

    proptest! {
        #[test]
        fn key_bytes_never_reach_the_output(
            before in proptest::collection::vec(any::<u8>(), 0..300),
            after in proptest::collection::vec(any::<u8>(), 0..300),
            relabel in 0usize..4,
            with_cert in any::<bool>(),
        ) {
            let KeyFixture { key_der, key_pem, cert_der, secret } = key_fixture();
            let secret: Vec<&[u8]> = secret.iter().map(Vec::as_slice).collect();
            let key_text = match relabel {
                0 => key_pem.clone(),
                1 => key_pem.replace("PRIVATE KEY", "CERTIFICATE"),
                2 => key_pem.replace("-----END PRIVATE KEY-----", ""),
                _ => block("TRUSTED CERTIFICATE", &[cert_der.as_slice(), key_der.as_slice()].concat()),
            };
            let mut soup = before.clone();
            if with_cert {
                soup.extend_from_slice(block("CERTIFICATE", cert_der).as_bytes());
            }
            soup.extend_from_slice(key_text.as_bytes());
            soup.extend_from_slice(&after);
            for check in [Check::Full, Check::Shape] {
                let s = sanitize_with(&soup, check);
                let decoded = sanitize_pem(&encode_bundle(&s.certificates)).certificates.concat();
                prop_assert!(!leaks(&decoded, &secret));
                prop_assert!(!leaks(&s.certificates.concat(), &secret));
            }
            // What we write is exactly what we read back (the fuzz target's property).
            let s = sanitize_pem(&soup);
            let again = sanitize_pem(&encode_bundle(&s.certificates));
            prop_assert_eq!(&again.certificates, &s.certificates);
            prop_assert!(again.dropped.is_empty());
        }
    }
}

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

/// What key material a file beside a CA holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMaterial {
    /// A private key.
    Key,
    /// A PKCS#12 file that cannot be read without its password: it may
    /// hold a private key, so it is hidden as one.
    MaybePkcs12,
}

/// Whether `bytes` hold private key material, judged as a CA directory's
/// files are: a PEM block whose label names a private key (the same label
/// test `keep_block` drops on), or a whole file that is one DER structure a
/// key takes (PKCS#1, PKCS#8 and SEC1 open their SEQUENCE with an INTEGER
/// version; an encrypted PKCS#8 key is an algorithm SEQUENCE and an OCTET
/// STRING). A PKCS#12 (version 3) is judged by its bags where they are
/// readable (see `pkcs12`): a certificate alone is no key. Used for the
/// files beside a CA file input, where "not a certificate" alone would
/// hide a workspace's every README.
pub(crate) fn key_material(bytes: &[u8]) -> Option<KeyMaterial> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // Most files beside a CA (a workspace's sources) are neither: one
    // search rules them out before any framing.
    if bytes.first() != Some(&0x30) && memchr::memmem::find(bytes, b"-----BEGIN ").is_none() {
        return None;
    }
    let blocks = frame(bytes);
    if !blocks.is_empty() {
        let key = blocks.iter().any(|b| {
            b.label
                .to_ascii_uppercase()
                .windows(11)
                .any(|w| w == b"PRIVATE KEY")
        });
        return key.then_some(KeyMaterial::Key);
    }
    // A BER PKCS#12 of indefinite length (some tools write one) is not
    // framed below: its opening alone says what it is.
    if bytes.starts_with(b"\x30\x80\x02\x01\x03") {
        return Some(KeyMaterial::MaybePkcs12);
    }
    let (0x30, body, total) = tlv(bytes)? else {
        return None;
    };
    if total != bytes.len() {
        return None;
    }
    match super::pkcs12::judge(body) {
        Some(super::pkcs12::Pkcs12::Key) => return Some(KeyMaterial::Key),
        Some(super::pkcs12::Pkcs12::Unknown) => return Some(KeyMaterial::MaybePkcs12),
        Some(super::pkcs12::Pkcs12::NoKey) => return None,
        None => {}
    }
    let key = match tlv(body) {
        Some((0x02, _, _)) => true,
        Some((0x30, _, first)) => {
            matches!(tlv(&body[first..]), Some((0x04, _, n)) if first + n == body.len())
        }
        _ => false,
    };
    key.then_some(KeyMaterial::Key)
}

/// Whether [`key_material`] finds any (a key, or a PKCS#12 that may hold one).
#[cfg(test)]
pub(crate) fn holds_private_key(bytes: &[u8]) -> bool {
    key_material(bytes).is_some()
}

/// One definite-length DER TLV: (tag, contents, total length).
pub(super) fn tlv(b: &[u8]) -> Option<(u8, &[u8], usize)> {
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
#[path = "pem_tests.rs"]
mod tests;

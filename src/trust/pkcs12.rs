//! What a PKCS#12 file beside a CA holds, as far as it can be told without
//! its password. A proxy writes its CA certificate alone as one
//! (`mitmproxy-ca-cert.p12`) beside the key it keeps elsewhere: naming
//! every PKCS#12 a private key hid that certificate and blamed it wrongly.

use super::pem::tlv;

/// What a PKCS#12 file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pkcs12 {
    /// A key bag, shrouded or not.
    Key,
    /// Certificates and CRLs only, every part readable.
    NoKey,
    /// A part is encrypted (or of a shape not read here): it may hold a
    /// key, so it is treated as one, fail closed.
    Unknown,
}

/// `1.2.840.113549.1.7.1`, id-data: the content is readable as is.
const ID_DATA: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01";
/// `1.2.840.113549.1.12.10.1`: the bag types, by their last arc.
const BAG_TYPES: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x0a\x01";
const KEY_BAG: u8 = 1;
const SHROUDED_KEY_BAG: u8 = 2;
const CERT_BAG: u8 = 3;
const CRL_BAG: u8 = 4;
const SAFE_CONTENTS_BAG: u8 = 6;

/// `Some` when `body` (the contents of a whole-file DER SEQUENCE) opens
/// as a PFX does: INTEGER 3, then the authenticated safe.
pub(crate) fn judge(body: &[u8]) -> Option<Pkcs12> {
    let (0x02, version, n) = tlv(body)? else {
        return None;
    };
    if version != [3] {
        return None;
    }
    let Some(content) = data_content(&body[n..]) else {
        return Some(Pkcs12::Unknown);
    };
    // AuthenticatedSafe: a SEQUENCE of ContentInfo, each plain data
    // (SafeContents) or encrypted.
    let mut verdict = Pkcs12::NoKey;
    for info in sequence_of(content) {
        let part = match info.and_then(data_content) {
            Some(safe) => bags(safe, 0),
            None => Pkcs12::Unknown,
        };
        verdict = worse(verdict, part);
    }
    Some(verdict)
}

/// A ContentInfo's content when its type is id-data: the OCTET STRING
/// inside `[0]`. `None` for any other type (encrypted, signed) or shape.
fn data_content(info: &[u8]) -> Option<&[u8]> {
    let (0x30, seq, _) = tlv(info)? else {
        return None;
    };
    let (0x06, oid, n) = tlv(seq)? else {
        return None;
    };
    if oid != ID_DATA {
        return None;
    }
    let (0xa0, explicit, _) = tlv(&seq[n..])? else {
        return None;
    };
    match tlv(explicit)? {
        (0x04, octets, _) => Some(octets),
        _ => None,
    }
}

/// The verdict over a SafeContents (a SEQUENCE of SafeBag), nested
/// safe-contents bags included up to a small depth.
fn bags(safe: &[u8], depth: u8) -> Pkcs12 {
    let mut verdict = Pkcs12::NoKey;
    for bag in sequence_of(safe) {
        let kind = bag.and_then(|bag| {
            let (0x30, seq, _) = tlv(bag)? else {
                return None;
            };
            let (0x06, oid, n) = tlv(seq)? else {
                return None;
            };
            let last = *oid
                .strip_prefix(BAG_TYPES)?
                .first()
                .filter(|_| oid.len() == 11)?;
            Some((last, &seq[n..]))
        });
        let part = match kind {
            Some((KEY_BAG | SHROUDED_KEY_BAG, _)) => Pkcs12::Key,
            Some((CERT_BAG | CRL_BAG, _)) => Pkcs12::NoKey,
            Some((SAFE_CONTENTS_BAG, value)) if depth < 4 => match tlv(value) {
                Some((0xa0, inner, _)) => bags(inner, depth + 1),
                _ => Pkcs12::Unknown,
            },
            // A secret bag, an unknown type, a malformed bag.
            _ => Pkcs12::Unknown,
        };
        verdict = worse(verdict, part);
    }
    verdict
}

/// The elements of the DER SEQUENCE `outer`, each as its whole TLV; a
/// `None` item where the framing breaks.
fn sequence_of(outer: &[u8]) -> Vec<Option<&[u8]>> {
    let Some((0x30, mut rest, _)) = tlv(outer) else {
        return vec![None];
    };
    let mut items = Vec::new();
    while !rest.is_empty() {
        match tlv(rest) {
            Some((_, _, n)) => {
                items.push(Some(&rest[..n]));
                rest = &rest[n..];
            }
            None => {
                items.push(None);
                break;
            }
        }
    }
    items
}

fn worse(a: Pkcs12, b: Pkcs12) -> Pkcs12 {
    match (a, b) {
        (Pkcs12::Key, _) | (_, Pkcs12::Key) => Pkcs12::Key,
        (Pkcs12::Unknown, _) | (_, Pkcs12::Unknown) => Pkcs12::Unknown,
        _ => Pkcs12::NoKey,
    }
}

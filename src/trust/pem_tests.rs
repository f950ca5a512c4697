use super::*;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use crate::trust::tests::ca;

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

/// The files beside a CA file input: key material is found whatever form
/// it takes (PEM of any key label, a bare DER key, PKCS#12), and nothing
/// else is taken for a key, not even a file that is no certificate at all
/// (a README beside `./ca.pem` must stay readable).
#[test]
fn private_keys_are_told_from_everything_else() {
    let (cert, key) = ca("beside");
    let der = key.serialize_der();
    // EncryptedPrivateKeyInfo: SEQUENCE { SEQUENCE { OID }, OCTET STRING }.
    let encrypted = [
        0x30, 0x0b, 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x04, 0x02, 0xaa, 0xbb,
    ];
    // A PKCS#12 file opens with its version: SEQUENCE { INTEGER 3, … }.
    let pkcs12 = [0x30, 0x06, 0x02, 0x01, 0x03, 0x30, 0x01, 0x00];
    let keys: Vec<(&str, Vec<u8>)> = vec![
        ("PKCS#8 PEM", key.serialize_pem().into_bytes()),
        ("EC PEM", block("EC PRIVATE KEY", &der).into_bytes()),
        ("OpenSSH", block("OPENSSH PRIVATE KEY", b"x").into_bytes()),
        (
            "encrypted PEM",
            block("ENCRYPTED PRIVATE KEY", b"x").into_bytes(),
        ),
        (
            "lower-case label",
            block("rsa private key", b"x").into_bytes(),
        ),
        (
            "cert then key",
            format!("{}{}", cert.pem(), key.serialize_pem()).into_bytes(),
        ),
        (
            "BOM",
            [b"\xef\xbb\xbf".as_slice(), key.serialize_pem().as_bytes()].concat(),
        ),
        ("DER PKCS#8", der.clone()),
        ("DER encrypted PKCS#8", encrypted.to_vec()),
        ("PKCS#12", pkcs12.to_vec()),
    ];
    for (what, bytes) in &keys {
        assert!(holds_private_key(bytes), "{what}");
    }
    let others: Vec<(&str, Vec<u8>)> = vec![
        ("PEM certificate", cert.pem().into_bytes()),
        ("DER certificate", cert.der().to_vec()),
        ("public key", block("PUBLIC KEY", &der).into_bytes()),
        ("README", b"# certs\nca.pem is the proxy's CA\n".to_vec()),
        ("empty", Vec::new()),
        ("JSON", b"{\"ca\": \"ca.pem\"}".to_vec()),
        (
            "DER key with trailing bytes",
            [der.as_slice(), b"x"].concat(),
        ),
        ("a SEQUENCE of one SEQUENCE", vec![0x30, 0x02, 0x30, 0x00]),
    ];
    for (what, bytes) in &others {
        assert!(!holds_private_key(bytes), "{what}");
    }
}

use super::*;

#[test]
fn request_targets_are_read_from_each_address_type() {
    let v4 = [5, 1, 0, 1, 127, 0, 0, 1, 0x18, 0xeb];
    assert_eq!(
        target_of(&v4).unwrap(),
        (Host::V4(Ipv4Addr::LOCALHOST), 6379)
    );
    let mut v6 = vec![5, 1, 0, 4];
    v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    v6.extend_from_slice(&[0, 80]);
    assert_eq!(target_of(&v6).unwrap(), (Host::V6(Ipv6Addr::LOCALHOST), 80));
    let name = b"\x05\x01\x00\x03\x09localhost\x00\x50";
    assert_eq!(
        target_of(name).unwrap(),
        (Host::Name("localhost".into()), 80)
    );
    // A NUL, a space: a resolver might cut there or read it its own way.
    assert_eq!(
        target_of(b"\x05\x01\x00\x03\x0alocalhost\x00\x00\x50").unwrap_err(),
        "localhost\0"
    );
    assert!(target_of(b"\x05\x01\x00\x03\x0alocalhost \x00\x50").is_err());
}

#[test]
fn request_lengths_follow_the_address_type() {
    assert_eq!(request_len(&[5, 1, 0]), Ok(None));
    assert_eq!(request_len(&[5, 1, 0, 1]), Ok(Some(10)));
    assert_eq!(request_len(&[5, 1, 0, 4]), Ok(Some(22)));
    assert_eq!(request_len(&[5, 1, 0, 3]), Ok(None));
    assert_eq!(request_len(&[5, 1, 0, 3, 9]), Ok(Some(16)));
    assert_eq!(request_len(&[5, 1, 0, 7]), Err(Unread::AddressType(7)));
}

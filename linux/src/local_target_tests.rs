use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

#[test]
fn every_spelling_of_ipv4_loopback_is_local() {
    for spelling in [
        "127.0.0.1",
        "127.0.0.1.",
        "2130706433",
        "0x7f000001",
        "0X7F000001",
        "017700000001",
        "0x7f.1",
        "127.1",
        "127.0.1",
        "0177.0.0.1",
        "0x7f.0.0.0x1",
        "0000000000000000177.0.0.1",
        "0x0000000000000007f.1",
        "000000000000177.1",
        "0x00000000000000000000007f000001",
    ] {
        assert_eq!(
            classify(spelling),
            Some(HostLocal::Loopback(LOOPBACK)),
            "{spelling}"
        );
    }
    assert_eq!(
        classify("127.255.3.4"),
        Some(HostLocal::Loopback(IpAddr::V4(Ipv4Addr::new(
            127, 255, 3, 4
        ))))
    );
}

#[test]
fn ipv6_loopback_mapped_and_compatible_are_local() {
    let v6 = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
    assert_eq!(classify("[::1]"), Some(HostLocal::Loopback(v6("::1"))));
    assert_eq!(
        classify("[0:0:0:0:0:0:0:1]"),
        Some(HostLocal::Loopback(v6("::1")))
    );
    assert_eq!(classify("::1"), Some(HostLocal::Loopback(v6("::1"))));
    for mapped in [
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
    ] {
        assert_eq!(
            classify(mapped),
            Some(HostLocal::Loopback(LOOPBACK)),
            "{mapped}"
        );
    }
}

#[test]
fn unspecified_addresses_are_local() {
    let zero = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    for spelling in ["0.0.0.0", "0", "0x0", "00", "0.0"] {
        assert_eq!(
            classify(spelling),
            Some(HostLocal::Unspecified(zero)),
            "{spelling}"
        );
    }
    assert_eq!(
        classify("[::]"),
        Some(HostLocal::Unspecified(IpAddr::V6(Ipv6Addr::UNSPECIFIED)))
    );
    assert_eq!(
        classify("[::ffff:0.0.0.0]"),
        Some(HostLocal::Unspecified(zero))
    );
}

#[test]
fn link_local_addresses_and_cloud_metadata_are_local() {
    let metadata = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));
    for spelling in [
        "169.254.169.254",
        "2852039166",
        "0xa9.0xfe.0xa9.0xfe",
        "169.254.43518",
    ] {
        assert_eq!(
            classify(spelling),
            Some(HostLocal::LinkLocal(metadata)),
            "{spelling}"
        );
    }
    let fe80 = IpAddr::V6("fe80::1".parse().unwrap());
    for spelling in [
        "[fe80::1]",
        "[FE80::1]",
        "[fe80::1%eth0]",
        "[fe80::1%25eth0]",
    ] {
        assert_eq!(
            classify(spelling),
            Some(HostLocal::LinkLocal(fe80)),
            "{spelling}"
        );
    }
    assert!(matches!(
        classify("[febf::1]"),
        Some(HostLocal::LinkLocal(_))
    ));
    assert_eq!(
        classify("[::ffff:169.254.169.254]"),
        Some(HostLocal::LinkLocal(metadata))
    );
}

#[test]
fn localhost_names_in_any_case_with_trailing_dots_are_local() {
    for name in [
        "localhost",
        "LOCALHOST",
        "LocalHost.",
        "foo.localhost",
        "a.b.LOCALHOST.",
        "localhost..",
        "ip6-localhost",
        "IP6-LOOPBACK.",
    ] {
        assert_eq!(classify(name), Some(HostLocal::LocalhostName), "{name}");
    }
}

#[test]
fn near_misses_stay_allowed() {
    for host in [
        "127.example.com",
        "localhost.example.com",
        "mylocalhost",
        "localhost-1",
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "93.184.216.34",
        "8.8.8.8",
        "[2001:db8::1]",
        "[fec0::1]",
        "[::ffff:8.8.8.8]",
        "origin.test",
        "128.0.0.1",
        "169.253.1.1",
        "1.0.0.127",
        // Not made of digits alone: names for the proxy.
        "0x7g.1",
        "cafe.beef",
        "1.2.3.example",
    ] {
        assert_eq!(classify(host), None, "{host}");
    }
}

#[test]
fn inet_aton_bounds_match_the_resolver() {
    assert_eq!(
        parse_inet_aton("4294967295"),
        Some(Ipv4Addr::new(255, 255, 255, 255))
    );
    assert_eq!(
        parse_inet_aton("1.16777215"),
        Some(Ipv4Addr::new(1, 255, 255, 255))
    );
    assert_eq!(parse_inet_aton("1.16777216"), None);
    assert_eq!(parse_inet_aton("256.1"), None);
    assert_eq!(parse_inet_aton("1.2.3.256"), None);
    assert_eq!(parse_inet_aton(""), None);
    assert_eq!(parse_inet_aton("99999999999999999999"), None);
}

#[test]
fn parsed_hosts_are_classified_as_written_ones() {
    assert_eq!(
        classify_host(&Host::V4(Ipv4Addr::LOCALHOST)),
        Some(HostLocal::Loopback(LOOPBACK))
    );
    assert_eq!(
        classify_host(&Host::V6(Ipv6Addr::LOCALHOST)),
        Some(HostLocal::Loopback(IpAddr::V6(Ipv6Addr::LOCALHOST)))
    );
    assert_eq!(
        classify_host(&Host::Name("0x7f.1".into())),
        Some(HostLocal::Loopback(LOOPBACK))
    );
    assert_eq!(classify_host(&Host::Name("example.com".into())), None);
}

#[test]
fn the_reason_names_the_target_and_the_opt_in() {
    assert_eq!(
        refusal_reason("127.0.0.1:6379", HostLocal::Loopback(LOOPBACK)),
        "127.0.0.1:6379 is a loopback address (127.0.0.1): the upstream proxy would reach the host's own services through it, so the bridge refuses it (--proxy-allow-local, or proxy_allow_local = true in a policy, allows host-local targets)"
    );
}

#[test]
fn numbers_that_are_no_address_are_refused_not_passed_on() {
    // A resolver other than inet_aton may read them as some address (the
    // host's own among them): the bridge does not guess which.
    for host in [
        "08.0.0.1",
        "127..1",
        "127.0.0.1.2",
        "4294967296",
        "99999999999999999999",
        "0x1ffffffffffffffffff.1",
        "0x.0x.0x.0xg1",
        "abc.1",
        "0xZZ.1",
    ] {
        let expected = host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'x' || b == b'X')
            .then_some(HostLocal::NotAnAddress);
        assert_eq!(classify(host), expected, "{host}");
    }
    assert_eq!(
        classify_host(&Host::Name("127.0.0.1.2".into())),
        Some(HostLocal::NotAnAddress)
    );
    assert_eq!(
        refusal_reason("08.0.0.1:80", HostLocal::NotAnAddress),
        "08.0.0.1:80 is a number that is not a valid address (a resolver may read it as one of the host's own): the upstream proxy would reach the host's own services through it, so the bridge refuses it (--proxy-allow-local, or proxy_allow_local = true in a policy, allows host-local targets)"
    );
}

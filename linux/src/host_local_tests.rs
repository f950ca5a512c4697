use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const HOSTS: &str = "\
# /etc/hosts as three distributions and this machine write it
127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4 runsc vm
::1         localhost localhost.localdomain localhost6 localhost6.localdomain6
127.0.1.1   builder.example.org builder
192.168.1.5 lanbox.home lanbox   # this host's LAN address
10.0.0.9    fileserver            # another machine
fe80::1%eth0 linkname
0x7f.1      oddspelling
garbage line
";

fn own() -> OwnHost {
    OwnHost::from_parts(
        HOSTS,
        Some("Workstation.Corp.Example."),
        &[
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5)),
            IpAddr::V4(Ipv4Addr::new(172, 17, 0, 1)),
            IpAddr::V6("2001:db8::5".parse().unwrap()),
            IpAddr::V6("fd12::7".parse().unwrap()),
        ],
    )
}

fn name(n: &str) -> Host {
    Host::Name(n.to_string())
}

#[test]
fn names_the_hosts_file_gives_the_host_are_its_own() {
    let own = own();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let debian = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1));
    let lan = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5));
    for (n, ip) in [
        ("runsc", lo),
        ("VM.", lo),
        ("localhost4", lo),
        ("localhost4.localdomain4", lo),
        ("localhost.localdomain", lo),
        ("localhost6", v6lo),
        ("localhost6.localdomain6", v6lo),
        ("builder", debian),
        ("Builder.Example.Org..", debian),
        ("lanbox.home", lan),
        ("linkname", IpAddr::V6("fe80::1".parse().unwrap())),
        ("oddspelling", lo),
    ] {
        assert_eq!(own.classify(&name(n)), Some(Own::HostsName(ip)), "{n}");
    }
    assert_eq!(own.classify(&name("fileserver")), None);
    assert_eq!(own.classify(&name("example.org")), None);
    assert_eq!(own.classify(&name("garbage")), None);
    // What the text alone says still holds.
    assert_eq!(
        own.classify(&name("localhost")),
        Some(Own::Local(HostLocal::LocalhostName))
    );
}

#[test]
fn the_hostname_and_its_first_label_are_the_hosts_own() {
    let own = own();
    for n in ["workstation.corp.example", "WORKSTATION", "workstation."] {
        assert_eq!(own.classify(&name(n)), Some(Own::Hostname), "{n}");
    }
    assert_eq!(own.classify(&name("corp.example")), None);
    let none = OwnHost::from_parts("", None, &[]);
    assert_eq!(none.classify(&name("workstation")), None);
}

#[test]
fn the_hosts_interface_addresses_are_its_own_in_every_spelling() {
    let own = own();
    let lan = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5));
    assert_eq!(
        own.classify(&Host::V4(Ipv4Addr::new(192, 168, 1, 5))),
        Some(Own::Interface(lan))
    );
    for n in ["3232235781", "0xc0.0xa8.1.5", "192.168.261", "192.168.1.5."] {
        assert_eq!(own.classify(&name(n)), Some(Own::Interface(lan)), "{n}");
    }
    for v6 in ["::ffff:192.168.1.5", "64:ff9b::c0a8:105"] {
        assert_eq!(
            own.classify(&Host::V6(v6.parse().unwrap())),
            Some(Own::Interface(lan)),
            "{v6}"
        );
    }
    let gua: Ipv6Addr = "2001:db8::5".parse().unwrap();
    assert_eq!(
        own.classify(&Host::V6(gua)),
        Some(Own::Interface(IpAddr::V6(gua)))
    );
    assert_eq!(
        own.classify(&name("[fd12::7%eth0]")),
        Some(Own::Interface(IpAddr::V6("fd12::7".parse().unwrap())))
    );
    assert_eq!(
        own.classify(&Host::V4(Ipv4Addr::new(172, 17, 0, 1))),
        Some(Own::Interface(IpAddr::V4(Ipv4Addr::new(172, 17, 0, 1))))
    );
    assert_eq!(own.classify(&Host::V4(Ipv4Addr::new(192, 168, 1, 6))), None);
    assert_eq!(
        own.classify(&Host::V6("2001:db8::6".parse().unwrap())),
        None
    );
}

#[test]
fn cloud_metadata_outside_link_local_is_refused() {
    let own = OwnHost::from_parts("", None, &[]);
    for n in [
        "metadata.google.internal",
        "Metadata.Google.Internal.",
        "metadata",
    ] {
        assert_eq!(own.classify(&name(n)), Some(Own::Metadata), "{n}");
    }
    for v6 in ["fd00:ec2::254", "fd00:ec2::23"] {
        assert_eq!(
            own.classify(&Host::V6(v6.parse().unwrap())),
            Some(Own::Metadata),
            "{v6}"
        );
    }
    assert_eq!(
        own.classify(&Host::V4(Ipv4Addr::new(100, 100, 100, 200))),
        Some(Own::Metadata)
    );
    assert_eq!(own.classify(&name("1684300000")), None);
    assert_eq!(own.classify(&name("metadata.example")), None);
    // A hosts file naming a metadata address: that name too.
    let own = OwnHost::from_parts("100.100.100.200 aliyun-meta\n", None, &[]);
    assert_eq!(
        own.classify(&name("aliyun-meta")),
        Some(Own::HostsName(IpAddr::V4(Ipv4Addr::new(
            100, 100, 100, 200
        ))))
    );
}

#[test]
fn the_reason_names_what_the_target_is() {
    let reason =
        local_target::refusal_reason("vm:6379", Own::HostsName(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(
        reason.starts_with("vm:6379 is a name /etc/hosts gives the host's own address (127.0.0.1): the upstream proxy would reach"),
        "{reason}"
    );
}

#[test]
fn a_hosts_file_is_read_only_as_a_regular_file_and_up_to_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        read_hosts(dir.path()).unwrap_err().to_string(),
        "is a directory, not a regular file"
    );
    let big = dir.path().join("hosts");
    let mut text = "127.0.0.1 first\n".to_string();
    text.push_str(&"#".repeat(HOSTS_MAX as usize));
    text.push_str("\n127.0.0.1 past\n");
    std::fs::write(&big, text).unwrap();
    let read = read_hosts(&big).unwrap();
    assert_eq!(read.len() as u64, HOSTS_MAX);
    assert!(read.contains("first") && !read.contains("past"));
}

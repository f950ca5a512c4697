//! The host's own names and addresses beyond what `crate::local_target`
//! knows from a target's text alone: names the host's `/etc/hosts` gives
//! a loopback, unspecified, link-local or own address (Debian's
//! `127.0.1.1 myhost`, Fedora's `localhost4`, a local `vm`), its own
//! hostname, the addresses of its interfaces (a LAN address or
//! docker0's 172.17.0.1 reaches every service bound to 0.0.0.0, the
//! upstream proxy included, and a tunnel through it to 127.0.0.1 is out
//! of the bridge's sight), and cloud metadata endpoints outside
//! 169.254/16.
//!
//! The bridge gathers them once ([`init`]), in the host process before it
//! takes any connection; [`classify`] then checks a target against them
//! as well as against `crate::local_target`. Names that public DNS
//! resolves to the host stay out of reach: only the proxy resolves them.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::OnceLock;

use crate::front_parse::Host;
use crate::local_target::{self, HostLocal};
use crate::regular_file::{read_regular, RegularError};

/// Why a target is the host's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Own {
    /// What the target's text alone says (`crate::local_target`).
    Local(HostLocal),
    /// A name `/etc/hosts` gives this address.
    HostsName(IpAddr),
    /// The host's name (`gethostname`).
    Hostname,
    /// An address of one of the host's interfaces.
    Interface(IpAddr),
    /// A cloud metadata endpoint (GCE's names, AWS's IPv6, Alibaba's).
    Metadata,
}

impl fmt::Display for Own {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Own::Local(l) => l.fmt(f),
            Own::HostsName(a) => write!(f, "a name /etc/hosts gives the host's own address ({a})"),
            Own::Hostname => f.write_str("the host's own name (its hostname)"),
            Own::Interface(a) => write!(f, "an address of the host's own interfaces ({a})"),
            Own::Metadata => f.write_str("a cloud metadata endpoint"),
        }
    }
}

/// Metadata services outside 169.254/16, by name (GCE).
const METADATA_NAMES: [&str; 2] = ["metadata.google.internal", "metadata"];

/// Metadata services outside 169.254/16, by address: AWS's IPv6 endpoints
/// (instance metadata, time sync), Alibaba Cloud's.
const METADATA_ADDRS: [IpAddr; 3] = [
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

/// Where the hosts file is, and how much of it is read: a real one is a
/// few KiB; a huge one is cut there (a stderr line says so).
const HOSTS: &str = "/etc/hosts";
const HOSTS_MAX: u64 = 1 << 20;

/// What the host calls itself.
#[derive(Debug, Default)]
pub struct OwnHost {
    /// Lowercase, without trailing dots, with the address they stand for.
    names: Vec<(String, IpAddr)>,
    hostname: HashSet<String>,
    interfaces: HashSet<IpAddr>,
}

impl OwnHost {
    /// From a hosts file's text, the hostname and the interface addresses.
    pub fn from_parts(hosts: &str, hostname: Option<&str>, interfaces: &[IpAddr]) -> Self {
        let interfaces: HashSet<IpAddr> = interfaces.iter().copied().collect();
        let mut names = Vec::new();
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut fields = line.split_whitespace();
            let Some(addr) = fields.next() else { continue };
            let Some(ip) = parse_ip(addr) else { continue };
            let own = local_target::classify(addr).is_some()
                || interfaces.contains(&ip)
                || METADATA_ADDRS.contains(&ip);
            if own {
                names.extend(fields.map(|n| (normal(n), ip)));
            }
        }
        let mut own_names = HashSet::new();
        if let Some(h) = hostname.map(normal).filter(|h| !h.is_empty()) {
            // The first label too: the resolver's search list takes it
            // back to the host.
            if let Some((short, _)) = h.split_once('.') {
                own_names.insert(short.to_string());
            }
            own_names.insert(h);
        }
        OwnHost {
            names,
            hostname: own_names,
            interfaces,
        }
    }

    /// Why `host` is the host's own, if it is.
    pub fn classify(&self, host: &Host) -> Option<Own> {
        if let Some(local) = local_target::classify_host(host) {
            return Some(Own::Local(local));
        }
        let ip = match host {
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
            Host::Name(n) => parse_ip(n.trim_end_matches('.')),
        };
        if let Some(ip) = ip {
            return self.classify_ip(ip);
        }
        let Host::Name(name) = host else { return None };
        let name = normal(name);
        if let Some((_, ip)) = self.names.iter().find(|(n, _)| *n == name) {
            return Some(Own::HostsName(*ip));
        }
        if self.hostname.contains(&name) {
            return Some(Own::Hostname);
        }
        METADATA_NAMES
            .contains(&name.as_str())
            .then_some(Own::Metadata)
    }

    fn classify_ip(&self, ip: IpAddr) -> Option<Own> {
        // IPv4 inside IPv6 (mapped, compatible, NAT64) is checked as the
        // IPv4 address it carries, as `crate::local_target` does.
        let embedded = match ip {
            IpAddr::V6(a) => {
                let s = a.segments();
                let mapped = s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0);
                let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
                (mapped || nat64)
                    .then(|| IpAddr::V4(Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]))))
            }
            IpAddr::V4(_) => None,
        };
        [Some(ip), embedded].into_iter().flatten().find_map(|a| {
            if self.interfaces.contains(&a) {
                Some(Own::Interface(a))
            } else {
                METADATA_ADDRS.contains(&a).then_some(Own::Metadata)
            }
        })
    }
}

/// A name as compared: lowercase, trailing dots dropped.
fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// An address in any spelling `crate::local_target` reads: `inet_aton`'s
/// for IPv4, IPv6 with or without brackets and zone.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Some(a) = local_target::parse_inet_aton(text) {
        return Some(IpAddr::V4(a));
    }
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inner
        .split('%')
        .next()?
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

static OWN: OnceLock<OwnHost> = OnceLock::new();

/// Gather the host's own names and addresses, once, before the bridge
/// takes a connection. What cannot be read is named on stderr and the
/// rest still holds (the text-only checks always do).
pub fn init() {
    let interfaces: Vec<IpAddr> = match nix::ifaddrs::getifaddrs() {
        Ok(list) => list
            .filter_map(|i| {
                let a = i.address?;
                a.as_sockaddr_in()
                    .map(|s| IpAddr::V4(s.ip()))
                    .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
            })
            .collect(),
        Err(e) => {
            crate::say(format_args!(
                "sandspawn: proxy bridge: listing the host's interface addresses failed ({e}): targets naming them are not refused"
            ));
            Vec::new()
        }
    };
    let hostname = match nix::unistd::gethostname() {
        Ok(h) => h.into_string().ok(),
        Err(e) => {
            crate::say(format_args!(
                "sandspawn: proxy bridge: reading the host's name failed ({e}): it is not refused"
            ));
            None
        }
    };
    let hosts = match read_hosts(Path::new(HOSTS)) {
        Ok(text) => text,
        Err(e) => {
            crate::say(format_args!(
                "sandspawn: proxy bridge: reading {HOSTS} failed ({e}): the names it gives the host are not refused"
            ));
            String::new()
        }
    };
    let _ = OWN.set(OwnHost::from_parts(
        &hosts,
        hostname.as_deref(),
        &interfaces,
    ));
}

/// The hosts file, a regular file only (a FIFO put there must not hang
/// the bridge's start), at most [`HOSTS_MAX`] bytes.
fn read_hosts(path: &Path) -> Result<String, RegularError> {
    let (bytes, whole) = read_regular(path, HOSTS_MAX, true)?;
    if !whole {
        crate::say(format_args!(
            "sandspawn: proxy bridge: {} is over {HOSTS_MAX} bytes: only its start is read",
            path.display()
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Why `host` is the host's own: the text-only checks, and what [`init`]
/// gathered (nothing more before it ran).
pub fn classify(host: &Host) -> Option<Own> {
    match OWN.get() {
        Some(own) => own.classify(host),
        None => local_target::classify_host(host).map(Own::Local),
    }
}

#[cfg(test)]
#[path = "host_local_tests.rs"]
mod tests;

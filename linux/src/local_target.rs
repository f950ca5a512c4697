//! Which targets of a child's request are the host's own: a loopback,
//! unspecified or link-local address, or the name `localhost`.
//!
//! The sandbox's network namespace has only its own loopback, so the
//! host's loopback services (a database on 127.0.0.1, a Docker socket
//! on a TCP port) and link-local endpoints (cloud metadata at
//! 169.254.169.254) are cut off. An upstream proxy that runs on the host
//! itself (a local TLS-intercepting proxy, an agent firewall) would carry
//! a request for them right back there, so the bridge refuses such
//! targets before anything reaches the upstream, unless the user opted in
//! (`--proxy-allow-local`).
//!
//! Addresses are recognised in every spelling a common resolver accepts:
//! `inet_aton`'s (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`), IPv6
//! with a zone (`[fe80::1%eth0]`), and IPv4 inside IPv6 (mapped
//! `::ffff:127.0.0.1`, compatible `::127.0.0.1`, NAT64 `64:ff9b::7f00:1`).
//! Digits and dots that end in a number yet are no address as
//! `inet_aton` reads it (`127.0.0.1.2`) are refused too: another resolver
//! may read them otherwise. Names other than `localhost`, `*.localhost` and Debian's
//! `ip6-localhost`/`ip6-loopback` are resolved by the proxy, out of the
//! bridge's sight.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::front_parse::Host;

/// Why a target is the host's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostLocal {
    /// 127.0.0.0/8, `::1` (the address as the resolver reads it).
    Loopback(IpAddr),
    /// 0.0.0.0/8, `::`: a connect to it reaches the host itself.
    Unspecified(IpAddr),
    /// 169.254.0.0/16, fe80::/10 (cloud metadata lives there).
    LinkLocal(IpAddr),
    /// `localhost` or a name under `.localhost` (RFC 6761), or one of
    /// [`LOOPBACK_NAMES`].
    LocalhostName,
    /// Digits and dots (hex too) ending in a number, yet no address as
    /// `inet_aton` reads it (`127.0.0.1.2`, `08.0.0.1`): another resolver
    /// may still read it as one, so it is not passed on as a name.
    NotAnAddress,
}

impl fmt::Display for HostLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostLocal::Loopback(a) => write!(f, "a loopback address ({a})"),
            HostLocal::Unspecified(a) => write!(f, "an unspecified address ({a}, the host itself)"),
            HostLocal::LinkLocal(a) => write!(f, "a link-local address ({a})"),
            HostLocal::LocalhostName => f.write_str("the host's own name (localhost)"),
            HostLocal::NotAnAddress => f.write_str(
                "a number that is not a valid address (a resolver may read it as one of the host's own)",
            ),
        }
    }
}

/// Names for `::1` in the hosts file of Debian and its derivatives, and
/// so on the proxy's host more often than not.
const LOOPBACK_NAMES: [&str; 2] = ["ip6-localhost", "ip6-loopback"];

/// The target as parsed from a request.
pub fn classify_host(host: &Host) -> Option<HostLocal> {
    match host {
        Host::Name(name) => classify(name),
        Host::V4(a) => classify_v4(*a),
        Host::V6(a) => classify_v6(*a),
    }
}

/// A host as written (`[…]` around IPv6 allowed), in any case, with or
/// without trailing dots.
pub fn classify(host: &str) -> Option<HostLocal> {
    let host = host.trim_end_matches('.');
    if let Some(inner) = host.strip_prefix('[') {
        return classify_v6(parse_v6(inner.strip_suffix(']')?)?);
    }
    if host.contains(':') {
        return classify_v6(parse_v6(host)?);
    }
    if let Some(a) = parse_inet_aton(host) {
        return classify_v4(a);
    }
    if looks_numeric(host) {
        return Some(HostLocal::NotAnAddress);
    }
    let lower = host.to_ascii_lowercase();
    let own = lower == "localhost"
        || lower.ends_with(".localhost")
        || LOOPBACK_NAMES.contains(&lower.as_str());
    own.then_some(HostLocal::LocalhostName)
}

/// An IPv6 literal, its zone (`%eth0`, `%25eth0` in a URL) dropped.
fn parse_v6(text: &str) -> Option<Ipv6Addr> {
    text.split('%').next()?.parse().ok()
}

fn classify_v4(a: Ipv4Addr) -> Option<HostLocal> {
    let ip = IpAddr::V4(a);
    match a.octets() {
        [127, ..] => Some(HostLocal::Loopback(ip)),
        [0, ..] => Some(HostLocal::Unspecified(ip)),
        [169, 254, ..] => Some(HostLocal::LinkLocal(ip)),
        _ => None,
    }
}

fn classify_v6(a: Ipv6Addr) -> Option<HostLocal> {
    let ip = IpAddr::V6(a);
    let s = a.segments();
    if a.is_loopback() {
        return Some(HostLocal::Loopback(ip));
    }
    if a.is_unspecified() {
        return Some(HostLocal::Unspecified(ip));
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some(HostLocal::LinkLocal(ip));
    }
    // IPv4 inside IPv6: mapped (::ffff:0:0/96), compatible (::/96, which
    // some stacks still route as IPv4) and NAT64's well-known prefix
    // (64:ff9b::/96): the embedded address decides.
    let embedded = Ipv4Addr::from(((u32::from(s[6])) << 16) | u32::from(s[7]));
    let mapped = s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || nat64 {
        return classify_v4(embedded);
    }
    None
}

/// IPv4 as `inet_aton` reads it: one to four parts, each decimal, octal
/// (leading `0`) or hex (`0x`), the last filling the bytes that are left
/// (`127.1` is 127.0.0.1, `2130706433` too).
pub fn parse_inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let values = parts
        .iter()
        .map(|p| parse_part(p))
        .collect::<Option<Vec<u64>>>()?;
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 0xff) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &v)| acc | (v << (24 - 8 * i as u32)));
    Some(Ipv4Addr::from(u32::try_from(high | last).ok()?))
}

/// One part: `0x1f` (`0x` alone is 0, as glibc reads it), `017`, `15`.
/// Leading zeros count for nothing however many there are (glibc's
/// `strtoul` reads `000000000000000177` as 0177); a value past 32 bits is
/// no part.
fn parse_part(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if part.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    digits
        .trim_start_matches('0')
        .chars()
        .try_fold(0u64, |acc, c| {
            let digit = u64::from(c.to_digit(radix)?);
            acc.checked_mul(u64::from(radix))?.checked_add(digit)
        })
        .filter(|&v| v <= u64::from(u32::MAX))
}

/// Made of hex digits, `x` and dots alone, its last label a number: what
/// a resolver may read as an address rather than look up as a name.
fn looks_numeric(host: &str) -> bool {
    let all_numeric_bytes = host
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b'x' | b'X'));
    let last = host.rsplit('.').next().unwrap_or("");
    all_numeric_bytes && last.starts_with(|c: char| c.is_ascii_digit())
}

/// What the child is told, and stderr says, for a refused `target`
/// (`host:port` as the child wrote it).
pub fn refusal_reason(target: &str, local: impl fmt::Display) -> String {
    format!(
        "{target} is {local}: the upstream proxy would reach the host's own services through it, so the bridge refuses it (--proxy-allow-local, or proxy_allow_local = true in a policy, allows host-local targets)"
    )
}

#[cfg(test)]
#[path = "local_target_tests.rs"]
mod tests;

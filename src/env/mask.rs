//! Masking for display. What is masked still reaches the child unchanged;
//! masking only keeps secrets out of `explain`, `env` and logs.

use std::ffi::{OsStr, OsString};

use super::families::{is_proxy_url_var, is_proxy_var, SECRET_NAME_HINTS};
use crate::policy::os_from_bytes;

/// The value of `name` as it may be printed.
pub fn mask_value(name: &OsStr, value: &OsStr) -> OsString {
    let name_bytes = name.as_encoded_bytes();
    if is_proxy_url_var(name_bytes) {
        if let Some(masked) = mask_proxy_url(value.as_encoded_bytes()) {
            return os_from_bytes(masked);
        }
    } else if is_proxy_var(name_bytes) || looks_like_url(value.as_encoded_bytes()) {
        if let Some(masked) = mask_url_credentials(value.as_encoded_bytes()) {
            return os_from_bytes(masked);
        }
    }
    let upper = name.to_string_lossy().to_ascii_uppercase();
    if !value.is_empty() && SECRET_NAME_HINTS.iter().any(|h| upper.contains(h)) {
        return OsString::from("***");
    }
    value.to_os_string()
}

fn looks_like_url(value: &[u8]) -> bool {
    value.windows(3).any(|w| w == b"://")
}

/// Mask the credentials of one proxy URL: everything between the scheme
/// and the **last** `@` becomes `***`. A proxy URL has no path that could
/// hold an `@`, but its password may hold unescaped `@ / ? # ,` (which a
/// URL parser reads as the end of the authority or of a list entry); cut
/// there, part of the password was printed. Over-masking is the safe side.
/// Without an `@`, a port that is not a number is taken for a password
/// whose `user@host` part was forgotten (`http://user:s3cret`): it and
/// all after it become `***`.
pub fn mask_proxy_url(value: &[u8]) -> Option<Vec<u8>> {
    let scheme_end = scheme_end(value);
    let Some(at) = value[scheme_end..].iter().rposition(|&b| b == b'@') else {
        return mask_bad_port(value, scheme_end);
    };
    let at = at + scheme_end;
    let mut out = value[..scheme_end].to_vec();
    out.extend_from_slice(b"***");
    out.extend_from_slice(&value[at..]);
    Some(out)
}

/// Where the authority of `value` starts: past `scheme://`, or at 0.
fn scheme_end(value: &[u8]) -> usize {
    value
        .windows(3)
        .position(|w| w == b"://")
        .map(|i| i + 3)
        .unwrap_or(0)
}

/// `value` (a URL without userinfo, its authority starting at `start`)
/// with the text after the host's `:` masked through the end when it is
/// not a port number; `None` when it is one (or there is no `:`). The
/// first `:` counts (a password may hold more), past `]` for an IPv6
/// literal.
fn mask_bad_port(value: &[u8], start: usize) -> Option<Vec<u8>> {
    let rest = &value[start..];
    let authority_end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let host_end = match rest.first() {
        Some(b'[') => rest[..authority_end].iter().position(|&b| b == b']')? + 1,
        _ => 0,
    };
    let colon = host_end
        + rest[host_end..authority_end]
            .iter()
            .position(|&b| b == b':')?;
    if is_port(&rest[colon + 1..authority_end]) {
        return None;
    }
    let mut out = value[..start + colon + 1].to_vec();
    out.extend_from_slice(b"***");
    Some(out)
}

/// Whether `text` (after a host's `:`) may be a port: empty, or 1 to 5
/// digits up to 65535. Anything else is no port and may be a password.
/// A numeric password of 5 digits or fewer, up to 65535, cannot be told
/// from a port and is printed as one: there is nothing to go on.
fn is_port(text: &[u8]) -> bool {
    text.len() <= 5
        && text.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(text)
            .ok()
            .and_then(|t| {
                if t.is_empty() {
                    Some(0)
                } else {
                    t.parse::<u32>().ok()
                }
            })
            .is_some_and(|port| port <= 65535)
}

/// Replace `user:password@` (or `user@`) in every URL of a value with
/// `***@`. Handles comma-separated lists. Returns `None` when nothing
/// needed masking.
pub fn mask_url_credentials(value: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len());
    let mut changed = false;
    for (i, part) in value.split(|&b| b == b',').enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match masked_part(part) {
            Some(m) => {
                out.extend_from_slice(&m);
                changed = true;
            }
            None => out.extend_from_slice(part),
        }
    }
    changed.then_some(out)
}

fn masked_part(part: &[u8]) -> Option<Vec<u8>> {
    let scheme_end = scheme_end(part);
    let rest = &part[scheme_end..];
    let authority_end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.iter().rposition(|&b| b == b'@') else {
        // Only a URL's port can be a misplaced password: a no-proxy list
        // holds bare `::1` and `host:port` entries.
        return (scheme_end > 0).then(|| mask_bad_port(part, scheme_end))?;
    };
    let mut out = part[..scheme_end].to_vec();
    out.extend_from_slice(b"***@");
    out.extend_from_slice(&rest[at + 1..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_masked_but_host_kept() {
        let v = mask_value(
            OsStr::new("HTTPS_PROXY"),
            OsStr::new("http://alice:s3cret@proxy.corp:3128/"),
        );
        assert_eq!(v, "http://***@proxy.corp:3128/");
        let v = mask_value(OsStr::new("https_proxy"), OsStr::new("proxy.corp:3128"));
        assert_eq!(v, "proxy.corp:3128");
        let v = mask_value(OsStr::new("ALL_PROXY"), OsStr::new("socks5h://u@h:1080"));
        assert_eq!(v, "socks5h://***@h:1080");
        // An `@` after the authority of a URL that is no proxy's is not a
        // credential (a proxy URL has no path; see below).
        let v = mask_value(OsStr::new("REGISTRY"), OsStr::new("https://h:1/@scope"));
        assert_eq!(v, "https://h:1/@scope");
    }

    #[test]
    fn secret_names_are_masked_and_others_not() {
        assert_eq!(
            mask_value(OsStr::new("GITHUB_TOKEN"), OsStr::new("ghp_x")),
            "***"
        );
        assert_eq!(
            mask_value(OsStr::new("db_password"), OsStr::new("x")),
            "***"
        );
        assert_eq!(
            mask_value(OsStr::new("PATH"), OsStr::new("/usr/bin")),
            "/usr/bin"
        );
        assert_eq!(mask_value(OsStr::new("API_TOKEN"), OsStr::new("")), "");
    }

    #[test]
    fn a_proxy_password_with_unescaped_delimiters_is_masked_whole() {
        for (value, want) in [
            (
                "http://user:p@ss#w/rd@proxy.corp:3128",
                "http://***@proxy.corp:3128",
            ),
            ("http://user:pa,ss@proxy:1", "http://***@proxy:1"),
            ("http://user:pa/ss?x@proxy:1/", "http://***@proxy:1/"),
            ("user:p@ss@proxy:1", "***@proxy:1"),
            ("http://proxy.corp:3128", "http://proxy.corp:3128"),
        ] {
            for name in ["HTTPS_PROXY", "npm_config_proxy", "PIP_PROXY"] {
                let got = mask_value(OsStr::new(name), OsStr::new(value));
                assert_eq!(got, want, "{name}={value}");
            }
        }
        assert_eq!(
            mask_proxy_url(b"socks5h://u:a#b@h:1080").unwrap(),
            b"socks5h://***@h:1080"
        );
        assert_eq!(mask_proxy_url(b"http://h:1"), None);
    }

    #[test]
    fn url_lists_mask_each_entry() {
        let m = mask_url_credentials(b"http://a:b@x,http://y,https://c@z").unwrap();
        assert_eq!(m, b"http://***@x,http://y,https://***@z");
        assert_eq!(mask_url_credentials(b"http://x"), None);
    }

    #[test]
    fn a_password_whose_host_was_forgotten_is_masked_from_the_colon() {
        for (value, want) in [
            ("http://user:s3cret", "http://user:***"),
            ("user:s3cret", "user:***"),
            ("socks5h://user:s3cret/x", "socks5h://user:***"),
            ("http://user:pa:ss", "http://user:***"),
            ("http://[::1]:s3cret", "http://[::1]:***"),
            ("http://user:12ab/", "http://user:***"),
            // All digits, but no port: too long or past 65535.
            ("http://user:123456", "http://user:***"),
            ("http://user:99999999", "http://user:***"),
            ("http://user:65536/", "http://user:***"),
            ("http://[::1]:123456", "http://[::1]:***"),
        ] {
            for name in ["HTTPS_PROXY", "https_proxy", "npm_config_proxy", "REGISTRY"] {
                let got = mask_value(OsStr::new(name), OsStr::new(value));
                if name == "REGISTRY" && !value.contains("://") {
                    continue;
                }
                assert_eq!(got, want, "{name}={value}");
            }
        }
        // A port that is a number is a port: nothing to mask.
        for value in [
            "http://proxy:3128",
            "http://proxy:3128/",
            "http://proxy:",
            "http://[::1]:1",
            "http://proxy:65535",
            "http://proxy:08080",
        ] {
            assert_eq!(mask_proxy_url(value.as_bytes()), None, "{value}");
        }
        assert_eq!(
            mask_url_credentials(b"http://a:b,http://y:1").unwrap(),
            b"http://a:***,http://y:1"
        );
        assert_eq!(
            mask_url_credentials(b"http://a:1234567,http://y:1").unwrap(),
            b"http://a:***,http://y:1"
        );
        for name in ["NO_PROXY", "no_proxy", "npm_config_noproxy"] {
            let list = "localhost,::1,[::1]:80,h:1,0:0:0:0:0:0:0:1";
            assert_eq!(mask_value(OsStr::new(name), OsStr::new(list)), list);
        }
    }
}

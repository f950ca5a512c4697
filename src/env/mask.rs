//! Masking for display. What is masked still reaches the child unchanged;
//! masking only keeps secrets out of `explain`, `env` and logs.

use std::ffi::{OsStr, OsString};

use super::families::{is_proxy_var, SECRET_NAME_HINTS};
use crate::policy::os_from_bytes;

/// The value of `name` as it may be printed.
pub fn mask_value(name: &OsStr, value: &OsStr) -> OsString {
    let name_bytes = name.as_encoded_bytes();
    if is_proxy_var(name_bytes) || looks_like_url(value.as_encoded_bytes()) {
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
    let scheme_end = part
        .windows(3)
        .position(|w| w == b"://")
        .map(|i| i + 3)
        .unwrap_or(0);
    let rest = &part[scheme_end..];
    let authority_end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.iter().rposition(|&b| b == b'@')?;
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
        // An `@` after the authority is not a credential.
        let v = mask_value(OsStr::new("HTTP_PROXY"), OsStr::new("http://h:1/a@b"));
        assert_eq!(v, "http://h:1/a@b");
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
    fn url_lists_mask_each_entry() {
        let m = mask_url_credentials(b"http://a:b@x,http://y,https://c@z").unwrap();
        assert_eq!(m, b"http://***@x,http://y,https://***@z");
        assert_eq!(mask_url_credentials(b"http://x"), None);
    }
}

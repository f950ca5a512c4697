//! Environment variable names and `PREFIX_*` patterns used by env rules.

use std::ffi::{OsStr, OsString};
use std::fmt;

use super::PolicyError;

/// A variable name, or a prefix pattern written `PREFIX_*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NamePattern {
    /// Matches exactly this name (case-sensitive, as the kernel stores it).
    Exact(OsString),
    /// Matches every name starting with this prefix.
    Prefix(OsString),
}

impl NamePattern {
    /// Parse `NAME` or `PREFIX*`. `what` names the rule for the error message.
    pub fn parse(raw: &OsStr, what: &str) -> Result<Self, PolicyError> {
        let bytes = raw.as_encoded_bytes();
        let bad = |why: &str| PolicyError::BadName {
            rule: what.to_string(),
            name: raw.to_string_lossy().into_owned(),
            why: why.to_string(),
        };
        if bytes.is_empty() {
            return Err(bad("it is empty"));
        }
        let (body, prefix) = match bytes.iter().position(|&b| b == b'*') {
            None => (bytes, false),
            Some(i) if i == bytes.len() - 1 => (&bytes[..i], true),
            Some(_) => return Err(bad("`*` may only end a pattern, as in `AWS_*`")),
        };
        if prefix && body.is_empty() {
            return Err(bad(
                "`*` alone would pass every variable; name the prefix, as in `AWS_*`",
            ));
        }
        if let Some(b) = body.iter().find(|b| !is_name_byte(**b)) {
            return Err(bad(&format!(
                "byte {:?} is not allowed in a variable name (letters, digits, `_`)",
                char::from(*b)
            )));
        }
        let body = OsString::from(String::from_utf8_lossy(body).into_owned());
        Ok(if prefix {
            NamePattern::Prefix(body)
        } else {
            NamePattern::Exact(body)
        })
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &OsStr) -> bool {
        match self {
            NamePattern::Exact(n) => n == name,
            NamePattern::Prefix(p) => name.as_encoded_bytes().starts_with(p.as_encoded_bytes()),
        }
    }

    /// Whether this names exactly `name` (not through a prefix).
    pub fn is_exactly(&self, name: &OsStr) -> bool {
        matches!(self, NamePattern::Exact(n) if n == name)
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamePattern::Exact(n) => write!(f, "{}", n.to_string_lossy()),
            NamePattern::Prefix(p) => write!(f, "{}*", p.to_string_lossy()),
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Split `NAME=VALUE` (the value may hold further `=` and any bytes).
pub fn parse_assignment(raw: &OsStr, what: &str) -> Result<(OsString, OsString), PolicyError> {
    let bytes = raw.as_encoded_bytes();
    let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
        return Err(PolicyError::BadAssignment {
            rule: what.to_string(),
            raw: raw.to_string_lossy().into_owned(),
        });
    };
    let bad_name = || PolicyError::BadName {
        rule: what.to_string(),
        name: raw.to_string_lossy().into_owned(),
        why: "a set variable needs a plain name (letters, digits, `_`)".into(),
    };
    let name = std::str::from_utf8(&bytes[..eq]).map_err(|_| bad_name())?;
    match NamePattern::parse(OsStr::new(name), what)? {
        // `=` is ASCII, so the bytes after it are the value exactly as given.
        NamePattern::Exact(n) => Ok((n, os_from_bytes(bytes[eq + 1..].to_vec()))),
        NamePattern::Prefix(_) => Err(bad_name()),
    }
}

/// Bytes to `OsString`, losslessly (Unix).
pub fn os_from_bytes(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn exact_and_prefix_patterns() {
        let p = NamePattern::parse(OsStr::new("AWS_*"), "pass").unwrap();
        assert!(p.matches(OsStr::new("AWS_REGION")));
        assert!(!p.matches(OsStr::new("XAWS_REGION")));
        let e = NamePattern::parse(OsStr::new("GITHUB_TOKEN"), "pass").unwrap();
        assert!(e.matches(OsStr::new("GITHUB_TOKEN")));
        assert!(!e.matches(OsStr::new("GITHUB_TOKEN2")));
    }

    #[test]
    fn bad_patterns_name_the_rule_and_the_problem() {
        let err = NamePattern::parse(OsStr::new("*"), "pass")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pass") && err.contains("name the prefix"),
            "{err}"
        );
        let err = NamePattern::parse(OsStr::new("A*B"), "deny_env")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("deny_env") && err.contains("may only end"),
            "{err}"
        );
        let err = NamePattern::parse(OsStr::new("A-B"), "pass")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'-'"), "{err}");
        assert!(NamePattern::parse(OsStr::new(""), "pass").is_err());
    }

    #[test]
    fn assignment_keeps_value_bytes_and_needs_equals() {
        let raw = OsStr::from_bytes(b"FOO=a=b\xff");
        let (n, v) = parse_assignment(raw, "--set").unwrap();
        assert_eq!(n, "FOO");
        assert_eq!(v.as_bytes(), b"a=b\xff");
        let (_, empty) = parse_assignment(OsStr::new("E="), "--set").unwrap();
        assert_eq!(empty, "");
        let err = parse_assignment(OsStr::new("FOO"), "--set")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--set") && err.contains("NAME=VALUE") && err.contains("FOO"),
            "{err}"
        );
        assert!(parse_assignment(OsStr::new("A*=1"), "--set").is_err());
    }
}

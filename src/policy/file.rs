//! The TOML policy file. Strict: an unknown key is an error with its line
//! and column, never silently ignored.
//!
//! ```toml
//! presets = ["workspace"]
//! read = ["~/data"]
//! write = ["./out"]
//! deny = ["./secrets"]
//! net = "none"            # none | proxy | full
//! proxy = "http://proxy.corp:3128"
//! proxy_allow_local = false  # let requests reach the host's own addresses
//! pass = ["AWS_*", "GITHUB_TOKEN"]
//! deny_env = ["AWS_SECRET_ACCESS_KEY"]
//! ca = ["/etc/corp/root.pem"]
//! merge_system_roots = true
//! backend = "auto"        # auto | bwrap | landlock
//! [set]
//! RUST_LOG = "info"
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Backend, Layer, NetworkMode, PolicyError};

/// The policy file as written. Every key is optional; the same keys make up
/// the per-server `sandbox` table of MCP client configs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Presets applied before this file.
    #[serde(default)]
    pub presets: Vec<String>,
    /// Readable roots.
    #[serde(default)]
    pub read: Vec<PathBuf>,
    /// Writable roots.
    #[serde(default)]
    pub write: Vec<PathBuf>,
    /// Hidden paths.
    #[serde(default)]
    pub deny: Vec<PathBuf>,
    /// Network mode.
    #[serde(default, deserialize_with = "word")]
    pub net: Option<NetworkMode>,
    /// Upstream proxy for `net = "proxy"`.
    pub proxy: Option<String>,
    /// Let the bridge carry requests for the host's own addresses
    /// (loopback, link-local, `localhost`) to the upstream.
    pub proxy_allow_local: Option<bool>,
    /// Variables passed by name or `PREFIX_*`.
    #[serde(default)]
    pub pass: Vec<String>,
    /// Variables set explicitly.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Variables never passed.
    #[serde(default)]
    pub deny_env: Vec<String>,
    /// Extra CA files or directories.
    #[serde(default)]
    pub ca: Vec<PathBuf>,
    /// Whether the system roots go into the combined bundle.
    pub merge_system_roots: Option<bool>,
    /// Backend.
    #[serde(default, deserialize_with = "word")]
    pub backend: Option<Backend>,
}

/// An enum that is written as one word. Read as a string first: TOML's own
/// enum support takes tables too, so `net = 3` said only "wanted string or
/// table"; now it is "invalid type: integer `3`, expected a string", and a
/// wrong word lists the right ones.
fn word<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let s = String::deserialize(d)?;
    T::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(&s)).map(Some)
}

impl PolicyFile {
    /// This file as a [`Layer`] named `origin`.
    pub fn into_layer(self, origin: String) -> Layer {
        Layer {
            origin,
            presets: self.presets,
            read: self.read,
            write: self.write,
            deny: self.deny,
            net: self.net,
            proxy: self.proxy.map(OsString::from),
            proxy_allow_local: self.proxy_allow_local,
            pass: self.pass.into_iter().map(OsString::from).collect(),
            set: self
                .set
                .into_iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            deny_env: self.deny_env.into_iter().map(OsString::from).collect(),
            ca: self.ca,
            merge_system_roots: self.merge_system_roots,
            backend: self.backend,
            source: None,
        }
    }
}

/// Parse policy TOML; `path` only labels errors.
pub fn parse_policy_toml(text: &str, path: &Path) -> Result<PolicyFile, PolicyError> {
    toml::from_str(text).map_err(|e| PolicyError::Parse {
        path: path.to_path_buf(),
        message: one_line(&e, text),
    })
}

/// The largest policy file read (1 MiB); real ones are a few hundred bytes.
pub const MAX_POLICY_BYTES: u64 = 1 << 20;

/// Read and parse a policy file into a layer.
pub fn read_policy_file(path: &Path) -> Result<Layer, PolicyError> {
    // Bounded: `--policy /dev/zero`, or a FIFO fed forever or never
    // closed, must fail, not exhaust memory or hang (see `readfile`).
    let bytes =
        crate::readfile::read_upto(path, MAX_POLICY_BYTES).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(PolicyError::Parse {
            path: path.to_path_buf(),
            message: format!(
                "larger than {MAX_POLICY_BYTES} bytes; a policy is a few lines of TOML"
            ),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| PolicyError::Parse {
        path: path.to_path_buf(),
        message: format!(
            "not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    let mut layer = parse_policy_toml(&text, path)?.into_layer(path.display().to_string());
    layer.source = Some(path.to_path_buf());
    Ok(layer)
}

/// The toml crate renders a multi-line snippet; keep the reason and its
/// line and column on one line so the CLI prints one line.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

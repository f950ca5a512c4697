//! What `explain --verify` checks inside the sandbox: the plan's promises
//! as values. The environment's (every trust variable names a bundle of
//! certificates, TMPDIR is writable, HOME readable), the filesystem view's
//! (each grant, each hidden path, each protected path), and the network
//! mode's. A pure function of the plan; `sandspawn-linux` runs them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sandspawn_linux::verify::{Check, Expect};
use sandspawn_linux::{Backend, NetworkMode};

use super::fs::{Access, PathKind};
use super::Plan;
use crate::env::Source;

impl Plan {
    /// The checks, environment first, then the filesystem view in mount
    /// order, then the network.
    pub fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let bundles = self.bundle_checks();
        let bundle_paths: Vec<PathBuf> = bundles.iter().map(|c| c.path.clone()).collect();
        out.extend(bundles);
        for var in &self.env.vars {
            let expect = match var.name.as_encoded_bytes() {
                b"TMPDIR" => Expect::Writable,
                b"HOME" => Expect::Readable,
                _ => continue,
            };
            out.push(check(expect, var.name.clone(), Path::new(&var.value)));
        }
        let mounted = self.lower_order();
        for entry in &mounted {
            // A grant a deny at the same path hides (or a deny a private
            // tmpfs replaces) is not a promise: checking it would fail
            // (`--write x --deny x`: "FAIL writable") where the plan holds.
            if self.fs.overridden(entry) {
                continue;
            }
            let expect = match &entry.access {
                Access::Read if entry.protected => Expect::ReadOnly,
                Access::Read => Expect::Readable,
                Access::Write => Expect::Writable,
                // Without a mount namespace a private directory cannot be
                // made: the Landlock backend denies the path instead.
                Access::Tmpfs if self.backend == Backend::Landlock => Expect::Hidden,
                Access::Tmpfs => Expect::Writable,
                Access::Deny => Expect::Hidden,
                Access::Link { .. } => continue,
            };
            if expect == Expect::Readable && bundle_paths.contains(&entry.path) {
                continue;
            }
            out.push(check(expect, entry.reason.clone().into(), &entry.path));
        }
        // Denies that need no mount of their own are promises too: hidden
        // behind a link the sandbox follows, or by what the grant binds.
        for entry in &self.fs.entries {
            let present = matches!(entry.kind, Some(PathKind::Dir | PathKind::File));
            if entry.access == Access::Deny
                && present
                && !self.fs.overridden(entry)
                && !mounted.iter().any(|m| std::ptr::eq(*m, entry))
            {
                out.push(check(
                    Expect::Hidden,
                    entry.reason.clone().into(),
                    &entry.path,
                ));
            }
        }
        match self.network {
            NetworkMode::None => out.push(check(Expect::NoInet, "network none".into(), "")),
            NetworkMode::Proxy => {
                out.push(check(Expect::ProxyListener, "network proxy".into(), ""))
            }
            NetworkMode::Full => {}
        }
        out
    }

    /// One TLS probe per URL, trusting the bundle the child's
    /// `SSL_CERT_FILE` names (what OpenSSL-based clients, curl, Python and
    /// git read); an empty path when the child has none, which the probe
    /// reports as such.
    pub fn probe_checks(&self, urls: &[String]) -> Vec<Check> {
        let bundle = self
            .env
            .vars
            .iter()
            .find(|v| v.name == "SSL_CERT_FILE")
            .map(|v| PathBuf::from(&v.value))
            .unwrap_or_default();
        urls.iter()
            .map(|url| check(Expect::Tls, url.into(), &bundle))
            .collect()
    }

    /// One certificate check per bundle, labelled by the variables naming it.
    fn bundle_checks(&self) -> Vec<Check> {
        let mut by_path: BTreeMap<&Path, Vec<String>> = BTreeMap::new();
        for var in &self.env.vars {
            if matches!(var.source, Source::Trust { .. }) {
                by_path
                    .entry(Path::new(&var.value))
                    .or_default()
                    .push(var.name.to_string_lossy().into_owned());
            }
        }
        by_path
            .into_iter()
            .map(|(path, names)| {
                let label = match names.as_slice() {
                    [one] => one.clone(),
                    [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
                    [] => String::new(),
                };
                check(Expect::Certs, label.into(), path)
            })
            .collect()
    }
}

fn check(expect: Expect, label: OsString, path: impl AsRef<Path>) -> Check {
    Check {
        expect,
        label,
        path: path.as_ref().to_path_buf(),
    }
}

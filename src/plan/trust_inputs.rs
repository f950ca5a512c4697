//! The trust step's side of planning: which CA inputs the parent's
//! variables and the policy name, and which of them hold key material (to
//! be hidden, whatever grant covers them).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use super::assemble::lookup;
use super::Request;
use crate::env::{families, TrustRole};
use crate::paths;
use crate::policy::Policy;
use crate::trust::{self, Expect, Origin, TrustInput};

/// The CA inputs: the parent's trust variables (each distinct path read
/// once, however many variables name it), `set` trust variables, and the
/// policy's extra CA files.
pub(super) fn trust_inputs(
    req: &Request,
    policy: &Policy,
    warnings: &mut Vec<String>,
) -> Vec<TrustInput> {
    let denied = |name: &str| policy.env.deny.iter().any(|r| r.matches(name.as_ref()));
    let mut by_path: Vec<(PathBuf, Vec<String>, Expect)> = Vec::new();
    let mut add = |path: PathBuf, name: &str, expect: Expect| match by_path
        .iter_mut()
        .find(|(p, _, _)| *p == path)
    {
        Some((_, names, _)) => names.push(name.to_string()),
        None => by_path.push((path, vec![name.to_string()], expect)),
    };
    let explicit: HashMap<&OsString, &OsString> =
        policy.env.set.iter().map(|(n, v)| (n, v)).collect();
    for var in families::TRUST_VARS {
        if denied(var.name) {
            continue;
        }
        let key = OsString::from(var.name);
        let value = explicit
            .get(&key)
            .map(|v| v.as_os_str())
            .or_else(|| lookup(&req.parent_env, var.name));
        let Some(value) = value else { continue };
        if value.is_empty() {
            warnings.push(format!("{}: set but empty; ignored", var.name));
            continue;
        }
        let expect = match (var.role, var.name) {
            (TrustRole::Dir, _) => Expect::Dir,
            // Programs that read these take a hashed directory too
            // (requests' `verify`, pip's --cert, Bundler).
            (_, "BUNDLE_SSL_CA_CERT" | "REQUESTS_CA_BUNDLE" | "PIP_CERT" | "CURL_CA_BUNDLE") => {
                Expect::FileOrDir
            }
            _ => Expect::File,
        };
        let parts: Vec<PathBuf> = if var.role == TrustRole::Dir {
            std::env::split_paths(value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        } else {
            vec![PathBuf::from(value)]
        };
        for part in parts {
            add(
                paths::normalize(&req.parent_cwd.join(part)),
                var.name,
                expect,
            );
        }
    }
    let mut inputs: Vec<TrustInput> = by_path
        .into_iter()
        .map(|(path, names, expect)| TrustInput {
            origin: Origin::Variable {
                name: names.join(", "),
            },
            path,
            expect,
        })
        .collect();
    for ca in &policy.trust.ca {
        inputs.push(TrustInput {
            origin: Origin::PolicyCa,
            path: ca.clone(),
            expect: Expect::FileOrDir,
        });
    }
    inputs
}

/// The trust inputs that hold key material, as denies. The child reads the
/// sanitised bundles, never an input; an input that holds a private key
/// (mitmproxy's `mitmproxy-ca.pem` is key + certificate) must stay hidden
/// even when a grant covers its directory, e.g. the cwd under the readonly
/// preset. A whole file that is neither PEM nor a DER certificate (a
/// PKCS#12 file, a DER key) is hidden too: it may well be a key.
pub(super) fn key_holders(outcome: &trust::TrustOutcome) -> Vec<crate::policy::PathRule> {
    use trust::DropReason;
    let mut rules: Vec<crate::policy::PathRule> = Vec::new();
    for input in &outcome.inputs {
        for d in &input.dropped {
            let what = match d.reason {
                DropReason::PrivateKey { .. } => "holds a private key",
                DropReason::NotACertificate if d.block == 0 => "not a certificate, may hold a key",
                _ => continue,
            };
            let path = paths::normalize(&d.file);
            if rules.iter().any(|r| r.path == path) {
                continue;
            }
            rules.push(crate::policy::PathRule {
                path,
                origin: format!("trust input: {what} ({})", input.origin.describe()),
            });
        }
    }
    rules
}

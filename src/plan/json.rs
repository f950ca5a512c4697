//! The machine-readable view of a plan (`explain --json`). Secrets are
//! masked; non-UTF-8 names, values and paths are never made lossy silently:
//! they render as `{"lossy": "...", "hex": "..."}`.

use std::ffi::OsStr;
use std::path::Path;

use serde_json::{json, Value};

use super::fs::Access;
use super::Plan;
use crate::env::mask_value;

/// A string when the bytes are UTF-8, else an object carrying the exact
/// bytes in hex beside a readable approximation.
pub fn os_json(s: &OsStr) -> Value {
    match s.to_str() {
        Some(text) => Value::String(text.to_string()),
        None => {
            let bytes = s.as_encoded_bytes();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            json!({ "lossy": s.to_string_lossy(), "hex": hex })
        }
    }
}

fn path_json(p: &Path) -> Value {
    os_json(p.as_os_str())
}

impl Plan {
    /// The plan as one JSON object.
    pub fn to_json(&self) -> Value {
        let entries = |pred: fn(&Access) -> bool| -> Vec<Value> {
            self.fs
                .with(pred)
                .map(|e| {
                    let access = match &e.access {
                        Access::Read => "read",
                        Access::Write => "write",
                        Access::Tmpfs => "tmpfs",
                        Access::Link { .. } => "link",
                        Access::Deny => "deny",
                    };
                    let mut v =
                        json!({ "path": path_json(&e.path), "access": access, "reason": e.reason });
                    if let Access::Link { target } = &e.access {
                        v["link_to"] = path_json(target);
                    }
                    // A grant that loses the tie at its own path is not what
                    // the sandbox gets there (`--write x --deny x`: x is
                    // hidden). Still listed, as bwrap still mounts it under
                    // the mask, but marked so no reader takes it for a grant.
                    if self.fs.overridden(e) {
                        v["overridden"] = json!(true);
                    }
                    v
                })
                .collect()
        };
        let env: Vec<Value> = self
            .env
            .vars
            .iter()
            .map(|v| {
                let mut e = json!({
                    "name": os_json(&v.name),
                    "value": os_json(&mask_value(&v.name, &v.value)),
                    "source": v.source,
                });
                if let Some(pid) = v.from_host {
                    e["from_host"] = json!({ "pid": pid });
                }
                e
            })
            .collect();
        let env_dropped: Vec<Value> = self
            .env
            .dropped
            .iter()
            .map(|d| {
                let mut e = json!({ "name": os_json(&d.name), "reason": d.reason });
                if let Some(pid) = d.from_host {
                    e["from_host"] = json!({ "pid": pid });
                }
                e
            })
            .collect();
        let inputs: Vec<Value> = self
            .trust
            .inputs
            .iter()
            .map(|i| {
                let mut e = json!({
                    "origin": i.origin,
                    "path": path_json(&i.path),
                    "resolved": i.resolved.as_deref().map(path_json),
                    "certificates": i.certificates,
                    "dropped": i.dropped.iter().map(|d| json!({
                        "file": path_json(&d.file),
                        "block": d.block,
                        "reason": d.reason,
                    })).collect::<Vec<_>>(),
                    "skipped": i.skipped,
                });
                if let crate::trust::Origin::Variable { name } = &i.origin {
                    if let Some(pid) = self.env.from_host(name) {
                        e["from_host"] = json!({ "pid": pid });
                    }
                }
                e
            })
            .collect();
        json!({
            "command": self.command.iter().map(|c| os_json(c)).collect::<Vec<_>>(),
            "cwd": path_json(&self.cwd),
            "backend": self.backend.to_string(),
            "backend_why": self.backend_why,
            "network": self.network.to_string(),
            "proxy": self.proxy.as_ref().map(|p| json!({
                "upstream": p.upstream.display,
                "from": p.upstream.origin,
                "scheme": p.upstream.scheme,
                "inside": os_json(&p.inside_url),
                "inside_socks": p.inside_socks_url.as_deref().map(os_json),
                "allow_local": p.allow_local,
            })),
            "env": env,
            "env_dropped": env_dropped,
            "readable": entries(|a| !matches!(a, Access::Deny)),
            "writable": entries(|a| matches!(a, Access::Write | Access::Tmpfs)),
            "denied": entries(|a| matches!(a, Access::Deny)),
            "trust": {
                "bundle": self.trust.bundle.as_deref().map(path_json),
                "extras_bundle": self.trust.extras_bundle.as_deref().map(path_json),
                "system_store": self.trust.system_store.as_deref().map(path_json),
                "inputs": inputs,
            },
            // Landlock: named, not made (a plan may never run); each
            // sandbox started from it gets new ones, so a run's paths
            // differ from these.
            "private_dirs": self.private_dirs.as_ref().map(|d| json!({
                "dir": path_json(&d.dir),
                "home": path_json(&d.home),
                "tmp": path_json(&d.tmp),
                "per_sandbox": true,
            })),
            "violations": self.violations.iter().map(|v| json!({
                "variable": v.variable,
                "path": path_json(&v.path),
                "problem": v.problem,
            })).collect::<Vec<_>>(),
            "warnings": self.warnings,
            "hidden_command": self.hidden_command,
        })
    }
}

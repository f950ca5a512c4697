//! `sandspawn doctor`: the host probes of `sandspawn_linux::doctor`, plus
//! what the environment brings (trust inputs, proxy variables, masked), as
//! text or one JSON object.
//!
//! JSON keys are stable; new keys may be added, none renamed or removed:
//! `ok`, `user_namespaces`, `sysctls`, `apparmor`, `bwrap`, `bwrap_userns`,
//! `fresh_proc`, `bwrap_trial`, `landlock_abi`, `seccomp`, `pidfd`, `auto`,
//! `auto_why`, `can_enforce`, `trust`, `proxy`, `problems`.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use sandspawn_linux::doctor::{Diagnosis, Problem};
use serde_json::{json, Value};

use crate::env::families::is_proxy_var;
use crate::env::mask_value;
use crate::plan::{self, Plan, Request};
use crate::trust::Origin;

/// How long reading the trust inputs may take (a CA variable may name a
/// file on a hung filesystem).
const PLAN_TIMEOUT: Duration = Duration::from_secs(5);

/// What doctor found: host, trust, proxies, problems.
pub struct Findings {
    /// The host probes.
    pub host: Diagnosis,
    /// The default plan, or why it could not be built.
    pub plan: Result<Plan, String>,
    /// Proxy variables of the parent, values masked.
    pub proxy: Vec<(String, String)>,
    /// Host problems plus environment problems.
    pub problems: Vec<Problem>,
    /// The default policy can be enforced here (exit 0).
    pub ok: bool,
}

/// Probe the host and build the default plan from this process's environment.
pub fn findings(parent_env: Vec<(OsString, OsString)>, parent_cwd: PathBuf) -> Findings {
    let proxy = parent_env
        .iter()
        .filter(|(k, _)| is_proxy_var(k.as_encoded_bytes()))
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                mask_value(k, v).to_string_lossy().into_owned(),
            )
        })
        .collect();
    let request = Request {
        command: vec![OsString::from("true")],
        cwd: None,
        parent_cwd,
        parent_env,
        layers: Vec::new(),
        cache_dir: None,
        system_root: PathBuf::from("/"),
    };
    let (tx, rx) = mpsc::channel();
    let plan = match std::thread::Builder::new()
        .name("sandspawn-doctor-plan".into())
        .spawn(move || {
            let _ = tx.send(plan::build(&request).map_err(|e| e.to_string()));
        }) {
        Ok(_) => rx.recv_timeout(PLAN_TIMEOUT).unwrap_or_else(|_| {
            Err(format!(
                "reading the trust inputs timed out after {} s",
                PLAN_TIMEOUT.as_secs()
            ))
        }),
        Err(e) => Err(format!("starting the plan thread: {e}")),
    };
    let host = sandspawn_linux::doctor::diagnose();
    let mut problems = host.problems.clone();
    match &plan {
        Err(e) => problems.push(Problem {
            problem: format!("the default plan cannot be built: {e}"),
            remedy: "fix or unset the variable or path named above, then run `sandspawn explain -- true`".into(),
        }),
        Ok(plan) => {
            for i in plan.trust.inputs.iter().filter(|i| i.skipped.is_some()) {
                problems.push(Problem {
                    problem: format!(
                        "trust input {} ({}) skipped: {}",
                        i.path.display(),
                        origin_text(&i.origin),
                        i.skipped.as_deref().unwrap_or_default()
                    ),
                    remedy: "point the variable at a PEM file of CA certificates, or unset it"
                        .into(),
                });
            }
            if let Some(v) = plan.violations.first() {
                problems.push(Problem {
                    problem: format!("the default plan breaks its invariant: {v}"),
                    remedy: "run `sandspawn explain -- true` for every violation".into(),
                });
            }
        }
    }
    let ok = host.can_enforce && plan.as_ref().is_ok_and(|p| p.violations.is_empty());
    Findings {
        host,
        plan,
        proxy,
        problems,
        ok,
    }
}

fn origin_text(o: &Origin) -> String {
    match o {
        Origin::Variable { name } => name.clone(),
        Origin::PolicyCa => "--ca / policy ca".into(),
        Origin::System => "system".into(),
    }
}

/// The findings as one JSON object (see the module doc for its keys).
pub fn to_json(f: &Findings) -> Value {
    let mut v = serde_json::to_value(&f.host).unwrap_or_else(|_| json!({}));
    v["ok"] = json!(f.ok);
    v["problems"] = serde_json::to_value(&f.problems).unwrap_or_default();
    v["proxy"] = f
        .proxy
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    v["trust"] = match &f.plan {
        Ok(plan) => json!({
            "bundle": plan.trust.bundle,
            "extras_bundle": plan.trust.extras_bundle,
            "system_store": plan.trust.system_store,
            "inputs": plan.trust.inputs.iter().map(|i| json!({
                "origin": origin_text(&i.origin),
                "path": i.path.to_string_lossy(),
                "certificates": i.certificates,
                "dropped": i.dropped.len(),
                "skipped": i.skipped,
            })).collect::<Vec<_>>(),
            "error": null,
        }),
        Err(e) => json!({ "inputs": [], "error": e }),
    };
    v
}

/// The findings for a person to read.
pub fn write_text(f: &Findings, out: &mut impl Write) -> io::Result<()> {
    let h = &f.host;
    let yes = |c: &sandspawn_linux::doctor::Check| if c.ok { "ok  " } else { "FAIL" };
    let num = |v: Option<i64>| v.map_or("absent".to_string(), |v| v.to_string());
    writeln!(
        out,
        "user namespaces  {} {}",
        yes(&h.user_namespaces),
        h.user_namespaces.detail
    )?;
    writeln!(
        out,
        "sysctls          kernel.apparmor_restrict_unprivileged_userns={} kernel.unprivileged_userns_clone={} user.max_user_namespaces={}",
        num(h.sysctls.apparmor_restrict_unprivileged_userns),
        num(h.sysctls.unprivileged_userns_clone),
        num(h.sysctls.max_user_namespaces)
    )?;
    let profiles = match (&h.apparmor.bwrap_profiles, &h.apparmor.detail) {
        (Some(p), _) if p.is_empty() => "none loaded".to_string(),
        (Some(p), _) => p.join(", "),
        (None, Some(d)) => format!("unknown ({d})"),
        (None, None) => "unknown".to_string(),
    };
    let enabled = match h.apparmor.enabled {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "not present",
    };
    // Without AppArmor there are no profiles to list, and the failed read
    // of its profile list is no problem worth a line.
    if h.apparmor.enabled.is_none() && h.apparmor.bwrap_profiles.is_none() {
        writeln!(out, "apparmor         {enabled}")?;
    } else {
        writeln!(
            out,
            "apparmor         {enabled}; bwrap profiles: {profiles}"
        )?;
    }
    match (&h.bwrap.path, &h.bwrap.version) {
        (Some(p), Some(v)) => {
            let missing = h.bwrap.missing_flags();
            let flags = if missing.is_empty() {
                format!("all {} flags used supported", h.bwrap.flags.len())
            } else {
                format!("missing {}", missing.join(" "))
            };
            let setuid = if h.bwrap.setuid == Some(true) {
                "setuid root"
            } else {
                "not setuid"
            };
            writeln!(
                out,
                "bwrap            {} {v} ({setuid}); {flags}",
                p.display()
            )?;
        }
        _ => writeln!(
            out,
            "bwrap            {}",
            h.bwrap.error.as_deref().unwrap_or("not found")
        )?,
    }
    for (label, c) in [
        ("bwrap userns    ", &h.bwrap_userns),
        ("fresh /proc     ", &h.fresh_proc),
        ("bwrap trial     ", &h.bwrap_trial),
    ] {
        writeln!(out, "{label} {} {}", yes(c), c.detail)?;
    }
    writeln!(out, "landlock         ABI {}", h.landlock_abi)?;
    let seccomp = if h.seccomp {
        "available"
    } else {
        "unavailable"
    };
    writeln!(out, "seccomp          {seccomp}")?;
    writeln!(out, "pidfd            {} {}", yes(&h.pidfd), h.pidfd.detail)?;
    writeln!(out, "auto backend     {} ({})", h.auto, h.auto_why)?;

    writeln!(out, "\ntrust:")?;
    match &f.plan {
        Ok(plan) => {
            let shown = |p: &Option<PathBuf>| {
                p.as_ref()
                    .map_or("none".to_string(), |p| p.display().to_string())
            };
            writeln!(out, "  system store: {}", shown(&plan.trust.system_store))?;
            writeln!(out, "  bundle:       {}", shown(&plan.trust.bundle))?;
            for i in &plan.trust.inputs {
                let status = match &i.skipped {
                    Some(why) => format!("skipped: {why}"),
                    None => format!("{} certificate(s)", i.certificates),
                };
                writeln!(
                    out,
                    "  input {} ({}): {status}",
                    i.path.display(),
                    origin_text(&i.origin)
                )?;
            }
        }
        Err(e) => writeln!(out, "  cannot build the default plan: {e}")?,
    }
    writeln!(
        out,
        "\nproxy variables (passed only with --net full or proxy):"
    )?;
    if f.proxy.is_empty() {
        writeln!(out, "  none")?;
    }
    for (name, value) in &f.proxy {
        writeln!(out, "  {name}={value}")?;
    }
    if !f.problems.is_empty() {
        writeln!(out, "\nproblems:")?;
        for p in &f.problems {
            writeln!(out, "  - {}", p.problem)?;
            writeln!(out, "    fix: {}", p.remedy)?;
        }
    }
    if f.ok {
        writeln!(
            out,
            "\nok: the default policy can be enforced here (backend {})",
            h.auto
        )
    } else {
        writeln!(out, "\nnot ok: the default policy cannot be enforced here")
    }
}

//! `sandspawn explain` as text: what the child gets and why.

use std::io::{self, Write};

use crate::env::{mask_value, DropReason, Source};
use crate::plan::{Access, Plan};

/// Write the plan for a person to read.
pub fn write_text(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    let cmd: Vec<String> = plan
        .command
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    writeln!(out, "command:  {}", cmd.join(" "))?;
    writeln!(out, "cwd:      {}", plan.cwd.display())?;
    writeln!(out, "backend:  {} ({})", plan.backend, plan.backend_why)?;
    writeln!(out, "network:  {}", plan.network)?;

    writeln!(out, "\nenvironment ({} variables):", plan.env.vars.len())?;
    for v in &plan.env.vars {
        let value = mask_value(&v.name, &v.value);
        writeln!(
            out,
            "  {}={}  [{}]",
            v.name.to_string_lossy(),
            value.to_string_lossy(),
            source_text(&v.source)
        )?;
    }
    if !plan.env.dropped.is_empty() {
        writeln!(out, "\nnot passed:")?;
        for d in &plan.env.dropped {
            writeln!(
                out,
                "  {}  [{}]",
                d.name.to_string_lossy(),
                drop_text(&d.reason)
            )?;
        }
    }

    writeln!(out, "\nfilesystem:")?;
    for e in &plan.fs.entries {
        let access = match &e.access {
            Access::Read => "read ".to_string(),
            Access::Write => "write".to_string(),
            Access::Tmpfs => "tmpfs".to_string(),
            Access::Link { target } => format!("link -> {}", target.display()),
            Access::Deny => "deny ".to_string(),
        };
        writeln!(out, "  {access}  {}  [{}]", e.path.display(), e.reason)?;
    }

    writeln!(out, "\ntrust:")?;
    let opt =
        |p: Option<&std::path::Path>| p.map_or("none".to_string(), |p| p.display().to_string());
    writeln!(
        out,
        "  bundle:        {}",
        opt(plan.trust.bundle.as_deref())
    )?;
    writeln!(
        out,
        "  extras bundle: {}",
        opt(plan.trust.extras_bundle.as_deref())
    )?;
    writeln!(
        out,
        "  system store:  {}",
        opt(plan.trust.system_store.as_deref())
    )?;
    for i in &plan.trust.inputs {
        let origin = match &i.origin {
            crate::trust::Origin::Variable { name } => name.clone(),
            crate::trust::Origin::PolicyCa => "--ca / policy ca".into(),
            crate::trust::Origin::System => "system".into(),
        };
        let status = match &i.skipped {
            Some(why) => format!("skipped: {why}"),
            None => format!(
                "{} certificate(s), {} dropped",
                i.certificates,
                i.dropped.len()
            ),
        };
        writeln!(out, "  input {} ({origin}): {status}", i.path.display())?;
        for d in &i.dropped {
            writeln!(
                out,
                "    dropped {} block {}: {:?}",
                d.file.display(),
                d.block,
                d.reason
            )?;
        }
    }

    if !plan.violations.is_empty() {
        writeln!(out, "\nviolations:")?;
        for v in &plan.violations {
            writeln!(out, "  {v}")?;
        }
    }
    if !plan.warnings.is_empty() {
        writeln!(out, "\nwarnings:")?;
        for w in &plan.warnings {
            writeln!(out, "  {w}")?;
        }
    }
    Ok(())
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Base => "base".into(),
        Source::Sandbox => "sandbox".into(),
        Source::Trust { role } => format!("trust: {role:?}").to_lowercase(),
        Source::Proxy => "proxy".into(),
        Source::ProxySpelling { from } => format!("proxy: other spelling of {from}"),
        Source::ProxyDerived => "proxy: derived".into(),
        Source::ProxyBridge => "proxy: the sandbox's bridge to the upstream".into(),
        Source::Set => "set".into(),
        Source::Pass { rule } => format!("pass {rule}"),
    }
}

fn drop_text(r: &DropReason) -> String {
    match r {
        DropReason::NotAllowed => "not in the allow-list; --pass NAME to keep".into(),
        DropReason::DeniedByPolicy { rule } => format!("deny_env {rule}"),
        DropReason::VerificationKiller => "weakens TLS verification".into(),
        DropReason::NoNetwork => "network none".into(),
        DropReason::ProxyRewritten => "network proxy: replaced by the bridge address".into(),
        DropReason::ManagedTrust => "replaced by a managed bundle".into(),
        DropReason::FoldedIntoBundle => "certificates folded into the bundle".into(),
        DropReason::NotUsableInSandbox => "its directory is not visible in the sandbox".into(),
        DropReason::InvalidName => "not a valid variable name".into(),
    }
}

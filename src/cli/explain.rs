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
    match &plan.proxy {
        // The child's variables all name the bridge: say where it leads.
        Some(p) => {
            writeln!(
                out,
                "network:  {} (upstream {} from {}, through the bridge at {})",
                plan.network,
                p.upstream.display,
                p.upstream.origin,
                p.inside_url.to_string_lossy()
            )?;
            // The bridge's one rule of its own about targets.
            writeln!(
                out,
                "          host-local targets (loopback, link-local, localhost): {}",
                if p.allow_local {
                    "allowed (--proxy-allow-local)"
                } else {
                    "refused (--proxy-allow-local allows them)"
                }
            )?
        }
        None => writeln!(out, "network:  {}", plan.network)?,
    }

    writeln!(out, "\nenvironment ({} variables):", plan.env.vars.len())?;
    for v in &plan.env.vars {
        let value = mask_value(&v.name, &v.value);
        writeln!(
            out,
            "  {}={}  [{}]",
            v.name.to_string_lossy(),
            value.to_string_lossy(),
            with_host(source_text(&v.source), v.from_host)
        )?;
    }
    if !plan.env.dropped.is_empty() {
        writeln!(out, "\nnot passed:")?;
        for d in &plan.env.dropped {
            writeln!(
                out,
                "  {}  [{}]",
                d.name.to_string_lossy(),
                with_host(drop_text(&d.reason), d.from_host)
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
        // Listed, so the rule is not lost from sight, but marked: the
        // entry at the same path that wins is what the sandbox gets.
        let overridden = if plan.fs.overridden(e) {
            match e.access {
                Access::Deny => "; replaced by the private directory at the same path",
                _ => "; overridden: the deny at the same path wins",
            }
        } else {
            ""
        };
        writeln!(
            out,
            "  {access}  {}  [{}{overridden}]",
            e.path.display(),
            e.reason
        )?;
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
            crate::trust::Origin::Variable { name } => {
                with_host(name.clone(), plan.env.from_host(name))
            }
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
                "    dropped {} block {}: {}",
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
    if !plan.warnings.is_empty() || plan.hidden_command.is_some() {
        writeln!(out, "\nwarnings:")?;
        for w in plan.warnings.iter().chain(&plan.hidden_command) {
            writeln!(out, "  {w}")?;
        }
    }
    Ok(())
}

/// A provenance, and the MCP host process it was recovered from.
fn with_host(text: String, from_host: Option<u32>) -> String {
    match from_host {
        Some(pid) => format!("{text}, from host pid {pid}"),
        None => text,
    }
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
        Source::NoProxyLoopback { from } => {
            format!("proxy: loopback entries of {from} (the others go through the bridge)")
        }
        Source::Set => "set".into(),
        Source::McpProfile => "mcp profile".into(),
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

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use crate::mcp::hostenv::Recovered;
    use crate::mcp::request::{plan_with_recovered, HostContext, ServerLaunch};

    #[test]
    fn variables_recovered_from_the_host_say_so_masked() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = dir.path().join("corp-ca.pem");
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let ctx = HostContext {
            parent_env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("HOME".into(), dir.path().join("home").into()),
            ],
            parent_cwd: dir.path().to_path_buf(),
            cache_dir: Some(dir.path().join("cache")),
            ..HostContext::default()
        };
        let launch = ServerLaunch {
            command: vec!["/bin/true".into()],
            origin: "test".into(),
            ..ServerLaunch::default()
        };
        let recovered = Recovered {
            pid: Some(4242),
            vars: vec![
                (OsString::from("SSL_CERT_FILE"), ca.into_os_string()),
                (
                    "https_proxy".into(),
                    "http://alice:hunter2@proxy.corp:3128".into(),
                ),
            ],
            note: None,
        };
        let plan = plan_with_recovered(&launch, &ctx, recovered).unwrap().plan;
        let mut out = Vec::new();
        super::write_text(&plan, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let bundle = plan.env.get("SSL_CERT_FILE").unwrap().to_string_lossy();
        for line in [
            format!("  SSL_CERT_FILE={bundle}  [trust: replace, from host pid 4242]"),
            "  https_proxy=http://***@proxy.corp:3128  [proxy, from host pid 4242]".into(),
            "  HTTPS_PROXY=http://***@proxy.corp:3128  [proxy: other spelling of https_proxy, from host pid 4242]".into(),
            "  PATH=/usr/bin:/bin  [base]".into(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        // The rest of the trust family points at the bundles: not "from host".
        let node = text
            .lines()
            .find(|l| l.starts_with("  NODE_EXTRA_CA_CERTS="))
            .unwrap();
        assert!(node.ends_with("[trust: add]"), "{node}");
        assert!(
            text.contains("(SSL_CERT_FILE, from host pid 4242): 1 certificate(s), 0 dropped"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let json = plan.to_json();
        let var = |name: &str| {
            json["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(var("SSL_CERT_FILE")["from_host"]["pid"], 4242);
        assert_eq!(var("https_proxy")["value"], "http://***@proxy.corp:3128");
        assert_eq!(var("https_proxy")["from_host"]["pid"], 4242);
        assert!(var("PATH").get("from_host").is_none());
        let input = json["trust"]["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["origin"]["name"] == "SSL_CERT_FILE")
            .cloned()
            .unwrap();
        assert_eq!(input["from_host"]["pid"], 4242, "{input}");
        assert!(!json.to_string().contains("hunter2"));
    }
}

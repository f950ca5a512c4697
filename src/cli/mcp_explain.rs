//! `sandspawn mcp explain`: the plan `sandspawn mcp` would exec, with the
//! MCP inputs `sandspawn explain` does not have: the default MCP profile,
//! the server's config entry, the user config and the variables recovered
//! from the MCP host process (each marked `from host pid N`).

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;

use super::args::McpExplainArgs;
use super::mcp::{recovered_text, server_request};
use super::{explain, CliError};
use crate::mcp::request::plan_server;
use crate::plan::os_json;

/// Print the plan; starts nothing.
pub(super) fn explain(args: &McpExplainArgs) -> Result<ExitCode, CliError> {
    let (launch, ctx) = server_request(&args.server)?;
    let built = plan_server(&launch, &ctx)?;
    let plan = &built.plan;
    let mut enforcement = sandspawn_linux::probe().enforcement(&plan.lower());
    enforcement.why = plan.backend_why.clone();
    let mut out = std::io::stdout().lock();
    let r = &built.recovered;
    if args.json {
        let mut value = plan.to_json();
        value["enforcement"] = serde_json::to_value(&enforcement).unwrap_or_default();
        value["host_env"] = json!({
            "pid": r.pid,
            "recovered": r.vars.iter().map(|(n, _)| os_json(n)).collect::<Vec<_>>(),
            "note": r.note,
        });
        value["user_config"] = built
            .user_config
            .as_deref()
            .map_or(serde_json::Value::Null, |p| os_json(p.as_os_str()));
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        writeln!(out, "{text}").map_err(CliError::Output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = Vec::new();
    explain::write_text(plan, &mut text).map_err(CliError::Output)?;
    text.extend_from_slice(b"\nhost environment:\n");
    let host = match recovered_text(&built) {
        Some(line) => line,
        None if args.server.no_host_env => "not read (--no-host-env)".into(),
        None => "nothing recovered (the client passed them, or the host has none)".into(),
    };
    text.extend_from_slice(format!("  {host}\n").as_bytes());
    if let Some(path) = &built.user_config {
        text.extend_from_slice(format!("  user config: {}\n", path.display()).as_bytes());
    }
    text.extend_from_slice(b"\nenforcement:\n");
    for line in enforcement.to_string().lines() {
        text.extend_from_slice(format!("  {line}\n").as_bytes());
    }
    out.write_all(&text).map_err(CliError::Output)?;
    if args.verify || !args.probe.is_empty() {
        // As `sandspawn mcp` runs it (see `mcp::run`): with the
        // parent-death signal, tied to the client's main thread or to the
        // watcher's.
        let spec = plan.lower();
        return super::verify_inside(plan, spec, &args.probe, &mut out);
    }
    Ok(ExitCode::SUCCESS)
}

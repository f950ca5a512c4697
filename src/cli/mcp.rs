//! `sandspawn mcp`: run one server (exec), `check`, `install`, `uninstall`.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::args::{McpAction, McpArgs, McpServerArgs, PolicyArgs};
use super::CliError;
use crate::mcp::config::{read_config, ClientConfig, ConfigError, ServerConfig};
use crate::mcp::process::{self, SpawnOptions};
use crate::mcp::request::{plan_server, HostContext, McpPlan, ServerLaunch};
use crate::mcp::session::{self, PageLimits, DEFAULT_STARTUP_TIMEOUT};
use crate::mcp::vars::VarContext;
use crate::mcp::wire;
use crate::policy::read_policy_file;
use sandspawn_linux::lifetime::{self, Forker, ParentWatch};

/// Entry point of `sandspawn mcp …`.
pub(super) fn main(args: McpArgs) -> Result<ExitCode, CliError> {
    match args.action {
        None => run(&args),
        Some(McpAction::Check {
            config,
            client,
            server,
            project,
            policy,
            no_host_env,
        }) => check(
            &match (config, client) {
                (Some(config), _) => config,
                (None, Some(client)) => super::mcp_install::usual_path(client)?,
                (None, None) => {
                    return Err(CliError::Usage(
                        "mcp check: give --config FILE or --client NAME".into(),
                    ))
                }
            },
            server.as_deref().map(|s| (s, project.as_deref())),
            &policy.policy,
            no_host_env,
        ),
        Some(McpAction::Explain(a)) => super::mcp_explain::explain(&a),
        Some(McpAction::Install(a)) => {
            super::mcp_install::install_cmd(&a.target, Some(a.record_env))
        }
        Some(McpAction::Uninstall(a)) => super::mcp_install::install_cmd(&a, None),
    }
}

/// The hidden `__mcp-spec` stage: decode the spec the library handed over
/// and enforce it (exec bwrap, or Landlock then exec the server).
pub fn spec_exec() -> ExitCode {
    let (err, code) = match wire::from_env(|name| std::env::var_os(name)) {
        Ok(spec) => {
            let e = sandspawn_linux::run(&spec);
            (e.to_string(), super::run_exit_code(&e))
        }
        Err(e) => (e.to_string(), super::EXIT_SANDSPAWN_FAILED),
    };
    sandspawn_linux::say(format_args!("sandspawn: {err}"));
    ExitCode::from(code)
}

/// The `${…}` context of a client config read from here.
fn var_context(config: &Path) -> Result<VarContext, CliError> {
    let cwd = std::env::current_dir().map_err(CliError::Cwd)?;
    Ok(VarContext::new(std::env::vars_os().collect(), &cwd, config))
}

/// `server` of `file`, resolved; its command line unless `cmd` (given
/// after `--`, already expanded by the client) replaces it.
fn launch_from(
    file: &ClientConfig,
    server: &ServerConfig,
    vars: &VarContext,
    cmd: &[OsString],
) -> Result<ServerLaunch, ConfigError> {
    let server = file.resolve(server, vars, cmd.is_empty())?;
    let mut notes = Vec::new();
    let command = if cmd.is_empty() {
        // A wrapper naming no server of this file fails outright: that
        // says more than what its options would change.
        notes.extend(
            crate::mcp::install::missing_server_note(&server, file)
                .or_else(|| crate::mcp::install::hand_wrapped_note(&server, &file.path)),
        );
        notes.extend(crate::mcp::install::stale_wrapper_note(&server));
        server.command_line(&file.path)?
    } else {
        cmd.to_vec()
    };
    // A command after `--` means the client started us from the entry:
    // it has applied a relative `cwd` already, so joining it again would
    // name `cwd/cwd`.
    let cwd = server
        .cwd
        .clone()
        .filter(|c| cmd.is_empty() || c.is_absolute());
    Ok(ServerLaunch {
        // With its project: Claude Code's servers of one name in two
        // projects are two servers, and get two caches.
        name: Some(server.label()),
        command,
        cwd,
        env: server.env.clone(),
        env_vars: server.env_vars.clone(),
        sandbox: server.sandbox.clone(),
        origin: format!("server {} in {}", server.name, file.path.display()),
        notes,
        config: Some(file.path.clone()),
    })
}

/// The launch of `sandspawn mcp` and `mcp explain`: `--config FILE
/// --server NAME`, `-- CMD`, or both (CMD wins); `--cwd` over the config's.
pub(super) fn launch_for(
    config: Option<&Path>,
    server: Option<&str>,
    project: Option<&str>,
    cmd: &[OsString],
    policy: &PolicyArgs,
) -> Result<ServerLaunch, CliError> {
    let mut launch = match (config, server) {
        (Some(config), Some(name)) => {
            let file = read_config(config)?;
            let server = file.server_in(name, project)?;
            launch_from(&file, server, &var_context(config)?, cmd)?
        }
        _ => ServerLaunch {
            command: cmd.to_vec(),
            origin: "command line".into(),
            ..ServerLaunch::default()
        },
    };
    if launch.command.is_empty() {
        return Err(CliError::Usage(
            "no server command: write it after `--` (sandspawn mcp -- npx -y PKG) or use --config FILE --server NAME".into(),
        ));
    }
    if policy.cwd.is_some() {
        launch.cwd = policy.cwd.clone();
    }
    Ok(launch)
}

pub(super) fn context(policy: &PolicyArgs, recover: bool) -> Result<HostContext, CliError> {
    let mut layers = Vec::new();
    if let Some(file) = &policy.policy {
        layers.push(read_policy_file(file)?);
    }
    layers.push(policy.layer()?);
    Ok(HostContext {
        parent_env: std::env::vars_os().collect(),
        parent_cwd: std::env::current_dir().map_err(CliError::Cwd)?,
        recover_host_env: recover,
        user_config: true,
        proxy: policy.proxy.clone(),
        layers,
        cache_dir: None,
    })
}

pub(super) fn plan_or_fail(launch: &ServerLaunch, ctx: &HostContext) -> Result<McpPlan, CliError> {
    plan_or_fail_once(launch, ctx, &mut std::collections::HashSet::new())
}

/// [`plan_or_fail`], printing only the warnings not in `printed` (`mcp
/// check` plans every server with the same trust inputs: one warning about
/// a CA file is said once, not once per server).
fn plan_or_fail_once(
    launch: &ServerLaunch,
    ctx: &HostContext,
    printed: &mut std::collections::HashSet<String>,
) -> Result<McpPlan, CliError> {
    let built = plan_server(launch, ctx)?;
    for w in &built.plan.warnings {
        if printed.insert(w.clone()) {
            sandspawn_linux::say(format_args!("sandspawn: warning: {w}"));
        }
    }
    if let Some(first) = built.plan.violations.first() {
        return Err(CliError::Violations {
            count: built.plan.violations.len(),
            first: first.to_string(),
        });
    }
    Ok(built)
}

/// The launch and the host context for the server `args` name.
pub(super) fn server_request(
    args: &McpServerArgs,
) -> Result<(ServerLaunch, HostContext), CliError> {
    let launch = launch_for(
        args.config.as_deref(),
        args.server.as_deref(),
        args.project.as_deref(),
        &args.cmd,
        &args.policy,
    )?;
    Ok((launch, context(&args.policy, !args.no_host_env)?))
}

fn run(args: &McpArgs) -> Result<ExitCode, CliError> {
    let (launch, ctx) = server_request(&args.server)?;
    let built = plan_or_fail(&launch, &ctx)?;
    if let Some(why) = &built.plan.hidden_command {
        return Err(CliError::HiddenCommand(why.clone()));
    }
    // Landlock: owned by this process, which becomes the server or stays
    // to watch it; removed on return (the watcher's) or by a later sweep
    // once the exec'd server has ended.
    let _private = built.plan.create_private_dirs()?;
    let mut spec = built.plan.lower();
    let forker = lifetime::forking_thread();
    spec.die_with_parent = true;
    let watch = match &forker {
        Forker::Leader => None,
        _ => match ParentWatch::new() {
            Ok(Some(watch)) => Some(watch),
            // The client is gone already: start nothing.
            Ok(None) => return Ok(ExitCode::from(EXIT_CLIENT_GONE)),
            Err(e) => {
                // Degraded, and said so on every run: no parent-death
                // signal (it could kill a healthy server with a thread).
                spec.die_with_parent = false;
                sandspawn_linux::say(format_args!(
                    "sandspawn: lifetime: the client cannot be watched (pidfd_open: {e}); \
                     the server ends only when its stdin closes"
                ));
                None
            }
        },
    };
    if args.report {
        report_recovered(&built);
        let mut report = sandspawn_linux::probe().enforcement(&spec);
        // The plan resolved `auto`; say why, not "requested".
        report.why = built.plan.backend_why.clone();
        for line in report.to_string().lines() {
            sandspawn_linux::say(format_args!("sandspawn: {line}"));
        }
        sandspawn_linux::say(format_args!(
            "sandspawn: lifetime: {}",
            lifetime_text(&forker, watch.is_some(), report.backend)
        ));
    }
    let Some(mut watch) = watch else {
        return Err(sandspawn_linux::run(&spec).into());
    };
    if spec.network == sandspawn_linux::NetworkMode::Proxy
        && spec.backend == sandspawn_linux::Backend::Bwrap
    {
        watch = watch.sparing_the_proxy_bridge();
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Lifetime(format!("finding our own binary: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    // The client's environment, as an exec would have kept it (bwrap's
    // lookup and cache use it; the server's own is the spec's), without
    // stale spec chunks that would be read after ours.
    cmd.arg(wire::SPEC_ARG)
        .env_clear()
        .envs(
            std::env::vars_os()
                .filter(|(n, _)| !n.to_str().is_some_and(|n| n.starts_with(wire::SPEC_VAR))),
        )
        .envs(wire::to_env(&spec));
    match watch.supervise(cmd) {
        Ok(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        Err(e) => Err(CliError::Lifetime(format!("watching the server: {e}"))),
    }
}

/// Exit code when the client died before the server started (128 + SIGKILL).
const EXIT_CLIENT_GONE: u8 = 137;

/// How the sandbox ends with the client, for `--report`, naming what
/// enforces it on `backend` (bwrap's flag is no part of a Landlock run).
fn lifetime_text(forker: &Forker, watched: bool, backend: sandspawn_linux::Backend) -> String {
    let signal = sandspawn_linux::report::parent_death(backend);
    match (forker, watched) {
        (Forker::Leader, _) => format!(
            "dies with the client (forked by its main thread, nothing of sandspawn resident): \
             {signal}"
        ),
        (Forker::Thread(tid), true) => format!(
            "dies with the client (forked by its thread {tid}, which may exit first: \
             a sandspawn watcher stays resident, holds a pidfd of the client and kills the \
             sandbox when it exits; with the watcher: {signal})"
        ),
        (Forker::Unknown(why), true) => format!(
            "dies with the client (forking thread unknown: {why}; \
             a sandspawn watcher stays resident, holds a pidfd of the client and kills the \
             sandbox when it exits; with the watcher: {signal})"
        ),
        (_, false) => "ends when its stdin closes (no parent-death signal, no watcher)".into(),
    }
}

fn report_recovered(built: &McpPlan) {
    if let Some(text) = recovered_text(built) {
        sandspawn_linux::say(format_args!("sandspawn: {text}"));
    }
    if let Some(path) = &built.user_config {
        sandspawn_linux::say(format_args!("sandspawn: user config: {}", path.display()));
    }
}

/// What was recovered from the MCP host process (names only: the values
/// are credentials as often as not), or why nothing could be.
pub(super) fn recovered_text(built: &McpPlan) -> Option<String> {
    let r = &built.recovered;
    if !r.vars.is_empty() {
        let names: Vec<String> = r
            .vars
            .iter()
            .map(|(n, _)| n.to_string_lossy().into_owned())
            .collect();
        return Some(format!(
            "recovered from host process {}: {} (values not shown)",
            r.pid.unwrap_or(0),
            names.join(", ")
        ));
    }
    r.note.as_ref().map(|n| format!("host environment: {n}"))
}

struct Row {
    name: String,
    backend: String,
    init_ms: String,
    tools: String,
    status: String,
    detail: Option<String>,
}

fn check(
    config: &Path,
    only: Option<(&str, Option<&str>)>,
    policy: &PolicyArgs,
    no_host_env: bool,
) -> Result<ExitCode, CliError> {
    let file = read_config(config)?;
    let vars = var_context(config)?;
    let servers: Vec<&ServerConfig> = match only {
        Some((name, project)) => vec![file.server_in(name, project)?],
        None => {
            file.not_empty()?;
            file.servers.iter().collect()
        }
    };
    let ctx = context(policy, !no_host_env)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let exe = std::env::current_exe().ok();
    let mut rows = Vec::new();
    let mut recovered_note = None;
    let mut printed = std::collections::HashSet::new();
    for server in servers {
        let mut row = Row {
            name: server.label(),
            backend: "-".into(),
            init_ms: "-".into(),
            tools: "-".into(),
            status: String::new(),
            detail: None,
        };
        if !server.enabled || server.remote {
            // Not started by sandspawn: a remote server has no process.
            row.status = if server.enabled { "remote" } else { "disabled" }.into();
            rows.push(row);
            continue;
        }
        let built = match launch_from(&file, server, &vars, &[])
            .map_err(CliError::from)
            .and_then(|l| plan_or_fail_once(&l, &ctx, &mut printed))
        {
            Ok(b) => b,
            Err(e) => {
                row.status = "error".into();
                row.detail = Some(e.to_string());
                rows.push(row);
                continue;
            }
        };
        if recovered_note.is_none() {
            recovered_note = recovered_text(&built);
        }
        row.backend = built.plan.backend.to_string();
        let timeout = server.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT);
        let opts = SpawnOptions {
            sandspawn_exe: exe.clone(),
            ..SpawnOptions::default()
        };
        runtime.block_on(async {
            let mut proc = match process::spawn(&built.plan, &opts).await {
                Ok(p) => p,
                Err(e) => {
                    row.status = "spawn failed".into();
                    row.detail = Some(e.to_string());
                    return;
                }
            };
            match session::initialize(&mut proc, timeout).await {
                Ok((mut s, info)) => {
                    row.init_ms = info.elapsed.as_millis().to_string();
                    if let Some(t) = server.tool_timeout {
                        s.set_tool_timeout(t);
                    }
                    match s
                        .list_all_tools(PageLimits {
                            // A slow server's own timeout is not cut short.
                            total: s.tool_timeout.max(PageLimits::default().total),
                            ..PageLimits::default()
                        })
                        .await
                    {
                        Ok(list) => {
                            row.tools = list.tools.len().to_string();
                            row.status = "ok".into();
                            if let Some(why) = list.stopped {
                                // The count is a lower bound: say so.
                                row.tools.push('+');
                                row.detail = Some(why);
                            }
                        }
                        Err(e) => {
                            let err = session::fail(&mut proc, "tools/list", e.to_string()).await;
                            row.status = "tools/list failed".into();
                            row.detail = Some(err.to_string());
                        }
                    }
                }
                Err(e) => {
                    row.status = "initialize failed".into();
                    row.detail = Some(e.to_string());
                }
            }
            let _ = proc.shutdown(Duration::from_secs(2)).await;
        });
        rows.push(row);
    }
    let mut out = std::io::stdout().lock();
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(6).max(6);
    let mut text = format!(
        "{:<w$}  {:<8}  {:>13}  {:>5}  status\n",
        "server", "backend", "initialize ms", "tools"
    );
    for r in &rows {
        text.push_str(&format!(
            "{:<w$}  {:<8}  {:>13}  {:>5}  {}\n",
            r.name, r.backend, r.init_ms, r.tools, r.status
        ));
    }
    for r in rows.iter().filter(|r| r.detail.is_some()) {
        text.push_str(&format!(
            "\n{}: {}\n",
            r.name,
            r.detail.as_deref().unwrap_or("")
        ));
    }
    if let Some(note) = recovered_note {
        text.push_str(&format!("\n{note}\n"));
    }
    out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    let failed = rows
        .iter()
        .any(|r| !matches!(r.status.as_str(), "ok" | "disabled" | "remote"));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

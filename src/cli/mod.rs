//! The `sandspawn` command line: a thin layer over [`crate::plan`].
//!
//! This is the edge where the process's own arguments, environment and
//! working directory are read; below it everything takes them as data.

mod args;
mod doctor;
mod explain;
mod mcp;
mod mcp_explain;
mod mcp_install;

pub use mcp::spec_exec;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command, PolicyArgs};

use crate::env::mask_value;
use crate::plan::{self, BuildError, Plan, Request};
use crate::policy::{read_policy_file, PolicyError};

/// Exit status when sandspawn itself fails (not the child).
pub const EXIT_SANDSPAWN_FAILED: u8 = 125;

/// Exit status when the policy hides the command's program (the shell's
/// "found but cannot be executed").
pub const EXIT_HIDDEN_COMMAND: u8 = 126;
/// Exit status when stdout's reader has gone (128 + SIGPIPE, as the shell
/// reports a filter the signal killed).
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// Errors the CLI reports as one line.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot determine the current directory: {0}")]
    Cwd(std::io::Error),
    #[error("the plan breaks its own invariant ({count} problem(s)); first: {first}; run `sandspawn explain` for all")]
    Violations { count: usize, first: String },
    #[error(transparent)]
    Run(#[from] sandspawn_linux::RunError),
    #[error("writing output: {0}")]
    Output(std::io::Error),
    #[error(transparent)]
    McpConfig(#[from] crate::mcp::config::ConfigError),
    #[error(transparent)]
    McpPlan(#[from] crate::mcp::request::McpPlanError),
    #[error(transparent)]
    Install(#[from] crate::mcp::install::InstallError),
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Usage(String),
    #[error("lifetime: {0}")]
    Lifetime(String),
    /// The policy hides the program (see `Plan::hidden_command`).
    #[error("{0}")]
    HiddenCommand(String),
}

/// Run the CLI with the process's arguments and environment.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` succeed. A usage error is sandspawn's
            // own failure: 125, never clap's 2, which a host could not tell
            // from the status of the command it asked `run` to start.
            let code = if e.use_stderr() {
                EXIT_SANDSPAWN_FAILED
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        // `sandspawn env | head -1`: the reader is done, nothing failed.
        // End as a filter killed by SIGPIPE would, without a message.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(EXIT_BROKEN_PIPE)
        }
        Err(e) => {
            sandspawn_linux::say(format_args!("sandspawn: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Run(e) => run_exit_code(e),
            // The program is there; the policy keeps it from being run,
            // as a refused exec would (126), on either backend.
            CliError::HiddenCommand(_) => EXIT_HIDDEN_COMMAND,
            _ => EXIT_SANDSPAWN_FAILED,
        }
    }
}

/// The exit status for a failed enforcement: 127 / 126 when the command
/// itself is not found / not executable (the shell's convention, as the
/// helper stage inside bwrap reports it), else sandspawn's own 125. Shared
/// by `run`, `mcp` and the library's `__mcp-spec` stage, so a host sees the
/// same status from both backends.
pub(crate) fn run_exit_code(e: &sandspawn_linux::RunError) -> u8 {
    match e {
        sandspawn_linux::RunError::Confine(e) => e.exit_code(),
        _ => EXIT_SANDSPAWN_FAILED,
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Run {
            policy,
            report,
            cmd,
        } => {
            let plan = build_plan(&policy, cmd)?;
            print_warnings(&plan);
            if let Some(first) = plan.violations.first() {
                return Err(CliError::Violations {
                    count: plan.violations.len(),
                    first: first.to_string(),
                });
            }
            if let Some(why) = &plan.hidden_command {
                return Err(CliError::HiddenCommand(why.clone()));
            }
            // Landlock: made here, and left for a later sweep once the
            // command (this process after the exec) has ended.
            let _private = plan.create_private_dirs()?;
            let spec = plan.lower();
            if report {
                let mut report = sandspawn_linux::probe().enforcement(&spec);
                // The plan resolved `auto`; say why, not "requested".
                report.why = plan.backend_why.clone();
                for line in report.to_string().lines() {
                    sandspawn_linux::say(format_args!("sandspawn: {line}"));
                }
                // sandspawn execs: the sandbox is tied to whoever ran it.
                if spec.die_with_parent {
                    sandspawn_linux::say(format_args!(
                        "sandspawn: lifetime: dies with the process that ran sandspawn: {}",
                        sandspawn_linux::report::parent_death(report.backend)
                    ));
                }
            }
            Err(sandspawn_linux::run(&spec).into())
        }
        Command::Explain {
            policy,
            json,
            verify,
            probe,
            cmd,
        } => {
            let plan = build_plan(&policy, cmd)?;
            let mut enforcement = sandspawn_linux::probe().enforcement(&plan.lower());
            enforcement.why = plan.backend_why.clone();
            let mut out = std::io::stdout().lock();
            if json {
                let mut value = plan.to_json();
                value["enforcement"] = serde_json::to_value(&enforcement).unwrap_or_default();
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                writeln!(out, "{text}").map_err(CliError::Output)?;
            } else {
                explain::write_text(&plan, &mut out).map_err(CliError::Output)?;
                writeln!(out, "\nenforcement:").map_err(CliError::Output)?;
                for line in enforcement.to_string().lines() {
                    writeln!(out, "  {line}").map_err(CliError::Output)?;
                }
            }
            if verify || !probe.is_empty() {
                return verify_inside(&plan, plan.lower(), &probe, &mut out);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Mcp(args) => mcp::main(*args),
        Command::Env { policy } => {
            let plan = build_plan(&policy, vec![OsString::from("env")])?;
            print_warnings(&plan);
            let mut out = std::io::stdout().lock();
            for var in &plan.env.vars {
                let value = mask_value(&var.name, &var.value);
                let mut line = var.name.as_bytes().to_vec();
                line.push(b'=');
                line.extend_from_slice(value.as_bytes());
                line.push(b'\n');
                out.write_all(&line).map_err(CliError::Output)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { json } => {
            let cwd = std::env::current_dir().map_err(CliError::Cwd)?;
            let found = doctor::findings(std::env::vars_os().collect(), cwd);
            let mut out = std::io::stdout().lock();
            if json {
                let text =
                    serde_json::to_string_pretty(&doctor::to_json(&found)).unwrap_or_default();
                writeln!(out, "{text}").map_err(CliError::Output)?;
            } else {
                doctor::write_text(&found, &mut out).map_err(CliError::Output)?;
            }
            Ok(if found.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// `explain --verify`: exec into the sandbox of `spec` (the plan lowered
/// as the command would be run) with the plan's checks in place of the
/// command; the helper prints one line per check and exits 0 when all
/// hold. Returns only on failure.
fn verify_inside(
    plan: &Plan,
    mut spec: sandspawn_linux::SandboxSpec,
    probes: &[String],
    out: &mut impl Write,
) -> Result<ExitCode, CliError> {
    if let Some(first) = plan.violations.first() {
        return Err(CliError::Violations {
            count: plan.violations.len(),
            first: first.to_string(),
        });
    }
    // As `run` does: the checks look at the very directories the command
    // would get.
    let _private = plan.create_private_dirs()?;
    spec.checks = plan.checks();
    spec.checks.extend(plan.probe_checks(probes));
    writeln!(
        out,
        "\nverify (inside the sandbox, {} backend; the command is not run):",
        plan.backend
    )
    .and_then(|()| out.flush())
    .map_err(CliError::Output)?;
    Err(sandspawn_linux::run(&spec).into())
}

fn build_plan(args: &PolicyArgs, cmd: Vec<OsString>) -> Result<Plan, CliError> {
    let mut layers = Vec::new();
    if let Some(file) = &args.policy {
        layers.push(read_policy_file(file)?);
    }
    layers.push(args.layer()?);
    let request = Request {
        command: cmd,
        cwd: args.cwd.clone(),
        parent_cwd: std::env::current_dir().map_err(CliError::Cwd)?,
        parent_env: std::env::vars_os().collect(),
        layers,
        cache_dir: None,
        system_root: PathBuf::from("/"),
    };
    Ok(plan::build(&request)?)
}

fn print_warnings(plan: &Plan) {
    for w in &plan.warnings {
        sandspawn_linux::say(format_args!("sandspawn: warning: {w}"));
    }
}

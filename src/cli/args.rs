//! Command-line arguments (clap derive). Raw flags only validate what the
//! user typed; turning them into a policy layer is [`PolicyArgs::layer`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::policy::{parse_assignment, Backend, Layer, NetworkMode, PolicyError};

/// Start commands and MCP stdio servers in a Linux sandbox with a curated,
/// TLS-ready environment.
///
/// The child's environment and the sandbox's filesystem view are built from
/// one plan: every CA bundle, HOME and TMPDIR the environment names is
/// readable inside, and nothing else becomes readable because of it. CA
/// variables of the parent (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, ...) are read
/// through a certificates-only sanitiser into content-addressed bundles; the
/// whole trust family then points at those bundles.
#[derive(Debug, Parser)]
#[command(name = "sandspawn", version, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
// Only the subcommand given is built: `run` is on every spawn's path, and
// building every subcommand's arguments (mcp's tree most of all) cost more
// instructions than parsing. Names and descriptions stay eager for help.
// A deferred variant's arguments are added after its own description, so
// the `Args` structs and `McpAction` below carry no doc comment (clap would
// take it as the command's description and replace the variant's).
#[command(defer = true)]
pub enum Command {
    /// Run CMD in the sandbox (exec: stdin, stdout and stderr are the child's).
    ///
    /// Exit status: the child's; 125 when sandspawn itself fails (bad policy,
    /// unreadable CA file, sandbox not available), 126/127 when CMD cannot be
    /// executed or found (126 when the policy hides it, on either backend).
    Run {
        /// Policy options.
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print the enforcement report to stderr before starting.
        #[arg(long)]
        report: bool,
        /// The command and its arguments (after `--`, or from the first
        /// argument that is not an option of sandspawn's).
        #[arg(trailing_var_arg = true, required = true, value_name = "CMD")]
        cmd: Vec<OsString>,
    },
    /// Show the plan for CMD without running it: environment with provenance,
    /// readable/writable/denied paths with reasons, trust inputs and drops.
    Explain {
        /// Policy options.
        #[command(flatten)]
        policy: PolicyArgs,
        /// One JSON object instead of text.
        #[arg(long, conflicts_with = "verify")]
        json: bool,
        /// Then check the plan's promises from inside the very sandbox CMD
        /// would get (CMD is not run): bundles hold certificates, grants
        /// work, hidden paths show nothing, the network is as planned.
        /// Exit 0 when all hold, 1 when one does not.
        #[arg(long)]
        verify: bool,
        /// With --verify (implied): also make a TLS handshake with URL's
        /// host from inside, as CMD's clients would (its proxy variables,
        /// its SSL_CERT_FILE bundle), and say who issued the certificate
        /// that came back. Repeatable; https:// URLs only.
        #[arg(long, value_name = "URL", conflicts_with = "json", value_parser = probe_url)]
        probe: Vec<String>,
        /// The command and its arguments (after `--`, or from the first
        /// argument that is not an option of sandspawn's).
        #[arg(trailing_var_arg = true, required = true, value_name = "CMD")]
        cmd: Vec<OsString>,
    },
    /// Print the curated environment, one NAME=VALUE a line, secrets masked.
    Env {
        /// Policy options.
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Check what this host can enforce: user namespaces, AppArmor, bwrap,
    /// a fresh /proc, Landlock, seccomp, which backend `auto` picks, the
    /// trust inputs and proxy variables found (masked); one remedy line per
    /// problem.
    ///
    /// Exit status: 0 when the default policy can be enforced with some
    /// backend, 1 otherwise.
    Doctor {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run an MCP stdio server in the sandbox (exec: the client talks
    /// straight to the server; sandspawn writes nothing to stdout), or
    /// check / install client configs.
    ///
    /// Default MCP profile: network `full`, the working directory readable,
    /// npm and uv pointed at caches of the server's own (under sandspawn's
    /// cache directory, `mcp/NAME@HASH`, HASH of the name and the config
    /// file's real path; `mcp/cmd@HASH` of the command line without
    /// `--server`) and those writable, the
    /// resolved executable's installation prefix readable; nothing else of
    /// HOME.
    Mcp(Box<McpArgs>),
}

// `sandspawn mcp`.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct McpArgs {
    /// check, install or uninstall; none: run a server.
    #[command(subcommand)]
    pub action: Option<McpAction>,
    /// Which server, and how to sandbox it.
    #[command(flatten)]
    pub server: McpServerArgs,
    /// Print the enforcement report and recovered variables to stderr.
    #[arg(long)]
    pub report: bool,
}

// The server `sandspawn mcp` runs (or `mcp explain` shows) and its policy.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args)]
#[command(mut_arg("preset", |a| a.help(MCP_PRESET_HELP)))]
pub struct McpServerArgs {
    /// Policy options (over the default MCP profile).
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// A client config (Codex config.toml, or mcpServers JSON).
    #[arg(long, value_name = "FILE", requires = "server")]
    pub config: Option<PathBuf>,
    /// The server to run from --config.
    #[arg(long, value_name = "NAME", requires = "config")]
    pub server: Option<String>,
    /// The --server is one of this project's (Claude Code's
    /// `projects.<DIR>.mcpServers` in `~/.claude.json`), not a top-level one.
    #[arg(long, value_name = "DIR", requires = "server")]
    pub project: Option<String>,
    /// Do not recover trust/proxy variables from the MCP host process
    /// (sandspawn's parent).
    #[arg(long)]
    pub no_host_env: bool,
    /// The server's command (overrides the config's command).
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<OsString>,
}

// `mcp check`'s policy options: [`PolicyArgs`] with the --preset help of
// `sandspawn mcp` (a variant's own `mut_arg` runs before its fields exist,
// so the help is set by a struct around them).
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args)]
#[command(mut_arg("preset", |a| a.help(MCP_PRESET_HELP)))]
pub struct McpPolicyArgs {
    /// The options.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

// `sandspawn mcp` subcommands.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Subcommand)]
// As for [`Command`]: `sandspawn mcp -- SERVER` starts servers and needs none.
#[command(defer = true)]
pub enum McpAction {
    /// Start each server sandboxed, run initialize + tools/list, print a table.
    Check {
        /// The client config.
        #[arg(long, value_name = "FILE", required_unless_present = "client")]
        config: Option<PathBuf>,
        /// Or the client whose usual config to check (the file `install
        /// --client` edits).
        #[arg(long, value_enum, conflicts_with = "config")]
        client: Option<ClientArg>,
        /// Only this server.
        #[arg(long, value_name = "NAME")]
        server: Option<String>,
        /// The --server is this project's (Claude Code's
        /// `projects.<DIR>.mcpServers`), not a top-level one.
        #[arg(long, value_name = "DIR", requires = "server")]
        project: Option<String>,
        /// Policy options (over the default MCP profile).
        #[command(flatten)]
        policy: Box<McpPolicyArgs>,
        /// Do not recover trust/proxy variables from the MCP host process
        /// (sandspawn's parent).
        #[arg(long)]
        no_host_env: bool,
    },
    /// Show the plan `sandspawn mcp` would run (environment with provenance,
    /// variables recovered from the MCP host marked `from host pid N`,
    /// secrets masked), without starting anything.
    Explain(Box<McpExplainArgs>),
    /// Rewrite a client config so every stdio server runs through `sandspawn mcp`.
    Install(InstallArgs),
    /// Undo `install`.
    Uninstall(ConfigArgs),
}

// Options of `mcp explain`: those of `sandspawn mcp`, and `--json`.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args)]
pub struct McpExplainArgs {
    /// Which server, and how to sandbox it.
    #[command(flatten)]
    pub server: McpServerArgs,
    /// One JSON object instead of text.
    #[arg(long, conflicts_with = "verify")]
    pub json: bool,
    /// Then check the plan's promises from inside the very sandbox the
    /// server would get (the server is not started); exit 1 when one
    /// does not hold.
    #[arg(long)]
    pub verify: bool,
    /// With --verify (implied): also make a TLS handshake with URL's host
    /// from inside, as the server's clients would (its proxy variables, its
    /// SSL_CERT_FILE bundle), and say who issued the certificate that came
    /// back. Repeatable; https:// URLs only.
    #[arg(long, value_name = "URL", conflicts_with = "json", value_parser = probe_url)]
    pub probe: Vec<String>,
}

// Options of install: uninstall's, and the recording of the shell's
// settings, which uninstall has no use for (taken there, it would be
// accepted and ignored).
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The config to rewrite.
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Also record this shell's trust and proxy settings (the files the CA
    /// variables name, the proxy URL, the no-proxy list) in sandspawn's user
    /// config, for clients that start servers without them. Asked on a
    /// terminal when not given.
    #[arg(long)]
    pub record_env: bool,
}

// Options of uninstall, and the config part of install's.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Which client's config format and default path.
    #[arg(long, value_enum)]
    pub client: ClientArg,
    /// The config file (default: the client's usual path).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the diff, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// MCP clients.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClientArg {
    /// ~/.codex/config.toml
    Codex,
    /// Claude Desktop's claude_desktop_config.json
    Claude,
    /// Claude Code's ~/.claude.json: user-scope servers and every
    /// project's (`projects.<dir>.mcpServers`)
    ClaudeCode,
    /// ~/.cursor/mcp.json
    Cursor,
    /// .vscode/mcp.json
    Vscode,
}

/// Network modes, as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NetArg {
    /// Loopback only.
    None,
    /// Only through the upstream proxy.
    Proxy,
    /// The host network.
    Full,
}

/// Backends, as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    /// bwrap when it works here, else Landlock.
    Auto,
    /// bubblewrap namespaces + Landlock + seccomp.
    Bwrap,
    /// Landlock + seccomp + no_new_privs, no namespaces.
    Landlock,
}

/// `--preset` under `sandspawn mcp`, whose default preset is mcp, not
/// readonly: the shared help said "readonly (default)" there too.
const MCP_PRESET_HELP: &str = "Apply a preset over mcp (the default under `sandspawn mcp`, always applied): workspace, read-all, readonly";

// Options shared by every subcommand that builds a plan.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Policy file (TOML; unknown keys are errors).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Apply a preset: readonly (default), workspace, read-all, mcp.
    #[arg(long, value_name = "NAME")]
    pub preset: Vec<String>,
    /// Make PATH readable (repeatable; `~` and relative paths allowed).
    #[arg(long, value_name = "PATH")]
    pub read: Vec<PathBuf>,
    /// Make PATH readable and writable.
    #[arg(long, value_name = "PATH")]
    pub write: Vec<PathBuf>,
    /// Hide PATH even inside a readable or writable root.
    #[arg(long, value_name = "PATH")]
    pub deny: Vec<PathBuf>,
    /// Network mode (default none; full under `sandspawn mcp`).
    #[arg(long, value_enum, value_name = "MODE")]
    pub net: Option<NetArg>,
    /// Upstream proxy URL for `--net proxy`; under `--net full`, the
    /// command's HTTPS_PROXY and HTTP_PROXY (replacing the parent's).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<OsString>,
    /// Under `--net proxy`, let requests for the host's own addresses
    /// (loopback, link-local, localhost) through to the upstream; refused
    /// by default.
    #[arg(long)]
    pub proxy_allow_local: bool,
    /// Sandbox backend (default auto).
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub backend: Option<BackendArg>,
    /// Pass a variable of the parent by NAME or PREFIX_* pattern.
    #[arg(long, value_name = "NAME|PATTERN")]
    pub pass: Vec<OsString>,
    /// Set a variable in the child (wins over everything else).
    #[arg(long, value_name = "NAME=VALUE")]
    pub set: Vec<OsString>,
    /// Never pass a variable (NAME or PREFIX_*).
    #[arg(long, value_name = "NAME|PATTERN")]
    pub deny_env: Vec<OsString>,
    /// An extra CA certificate file or directory to trust.
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Leave the system roots out of the combined bundle.
    #[arg(long)]
    pub no_system_roots: bool,
    /// Working directory of the command (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

impl PolicyArgs {
    /// The flags as the last, highest-priority policy layer.
    pub fn layer(&self) -> Result<Layer, PolicyError> {
        let set = self
            .set
            .iter()
            .map(|raw| parse_assignment(raw, "--set"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Layer {
            origin: "flags".into(),
            presets: self.preset.clone(),
            read: self.read.clone(),
            write: self.write.clone(),
            deny: self.deny.clone(),
            net: self.net.map(|n| match n {
                NetArg::None => NetworkMode::None,
                NetArg::Proxy => NetworkMode::Proxy,
                NetArg::Full => NetworkMode::Full,
            }),
            proxy: self.proxy.clone(),
            proxy_allow_local: self.proxy_allow_local.then_some(true),
            pass: self.pass.clone(),
            set,
            deny_env: self.deny_env.clone(),
            ca: self.ca.clone(),
            merge_system_roots: self.no_system_roots.then_some(false),
            backend: self.backend.map(|b| match b {
                BackendArg::Auto => Backend::Auto,
                BackendArg::Bwrap => Backend::Bwrap,
                BackendArg::Landlock => Backend::Landlock,
            }),
            source: None,
        })
    }
}

/// A `--probe` URL, refused before anything runs when it cannot be probed:
/// an `http://` URL was one failed line after the whole verification.
fn probe_url(url: &str) -> Result<String, String> {
    match sandspawn_linux::tls_probe::parse_target(url) {
        Ok(_) => Ok(url.to_string()),
        Err(_)
            if !url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://")) =>
        {
            Err("--probe takes an https:// URL".into())
        }
        Err(why) => Err(format!("--probe takes an https:// URL: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand's (name path, about, long_about), as far as `cmd`
    /// has built its tree.
    fn descriptions(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String, String)>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            let text = |s: Option<&clap::builder::StyledStr>| s.map(|s| s.to_string());
            out.push((
                name.clone(),
                text(sub.get_about()).unwrap_or_default(),
                text(sub.get_long_about()).unwrap_or_default(),
            ));
            descriptions(sub, &name, out);
        }
    }

    /// Subcommands are built only when given (`defer`): a description
    /// must read the same in the parent's list (before the build) as in
    /// the subcommand's own `--help` (after it). An `Args` struct with a
    /// doc comment replaced it (`run --help` said "Options shared by every
    /// subcommand that builds a plan").
    #[test]
    fn deferred_subcommands_keep_their_descriptions() {
        let mut eager = Vec::new();
        descriptions(&Cli::command(), "", &mut eager);
        let mut built = Cli::command();
        built.build();
        let mut after = Vec::new();
        descriptions(&built, "", &mut after);
        for entry in &eager {
            let now = after.iter().find(|a| a.0 == entry.0).expect("still there");
            assert_eq!(now, entry);
        }
        let about = |name: &str| after.iter().find(|a| a.0 == name).unwrap().1.clone();
        assert!(about(" run").starts_with("Run CMD in the sandbox"));
        assert!(about(" mcp").starts_with("Run an MCP stdio server"));
        assert!(about(" mcp install").starts_with("Rewrite a client config"));
    }

    /// `sandspawn mcp` shares the policy options with `run`, but its
    /// defaults are the MCP profile's: its help said `--net` defaulted to
    /// none while a server got the host network.
    #[test]
    fn mcp_help_states_the_mcp_profile_defaults() {
        let mut cli = Cli::command();
        cli.build();
        let help = |path: &[&str], long: &str| {
            let mut cmd = &cli;
            for p in path {
                cmd = cmd.find_subcommand(p).unwrap();
            }
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .unwrap();
            arg.get_help().unwrap().to_string()
        };
        for path in [
            &["mcp"][..],
            &["mcp", "check"],
            &["mcp", "explain"],
            &["run"],
        ] {
            assert_eq!(
                help(path, "net"),
                "Network mode (default none; full under `sandspawn mcp`)"
            );
            let (preset, no_host_env) = if path == ["run"] {
                (
                    "Apply a preset: readonly (default), workspace, read-all, mcp",
                    None,
                )
            } else {
                (
                    "Apply a preset over mcp (the default under `sandspawn mcp`, always applied): workspace, read-all, readonly",
                    Some("Do not recover trust/proxy variables from the MCP host process (sandspawn's parent)"),
                )
            };
            assert_eq!(help(path, "preset"), preset, "{path:?}");
            if let Some(want) = no_host_env {
                assert_eq!(help(path, "no-host-env"), want, "{path:?}");
            }
        }
    }
}

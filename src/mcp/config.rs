//! MCP client configs: Codex's `config.toml` (`[mcp_servers.NAME]`) and the
//! `mcpServers` JSON of Claude Desktop and Cursor (VS Code: `servers`, or
//! `"mcp": {"servers"}` in its `settings.json`).
//!
//! Each server may carry a `sandbox` table with the policy file's keys;
//! that table is strict: an unknown key fails that server (with the
//! entry's line and column), not the others of the file.
//! The rest of a client config is the client's business and is ignored.
//!
//! Reading is two steps: [`read_config`] parses the file, then
//! [`ClientConfig::resolve`] expands one server's `${…}` variables (JSON
//! only, see [`super::vars`]) and loads its `envFile`. Resolving per server
//! keeps a variable sandspawn cannot expand in one server from breaking
//! the others.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::vars::{VarContext, VarError};
use crate::policy::PolicyFile;

/// Errors reading a client config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("MCP config {path}: {source}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Bad TOML or JSON, or a bad `sandbox` table.
    #[error("MCP config {path}: {message}", path = .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// With line and column.
        message: String,
    },
    /// No server of that name.
    #[error("MCP config {path}: no server named `{name}`; servers: {known}", path = .path.display())]
    UnknownServer {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// A config that defines no MCP server at all (the wrong file?).
    #[error("MCP config {path}: no MCP servers in it (expected {expected})", path = .path.display())]
    NoServers {
        /// The file.
        path: PathBuf,
        /// The tables or keys looked for.
        expected: &'static str,
    },
    /// A server with neither a command nor a URL (a typo, a half-written
    /// entry): the client cannot start it either.
    #[error("MCP config {path}: server `{name}` has neither `command` nor `url`; give it the `command` that starts it", path = .path.display())]
    NoCommand {
        /// The file.
        path: PathBuf,
        /// The server.
        name: String,
    },
    /// A remote (HTTP/SSE) server: the client connects to it, nothing is
    /// started.
    #[error("MCP config {path}: server `{name}` is a remote server (`url`): the client connects to it itself; sandspawn starts stdio servers (`command`) only", path = .path.display())]
    Remote {
        /// The file.
        path: PathBuf,
        /// The server.
        name: String,
    },
    /// A `${…}` sandspawn cannot expand.
    #[error("MCP config {path}: server `{name}`: {field}: {source}", path = .path.display())]
    Variable {
        /// The file.
        path: PathBuf,
        /// The server.
        name: String,
        /// Where (`args[1]`, `env API_KEY`, `envFile`…).
        field: String,
        /// Which variable, and why.
        source: VarError,
    },
    /// One server's entry does not read (a bad `sandbox` key, a wrong type).
    #[error("MCP config {path}: server `{name}`: {message}", path = .path.display())]
    Server {
        /// The file.
        path: PathBuf,
        /// The server.
        name: String,
        /// Where (line and column of the entry) and what.
        message: String,
    },
    /// An env file could not be read.
    #[error("MCP config {config}: server `{name}`: envFile {path}: {source}; create it, or fix the entry's `envFile`", config = .config.display(), path = .path.display())]
    EnvFile {
        /// The config.
        config: PathBuf,
        /// The server.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Which client format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Codex `config.toml`.
    Codex,
    /// `mcpServers` / `servers` JSON.
    Json,
}

/// One server as configured, in the client-neutral shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerConfig {
    /// Its name in the config.
    pub name: String,
    /// The program (None: not a stdio server).
    pub command: Option<OsString>,
    /// Its arguments, literal.
    pub args: Vec<OsString>,
    /// Literal variables (win over inherited ones); once resolved, an env
    /// file's come first.
    pub env: Vec<(OsString, OsString)>,
    /// `envFile` as written (loaded by [`ClientConfig::resolve`]).
    pub env_file: Option<PathBuf>,
    /// A remote (HTTP/SSE) server: `url`, or a `type` other than stdio.
    pub remote: bool,
    /// Names passed from sandspawn's own environment.
    pub env_vars: Vec<OsString>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// How long initialize may take.
    pub startup_timeout: Option<Duration>,
    /// How long a tool call may take.
    pub tool_timeout: Option<Duration>,
    /// Whether the client starts it.
    pub enabled: bool,
    /// The per-server sandbox table.
    pub sandbox: Option<PolicyFile>,
    /// Claude Code's per-project scope: the project directory whose
    /// `projects.<dir>.mcpServers` holds it (`~/.claude.json`); None for
    /// the file's top-level servers.
    pub project: Option<String>,
    /// Why this entry could not be read (`entry at line L, column C: …`):
    /// only this server fails (in [`ClientConfig::resolve`]); a typo in
    /// one entry must not stop a client's other servers.
    pub invalid: Option<String>,
}

/// A whole client config.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Servers in name order.
    pub servers: Vec<ServerConfig>,
}

impl ClientConfig {
    /// The top-level server called `name` (see [`ClientConfig::server_in`]).
    pub fn server(&self, name: &str) -> Result<&ServerConfig, ConfigError> {
        self.server_in(name, None)
    }

    /// The server called `name` in `project`'s scope (Claude Code's
    /// `projects.<dir>.mcpServers`), or at the top level (None).
    pub fn server_in(
        &self,
        name: &str,
        project: Option<&str>,
    ) -> Result<&ServerConfig, ConfigError> {
        self.not_empty()?;
        // A directory named with a trailing slash (a shell completion's) is
        // the one Claude Code keys without it.
        let dir = |d: &str| match d.trim_end_matches('/') {
            "" if d.starts_with('/') => "/".to_string(),
            trimmed => trimmed.to_string(),
        };
        let project = project.map(dir);
        self.servers
            .iter()
            .find(|s| s.name == name && s.project.as_deref().map(dir) == project)
            .ok_or_else(|| ConfigError::UnknownServer {
                path: self.path.clone(),
                name: match &project {
                    Some(dir) => format!("{name}` in project `{dir}"),
                    None => name.to_string(),
                },
                known: self
                    .servers
                    .iter()
                    .map(ServerConfig::label)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl ServerConfig {
    /// Its name, with its project when it has one: `NAME (project DIR)`.
    pub fn label(&self) -> String {
        match &self.project {
            Some(dir) => format!("{} (project {dir})", self.name),
            None => self.name.clone(),
        }
    }
}

impl ClientConfig {
    /// An error when the file defines no server.
    pub fn not_empty(&self) -> Result<(), ConfigError> {
        if !self.servers.is_empty() {
            return Ok(());
        }
        Err(ConfigError::NoServers {
            path: self.path.clone(),
            expected: match self.format {
                Format::Codex => "[mcp_servers.NAME] tables",
                Format::Json => {
                    "a \"mcpServers\" or \"servers\" object, or \"mcp\": {\"servers\"} in VS Code's settings.json"
                }
            },
        })
    }
}

impl ServerConfig {
    /// Program and arguments, or the error naming the server. A server
    /// already wrapped by `sandspawn mcp install` yields its original
    /// command line (never sandspawn inside sandspawn).
    pub fn command_line(&self, path: &Path) -> Result<Vec<OsString>, ConfigError> {
        let program = self.command.clone().ok_or_else(|| {
            let (path, name) = (path.to_path_buf(), self.name.clone());
            match self.remote {
                true => ConfigError::Remote { path, name },
                false => ConfigError::NoCommand { path, name },
            }
        })?;
        if let Some(original) = super::install::unwrap_command(&program, &self.args) {
            return Ok(original);
        }
        let mut cmd = vec![program];
        cmd.extend(self.args.iter().cloned());
        Ok(cmd)
    }
}

/// Read and parse a client config (see [`ClientConfig::resolve`] for one
/// server's variables and env file).
pub fn read_config(path: &Path) -> Result<ClientConfig, ConfigError> {
    let text = crate::readfile::read_bounded_string(path, crate::readfile::MAX_CONFIG_BYTES)
        .map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    parse_config(&text, path, format_of(path, &text))
}

impl ClientConfig {
    /// `server` as the client would start it: in JSON configs its `${…}`
    /// variables expanded in `command` and `args` (only `with_command`:
    /// a command given after `--` was expanded by the client already),
    /// `env` values, `envFile` and `cwd`; then its `envFile` loaded (a
    /// relative one beside the config), before `env`, which wins.
    pub fn resolve(
        &self,
        server: &ServerConfig,
        vars: &VarContext,
        with_command: bool,
    ) -> Result<ServerConfig, ConfigError> {
        if let Some(message) = &server.invalid {
            return Err(ConfigError::Server {
                path: self.path.clone(),
                name: server.name.clone(),
                message: message.clone(),
            });
        }
        let mut out = server.clone();
        if self.format == Format::Json {
            let err = |field: String| {
                let path = self.path.clone();
                let name = server.name.clone();
                move |source| ConfigError::Variable {
                    path,
                    name,
                    field,
                    source,
                }
            };
            let expand =
                |field: String, text: &std::ffi::OsStr, input: Option<&std::ffi::OsStr>| {
                    vars.expand(&text.to_string_lossy(), input)
                        .map_err(err(field))
                };
            if with_command {
                if let Some(cmd) = &server.command {
                    out.command = Some(expand("command".into(), cmd, None)?);
                }
                for (i, arg) in out.args.iter_mut().enumerate() {
                    *arg = expand(format!("args[{i}]"), arg, None)?;
                }
            }
            for (name, value) in &mut out.env {
                // `${input:ID}`: the client asked for it and set the result
                // in the environment it started sandspawn with.
                let given = vars
                    .env
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone());
                *value = expand(
                    format!("env {}", name.to_string_lossy()),
                    value,
                    given.as_deref(),
                )?;
            }
            if let Some(file) = &server.env_file {
                out.env_file = Some(expand("envFile".into(), file.as_os_str(), None)?.into());
            }
            if let Some(cwd) = &server.cwd {
                out.cwd = Some(expand("cwd".into(), cwd.as_os_str(), None)?.into());
            }
        }
        if let Some(file) = out.env_file.take() {
            let base = self.path.parent().unwrap_or(Path::new("."));
            let path = base.join(file);
            let text =
                crate::readfile::read_bounded_string(&path, crate::readfile::MAX_CONFIG_BYTES)
                    .map_err(|source| ConfigError::EnvFile {
                        config: self.path.clone(),
                        name: server.name.clone(),
                        path: path.clone(),
                        source,
                    })?;
            let mut vars = parse_env_file(&text);
            vars.append(&mut out.env);
            out.env = vars;
        }
        Ok(out)
    }
}

/// Each server is read on its own (see [`ServerConfig::invalid`]).
#[derive(Deserialize)]
struct CodexRoot {
    #[serde(default)]
    mcp_servers: BTreeMap<String, toml::Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EnvVarEntry {
    Name(String),
    Table { name: String },
}

#[derive(Deserialize)]
struct CodexServer {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    env_vars: Vec<EnvVarEntry>,
    cwd: Option<PathBuf>,
    startup_timeout_sec: Option<f64>,
    startup_timeout_ms: Option<u64>,
    tool_timeout_sec: Option<f64>,
    enabled: Option<bool>,
    url: Option<String>,
    sandbox: Option<PolicyFile>,
}

/// Each server is read on its own (see [`ServerConfig::invalid`]).
#[derive(Deserialize)]
struct JsonRoot {
    #[serde(default, rename = "mcpServers")]
    mcp_servers: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    servers: BTreeMap<String, serde_json::Value>,
    /// VS Code's `settings.json` keeps them under `"mcp": {"servers": …}`.
    #[serde(default)]
    mcp: Option<JsonMcpSection>,
    /// Claude Code's `~/.claude.json`: per-project state, each project's
    /// servers under `mcpServers` (its other keys are Claude Code's).
    #[serde(default)]
    projects: BTreeMap<String, serde_json::Value>,
}

/// The `mcp` object of VS Code's `settings.json`; its other keys
/// (`inputs`, …) are VS Code's.
#[derive(Deserialize)]
struct JsonMcpSection {
    #[serde(default)]
    servers: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct JsonServer {
    #[serde(rename = "type")]
    kind: Option<String>,
    command: Option<String>,
    url: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, Option<Scalar>>,
    #[serde(rename = "envFile")]
    env_file: Option<PathBuf>,
    cwd: Option<PathBuf>,
    disabled: Option<bool>,
    sandbox: Option<PolicyFile>,
}

/// An `env` value: VS Code also takes numbers (and `null`, "unset", which
/// sets nothing here: the child's environment is curated anyway).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

/// Parse `text`; `path` labels errors. A syntax error fails the file; an
/// entry that does not read fails only its server (see
/// [`ServerConfig::invalid`]).
pub fn parse_config(text: &str, path: &Path, format: Format) -> Result<ClientConfig, ConfigError> {
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let servers = match format {
        Format::Codex => {
            let root: CodexRoot =
                toml::from_str(text).map_err(|e| parse_err(toml_message(&e, text)))?;
            root.mcp_servers
                .into_iter()
                .map(|(name, entry)| {
                    let (line, column) = line_col(text, entry.span().start);
                    match entry.into_inner().try_into::<CodexServer>() {
                        Ok(s) => codex_server(name, s),
                        Err(e) => {
                            let invalid_at = |m: &str| invalid_entry(name.clone(), m);
                            match codex_entry_error(text, &name) {
                                Some(exact) => invalid_at(&exact),
                                None => invalid_at(&format!(
                                    "entry at line {line}, column {column}: {}",
                                    e.message()
                                )),
                            }
                        }
                    }
                })
                .collect()
        }
        Format::Json => {
            let stripped = super::jsonc::strip(text);
            // An empty file (or only comments) is a config without servers,
            // as an empty TOML file is.
            let stripped = if stripped.trim().is_empty() {
                "{}".into()
            } else {
                stripped
            };
            let root: JsonRoot =
                serde_json::from_str(&stripped).map_err(|e| parse_err(e.to_string()))?;
            // Only for errors: serde_json's Value keeps no positions.
            let tree = super::jsonc::tree(&stripped);
            let read = |keys: &'static [&'static str]| {
                let tree = &tree;
                move |(name, value): (String, serde_json::Value)| match json_entry(value) {
                    Ok(s) => json_server(name, s),
                    Err(e) => {
                        let node = tree.as_ref().and_then(|t| {
                            keys.iter()
                                .try_fold(t, |n, k| n.get(k))
                                .and_then(|n| n.get(&name))
                        });
                        let (line, column) = line_col(text, node.map_or(0, |n| n.span.start));
                        invalid_entry(name, &format!("entry at line {line}, column {column}: {e}"))
                    }
                }
            };
            let mut servers: Vec<ServerConfig> = root
                .mcp_servers
                .into_iter()
                .map(read(&["mcpServers"]))
                .collect();
            servers.extend(root.servers.into_iter().map(read(&["servers"])));
            if let Some(mcp) = root.mcp {
                servers.extend(mcp.servers.into_iter().map(read(&["mcp", "servers"])));
            }
            for (dir, project) in root.projects {
                let serde_json::Value::Object(mut project) = project else {
                    continue;
                };
                let Some(serde_json::Value::Object(entries)) = project.remove("mcpServers") else {
                    continue;
                };
                for (name, value) in entries {
                    let mut server = match json_entry(value) {
                        Ok(s) => json_server(name, s),
                        Err(e) => invalid_entry(name, &format!("entry in project {dir}: {e}")),
                    };
                    server.project = Some(dir.clone());
                    servers.push(server);
                }
            }
            servers
        }
    };
    Ok(ClientConfig {
        path: path.to_path_buf(),
        format,
        servers,
    })
}

/// `NAME=VALUE` lines; `#` comments, `export `, and matching quotes allowed.
pub fn parse_env_file(text: &str) -> Vec<(OsString, OsString)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        out.push((OsString::from(name.trim()), OsString::from(value)));
    }
    out
}

fn strings(map: BTreeMap<String, String>) -> Vec<(OsString, OsString)> {
    map.into_iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

/// A TOML error on one line with its line and column.
pub fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// 1-based line and column (in characters) of byte `at` of `text`.
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

mod entries;
mod format;
use entries::{codex_entry_error, codex_server, invalid_entry, json_entry, json_server};
pub use format::format_of;

#[cfg(test)]
mod tests;

//! MCP client configs: Codex's `config.toml` (`[mcp_servers.NAME]`) and the
//! `mcpServers` JSON of Claude Desktop and Cursor (VS Code: `servers`).
//!
//! Each server may carry a `sandbox` table with the policy file's keys;
//! that table is strict (an unknown key is an error with line and column).
//! The rest of a client config is the client's business and is ignored.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    /// A server without a command (an HTTP server, or a typo).
    #[error("MCP config {path}: server `{name}` has no `command`; sandspawn starts stdio servers only", path = .path.display())]
    NoCommand {
        /// The file.
        path: PathBuf,
        /// The server.
        name: String,
    },
    /// An env file could not be read.
    #[error("server `{name}`: envFile {path}: {source}", path = .path.display())]
    EnvFile {
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
    /// Literal variables (win over inherited ones); an env file's first.
    pub env: Vec<(OsString, OsString)>,
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
    /// The server called `name`.
    pub fn server(&self, name: &str) -> Result<&ServerConfig, ConfigError> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ConfigError::UnknownServer {
                path: self.path.clone(),
                name: name.to_string(),
                known: self
                    .servers
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl ServerConfig {
    /// Program and arguments, or the error naming the server. A server
    /// already wrapped by `sandspawn mcp install` yields its original
    /// command line (never sandspawn inside sandspawn).
    pub fn command_line(&self, path: &Path) -> Result<Vec<OsString>, ConfigError> {
        let program = self.command.clone().ok_or_else(|| ConfigError::NoCommand {
            path: path.to_path_buf(),
            name: self.name.clone(),
        })?;
        if let Some(original) = super::install::unwrap_command(&program, &self.args) {
            return Ok(original);
        }
        let mut cmd = vec![program];
        cmd.extend(self.args.iter().cloned());
        Ok(cmd)
    }
}

/// The format of `path`: `.json` is JSON, anything else TOML.
pub fn format_of(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        _ => Format::Codex,
    }
}

/// Read and parse a client config (env files resolve beside it).
pub fn read_config(path: &Path) -> Result<ClientConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config = parse_config(&text, path, format_of(path))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for server in &mut config.servers {
        server.load_env_file(base)?;
    }
    Ok(config)
}

#[derive(Deserialize)]
struct CodexRoot {
    #[serde(default)]
    mcp_servers: BTreeMap<String, CodexServer>,
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
    sandbox: Option<PolicyFile>,
}

#[derive(Deserialize)]
struct JsonRoot {
    #[serde(default, rename = "mcpServers")]
    mcp_servers: BTreeMap<String, JsonServer>,
    #[serde(default)]
    servers: BTreeMap<String, JsonServer>,
}

#[derive(Deserialize)]
struct JsonServer {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(rename = "envFile")]
    env_file: Option<PathBuf>,
    cwd: Option<PathBuf>,
    disabled: Option<bool>,
    sandbox: Option<PolicyFile>,
}

/// Parse `text`; `path` labels errors.
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
                .map(|(name, s)| ServerConfig {
                    name,
                    command: s.command.map(OsString::from),
                    args: s.args.into_iter().map(OsString::from).collect(),
                    env: strings(s.env),
                    env_vars: s
                        .env_vars
                        .into_iter()
                        .map(|e| match e {
                            EnvVarEntry::Name(n) | EnvVarEntry::Table { name: n } => {
                                OsString::from(n)
                            }
                        })
                        .collect(),
                    cwd: s.cwd,
                    startup_timeout: s
                        .startup_timeout_sec
                        .and_then(|v| Duration::try_from_secs_f64(v).ok())
                        .or(s.startup_timeout_ms.map(Duration::from_millis)),
                    tool_timeout: s
                        .tool_timeout_sec
                        .and_then(|v| Duration::try_from_secs_f64(v).ok()),
                    enabled: s.enabled.unwrap_or(true),
                    sandbox: s.sandbox,
                })
                .collect()
        }
        Format::Json => {
            let root: JsonRoot =
                serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?;
            root.mcp_servers
                .into_iter()
                .chain(root.servers)
                .map(|(name, s)| {
                    let mut server = ServerConfig {
                        name,
                        command: s.command.map(OsString::from),
                        args: s.args.into_iter().map(OsString::from).collect(),
                        env: strings(s.env),
                        cwd: s.cwd,
                        enabled: !s.disabled.unwrap_or(false),
                        sandbox: s.sandbox,
                        ..ServerConfig::default()
                    };
                    if let Some(file) = s.env_file {
                        server
                            .env
                            .insert(0, (OsString::from("\0envFile"), file.into_os_string()));
                    }
                    server
                })
                .collect()
        }
    };
    Ok(ClientConfig {
        path: path.to_path_buf(),
        format,
        servers,
    })
}

impl ServerConfig {
    /// Replace the envFile marker by the file's variables (before `env`,
    /// which wins).
    fn load_env_file(&mut self, base: &Path) -> Result<(), ConfigError> {
        let Some(pos) = self.env.iter().position(|(n, _)| n == "\0envFile") else {
            return Ok(());
        };
        let (_, file) = self.env.remove(pos);
        let path = base.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::EnvFile {
            name: self.name.clone(),
            path: path.clone(),
            source,
        })?;
        let mut vars = parse_env_file(&text);
        vars.append(&mut self.env);
        self.env = vars;
        Ok(())
    }
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
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests;

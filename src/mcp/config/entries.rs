//! One server entry of a client config into [`ServerConfig`], or the
//! error that fails only that server.

use std::ffi::OsString;
use std::time::Duration;

use serde::Deserialize;

use super::{strings, toml_message, CodexServer, EnvVarEntry, JsonServer, Scalar, ServerConfig};

/// An entry that does not read: kept, so naming it gives its error.
pub(super) fn invalid_entry(name: String, message: &str) -> ServerConfig {
    ServerConfig {
        name,
        enabled: true,
        invalid: Some(message.trim().replace('\n', " ")),
        ..ServerConfig::default()
    }
}

/// The error of Codex server `name` with the line and column of the key at
/// fault: `toml::Value` keeps no positions, so the entry is read again
/// from toml's spanned tree (only when it failed).
pub(super) fn codex_entry_error(text: &str, name: &str) -> Option<String> {
    use toml::de::{DeTable, DeValue, ValueDeserializer};
    let doc = DeTable::parse(text).ok()?.into_inner();
    let (_, servers) = doc
        .into_iter()
        .find(|(k, _)| k.get_ref() == "mcp_servers")?;
    let DeValue::Table(servers) = servers.into_inner() else {
        return None;
    };
    let (_, entry) = servers.into_iter().find(|(k, _)| k.get_ref() == name)?;
    let err = CodexServer::deserialize(ValueDeserializer::from(entry)).err()?;
    Some(toml_message(&err, text))
}

pub(super) fn codex_server(name: String, s: CodexServer) -> ServerConfig {
    ServerConfig {
        name,
        command: s.command.map(OsString::from),
        args: s.args.into_iter().map(OsString::from).collect(),
        env: strings(s.env),
        env_vars: s
            .env_vars
            .into_iter()
            .map(|e| match e {
                EnvVarEntry::Name(n) | EnvVarEntry::Table { name: n } => OsString::from(n),
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
        env_file: None,
        remote: s.url.is_some(),
        sandbox: s.sandbox,
        project: None,
        invalid: None,
    }
}

pub(super) fn json_server(name: String, s: JsonServer) -> ServerConfig {
    ServerConfig {
        name,
        command: s.command.map(OsString::from),
        args: s.args.into_iter().map(OsString::from).collect(),
        env: s
            .env
            .into_iter()
            .filter_map(|(k, v)| {
                let v = match v? {
                    Scalar::Text(t) => t,
                    Scalar::Number(n) => n.to_string(),
                    Scalar::Bool(b) => b.to_string(),
                };
                Some((OsString::from(k), OsString::from(v)))
            })
            .collect(),
        env_file: s.env_file,
        remote: s.url.is_some() || s.kind.as_deref().is_some_and(|k| k != "stdio"),
        cwd: s.cwd,
        enabled: !s.disabled.unwrap_or(false),
        sandbox: s.sandbox,
        ..ServerConfig::default()
    }
}

/// One server's entry. An entry that is not an object is named for what
/// it is (serde's own words for `[]` speak of its struct's field count).
pub(super) fn json_entry(value: serde_json::Value) -> Result<JsonServer, String> {
    use serde_json::Value;
    let found = match &value {
        Value::Object(_) => return serde_json::from_value(value).map_err(|e| e.to_string()),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    Err(format!(
        "expected an object with \"command\" and \"args\" (or \"url\"), found {found}"
    ))
}

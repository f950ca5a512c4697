//! `${…}` variables of VS Code's and Cursor's `mcp.json`.
//!
//! The client expands them before it starts a server, but `sandspawn mcp
//! --config FILE --server NAME` reads the file itself, so it must expand
//! them the same way or hand the server a literal `${workspaceFolder}`.
//! Supported: `${env:NAME}` (sandspawn's environment, i.e. what the client
//! passed; unset is empty, as in VS Code), `${userHome}`, `${workspaceFolder}`
//! and `${workspaceFolderBasename}` (the folder holding `.vscode/`, else the
//! current directory), `${pathSeparator}` and `${/}`. `${input:ID}` is
//! prompted for by the client and never written to the file: in an `env`
//! value it is taken from the variable of that name the client set for
//! sandspawn, anywhere else it is an error. Every other `${…}` is an error,
//! never passed on literally.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// What the variables expand to.
#[derive(Debug, Clone, Default)]
pub struct VarContext {
    /// sandspawn's own environment (what the MCP client passed).
    pub env: Vec<(OsString, OsString)>,
    /// `${workspaceFolder}`.
    pub workspace: PathBuf,
}

/// Why a `${…}` could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    /// `${input:ID}` where the client's answer is not available.
    #[error("`{0}` is asked for by the client when it starts the server; sandspawn cannot prompt (write the value, or use ${{env:NAME}})")]
    Input(String),
    /// A form sandspawn does not know.
    #[error("unknown variable `{0}` (sandspawn expands ${{env:NAME}}, ${{userHome}}, ${{workspaceFolder}}, ${{workspaceFolderBasename}}, ${{pathSeparator}}, ${{/}})")]
    Unknown(String),
    /// `${` without its `}`.
    #[error("`{0}` has no closing `}}`")]
    Unterminated(String),
    /// `${userHome}` without an absolute HOME.
    #[error("`{0}`: HOME is not set to an absolute path")]
    NoHome(String),
}

impl VarContext {
    /// The context for the config at `config`, read from `cwd` with `env`.
    /// The workspace is the folder holding `.vscode/` when the file lives
    /// there (`WS/.vscode/mcp.json`), else `cwd`: a user-profile `mcp.json`
    /// has no workspace of its own, and the client starts servers from the
    /// workspace it has open.
    pub fn new(env: Vec<(OsString, OsString)>, cwd: &Path, config: &Path) -> VarContext {
        let config = crate::paths::normalize(&cwd.join(config));
        let workspace = config
            .parent()
            .filter(|d| d.file_name().is_some_and(|n| n == ".vscode"))
            .and_then(Path::parent)
            .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
        VarContext { env, workspace }
    }

    fn get(&self, name: &str) -> Option<&OsStr> {
        self.env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// Expand every `${…}` of `text`. `input` answers `${input:ID}` (the
    /// whole value, taken from the client), or `None` when it cannot.
    pub fn expand(&self, text: &str, input: Option<&OsStr>) -> Result<OsString, VarError> {
        let mut out = OsString::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err(VarError::Unterminated(rest[at..].to_string()));
            };
            let (inner, whole) = (&after[..end], &rest[at..at + end + 3]);
            if inner.starts_with("input:") {
                // The client resolved the whole value; nothing to splice.
                return input
                    .map(OsStr::to_os_string)
                    .ok_or_else(|| VarError::Input(whole.to_string()));
            }
            match inner {
                "userHome" => {
                    let home = self
                        .get("HOME")
                        .filter(|h| Path::new(h).is_absolute())
                        .ok_or_else(|| VarError::NoHome(whole.to_string()))?;
                    out.push(home);
                }
                "workspaceFolder" => out.push(&self.workspace),
                "workspaceFolderBasename" => {
                    out.push(self.workspace.file_name().unwrap_or_default())
                }
                "pathSeparator" | "/" => out.push("/"),
                _ => match inner.strip_prefix("env:") {
                    Some(name) if !name.is_empty() => out.push(self.get(name).unwrap_or_default()),
                    _ => return Err(VarError::Unknown(whole.to_string())),
                },
            }
            rest = &after[end + 1..];
        }
        out.push(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> VarContext {
        VarContext::new(
            vec![
                ("HOME".into(), "/home/me".into()),
                ("TOKEN".into(), "t0k".into()),
            ],
            Path::new("/elsewhere"),
            Path::new("/ws/proj/.vscode/mcp.json"),
        )
    }

    #[test]
    fn known_forms_expand() {
        let c = ctx();
        let e = |s: &str| c.expand(s, None).unwrap();
        assert_eq!(e("${workspaceFolder}/.env"), "/ws/proj/.env");
        assert_eq!(e("${userHome}${/}x"), "/home/me/x");
        assert_eq!(e("Bearer ${env:TOKEN}!"), "Bearer t0k!");
        assert_eq!(e("${env:UNSET}"), "");
        assert_eq!(e("${workspaceFolderBasename}"), "proj");
        assert_eq!(e("plain $HOME {x}"), "plain $HOME {x}");
    }

    #[test]
    fn workspace_is_cwd_outside_dot_vscode() {
        let c = VarContext::new(vec![], Path::new("/w"), Path::new("mcp.json"));
        assert_eq!(c.workspace, Path::new("/w"));
        let c = VarContext::new(vec![], Path::new("/w"), Path::new(".vscode/mcp.json"));
        assert_eq!(c.workspace, Path::new("/w"));
        let c = VarContext::new(vec![], Path::new("/"), Path::new("/p/.vscode/mcp.json"));
        assert_eq!(c.workspace, Path::new("/p"));
    }

    #[test]
    fn input_and_unknown_forms_fail() {
        let c = ctx();
        assert_eq!(
            c.expand("${input:api-key}", None),
            Err(VarError::Input("${input:api-key}".into()))
        );
        assert_eq!(
            c.expand("x ${input:api-key}", Some(OsStr::new("given"))),
            Ok("given".into())
        );
        assert_eq!(
            c.expand("${file}", None),
            Err(VarError::Unknown("${file}".into()))
        );
        assert_eq!(
            c.expand("${env:}", None),
            Err(VarError::Unknown("${env:}".into()))
        );
        assert_eq!(
            c.expand("a ${workspaceFolder", None),
            Err(VarError::Unterminated("${workspaceFolder".into()))
        );
        let no_home = VarContext::default();
        assert!(matches!(
            no_home.expand("${userHome}", None),
            Err(VarError::NoHome(_))
        ));
    }
}

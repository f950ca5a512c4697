//! Shared fixtures of the MCP tests: the pinned real servers installed by
//! .ci/run (SANDSPAWN_MCP_NODE: an npm prefix; SANDSPAWN_MCP_VENV: a venv),
//! a clean environment (this machine exports a dozen CA variables; a test
//! that kept them would pass for the wrong reason), and backends.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sandspawn::mcp::request::{plan_server, HostContext, ServerLaunch};
use sandspawn::plan::Plan;
use sandspawn::policy::{Backend, Layer};

pub const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");
pub const CANARY: &str = "SANDSPAWN_TEST_CANARY";

/// A stdio MCP server in stdlib Python: answers `initialize` and a
/// `tools/list` of one tool, named by argv[1] (default `t`).
pub const ONE_TOOL_SERVER: &str = r#"
import json, sys
tool = sys.argv[1] if len(sys.argv) > 1 else "t"
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if m["method"] == "initialize":
        r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}},
             "serverInfo": {"name": "s", "version": "0"}}
    else:
        r = {"tools": [{"name": tool, "inputSchema": {"type": "object"}}]}
    print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
"#;

/// Print why a test does nothing; fail instead under SANDSPAWN_MUST_WORK=1.
pub fn skip(reason: &str) {
    if std::env::var_os("SANDSPAWN_MUST_WORK").is_some_and(|v| v == "1") {
        panic!("SANDSPAWN_MUST_WORK=1 but: {reason}");
    }
    eprintln!("skipped: {reason}");
}

pub struct Servers {
    pub node: PathBuf,
    pub venv: PathBuf,
}

impl Servers {
    pub fn find() -> Option<Servers> {
        let node = std::env::var_os("SANDSPAWN_MCP_NODE").map(PathBuf::from);
        let venv = std::env::var_os("SANDSPAWN_MCP_VENV").map(PathBuf::from);
        match (node, venv) {
            (Some(node), Some(venv))
                if node.join("node_modules").is_dir() && venv.join("bin").is_dir() =>
            {
                Some(Servers { node, venv })
            }
            _ => {
                skip("SANDSPAWN_MCP_NODE / SANDSPAWN_MCP_VENV not set (run .ci/run to install the pinned servers)");
                None
            }
        }
    }
    pub fn everything(&self) -> Vec<OsString> {
        vec![
            "node".into(),
            self.node
                .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
                .into(),
        ]
    }
    pub fn filesystem(&self, root: &str) -> Vec<OsString> {
        vec![
            self.node
                .join("node_modules/.bin/mcp-server-filesystem")
                .into(),
            root.into(),
        ]
    }
    pub fn time(&self) -> Vec<OsString> {
        vec![self.venv.join("bin/mcp-server-time").into()]
    }
    pub fn fetch(&self) -> Vec<OsString> {
        vec![
            self.venv.join("bin/python").into(),
            "-m".into(),
            "mcp_server_fetch".into(),
        ]
    }
}

/// Whether a backend works here (bwrap needs user namespaces).
/// The pinned servers and a working `backend`, or `None` after saying why
/// (a failure under `SANDSPAWN_MUST_WORK=1`).
pub fn ready(backend: &str) -> Option<Servers> {
    let servers = Servers::find()?;
    usable(backend).then_some(servers)
}

pub fn usable(backend: &str) -> bool {
    // Its own HOME: with HOME=/tmp the cache was /tmp/.cache/sandspawn,
    // shared by every test and left owned by root for a later unprivileged run.
    let home = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new(SANDSPAWN)
        .args(["run", "--backend", backend, "--", "true"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(&format!("backend {backend} does not work on this host"));
    }
    ok
}

pub fn backend(name: &str) -> Backend {
    match name {
        "bwrap" => Backend::Bwrap,
        _ => Backend::Landlock,
    }
}

/// A scratch HOME and working directory, and the clean parent environment.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub env: Vec<(OsString, OsString)>,
}

impl Host {
    pub fn new() -> Host {
        let dir = tempfile::Builder::new()
            .prefix("sandspawn-mcp-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        let env = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), dir.path().join("home").into()),
            (
                "XDG_CACHE_HOME".into(),
                dir.path().join("home/.cache").into(),
            ),
            (CANARY.into(), "must-not-pass".into()),
        ];
        Host { dir, env }
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    pub fn plan(&self, command: Vec<OsString>, backend_name: &str, extra: Layer) -> Plan {
        let ctx = HostContext {
            parent_env: self.env.clone(),
            parent_cwd: self.work(),
            layers: vec![
                Layer {
                    origin: "test".into(),
                    backend: Some(backend(backend_name)),
                    ..Layer::default()
                },
                extra,
            ],
            ..HostContext::default()
        };
        let launch = ServerLaunch {
            command,
            origin: "test".into(),
            ..ServerLaunch::default()
        };
        let built = plan_server(&launch, &ctx).unwrap();
        assert!(
            built.plan.violations.is_empty(),
            "{:?}",
            built.plan.violations
        );
        built.plan
    }
    /// `sandspawn ARGS` in `cwd` with this environment plus `extra`.
    pub fn run_with(&self, cwd: &Path, extra: &[(&str, &Path)], args: &[&str]) -> Output {
        Command::new(SANDSPAWN)
            .env_clear()
            .envs(self.env.iter().cloned())
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd)
            .args(args)
            .output()
            .unwrap()
    }
    /// `sandspawn ARGS` in `cwd` with this environment.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        self.run_with(cwd, &[], args)
    }
    /// A secret outside every policy root.
    pub fn canary_secret(&self) -> PathBuf {
        let p = self.dir.path().join("secret.txt");
        std::fs::write(&p, "top secret canary").unwrap();
        p
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Processes whose environment holds `tag` (a marker set with --set).
pub fn tagged_processes(tag: &str) -> Vec<i32> {
    let needle = tag.as_bytes();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(env) = std::fs::read(Path::new("/proc").join(pid.to_string()).join("environ")) {
            // The whole variable: as a substring, the tag of pid 123 was
            // also found in another run's tag for pid 1234.
            if env.split(|b| *b == 0).any(|var| var == needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// The text of a tools/call result's first content item.
pub fn text_of(result: &serde_json::Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `sandspawn mcp explain --json --no-host-env ARGS` from the host's work
/// directory: the plan it prints, asserting success.
pub fn mcp_explain_json(host: &Host, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .args(["mcp", "explain", "--json", "--no-host-env"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The plan's child variables whose name `keep` accepts, as
/// `(name, value)` in the plan's order.
pub fn plan_env(plan: &serde_json::Value, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    plan["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| Some((v["name"].as_str()?, v["value"].as_str()?)))
        .filter(|(n, _)| keep(n))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

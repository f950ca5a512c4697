//! MCP stdio servers under the sandbox.
//!
//! - [`request`]: the default MCP profile and the plan for one server
//!   (launcher prefixes from [`profile`], the server's own npm and uv
//!   caches from [`caches`], host variables from [`hostenv`]).
//! - [`config`]: Codex `config.toml` and `mcpServers` JSON, with per-server
//!   `sandbox` tables.
//! - [`process`]: spawn a plan as a sandboxed stdio server (tokio), with a
//!   bounded stderr ring, `wait`, `shutdown(grace)` and kill-on-drop of the
//!   whole tree.
//! - [`session`]: the `initialize` handshake and tool calls over a small
//!   line-delimited JSON-RPC codec ([`rpc`]).
//! - [`vars`]: the `${…}` variables of VS Code's and Cursor's `mcp.json`.
//! - [`install`]: rewriting client configs so every stdio server runs
//!   through `sandspawn mcp`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sandspawn::mcp::{self, request::{HostContext, ServerLaunch}};
//! let launch = ServerLaunch {
//!     command: vec!["npx".into(), "-y".into(), "@modelcontextprotocol/server-everything".into()],
//!     ..ServerLaunch::default()
//! };
//! let ctx = HostContext {
//!     parent_env: std::env::vars_os().collect(),
//!     parent_cwd: std::env::current_dir()?,
//!     ..HostContext::default()
//! };
//! let plan = mcp::request::plan_server(&launch, &ctx)?.plan;
//! // The child is the sandspawn binary's sandbox stage: SpawnOptions::sandspawn_exe,
//! // SANDSPAWN_EXE or `sandspawn` on PATH names it (SpawnError::NoExe without one).
//! let mut server = mcp::process::spawn(&plan, &Default::default()).await?;
//! let (mut session, info) = mcp::session::initialize(&mut server, mcp::session::DEFAULT_STARTUP_TIMEOUT).await?;
//! let tools = session.list_tools().await?;
//! println!("{} tools, initialize took {:?}", tools.len(), info.elapsed);
//! server.shutdown(std::time::Duration::from_secs(2)).await?;
//! # Ok(()) }
//! ```

pub mod caches;
mod child;
pub mod config;
pub mod hidden;
pub mod hostenv;
pub mod install;
mod install_diff;
mod install_json;
mod install_notes;
mod install_toml;
mod install_write;
pub mod jsonc;
pub mod process;
pub mod profile;
pub mod record;
pub mod request;
pub mod rpc;
pub mod session;
pub mod stderr;
pub mod tree;
pub mod vars;
pub mod wire;

//! The MCP handshake over a spawned server: `initialize` with the startup
//! timeout, then `notifications/initialized`; and the two calls a check or
//! a test needs (`tools/list`, `tools/call`). A failure carries the exit
//! status, the stderr tail and any sandbox denials seen.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::process::{ChildStdin, ChildStdout};

use super::process::ServerProcess;
use super::rpc::{RpcClient, RpcError};

/// The protocol version asked for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// Default startup timeout (a cold `npx -y` is slow).
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default tool-call timeout.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Bounds on following `tools/list` pages.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Most pages requested.
    pub max_pages: usize,
    /// Most time for the whole listing.
    pub total: Duration,
}

impl Default for PageLimits {
    /// 100 pages, and the default tool timeout for all of them.
    fn default() -> Self {
        PageLimits {
            max_pages: 100,
            total: DEFAULT_TOOL_TIMEOUT,
        }
    }
}

/// Every tool a server listed, over how many pages, and why the listing
/// ended early, if it did.
#[derive(Debug, Clone, Default)]
pub struct ToolList {
    /// The tools, in order.
    pub tools: Vec<Value>,
    /// Pages read.
    pub pages: usize,
    /// Why the listing ended before the last page (one line), if it did.
    pub stopped: Option<String>,
}

/// A failed handshake or call, with what the server left behind.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {reason}{status}{denials}{tail}",
    status = .exit.map(|s| format!("; server {s}")).unwrap_or_default(),
    denials = if .denials.is_empty() { String::new() } else { format!("; possible sandbox denials: {}", .denials.join(" | ")) },
    tail = if .stderr_tail.is_empty() { String::new() } else { format!("\nstderr (last lines):\n{}", .stderr_tail.trim_end()) })]
pub struct SessionError {
    /// What was being done ("initialize", "tools/list").
    pub step: String,
    /// Why it failed.
    pub reason: String,
    /// The server's exit status, when it has exited.
    pub exit: Option<ExitStatus>,
    /// The last stderr lines, timestamped.
    pub stderr_tail: String,
    /// Stderr lines that look like sandbox denials.
    pub denials: Vec<String>,
}

/// What `initialize` returned.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The version the server chose.
    pub protocol_version: String,
    /// `serverInfo`.
    pub server_info: Value,
    /// `capabilities`.
    pub capabilities: Value,
    /// From spawn to the initialize response.
    pub elapsed: Duration,
}

/// An initialized session.
#[derive(Debug)]
pub struct Session {
    rpc: RpcClient<ChildStdin, ChildStdout>,
    /// Per-call timeout.
    pub tool_timeout: Duration,
}

/// Take the server's stdio and run the handshake within `timeout`. A
/// failure returns at most 1 s later: the server gets 0.5 s to exit, then
/// 0.5 s to flush stderr, so the error carries its status and last lines.
pub async fn initialize(
    server: &mut ServerProcess,
    timeout: Duration,
) -> Result<(Session, Initialized), SessionError> {
    let (Some(stdin), Some(stdout)) = (server.stdin.take(), server.stdout.take()) else {
        return Err(fail(server, "initialize", "stdin/stdout already taken".into()).await);
    };
    let mut rpc = RpcClient::new(stdin, stdout);
    let params = json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "sandspawn", "version": env!("CARGO_PKG_VERSION")},
    });
    // The server's direct child may exit while a descendant keeps stdout
    // open: its exit ends the wait too (after a short grace for an answer
    // already on its way).
    let exchange = async {
        let request = rpc.request("initialize", params);
        tokio::pin!(request);
        tokio::select! {
            r = &mut request => r,
            _ = server.wait() => {
                match tokio::time::timeout(Duration::from_millis(300), &mut request).await {
                    Ok(r) => r,
                    Err(_) => Err(RpcError::Eof),
                }
            }
        }
    };
    let result = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(fail(server, "initialize", e.to_string()).await),
        Err(_) => {
            let why = format!(
                "no answer within {:.1} s (startup timeout)",
                timeout.as_secs_f64()
            );
            return Err(fail(server, "initialize", why).await);
        }
    };
    let elapsed = server.started().elapsed();
    if let Err(e) = rpc.notify("notifications/initialized", None).await {
        return Err(fail(server, "notifications/initialized", e.to_string()).await);
    }
    let info = Initialized {
        protocol_version: result["protocolVersion"].as_str().unwrap_or("").to_string(),
        server_info: result["serverInfo"].clone(),
        capabilities: result["capabilities"].clone(),
        elapsed,
    };
    Ok((
        Session {
            rpc,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
        },
        info,
    ))
}

/// Build a [`SessionError`] after letting the server settle briefly.
pub async fn fail(server: &mut ServerProcess, step: &str, reason: String) -> SessionError {
    let exit = server.settle(Duration::from_millis(500)).await;
    SessionError {
        step: step.to_string(),
        reason,
        exit,
        stderr_tail: server.stderr_tail(20),
        denials: server.denials(),
    }
}

impl Session {
    /// Bound every later request by `timeout` (a config's `tool_timeout_sec`)
    /// instead of [`DEFAULT_TOOL_TIMEOUT`].
    pub fn set_tool_timeout(&mut self, timeout: Duration) {
        self.tool_timeout = timeout;
    }

    /// Any request, with the tool timeout.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        match tokio::time::timeout(self.tool_timeout, self.rpc.request(method, params)).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::Read(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer to {method} within {:?}", self.tool_timeout),
            ))),
        }
    }

    /// `tools/list`, first page only; [`Session::list_all_tools`] follows
    /// `nextCursor`.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, RpcError> {
        let r = self.request("tools/list", json!({})).await?;
        Ok(r["tools"].as_array().cloned().unwrap_or_default())
    }

    /// `tools/list`, every page: follows `nextCursor` within `limits`. Each
    /// page is bounded by the tool timeout and by what is left of
    /// `limits.total`. A page that fails is an error; a cap reached, a
    /// cursor seen before (a server that would loop us forever) or a
    /// malformed one ends the listing early with [`ToolList::stopped`] set.
    pub async fn list_all_tools(&mut self, limits: PageLimits) -> Result<ToolList, RpcError> {
        let start = Instant::now();
        let mut list = ToolList::default();
        let mut seen = std::collections::HashSet::new();
        let mut params = json!({});
        loop {
            let left = limits.total.saturating_sub(start.elapsed());
            let page = match tokio::time::timeout(left, self.request("tools/list", params)).await {
                Ok(page) => page?,
                Err(_) if list.pages > 0 => {
                    list.stopped = Some(format!(
                        "tools/list stopped after {} page(s): the {:?} cap on the whole listing was reached",
                        list.pages, limits.total
                    ));
                    return Ok(list);
                }
                Err(_) => {
                    return Err(RpcError::Read(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer to tools/list within {:?}", limits.total),
                    )))
                }
            };
            list.pages += 1;
            list.tools
                .extend(page["tools"].as_array().cloned().unwrap_or_default());
            let cursor = match &page["nextCursor"] {
                Value::Null => return Ok(list),
                Value::String(c) => c.clone(),
                other => {
                    list.stopped = Some(format!(
                        "tools/list stopped after {} page(s): nextCursor is not a string: {other}",
                        list.pages
                    ));
                    return Ok(list);
                }
            };
            if !seen.insert(cursor.clone()) {
                list.stopped = Some(format!(
                    "tools/list stopped after {} page(s): the server repeated cursor {cursor:?}",
                    list.pages
                ));
                return Ok(list);
            }
            if list.pages >= limits.max_pages {
                list.stopped = Some(format!(
                    "tools/list stopped after {} page(s), the cap; the server offers more",
                    list.pages
                ));
                return Ok(list);
            }
            params = json!({ "cursor": cursor });
        }
    }

    /// `tools/call`.
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Result<Value, RpcError> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// The server's stdin and stdout back (ends the session).
    pub fn into_inner(self) -> RpcClient<ChildStdin, ChildStdout> {
        self.rpc
    }
}

/// Time a closure-free step: helper for reports.
pub fn ms(since: Instant) -> u128 {
    since.elapsed().as_millis()
}

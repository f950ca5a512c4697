//! A small line-delimited JSON-RPC 2.0 client: one JSON object per line,
//! as MCP's stdio transport frames it. Notifications from the server are
//! skipped, server requests get an answer (`ping` → `{}`, anything else
//! "method not found"), and a line that is not JSON is an error that quotes
//! it, so a server writing logs to stdout is reported as such.

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest accepted line (a tools/list answer can be large).
pub const MAX_LINE: u64 = 16 * 1024 * 1024;

/// Errors of one exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// Writing to the server's stdin failed.
    #[error("writing to the server's stdin: {0}")]
    Write(std::io::Error),
    /// Reading the server's stdout failed.
    #[error("reading the server's stdout: {0}")]
    Read(std::io::Error),
    /// The server closed stdout.
    #[error("the server closed stdout (exited?) before answering")]
    Eof,
    /// A line that is not JSON.
    #[error("the server wrote something that is not JSON-RPC to stdout: {0:?}")]
    Garbage(String),
    /// A line longer than [`MAX_LINE`].
    #[error("the server wrote a line longer than {MAX_LINE} bytes")]
    TooLong,
    /// The server answered with an error.
    #[error("the server answered error {code}: {message}")]
    Server {
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
}

/// The client end of one server's stdio.
#[derive(Debug)]
pub struct RpcClient<W, R> {
    writer: W,
    reader: BufReader<R>,
    /// The part of a line read before a call was cancelled (a timeout
    /// around `request`): the next call goes on from there instead of
    /// reading the rest of that line as a message of its own.
    pending: Vec<u8>,
    /// The write side's counterpart: lines not yet (wholly) written, from
    /// `unsent_at` on. A call cancelled mid-write leaves the rest of its
    /// line here, and the next send finishes it first: the server never
    /// sees half a message run into the next one.
    unsent: Vec<u8>,
    unsent_at: usize,
    /// A line past [`MAX_LINE`] was reported: its rest is skipped.
    discarding: bool,
    next_id: i64,
    /// Notifications seen (and skipped) so far.
    pub notifications: u64,
}

impl<W: AsyncWrite + Unpin, R: AsyncRead + Unpin> RpcClient<W, R> {
    /// Wrap a server's stdin and stdout.
    pub fn new(writer: W, reader: R) -> Self {
        RpcClient {
            writer,
            reader: BufReader::new(reader),
            pending: Vec::new(),
            unsent: Vec::new(),
            unsent_at: 0,
            discarding: false,
            next_id: 1,
            notifications: 0,
        }
    }

    async fn send(&mut self, msg: &Value) -> Result<(), RpcError> {
        let line = msg.to_string();
        self.unsent.extend_from_slice(line.as_bytes());
        self.unsent.push(b'\n');
        // `write` is cancel-safe (it wrote n bytes or none), and the
        // offset moves only after it returns.
        while self.unsent_at < self.unsent.len() {
            let n = self
                .writer
                .write(&self.unsent[self.unsent_at..])
                .await
                .map_err(RpcError::Write)?;
            if n == 0 {
                return Err(RpcError::Write(std::io::ErrorKind::WriteZero.into()));
            }
            self.unsent_at += n;
        }
        self.unsent.clear();
        self.unsent_at = 0;
        self.writer.flush().await.map_err(RpcError::Write)
    }

    /// Send a notification.
    pub async fn notify(&mut self, method: &str, params: Option<Value>) -> Result<(), RpcError> {
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        self.send(&msg).await
    }

    /// Send a request and wait for its response (no timeout here: wrap the
    /// call in `tokio::time::timeout`).
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        loop {
            let msg = self.read_message().await?;
            let is_request = msg.get("method").is_some();
            match (msg.get("id"), is_request) {
                (Some(req_id), true) => {
                    let answer = if msg["method"] == "ping" {
                        json!({"jsonrpc": "2.0", "id": req_id, "result": {}})
                    } else {
                        json!({"jsonrpc": "2.0", "id": req_id,
                               "error": {"code": -32601, "message": "method not found"}})
                    };
                    self.send(&answer).await?;
                }
                (None, true) => self.notifications += 1,
                (Some(got), false) if got.as_i64() == Some(id) => {
                    if let Some(err) = msg.get("error") {
                        return Err(RpcError::Server {
                            code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                            message: err
                                .get("message")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                        });
                    }
                    return Ok(msg.get("result").cloned().unwrap_or(Value::Null));
                }
                _ => {}
            }
        }
    }

    async fn read_message(&mut self) -> Result<Value, RpcError> {
        loop {
            // `read_until` appends what it read before a cancellation to
            // `pending`, so a dropped call loses nothing.
            let room = MAX_LINE.saturating_sub(self.pending.len() as u64);
            let n = (&mut self.reader)
                .take(room)
                .read_until(b'\n', &mut self.pending)
                .await
                .map_err(RpcError::Read)?;
            let buf = std::mem::take(&mut self.pending);
            if n == 0 && buf.is_empty() {
                return Err(RpcError::Eof);
            }
            let whole = buf.last() == Some(&b'\n');
            if self.discarding {
                // The rest of a line already reported as too long.
                self.discarding = !whole;
                if n == 0 {
                    return Err(RpcError::Eof);
                }
                continue;
            }
            if !whole && buf.len() as u64 >= MAX_LINE {
                // Its rest is skipped, not read as a message of its own.
                self.discarding = true;
                return Err(RpcError::TooLong);
            }
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            return serde_json::from_slice(text).map_err(|_| {
                let shown: String = String::from_utf8_lossy(text).chars().take(200).collect();
                RpcError::Garbage(shown)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn skips_notifications_answers_pings_and_reports_garbage() {
        let server = concat!(
            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n",
            "\n",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}\n",
            "Starting server on stdout...\n",
        );
        let mut out = Vec::new();
        let mut c = RpcClient::new(&mut out, server.as_bytes());
        let r = c.request("initialize", json!({})).await.unwrap();
        assert_eq!(r, json!({"ok": true}));
        assert_eq!(c.notifications, 1);
        let err = c.request("tools/list", json!({})).await.unwrap_err();
        assert!(
            matches!(err, RpcError::Garbage(ref s) if s.starts_with("Starting")),
            "{err}"
        );
        let err = c.request("x", json!({})).await.unwrap_err();
        assert!(matches!(err, RpcError::Eof));
        let sent = String::from_utf8(out).unwrap();
        assert!(
            sent.contains("\"id\":7") && sent.contains("\"result\":{}"),
            "{sent}"
        );
    }

    /// A call cancelled in the middle of a line (a timeout around it)
    /// leaves the next call a whole line, not the line's tail.
    #[tokio::test]
    async fn a_cancelled_call_does_not_cut_the_next_ones_line() {
        let (client_end, mut server_end) = tokio::io::duplex(1 << 16);
        let (read_half, write_half) = tokio::io::split(client_end);
        let mut c = RpcClient::new(write_half, read_half);
        let first = r#"{"jsonrpc":"2.0","id":1,"result":{"big":"#;
        server_end.write_all(first.as_bytes()).await.unwrap();
        let cut = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            c.request("tools/list", json!({})),
        )
        .await;
        assert!(cut.is_err(), "the first call must time out mid-line");
        // The rest of the late answer to call 1, then the answer to call 2.
        server_end
            .write_all(b"\"x\"}}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"ok\":2}}\n")
            .await
            .unwrap();
        let r = c.request("tools/list", json!({})).await.unwrap();
        assert_eq!(r, json!({"ok": 2}));
    }

    /// After a line past MAX_LINE is reported, its rest is skipped: the
    /// next call gets the next message, not the tail quoted as garbage.
    #[tokio::test]
    async fn the_rest_of_a_too_long_line_is_skipped() {
        let mut server = Vec::new();
        server.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"");
        server.resize(MAX_LINE as usize + 1000, b'x');
        server.extend_from_slice(b"\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"ok\":2}}\n");
        let mut out = Vec::new();
        let mut c = RpcClient::new(&mut out, server.as_slice());
        let err = c.request("tools/call", json!({})).await.unwrap_err();
        assert!(matches!(err, RpcError::TooLong), "{err}");
        let r = c.request("tools/list", json!({})).await.unwrap();
        assert_eq!(r, json!({"ok": 2}));
    }

    /// A call cancelled while its request is half written (a server busy
    /// elsewhere stops reading its stdin; the timeout fires) leaves no
    /// half line behind: the next request first finishes it, so the server
    /// reads two whole messages, not one line of garbage.
    #[tokio::test]
    async fn a_call_cancelled_mid_write_does_not_cut_the_stream() {
        let (client_end, server_end) = tokio::io::duplex(4096);
        let (read_half, write_half) = tokio::io::split(client_end);
        let (server_read, mut server_write) = tokio::io::split(server_end);
        let mut c = RpcClient::new(write_half, read_half);
        let big = "x".repeat(100_000);
        let cut = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            c.request(
                "tools/call",
                json!({"name": "write", "arguments": {"content": big}}),
            ),
        )
        .await;
        assert!(cut.is_err(), "the first call must time out mid-write");
        // The server catches up: it reads its stdin line by line and
        // answers call 2.
        let server = tokio::spawn(async move {
            let mut lines = BufReader::new(server_read).lines();
            let mut seen = Vec::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                let msg: Value = serde_json::from_str(&line).expect("a whole JSON line");
                seen.push(msg["id"].clone());
                if msg["id"] == 2 {
                    server_write
                        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n")
                        .await
                        .unwrap();
                    return seen;
                }
            }
            seen
        });
        let r = c.request("tools/list", json!({})).await.unwrap();
        assert_eq!(r, json!({}));
        assert_eq!(server.await.unwrap(), [json!(1), json!(2)]);
    }
}

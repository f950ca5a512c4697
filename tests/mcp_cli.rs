//! Real MCP servers through `sandspawn mcp` (exec; the test is the MCP
//! client), on both backends, plus configs and bad input.

mod mcp_support;

use std::process::Stdio;
use std::time::Duration;

use mcp_support::*;
use sandspawn::mcp::rpc::RpcClient;
use serde_json::json;
use tokio::process::Command;

fn client_cmd(host: &Host, args: &[std::ffi::OsString]) -> Command {
    let mut cmd = Command::new(SANDSPAWN);
    cmd.env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .arg("mcp")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn through_cli(backend: &str) {
    let Some(servers) = ready(backend) else {
        return;
    };
    let host = Host::new();
    let secret = host.canary_secret();
    let mut args: Vec<std::ffi::OsString> = vec![
        "--no-host-env".into(),
        "--backend".into(),
        backend.into(),
        "--".into(),
    ];
    args.extend(servers.everything());
    let mut child = client_cmd(&host, &args).spawn().unwrap();
    let mut rpc = RpcClient::new(child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let init = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}});
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        rpc.request("initialize", init.clone()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r["protocolVersion"], "2025-06-18");
    rpc.notify("notifications/initialized", None).await.unwrap();
    let tools = rpc.request("tools/list", json!({})).await.unwrap();
    assert!(tools["tools"].as_array().unwrap().len() > 5);
    let env = rpc
        .request("tools/call", json!({"name": "get-env", "arguments": {}}))
        .await
        .unwrap();
    let env: serde_json::Value = serde_json::from_str(&text_of(&env)).unwrap();
    assert!(env.get(CANARY).is_none(), "{env}");
    assert!(env["SSL_CERT_FILE"]
        .as_str()
        .unwrap()
        .contains("/sandspawn/trust/"));
    drop(rpc);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success() || status.code().is_some(), "{status}");

    // server-filesystem given `/`: the bundle yes, the canary secret no.
    let mut args: Vec<std::ffi::OsString> = vec![
        "--no-host-env".into(),
        "--backend".into(),
        backend.into(),
        "--".into(),
    ];
    args.extend(servers.filesystem("/"));
    let mut child = client_cmd(&host, &args).spawn().unwrap();
    let mut rpc = RpcClient::new(child.stdin.take().unwrap(), child.stdout.take().unwrap());
    tokio::time::timeout(
        Duration::from_secs(60),
        rpc.request("initialize", init.clone()),
    )
    .await
    .unwrap()
    .unwrap();
    rpc.notify("notifications/initialized", None).await.unwrap();
    let bundle = env["SSL_CERT_FILE"].as_str().unwrap().to_string();
    let ok = rpc
        .request(
            "tools/call",
            json!({"name": "read_text_file", "arguments": {"path": bundle}}),
        )
        .await
        .unwrap();
    assert!(text_of(&ok).contains("BEGIN CERTIFICATE"), "{ok}");
    let no = rpc
        .request(
            "tools/call",
            json!({"name": "read_text_file", "arguments": {"path": secret}}),
        )
        .await
        .unwrap();
    assert!(!text_of(&no).contains("top secret"), "{no}");
    drop(rpc);
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;

    // mcp-server-time from a Codex config with a sandbox table.
    let config = host.work().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mcp_servers.time]\ncommand = {:?}\nenv = {{ TZ = \"UTC\" }}\n[mcp_servers.time.sandbox]\nbackend = {backend:?}\n",
            servers.time()[0].to_str().unwrap()
        ),
    )
    .unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "--no-host-env".into(),
        "--config".into(),
        config.clone().into(),
        "--server".into(),
        "time".into(),
    ];
    let mut child = client_cmd(&host, &args).spawn().unwrap();
    let mut rpc = RpcClient::new(child.stdin.take().unwrap(), child.stdout.take().unwrap());
    tokio::time::timeout(Duration::from_secs(60), rpc.request("initialize", init))
        .await
        .unwrap()
        .unwrap();
    rpc.notify("notifications/initialized", None).await.unwrap();
    let r = rpc
        .request(
            "tools/call",
            json!({"name": "get_current_time", "arguments": {"timezone": "UTC"}}),
        )
        .await
        .unwrap();
    assert!(text_of(&r).contains("UTC"), "{r}");
    drop(rpc);
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_bwrap() {
    through_cli("bwrap").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_landlock() {
    through_cli("landlock").await;
}

/// The MCP host (here a shell holding the server's pipes) is SIGKILLed:
/// the server sees EOF and nothing of it remains.
fn killing_the_host(backend: &str) {
    let Some(servers) = ready(backend) else {
        return;
    };
    let host = Host::new();
    let tag = format!(
        "SANDSPAWN_TEST_TAG=cli-kill-{backend}-{}",
        std::process::id()
    );
    // The host: `sleep` holds the write end of the server's stdin (as an
    // MCP client holds its pipe); the server is sandspawn's exec.
    let script = format!(
        "mkfifo in; sleep 600 > in & echo $! > host.pid; exec {} mcp --no-host-env --backend {backend} --set {tag} -- node {} < in",
        SANDSPAWN,
        servers.everything()[1].to_string_lossy()
    );
    let mut server = std::process::Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut alive = Vec::new();
    for _ in 0..100 {
        alive = tagged_processes(&tag);
        if !alive.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!alive.is_empty(), "server never started");
    std::thread::sleep(Duration::from_millis(500));
    let pid: i32 = std::fs::read_to_string(host.work().join("host.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut left = tagged_processes(&tag);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = tagged_processes(&tag);
    }
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = server.wait();
}

#[test]
fn killing_the_host_bwrap() {
    killing_the_host("bwrap");
}

#[test]
fn killing_the_host_landlock() {
    killing_the_host("landlock");
}

#[test]
fn bad_input_gets_one_clear_error() {
    let host = Host::new();
    let config = host.work().join("c.toml");
    std::fs::write(
        &config,
        "[mcp_servers.a]\nargs = [\"x\"]\n[mcp_servers.b]\ncommand = \"true\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(SANDSPAWN)
            .env_clear()
            .envs(host.env.iter().cloned())
            .current_dir(host.work())
            .arg("mcp")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        assert!(out.stdout.is_empty());
        String::from_utf8(out.stderr).unwrap()
    };
    let c = config.to_str().unwrap();
    assert!(
        run(&["--config", c, "--server", "nope"]).contains("no server named `nope`; servers: a, b")
    );
    assert!(run(&["--config", c, "--server", "a"])
        .contains("server `a` has neither `command` nor `url`"));
    std::fs::write(&config, "[mcp_servers.a\n").unwrap();
    let e = run(&["--config", c, "--server", "a"]);
    assert!(e.contains("line 1, column"), "{e}");
    std::fs::write(
        &config,
        "[mcp_servers.a]\ncommand = \"x\"\n[mcp_servers.a.sandbox]\nwrite_all = true\n",
    )
    .unwrap();
    let e = run(&["--config", c, "--server", "a"]);
    assert!(
        e.contains("line 4, column 1") && e.contains("write_all"),
        "{e}"
    );
}

#[test]
fn install_wraps_check_runs_and_uninstall_restores() {
    let Some(servers) = Servers::find() else {
        return;
    };
    let host = Host::new();
    let config = host.work().join("claude_desktop_config.json");
    let original = format!(
        "{{\"mcpServers\": {{\"everything\": {{\"command\": \"node\", \"args\": [{:?}]}}}}}}",
        servers.everything()[1].to_str().unwrap()
    );
    std::fs::write(&config, &original).unwrap();
    let sandspawn = |args: &[&str]| {
        std::process::Command::new(SANDSPAWN)
            .env_clear()
            .envs(host.env.iter().cloned())
            .current_dir(host.work())
            .args(args)
            .output()
            .unwrap()
    };
    let c = config.to_str().unwrap();
    let out = sandspawn(&["mcp", "install", "--client", "claude", "--config", c]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("wrapped: everything") && text.contains("\n+"),
        "{text}"
    );
    let again = sandspawn(&["mcp", "install", "--client", "claude", "--config", c]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to change"));
    let check = sandspawn(&["mcp", "check", "--no-host-env", "--config", c]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        table.contains("everything") && table.contains(" ok"),
        "{table}"
    );
    let out = sandspawn(&["mcp", "uninstall", "--client", "claude", "--config", c]);
    assert!(out.status.success(), "{out:?}");
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let orig: serde_json::Value = serde_json::from_str(&original).unwrap();
    assert_eq!(back, orig);
}

/// `mcp explain --verify` enters the server's sandbox without starting the
/// server: the launcher's installation prefix (a venv outside HOME's
/// default view) is readable, the bundles hold certificates, nothing fails.
#[test]
fn mcp_explain_verify_checks_the_servers_sandbox_on_both_backends() {
    for backend in ["bwrap", "landlock"] {
        let Some(servers) = ready(backend) else {
            continue;
        };
        let host = Host::new();
        let out = std::process::Command::new(SANDSPAWN)
            .env_clear()
            .envs(host.env.iter().cloned())
            .current_dir(host.work())
            .args([
                "mcp",
                "explain",
                "--verify",
                "--no-host-env",
                "--backend",
                backend,
                "--",
            ])
            .args(servers.time())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let report: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("verify (inside the sandbox"))
            .collect();
        let all = report.join("\n");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{backend}:\n{all}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("FAIL"), "{backend}:\n{all}");
        let venv = servers.venv.display().to_string();
        assert!(
            report.iter().any(|l| l
                .starts_with("  ok    readable   mcp profile: the server's launcher")
                && l.contains(&format!("  {venv}  ("))),
            "{backend}:\n{all}"
        );
        assert!(
            report
                .iter()
                .filter(|l| l.starts_with("  ok    certs "))
                .count()
                >= 1,
            "{backend}:\n{all}"
        );
    }
}

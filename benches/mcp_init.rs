//! Spawn → `initialize` response for server-everything: bare vs `sandspawn
//! mcp` (bwrap, landlock) vs the library, in one run; then 50 servers
//! spawned concurrently through the library, with memory per sandbox.
//!
//! Needs SANDSPAWN_MCP_NODE (installed by .ci/run). `cargo bench --bench mcp_init`.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sandspawn::mcp::process::{spawn, SpawnOptions};
use sandspawn::mcp::request::{plan_server, HostContext, ServerLaunch};
use sandspawn::mcp::rpc::RpcClient;
use sandspawn::mcp::session::initialize;
use sandspawn::policy::{Backend, Layer};
use serde_json::json;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");
const RUNS: usize = 15;

async fn time_cli(cmd: &[OsString], env: &[(OsString, OsString)]) -> Duration {
    let mut command = tokio::process::Command::new(&cmd[0]);
    command
        .args(&cmd[1..])
        .env_clear()
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let t0 = Instant::now();
    let mut child = command.spawn().expect("spawn");
    let mut rpc = RpcClient::new(child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let params = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "b", "version": "0"}});
    rpc.request("initialize", params).await.expect("initialize");
    let took = t0.elapsed();
    drop(rpc);
    let _ = child.wait().await;
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(node_dir) = std::env::var_os("SANDSPAWN_MCP_NODE") else {
        eprintln!("skipped: SANDSPAWN_MCP_NODE not set (run .ci/run)");
        return;
    };
    let script: OsString = std::path::Path::new(&node_dir)
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        .into();
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    let env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("HOME".into(), home),
    ];
    let bare = vec![OsString::from("node"), script.clone()];
    let via = |backend: &str| -> Vec<OsString> {
        let mut c: Vec<OsString> = vec![
            SANDSPAWN.into(),
            "mcp".into(),
            "--no-host-env".into(),
            "--backend".into(),
            backend.into(),
            "--".into(),
        ];
        c.extend(bare.iter().cloned());
        c
    };
    let variants: Vec<(&str, Vec<OsString>)> = vec![
        ("bare node", bare.clone()),
        ("sandspawn mcp (bwrap)", via("bwrap")),
        ("sandspawn mcp (landlock)", via("landlock")),
    ];
    // Interleave the variants so drift affects all alike; one warm-up each.
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for round in 0..=RUNS {
        for (i, (_, cmd)) in variants.iter().enumerate() {
            let t = time_cli(cmd, &env).await;
            if round > 0 {
                times[i].push(t);
            }
        }
    }
    let base = median(times[0].clone());
    println!("spawn -> initialize response, server-everything, median of {RUNS}:");
    for ((name, _), t) in variants.iter().zip(times) {
        let m = median(t);
        println!(
            "  {name:<26} {:>7.1} ms  ({:+.1} ms)",
            m.as_secs_f64() * 1e3,
            (m.as_secs_f64() - base.as_secs_f64()) * 1e3
        );
    }

    let ctx = HostContext {
        parent_env: env.clone(),
        parent_cwd: std::env::temp_dir(),
        layers: vec![Layer {
            origin: "bench".into(),
            backend: Some(Backend::Bwrap),
            ..Layer::default()
        }],
        ..HostContext::default()
    };
    let launch = ServerLaunch {
        command: bare.clone(),
        origin: "bench".into(),
        ..ServerLaunch::default()
    };
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    for backend in [Backend::Bwrap, Backend::Landlock] {
        let mut ctx = ctx.clone();
        ctx.layers[0].backend = Some(backend);
        let plan = plan_server(&launch, &ctx).expect("plan").plan;
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..50 {
            let plan = plan.clone();
            let opts = opts.clone();
            handles.push(tokio::spawn(async move {
                let mut server = spawn(&plan, &opts).await.expect("spawn");
                let r = initialize(&mut server, Duration::from_secs(120))
                    .await
                    .map(|(s, _)| s);
                (server, r)
            }));
        }
        let mut servers = Vec::new();
        let mut ok = 0;
        for h in handles {
            let (server, r) = h.await.expect("join");
            if r.is_ok() {
                ok += 1;
            }
            servers.push((server, r.ok()));
        }
        let all = t0.elapsed();
        let (mut sandbox_kib, mut total_kib) = (0u64, 0u64);
        for (server, _) in &servers {
            for p in sandspawn::mcp::tree::descendants(server.pid() as i32) {
                let kib = rss_kib(p.pid);
                total_kib += kib;
                if p.comm == "bwrap" {
                    sandbox_kib += kib;
                }
            }
        }
        println!(
            "50 concurrent servers via the library ({backend}): {ok}/50 initialized in {:.2} s; RSS per server {:.1} MiB, of which sandbox processes {:.2} MiB",
            all.as_secs_f64(),
            total_kib as f64 / 50.0 / 1024.0,
            sandbox_kib as f64 / 50.0 / 1024.0
        );
        for (mut server, _) in servers {
            let _ = server.shutdown(Duration::from_secs(2)).await;
        }
    }
}

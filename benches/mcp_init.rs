//! Spawn → `initialize` response for server-everything: bare vs `sandspawn
//! mcp` (bwrap, landlock) vs the library, in one run; then 50 servers
//! spawned concurrently through the library, with memory per sandbox.
//!
//! Needs SANDSPAWN_MCP_NODE (installed by .ci/run). `cargo bench --bench
//! mcp_init`; `SANDSPAWN_BENCH_RUNS` changes N (default 25).
//!
//! Honesty on a shared machine: every round runs each case once, in a
//! shuffled order, so drift and the neighbour of a case do not favour one;
//! bare node runs twice per round ("bare again"), and the gap between the
//! two bare rows is the noise floor any "over bare" figure must beat; the
//! start-up alone (`sandspawn mcp … -- /bin/true` against `/bin/true`) is
//! timed in the same rounds, so the server's own part can be told apart
//! from sandspawn's; the load average is printed. Each row over its base
//! also gets the median of its per-round differences with a 95% confidence
//! interval ("paired"): the figure to compare with a target. On a loaded machine the
//! CPU of every case is stretched by the load; for figures close to an idle
//! machine, run the built bench binary under `chrt -f 10` (root), with
//! `SANDSPAWN_BENCH_SKIP_CONCURRENT=1`: 50 real-time servers on two cores
//! starve the kernel's RCU threads, and every namespace teardown then
//! waits for them (this wedged the machine for 45 minutes once).

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
const DEFAULT_RUNS: usize = 25;

fn command(cmd: &[OsString], env: &[(OsString, OsString)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&cmd[0]);
    command
        .args(&cmd[1..])
        .env_clear()
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Spawn → the `initialize` response.
async fn time_initialize(cmd: &[OsString], env: &[(OsString, OsString)]) -> Duration {
    let mut command = command(cmd, env);
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

/// Spawn → exit, with the same stdio as a server gets.
async fn time_exit(cmd: &[OsString], env: &[(OsString, OsString)]) -> Duration {
    let mut command = command(cmd, env);
    let t0 = Instant::now();
    let status = command.status().await.expect("spawn");
    let took = t0.elapsed();
    assert!(status.success(), "{cmd:?}: {status}");
    took
}

/// A fixed-seed xorshift: a shuffled but reproducible order per round.
fn shuffle<T>(items: &mut [T], state: &mut u64) {
    for i in (1..items.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        items.swap(i, (*state % (i as u64 + 1)) as usize);
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// First quartile, median, third quartile.
fn quartiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let n = v.len();
    (v[n / 4], v[n / 2], v[(3 * n) / 4])
}

/// The median of the per-round differences `case - base` (ms), with a
/// distribution-free 95% confidence interval for it (the order statistics
/// n/2 -+ 0.98 sqrt(n), from the binomial's normal approximation). Each
/// round ran both cases back to back, so what drifts between rounds (the
/// machine's load, node's start-up mood) cancels in the difference; the
/// interval says how far the figure can be trusted, and "bare again"
/// against bare is the check that it centres on zero.
fn paired(case: &[Duration], base: &[Duration]) -> (f64, f64, f64) {
    let mut d: Vec<f64> = case
        .iter()
        .zip(base)
        .map(|(c, b)| ms(*c) - ms(*b))
        .collect();
    d.sort_by(f64::total_cmp);
    let n = d.len();
    let half = 0.98 * (n as f64).sqrt();
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0) as usize).min(n - 1);
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    (d[lo], d[n / 2], d[hi])
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
    let via = |backend: &str, target: &[OsString]| -> Vec<OsString> {
        let mut c: Vec<OsString> = vec![
            SANDSPAWN.into(),
            "mcp".into(),
            "--no-host-env".into(),
            "--backend".into(),
            backend.into(),
            "--".into(),
        ];
        c.extend(target.iter().cloned());
        c
    };
    let truth = vec![OsString::from("/bin/true")];
    // (name, command, whether it answers initialize or just exits)
    let variants: Vec<(&str, Vec<OsString>, bool)> = vec![
        ("bare node", bare.clone(), true),
        ("bare node (again)", bare.clone(), true),
        ("sandspawn mcp (bwrap)", via("bwrap", &bare), true),
        ("sandspawn mcp (landlock)", via("landlock", &bare), true),
        ("/bin/true", truth.clone(), false),
        ("mcp (bwrap) -- /bin/true", via("bwrap", &truth), false),
        (
            "mcp (landlock) -- /bin/true",
            via("landlock", &truth),
            false,
        ),
    ];
    let runs = std::env::var("SANDSPAWN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
        .max(1);
    let load_before = load_average();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let mut order: Vec<usize> = (0..variants.len()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    // Round 0 warms every case up and is not counted.
    for round in 0..=runs {
        shuffle(&mut order, &mut seed);
        for &i in &order {
            let (_, cmd, answers) = &variants[i];
            let t = if *answers {
                time_initialize(cmd, &env).await
            } else {
                time_exit(cmd, &env).await
            };
            if round > 0 {
                times[i].push(t);
            }
        }
    }
    println!(
        "spawn -> initialize response, server-everything; start-up alone: spawn -> exit; {runs} shuffled rounds; load average {load_before} before, {} after:",
        load_average()
    );
    let stats: Vec<(Duration, Duration, Duration)> = times.iter().cloned().map(quartiles).collect();
    for (i, ((name, _, answers), (q1, m, q3))) in variants.iter().zip(&stats).enumerate() {
        let base = if *answers { 0 } else { 4 };
        let over = if i == base {
            String::new()
        } else {
            let (lo, mid, hi) = paired(&times[i], &times[base]);
            format!(
                "({:+.1} ms; paired {mid:+.1} ms, 95% CI {lo:+.1}..{hi:+.1})",
                ms(*m) - ms(stats[base].1)
            )
        };
        println!(
            "  {name:<28} median {:>7.1} ms  IQR {:>6.1}-{:<6.1} {over}",
            ms(*m),
            ms(*q1),
            ms(*q3)
        );
    }

    if std::env::var_os("SANDSPAWN_BENCH_SKIP_CONCURRENT").is_some_and(|v| v == "1") {
        println!("50 concurrent servers: skipped (SANDSPAWN_BENCH_SKIP_CONCURRENT=1)");
        return;
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

//! Network `proxy` bridge: HTTPS requests from inside `sandspawn run --net
//! proxy` (child → inside listener, accepted by the host bridge → upstream)
//! against the same requests from the host straight to the upstream, in
//! one run. Each request is a new CONNECT tunnel + TLS handshake + GET.
//!
//! Upstream: a minimal CONNECT proxy in this process (so the proxy's own
//! cost stays small and equal on both paths); origin: the Python TLS server
//! of tests/proxy. Client: tests/proxy/bench_client.py (timings taken inside
//! the client, so process start-up is not counted).
//!
//! Targets: median added latency <= 1 ms, throughput >= 80 % of direct.
//! Run: `cargo bench --bench proxy_bridge`.
//!
//! A/B: `SANDSPAWN_BENCH_BASELINE=/path/to/older/sandspawn` also runs the
//! bridged requests through that binary, interleaved with this build's
//! (direct, bridged, baseline, in turn), so two bridges meet the same load.
//! `SANDSPAWN_BENCH_ROUNDS=N` (default 5) repeats each row N times and
//! prints the median over the rounds;
//! `SANDSPAWN_BENCH_ONLY=TEXT` runs only the rows whose label contains TEXT.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proxy");

/// A CONNECT proxy that sends every tunnel to 127.0.0.1:`origin`.
fn connect_proxy(origin: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut conn = r.into_inner();
                let Ok(up) = TcpStream::connect(("127.0.0.1", origin)) else {
                    return;
                };
                let _ = up.set_nodelay(true);
                if conn.write_all(b"HTTP/1.1 200 OK\r\n\r\n").is_ok() {
                    sandspawn_linux::bridge::pipe(conn, up);
                }
            });
        }
    });
    port
}

struct Run {
    median_ms: f64,
    mb_per_s: f64,
    ok: usize,
}

fn parse(out: &[u8]) -> Option<Run> {
    let v: serde_json::Value = serde_json::from_slice(out).ok()?;
    let mut lat: Vec<f64> = v["lat"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_f64())
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let errors = v["errors"].as_array().map(Vec::len).unwrap_or(0);
    if errors > 0 || lat.is_empty() {
        eprintln!("client errors: {}", v["errors"]);
    }
    Some(Run {
        median_ms: lat.get(lat.len() / 2).copied()? * 1000.0,
        mb_per_s: v["bytes"].as_f64()? / v["wall"].as_f64()? / 1e6,
        ok: lat.len(),
    })
}

fn client_args(
    dir: &Path,
    port: u16,
    origin: u16,
    conc: usize,
    n: usize,
    path: &str,
) -> Vec<String> {
    vec![
        "/usr/bin/python3".into(),
        format!("{FIXTURES}/bench_client.py"),
        "127.0.0.1".into(),
        port.to_string(),
        origin.to_string(),
        dir.join("ca.pem").display().to_string(),
        conc.to_string(),
        n.to_string(),
        path.into(),
    ]
}

fn direct(dir: &Path, proxy: u16, origin: u16, c: usize, n: usize, path: &str) -> Option<Run> {
    let a = client_args(dir, proxy, origin, c, n, path);
    let out = Command::new(&a[0])
        .args(&a[1..])
        .env_clear()
        .output()
        .ok()?;
    parse(&out.stdout)
}

fn bridged(dir: &Path, proxy: u16, origin: u16, c: usize, n: usize, path: &str) -> Option<Run> {
    sandboxed(
        Path::new(SANDSPAWN),
        "proxy",
        dir,
        proxy,
        origin,
        c,
        n,
        path,
    )
}

/// `net` = `proxy`: through the bridge (inside port 3128); `full`: the same
/// sandbox on the host network straight to the upstream (sandbox cost only).
#[allow(clippy::too_many_arguments)]
fn sandboxed(
    exe: &Path,
    net: &str,
    dir: &Path,
    proxy: u16,
    origin: u16,
    c: usize,
    n: usize,
    path: &str,
) -> Option<Run> {
    let port = if net == "proxy" { 3128 } else { proxy };
    let a = client_args(dir, port, origin, c, n, path);
    let out = Command::new(exe)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.join("home"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .args(["run", "--backend", "bwrap", "--net", net, "--proxy"])
        .arg(format!("http://127.0.0.1:{proxy}"))
        .args(["--read", FIXTURES, "--read"])
        .arg(dir)
        .arg("--")
        .args(&a)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    parse(&out.stdout)
}

struct Origin(Child, PathBuf);

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bwrap_ok = Command::new("bwrap")
        .args(["--unshare-all", "--ro-bind", "/", "/", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !bwrap_ok {
        eprintln!("SKIP proxy_bridge: bwrap cannot create namespaces here");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sandspawn-bench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("home")).expect("dir");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "bench origin CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["origin.test".to_string()]).expect("leaf");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("sign");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write");
    std::fs::write(dir.join("leaf.pem"), leaf_cert.pem()).expect("write");
    std::fs::write(dir.join("leaf.key"), leaf_key.serialize_pem()).expect("write");
    let port_file = dir.join("origin.port");
    let child = Command::new("/usr/bin/python3")
        .arg(format!("{FIXTURES}/origin.py"))
        .args([
            dir.join("leaf.pem"),
            dir.join("leaf.key"),
            port_file.clone(),
        ])
        .env_clear()
        .spawn()
        .expect("origin");
    let _origin = Origin(child, dir.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !port_file.exists() {
        assert!(Instant::now() < deadline, "origin did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let origin: u16 = std::fs::read_to_string(&port_file)
        .expect("port")
        .trim()
        .parse()
        .expect("port");
    let proxy = connect_proxy(origin);

    println!("proxy_bridge: HTTPS via CONNECT, new tunnel + TLS per request; direct = host -> upstream proxy, bridged = sandbox -> bridge -> upstream");
    let baseline = std::env::var_os("SANDSPAWN_BENCH_BASELINE").map(PathBuf::from);
    let rounds: usize = std::env::var("SANDSPAWN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let only = std::env::var("SANDSPAWN_BENCH_ONLY").unwrap_or_default();
    for (label, conc, n, path) in [
        ("latency  c=1  GET / (small)", 1, 300, "/"),
        ("latency  c=50 GET / (small)", 50, 1000, "/"),
        ("throughput c=1  GET /big (1 MiB)", 1, 40, "/big"),
        ("throughput c=50 GET /big (1 MiB)", 50, 200, "/big"),
    ] {
        if !label.contains(&only) {
            continue;
        }
        let mut seen = Vec::new();
        for _ in 0..rounds {
            seen.extend(row(
                &dir,
                proxy,
                origin,
                baseline.as_deref(),
                label,
                conc,
                n,
                path,
            ));
        }
        summary(label, &mut seen);
    }
}

/// Over the rounds of a row: the median of each round's added latency and
/// throughput share, with the range (each round measures direct and
/// bridged back to back, so a round's difference is paired; the machine's
/// load between rounds moves both).
fn summary(label: &str, seen: &mut [(f64, f64)]) {
    if seen.len() < 2 {
        return;
    }
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let (added, lo, hi) = mid(&mut seen.iter().map(|s| s.0).collect());
    let (share, slo, shi) = mid(&mut seen.iter().map(|s| s.1).collect());
    println!(
        "{label:34} over {} rounds: added median {added:+.3} ms ({lo:+.3}..{hi:+.3}) | throughput {share:5.1} % ({slo:5.1}..{shi:5.1})",
        seen.len()
    );
}

#[allow(clippy::too_many_arguments)]
fn row(
    dir: &Path,
    proxy: u16,
    origin: u16,
    baseline: Option<&Path>,
    label: &str,
    conc: usize,
    n: usize,
    path: &str,
) -> Option<(f64, f64)> {
    // Warm up both paths once, then measure direct and bridged back to back.
    let _ = direct(dir, proxy, origin, 1, 5, "/");
    let _ = bridged(dir, proxy, origin, 1, 5, "/");
    let (Some(d), Some(b)) = (
        direct(dir, proxy, origin, conc, n, path),
        bridged(dir, proxy, origin, conc, n, path),
    ) else {
        eprintln!("{label}: a run failed");
        return None;
    };
    println!(
        "{label:34} median direct {:7.3} ms  bridged {:7.3} ms  added {:+.3} ms | {:8.1} MB/s vs {:8.1} MB/s = {:5.1} % | ok {}/{} {}/{}",
        d.median_ms,
        b.median_ms,
        b.median_ms - d.median_ms,
        d.mb_per_s,
        b.mb_per_s,
        100.0 * b.mb_per_s / d.mb_per_s,
        d.ok,
        n,
        b.ok,
        n
    );
    if let Some(exe) = baseline {
        if let Some(o) = sandboxed(exe, "proxy", dir, proxy, origin, conc, n, path) {
            println!(
                "{:34} (baseline {}: bridged median {:7.3} ms  added {:+.3} ms | {:8.1} MB/s = {:5.1} %)",
                "",
                exe.display(),
                o.median_ms,
                o.median_ms - d.median_ms,
                o.mb_per_s,
                100.0 * o.mb_per_s / d.mb_per_s
            );
        }
    }
    if let Some(f) = sandboxed(
        Path::new(SANDSPAWN),
        "full",
        dir,
        proxy,
        origin,
        conc,
        n,
        path,
    ) {
        println!(
            "{:34} (same sandbox, --net full, no bridge: median {:7.3} ms, {:8.1} MB/s)",
            "", f.median_ms, f.mb_per_s
        );
    }
    Some((b.median_ms - d.median_ms, 100.0 * b.mb_per_s / d.mb_per_s))
}

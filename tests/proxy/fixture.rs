//! The fixture of tests/tls_proxy.rs: a TLS origin for `origin.test`
//! (rcgen PKI, Python server) and mitmdump in front of it, killed by pid on
//! drop; bounded runs of `sandspawn run` with a scrubbed environment. A
//! test crate that includes it declares `mod support;` too.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::support::{skip, SANDSPAWN};
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proxy");
pub const OK: &str = "hello from origin";

pub fn cache() -> PathBuf {
    std::env::var_os("SANDSPAWN_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/sandspawn-test".into())
}

pub fn on_path(tool: &str) -> bool {
    ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(tool).exists())
}

/// What is missing for these tests, if anything.
pub fn missing() -> Option<String> {
    let c = cache();
    for part in ["mitm/bin/mitmdump", "clients/bin/python"] {
        if !c.join(part).exists() {
            return Some(format!("{} missing (run .ci/run)", c.join(part).display()));
        }
    }
    for tool in ["curl", "git", "node", "bwrap"] {
        if !on_path(tool) {
            return Some(format!("{tool} not installed"));
        }
    }
    let ok = Command::new("bwrap")
        .args(["--unshare-all", "--ro-bind", "/", "/", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ok).then(|| "bwrap cannot create namespaces here".into())
}

/// Output of a bounded run.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn kill(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Run `cmd`, the test failing if it has not ended after `secs` (it is
/// killed then).
pub fn run_bounded(mut cmd: Command, secs: u64) -> Out {
    let out = crate::support::output_within(&mut cmd, secs)
        .unwrap_or_else(|| panic!("timed out after {secs}s: {cmd:?}"));
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn wait_for(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not ready after {secs}s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts mitmdump as `command(ports)` builds it, on `n` ports that were
/// free a moment ago, and waits until its log (`log`, stderr beside it in
/// `.err`) says each of `kinds` is listening. A concurrent test can take
/// such a port in between: mitmdump then exits with "address already in
/// use" and is started again on fresh ports, up to five times. Waiting for
/// a connect instead would be fooled by whoever took the port.
pub fn start_mitm(
    log: &Path,
    n: usize,
    kinds: &[&str],
    mut command: impl FnMut(&[u16]) -> Command,
) -> (Child, Vec<u16>) {
    let err = log.with_extension("err");
    let mut last = String::new();
    for _ in 0..5 {
        let held: Vec<std::net::TcpListener> = (0..n)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().expect("port").port())
            .collect();
        drop(held);
        let mut child = command(&ports)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).expect("mitmdump log"))
            .stderr(std::fs::File::create(&err).expect("mitmdump err"))
            .spawn()
            .expect("mitmdump");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default()
                + &std::fs::read_to_string(&err).unwrap_or_default();
            let up = |kind: &&str| {
                text.lines()
                    .any(|l| l.contains(kind) && l.contains("listening at"))
            };
            if kinds.iter().all(up) {
                return (child, ports);
            }
            if child.try_wait().expect("wait mitmdump").is_some() {
                assert!(
                    text.contains("already in use"),
                    "mitmdump exited at start:\n{text}"
                );
                last = text;
                break;
            }
            if Instant::now() > deadline {
                kill(&mut child);
                panic!("mitmdump not listening after 20s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("mitmdump found its ports taken five times:\n{last}");
}

/// A child killed by pid on drop unless taken.
pub struct Reaped(pub Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            kill(child);
        }
    }
}

/// Origin (Python TLS server) + mitmdump, killed by pid on drop.
pub struct Fx {
    pub dir: PathBuf,
    origin: Child,
    mitm: Child,
    pub origin_port: u16,
    pub proxy_port: u16,
    pub reverse_port: u16,
    pub socks_port: u16,
}

impl Drop for Fx {
    fn drop(&mut self) {
        kill(&mut self.mitm);
        kill(&mut self.origin);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fx {
    pub fn start(tag: &str) -> Option<Fx> {
        if let Some(reason) = missing() {
            skip(&reason);
            return None;
        }
        let dir = std::env::temp_dir().join(format!("sandspawn-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["pki", "conf", "home", "cache", "boundary", "ws"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        // Origin PKI: a CA and a leaf for origin.test (rcgen).
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "origin test CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["origin.test".to_string()]).unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let pki = dir.join("pki");
        std::fs::write(pki.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(pki.join("leaf.pem"), leaf_cert.pem()).unwrap();
        std::fs::write(pki.join("leaf.key"), leaf_key.serialize_pem()).unwrap();

        let port_file = dir.join("origin.port");
        let origin = Command::new("/usr/bin/python3")
            .arg(Path::new(FIXTURES).join("origin.py"))
            .args([
                pki.join("leaf.pem"),
                pki.join("leaf.key"),
                port_file.clone(),
            ])
            .env_clear()
            .stdout(Stdio::null())
            .spawn()
            .expect("origin");
        // Killed if the set-up below panics; Fx owns it after.
        let mut fx_origin = Reaped(Some(origin));
        wait_for("origin", 10, || port_file.exists());
        let origin_port: u16 = std::fs::read_to_string(&port_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();

        // mitmdump: a regular proxy, a reverse proxy for origin.test (a
        // stand-in for a transparent interceptor) and a SOCKS5 proxy. Two
        // modes cannot both listen on port 0: reverse and SOCKS5 get ports
        // that were free a moment ago.
        let log = dir.join("mitm.log");
        let (mitm, fixed) = start_mitm(
            &log,
            2,
            &["HTTP(S) proxy", "reverse proxy", "SOCKS v5 proxy"],
            |ports| {
                let mut c = Command::new(cache().join("mitm/bin/mitmdump"));
                c.args(["--listen-host", "127.0.0.1", "--mode", "regular@0"])
                    .arg("--mode")
                    .arg(format!(
                        "reverse:https://origin.test:{origin_port}@{}",
                        ports[0]
                    ))
                    .arg("--mode")
                    .arg(format!("socks5@{}", ports[1]))
                    .arg("--set")
                    .arg(format!("confdir={}", dir.join("conf").display()))
                    .arg("--set")
                    .arg(format!(
                        "ssl_verify_upstream_trusted_ca={}",
                        pki.join("ca.pem").display()
                    ))
                    .arg("-s")
                    .arg(Path::new(FIXTURES).join("addon.py"))
                    .env_clear()
                    .env("SANDSPAWN_TEST_ORIGIN_PORT", origin_port.to_string())
                    .env("SANDSPAWN_TEST_FLOWS", dir.join("flows.jsonl"));
                c
            },
        );
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let regular = text
            .lines()
            .find(|l| l.contains("HTTP(S) proxy listening"))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|at| at.trim().trim_end_matches('.').parse().ok())
            .unwrap_or_else(|| panic!("no HTTP(S) proxy port in the mitmdump log:\n{text}"));
        let fx = Fx {
            dir: dir.clone(),
            origin: fx_origin.0.take().expect("origin"),
            mitm,
            origin_port,
            proxy_port: regular,
            reverse_port: fixed[0],
            socks_port: fixed[1],
        };
        let ca = fx.mitm_ca();
        wait_for("mitmproxy CA", 10, || ca.exists());
        // The Boundary shape: the CA and its private key side by side.
        let b = dir.join("boundary");
        std::fs::copy(&ca, b.join("ca-cert.pem")).unwrap();
        std::fs::copy(dir.join("conf/mitmproxy-ca.pem"), b.join("ca-key.pem")).unwrap();
        Some(fx)
    }

    /// A second mitmdump, SOCKS5 only, that requires `alice:s3cret`; it
    /// shares the fixture's CA (same confdir) and records flows in `flows`
    /// under the fixture's directory.
    pub fn authenticating_socks(&self, flows: &str) -> (Reaped, u16) {
        let (child, ports) = start_mitm(
            &self.dir.join(format!("{flows}.log")),
            1,
            &["SOCKS v5 proxy"],
            |ports| {
                let mut c = Command::new(cache().join("mitm/bin/mitmdump"));
                c.args(["--listen-host", "127.0.0.1", "--mode"])
                    .arg(format!("socks5@{}", ports[0]))
                    .args(["--set", "proxyauth=alice:s3cret"])
                    .arg("--set")
                    .arg(format!("confdir={}", self.dir.join("conf").display()))
                    .arg("--set")
                    .arg(format!(
                        "ssl_verify_upstream_trusted_ca={}",
                        self.dir.join("pki/ca.pem").display()
                    ))
                    .arg("-s")
                    .arg(Path::new(FIXTURES).join("addon.py"))
                    .env_clear()
                    .env("SANDSPAWN_TEST_ORIGIN_PORT", self.origin_port.to_string())
                    .env("SANDSPAWN_TEST_FLOWS", self.dir.join(flows));
                c
            },
        );
        (Reaped(Some(child)), ports[0])
    }

    pub fn mitm_ca(&self) -> PathBuf {
        self.dir.join("conf/mitmproxy-ca-cert.pem")
    }

    pub fn flows(&self) -> String {
        std::fs::read_to_string(self.dir.join("flows.jsonl")).unwrap_or_default()
    }

    pub fn url(&self, port: u16) -> String {
        format!("https://origin.test:{port}/")
    }

    /// `sandspawn run` with a scrubbed environment plus `vars`, from an
    /// empty workspace (the default preset makes the cwd readable; the
    /// fixture's CA directories stay outside it).
    pub fn sandspawn(&self, net: &str, vars: &[(&str, String)], cmd: &[&str]) -> Out {
        let mut c = Command::new(SANDSPAWN);
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.dir.join("home"))
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .current_dir(self.dir.join("ws"))
            .args(["run", "--net", net, "--read"])
            .arg(cache().join("clients"))
            .args(["--read", FIXTURES, "--"])
            .args(cmd);
        for (k, v) in vars {
            c.env(k, v);
        }
        run_bounded(c, 60)
    }
}

//! The fixture of tests/tls_proxy.rs: a TLS origin for `origin.test`
//! (rcgen PKI, Python server) and mitmdump in front of it, killed by pid on
//! drop; bounded runs of `sandspawn run` with a scrubbed environment.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proxy");
pub const OK: &str = "hello from origin";

pub fn skip(reason: &str) {
    if std::env::var_os("SANDSPAWN_MUST_WORK").is_some_and(|v| v == "1") {
        panic!("SANDSPAWN_MUST_WORK=1 but skipping: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

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

/// Run `cmd`, killing it (by pid) after `secs`.
pub fn run_bounded(mut cmd: Command, secs: u64) -> Out {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            kill(&mut child);
            panic!("timed out after {secs}s: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

pub fn wait_for(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not ready after {secs}s");
        std::thread::sleep(Duration::from_millis(20));
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
        let mut fx_origin = Some(origin);
        wait_for("origin", 10, || port_file.exists());
        let origin_port: u16 = std::fs::read_to_string(&port_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();

        // mitmdump: a regular proxy and a reverse proxy for origin.test
        // (a stand-in for a transparent interceptor).
        // Two modes cannot both listen on port 0: pick a free one for reverse.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let reverse = free.local_addr().unwrap().port();
        let free_socks = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socks = free_socks.local_addr().unwrap().port();
        drop(free);
        drop(free_socks);
        let log = dir.join("mitm.log");
        let mitm = Command::new(cache().join("mitm/bin/mitmdump"))
            .args(["--listen-host", "127.0.0.1", "--mode", "regular@0"])
            .arg("--mode")
            .arg(format!(
                "reverse:https://origin.test:{origin_port}@{reverse}"
            ))
            .arg("--mode")
            .arg(format!("socks5@{socks}"))
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
            .env("PYTHONUNBUFFERED", "1")
            .env("SANDSPAWN_TEST_ORIGIN_PORT", origin_port.to_string())
            .env("SANDSPAWN_TEST_FLOWS", dir.join("flows.jsonl"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("mitm.err")).unwrap())
            .spawn()
            .expect("mitmdump");
        let mut fx = Fx {
            dir: dir.clone(),
            origin: fx_origin.take().expect("origin"),
            mitm,
            origin_port,
            proxy_port: 0,
            reverse_port: 0,
            socks_port: socks,
        };
        let ports = |kind: &str| -> Option<u16> {
            let text = std::fs::read_to_string(&log).ok()?;
            let line = text.lines().find(|l| l.contains(kind))?;
            let at = line.rsplit(':').next()?.trim_end_matches('.');
            at.trim().parse().ok()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ports("HTTP(S) proxy listening").is_none() || ports("reverse proxy").is_none() {
            let text = std::fs::read_to_string(&log).unwrap_or_default()
                + &std::fs::read_to_string(dir.join("mitm.err")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "mitmdump not ready after 20s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        fx.proxy_port = ports("HTTP(S) proxy listening").unwrap();
        fx.reverse_port = ports("reverse proxy").unwrap();
        wait_for("mitmdump SOCKS listener", 20, || {
            std::net::TcpStream::connect(("127.0.0.1", socks)).is_ok()
        });
        let ca = fx.mitm_ca();
        wait_for("mitmproxy CA", 10, || ca.exists());
        // The Boundary shape: the CA and its private key side by side.
        let b = dir.join("boundary");
        std::fs::copy(&ca, b.join("ca-cert.pem")).unwrap();
        std::fs::copy(dir.join("conf/mitmproxy-ca.pem"), b.join("ca-key.pem")).unwrap();
        Some(fx)
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

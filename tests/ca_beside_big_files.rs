//! A CA file in the workspace beside big data files (SSL_CERT_FILE=./ca.pem
//! next to five 4 MB files, the workspace preset): the workspace stays
//! listed and readable, the big files, too big to be key files, are hidden
//! one by one, each named, and the key beside the CA stays hidden. Before,
//! the scan for keys ran out of bytes and hid its directory whole: the
//! working directory itself, `ls` printing nothing. A workspace the scan
//! cannot list whole is refused, not hidden.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

use std::path::PathBuf;
use std::process::Output;

mod support;
use support::{scrubbed, stderr, Scratch, PYTHON};

/// Per argument PATH: OK when it can be read, else the errno name.
const PROBE: &str = "import errno, sys\n\
                     def t(p):\n    try:\n        open(p).read()\n        return 'OK'\n    \
                     except OSError as e:\n        return errno.errorcode[e.errno]\n\
                     print(' '.join(t(a) for a in sys.argv[1:]))";

/// `top/ws` (the cwd) holding `ca.pem`, its key `ca-key.pem`, `readme.txt`
/// and five files `a0`..`a4` of 4,000,000 bytes, beside `home`.
struct Ws {
    dirs: Scratch,
}

impl Ws {
    fn new() -> Ws {
        let dirs = Scratch::new(&["ws", "home"]);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "big files");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let ws = dirs.path("ws");
        std::fs::write(ws.join("ca.pem"), cert.pem()).unwrap();
        std::fs::write(ws.join("ca-key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(ws.join("readme.txt"), "hello").unwrap();
        for i in 0..5 {
            std::fs::write(ws.join(format!("a{i}")), vec![b'0'; 4_000_000]).unwrap();
        }
        Ws { dirs }
    }

    fn ws(&self) -> PathBuf {
        self.dirs.path("ws")
    }

    fn run(&self, backend: &str, cmd: &[&str]) -> Output {
        scrubbed(&self.dirs.path("home"), None, &self.ws())
            .env("SSL_CERT_FILE", "./ca.pem")
            .args(["run", "--backend", backend, "--preset", "workspace", "--"])
            .args(cmd)
            .output()
            .unwrap()
    }
}

fn backends() -> Vec<&'static str> {
    let why = |backend: &str| {
        if !std::path::Path::new(PYTHON).exists() {
            return Some(format!("{PYTHON} is missing"));
        }
        let ws = Ws::new();
        let out = ws.run(backend, &["true"]);
        (!out.status.success()).then(|| {
            format!(
                "`sandspawn run --backend {backend}` does not work here: {}",
                stderr(&out)
            )
        })
    };
    ["bwrap", "landlock"]
        .into_iter()
        .filter(|b| why(b).map(|r| support::skip(&r)).is_none())
        .collect()
}

fn warnings(out: &Output) -> Vec<String> {
    (stderr(out).lines())
        .filter(|l| l.starts_with("sandspawn: warning: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_workspace_ca_beside_big_files_leaves_the_workspace_listed() {
    for backend in backends() {
        let ws = Ws::new();
        let out = ws.run(backend, &["ls"]);
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        if backend == "bwrap" {
            assert!(out.status.success(), "{backend}: {}", stderr(&out));
            assert!(
                listed.lines().any(|l| l == "readme.txt") && listed.lines().any(|l| l == "ca.pem"),
                "{backend}: {listed:?} {}",
                stderr(&out)
            );
        } else {
            // Landlock cannot hide a file under a granted directory and
            // still let the directory be listed: its entries are granted
            // one by one, as the key alone would make them, and said so.
            // They stay readable (below), which the hidden cwd was not.
            let said = format!(
                "sandspawn: landlock backend: {}: Write granted on its entries one by one; \
                 the directory itself gets None",
                ws.ws().display()
            );
            assert!(
                stderr(&out).lines().any(|l| l == said),
                "{backend}: {}",
                stderr(&out)
            );
        }
        let ca = ws.ws().join("ca.pem");
        let mut want: Vec<String> = (0..5)
            .map(|i| {
                format!(
                    "sandspawn: warning: {}: 4000000 bytes, more than sandspawn reads \
                     (1048576) of a file beside CA input {} (SSL_CERT_FILE) to look for a \
                     private key; hidden in the sandbox (keep the CA in a directory of its own \
                     to silence this)",
                    ws.ws().join(format!("a{i}")).display(),
                    ca.display()
                )
            })
            .collect();
        want.insert(
            0,
            format!(
                "sandspawn: warning: {}: private key beside CA input {} (SSL_CERT_FILE); hidden \
                 in the sandbox (move the key out of the CA's directory to silence this)",
                ws.ws().join("ca-key.pem").display(),
                ca.display()
            ),
        );
        let mut got = warnings(&out);
        got.sort();
        want.sort();
        assert_eq!(got, want, "{backend}");
        let out = ws.run(
            backend,
            &[PYTHON, "-c", PROBE, "ca-key.pem", "a0", "a4", "readme.txt"],
        );
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            got,
            "EACCES EACCES EACCES OK",
            "{backend}: {}",
            stderr(&out)
        );
    }
}

/// More entries than the scan lists: hiding the directory would hide the
/// working directory, so the run is refused, with what to do.
#[test]
fn a_workspace_too_big_to_list_is_refused_not_hidden() {
    let ws = Ws::new();
    for i in 0..10_001 {
        std::fs::write(ws.ws().join(format!("f{i}")), "").unwrap();
    }
    for backend in backends() {
        let out = ws.run(backend, &["true"]);
        assert_eq!(out.status.code(), Some(125), "{backend}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "sandspawn: SSL_CERT_FILE {}: its directory {} has more than 10000 entries, \
                 over the limit for a directory beside a CA, so sandspawn cannot look through \
                 it for private keys and would hide it whole, but it is the working directory; \
                 move the CA into a directory of its own and point SSL_CERT_FILE at it\n",
                ws.ws().join("ca.pem").display(),
                ws.ws().display()
            ),
            "{backend}"
        );
    }
}

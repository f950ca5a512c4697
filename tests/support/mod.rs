//! Shared helpers of the integration tests that drive the real `sandspawn`
//! binary: the skip rule, a scratch tree, a scrubbed command (this machine
//! exports a dozen CA variables; a test that kept them would pass for the
//! wrong reason), the child's errno-reporting attempts and the refusal
//! and answer checks. Each test crate uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");
/// The interpreter of the child's attempts.
pub const PYTHON: &str = "/usr/bin/python3";

/// Print why a test is skipped; fail instead when the runner must have it.
pub fn skip(reason: &str) {
    if std::env::var_os("SANDSPAWN_MUST_WORK").is_some_and(|v| v == "1") {
        panic!("SANDSPAWN_MUST_WORK=1 but skipping: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

/// A fresh directory under the system temp dir (an unprivileged runner can
/// create it there), named by its canonical path so that what sandspawn
/// prints compares equal, with `dirs` made below it; removed on drop.
pub struct Scratch {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Scratch {
    pub fn new(dirs: &[&str]) -> Scratch {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        Scratch { _tmp: tmp, root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// `sandspawn` in `cwd` with none of this process's environment: PATH,
/// HOME and, when `cache` is given, XDG_CACHE_HOME (without it sandspawn
/// finds its cache through HOME, which some tests are about).
pub fn scrubbed(home: &Path, cache: Option<&Path>, cwd: &Path) -> Command {
    let mut cmd = Command::new(SANDSPAWN);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home);
    if let Some(cache) = cache {
        cmd.env("XDG_CACHE_HOME", cache);
    }
    cmd.current_dir(cwd);
    cmd
}

/// `text` as the executable script `path`, written by a child process.
/// Written from this one, a fork on another test thread between the open
/// for writing and the close holds a write descriptor until that child
/// execs, and an exec of the script meanwhile fails with ETXTBSY.
pub fn write_script(path: &Path, text: &str) {
    let mut sh = Command::new("/bin/sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("/bin/sh");
    let mut stdin = sh.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("the script's text");
    drop(stdin);
    assert!(
        sh.wait().expect("/bin/sh").success(),
        "writing {}",
        path.display()
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Why `backend` cannot run here, if it cannot: PYTHON is missing, or
/// `trial` (a `sandspawn run --backend BACKEND ... -- true`) does not
/// start or fails.
pub fn unusable(backend: &str, trial: impl FnOnce() -> std::io::Result<Output>) -> Option<String> {
    if !Path::new(PYTHON).exists() {
        return Some(format!("{PYTHON} is missing"));
    }
    match trial() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`sandspawn run --backend {backend}` does not work here: {}",
            stderr(&out)
        )),
        Err(e) => Some(e.to_string()),
    }
}

/// The backends that work here, by `unusable`; each that does not is
/// skipped with its reason.
pub fn backends(unusable: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    ["bwrap", "landlock"]
        .into_iter()
        .filter(|b| unusable(b).map(|r| skip(&r)).is_none())
        .collect()
}

/// Whether `backend` runs here, for tests that need no Python (`sandspawn
/// run -- true` with an empty HOME, from this process's cwd); prints the
/// skip reason if not.
pub fn backend_runs(backend: &str) -> bool {
    let home = tempfile::tempdir().unwrap();
    backend_runs_with(backend, &[("HOME", home.path())])
}

/// `backend_runs` with `env` (HOME and the like) as the whole environment
/// but PATH.
pub fn backend_runs_with(backend: &str, env: &[(&str, &Path)]) -> bool {
    let probe = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .args(["run", "--backend", backend, "--", "true"])
        .output()
        .unwrap();
    if !probe.status.success() {
        skip(&format!(
            "`sandspawn run --backend {backend}` does not work here: {}",
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    probe.status.success()
}

/// A Python program for the child that tries, per argument `OP:PATH`, the
/// statement of `ops` for OP on `p` (the PATH), and prints the answers
/// space-separated: OK, or the errno name of the OSError. An OP of ""
/// is the `else` branch; a statement of several lines is a block (it may
/// `return` an answer of its own).
pub fn attempts(ops: &[(&str, &str)]) -> String {
    let mut s =
        String::from("import errno, os, sys\ndef t(a):\n    op, p = a.split(':', 1)\n    try:\n");
    for (i, (op, body)) in ops.iter().enumerate() {
        let head = match (i, *op) {
            (_, "") => "else".to_string(),
            (0, op) => format!("if op == '{op}'"),
            (_, op) => format!("elif op == '{op}'"),
        };
        if body.contains('\n') {
            s += &format!("        {head}:\n");
            for line in body.lines() {
                s += &format!("            {line}\n");
            }
        } else {
            s += &format!("        {head}: {body}\n");
        }
    }
    s + "        return 'OK'\n    except OSError as e:\n        return errno.errorcode[e.errno]\n\
         print(' '.join(t(a) for a in sys.argv[1:]))"
}

/// The child's answer (its stdout, trimmed) is `want`; `label` names the
/// case, and sandspawn's stderr comes with a failure.
#[track_caller]
pub fn assert_said(out: &Output, want: &str, label: &str) {
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        want,
        "{label}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// sandspawn refused to start: exit 125, and `want` is one line of its
/// stderr.
#[track_caller]
pub fn assert_refused(out: &Output, label: &str, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{label}: {stderr}");
    assert!(
        stderr.lines().any(|l| l == want),
        "{label}: want\n{want}\ngot\n{stderr}"
    );
}

/// A self-signed CA certificate named `name`, in PEM.
pub fn ca_pem(name: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// `cmd`'s output if it ends within `secs` (stdin empty); `None`, the
/// process killed, if it does not: a test of "nothing hangs" fails then
/// instead of hanging itself. Both outputs are read on threads while it
/// runs: a child writing more than a pipe holds (64 KiB) would otherwise
/// block, and be reported as a hang. Output still open after the child
/// ended (a process it left behind) counts against the same bound.
pub fn output_within(cmd: &mut Command, secs: u64) -> Option<Output> {
    use std::io::Read;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    let mut child = (cmd.stdin(Stdio::null()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
        rx
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let left = || deadline.saturating_duration_since(Instant::now());
            let stdout = stdout.recv_timeout(left()).ok()?;
            let stderr = stderr.recv_timeout(left()).ok()?;
            return Some(Output {
                status,
                stdout,
                stderr,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `sandspawn run --backend bwrap --net proxy --proxy PROXY` with HOME
/// `home`, PATH=/usr/bin:/bin and nothing else of this process's
/// environment, in the system temp dir; the caller adds its flags, `--`
/// and the command (and may set another cwd or more variables).
pub fn net_proxy(proxy: &str, home: &Path) -> Command {
    let mut cmd = Command::new(SANDSPAWN);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .current_dir(std::env::temp_dir())
        .args(["run", "--backend", "bwrap", "--net", "proxy", "--proxy"])
        .arg(proxy);
    cmd
}

/// How long a proxy test's sandbox may run: the clients inside give up
/// after 10 s, so one still running at this bound hangs.
pub const PROXY_RUN_SECS: u64 = 120;

/// `cmd`'s output (a `sandspawn run --backend bwrap`, as [`net_proxy`]
/// makes it), the test failing if it has not ended within
/// [`PROXY_RUN_SECS`] (it is killed then); `None` after a printed skip
/// when the bwrap backend does not work here.
pub fn bwrap_output(cmd: &mut Command) -> Option<Output> {
    let out = output_within(cmd, PROXY_RUN_SECS)
        .unwrap_or_else(|| panic!("no end within {PROXY_RUN_SECS} s, killed: {cmd:?}"));
    let stderr = stderr(&out);
    if stderr.contains("backend") && stderr.contains("bwrap") && out.status.code() == Some(125) {
        skip(&format!("the bwrap backend does not work here: {stderr}"));
        return None;
    }
    Some(out)
}

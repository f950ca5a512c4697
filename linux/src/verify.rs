//! `explain --verify`: the plan's promises, checked from inside the very
//! sandbox the command would get, after every control is in place (mounts,
//! no_new_privs, capabilities, Landlock, seccomp), instead of exec'ing it.
//!
//! The checks leave no trace: writability is tested with an unnamed
//! `O_TMPFILE` file where the filesystem has them, and a file is opened for
//! appending without writing. Only where `O_TMPFILE` is not supported is a
//! named file created and removed at once.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// At most this much of a bundle is read to count its certificates.
const MAX_BUNDLE: u64 = 16 << 20;

/// Directory entries are counted up to this many (a granted tree may be huge).
const MAX_COUNT: usize = 1000;

/// What the plan promises about a path (or the network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A CA bundle: readable, certificates only, at least one.
    Certs,
    /// Readable (a file's first byte, a directory's listing).
    Readable,
    /// Writable (a file in it can be made; a file can be opened to append).
    Writable,
    /// Nothing of the host's content shows: an error, or empty.
    Hidden,
    /// Readable but not writable (protected paths inside writable roots).
    ReadOnly,
    /// Network `none`: an inet socket cannot even be created.
    NoInet,
    /// Network `proxy`: the bridge's inside listener takes connections.
    ProxyListener,
    /// `--probe URL`: a TLS handshake with the URL's host, through the
    /// child's proxy, trusting the bundle at `path` (the label is the URL).
    Tls,
}

impl Expect {
    /// The word on the command line and in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Certs => "certs",
            Expect::Readable => "readable",
            Expect::Writable => "writable",
            Expect::Hidden => "hidden",
            Expect::ReadOnly => "read-only",
            Expect::NoInet => "no-inet",
            Expect::ProxyListener => "proxy",
            Expect::Tls => "tls",
        }
    }

    /// Every promise, in the order above.
    pub const ALL: [Expect; 8] = [
        Expect::Certs,
        Expect::Readable,
        Expect::Writable,
        Expect::Hidden,
        Expect::ReadOnly,
        Expect::NoInet,
        Expect::ProxyListener,
        Expect::Tls,
    ];

    /// The inverse of [`Expect::as_str`].
    pub fn parse(word: &str) -> Option<Expect> {
        Expect::ALL.into_iter().find(|e| e.as_str() == word)
    }
}

/// One promise to check: `label` says where it comes from (a variable, a
/// policy entry), `path` is what is checked (empty for network checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is promised.
    pub expect: Expect,
    /// Where the promise comes from, for the report.
    pub label: OsString,
    /// The path checked (empty for the network checks).
    pub path: PathBuf,
}

/// A check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the promise held.
    pub ok: bool,
    /// What was seen ("150 certificates", "EACCES", "3 entries visible").
    pub seen: String,
}

/// Run one check in the current (confined) process. `proxy_port` is the
/// inside listener's port for [`Expect::ProxyListener`]; `env` is the
/// command's environment (the proxy variables [`Expect::Tls`] follows).
pub fn run(check: &Check, proxy_port: Option<u16>, env: &[(OsString, OsString)]) -> Outcome {
    let path = check.path.as_path();
    match check.expect {
        Expect::Certs => certs(path),
        Expect::Readable => readable(path),
        Expect::Writable => writable(path),
        Expect::Hidden => hidden(
            path,
            &WayTo {
                granted: &[],
                cwd: None,
            },
        ),
        Expect::ReadOnly => read_only(path),
        Expect::NoInet => no_inet(),
        Expect::ProxyListener => proxy_listener(proxy_port),
        Expect::Tls => crate::tls_probe::probe(&check.label.to_string_lossy(), path, env),
    }
}

/// Exit status when stdout's reader has gone: 128 + SIGPIPE, as `explain`
/// ends outside the sandbox (a filter killed by SIGPIPE).
const EXIT_BROKEN_PIPE: i32 = 141;

/// One check's line to stdout. `println!` panicked when the reader had
/// gone (`explain --verify | head`): end quietly instead, like the plan's
/// own lines; any other failure is sandspawn's, one line and 125.
fn print_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        crate::say(format_args!("sandspawn: verify: writing to stdout: {e}"));
        std::process::exit(crate::helper::EXIT_SETUP_FAILED.into());
    }
}

/// Run every check, print one line each to stdout, and tell whether all
/// held. `split` are directories the Landlock backend could only grant
/// entry by entry (to keep a path inside them hidden or read-only): that
/// they cannot be listed, or that nothing new can be made directly in
/// them, is a known degradation (reported when planning), printed as
/// `warn` rather than failing. `granted` are the sandbox's grants (its
/// mounts, its Landlock rules): a hidden directory holding one shows the
/// way to it (bwrap makes the mount points in its mask), which is the
/// plan's own content, not the host's.
pub fn run_all(
    checks: &[Check],
    proxy_port: Option<u16>,
    split: &[PathBuf],
    granted: &[PathBuf],
    env: &[(OsString, OsString)],
) -> bool {
    // A directory granted through a link is split under its real path
    // (the expansion leaves mounts through links to their real paths).
    let is_split = |p: &PathBuf| {
        split.contains(p) || std::fs::canonicalize(p).is_ok_and(|real| split.contains(&real))
    };
    let mut all = true;
    // A working directory inside a hidden path starts the command there
    // (README): bwrap makes the way to it in the mask, as for a grant.
    let ways = WayTo {
        granted,
        cwd: std::env::current_dir().ok(),
    };
    for check in checks {
        let mut outcome = match check.expect {
            Expect::Hidden => hidden(&check.path, &ways),
            _ => run(check, proxy_port, env),
        };
        let known = match check.expect {
            Expect::Readable => Some("cannot be listed"),
            Expect::Writable => Some("gets nothing new directly in it"),
            _ => None,
        }
        .filter(|_| !outcome.ok && is_split(&check.path));
        if let Some(limit) = known {
            outcome.seen.push_str(&format!(
                "; Landlock granted its entries one by one, the directory itself {limit}"
            ));
            print_line(&line_with(check, &outcome, "warn"));
            continue;
        }
        all &= outcome.ok;
        print_line(&line(check, &outcome));
    }
    all
}

/// The report line of one check.
pub fn line(check: &Check, outcome: &Outcome) -> String {
    line_with(check, outcome, if outcome.ok { "ok" } else { "FAIL" })
}

fn line_with(check: &Check, outcome: &Outcome, verdict: &str) -> String {
    let mut text = format!(
        "  {:<4}  {:<9}  {}",
        verdict,
        check.expect.as_str(),
        check.label.to_string_lossy()
    );
    if !check.path.as_os_str().is_empty() {
        text.push_str(&format!("  {}", check.path.display()));
    }
    text.push_str(&format!("  ({})", outcome.seen));
    text
}

fn pass(seen: impl Into<String>) -> Outcome {
    Outcome {
        ok: true,
        seen: seen.into(),
    }
}

fn fail(seen: impl Into<String>) -> Outcome {
    Outcome {
        ok: false,
        seen: seen.into(),
    }
}

/// The errno's name for a report ("EACCES"), else the error's text.
pub(crate) fn errno(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EACCES) => "EACCES",
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EROFS) => "EROFS",
        Some(libc::ENOTDIR) => "ENOTDIR",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::ENETUNREACH) => "ENETUNREACH",
        Some(libc::ENXIO) => "ENXIO",
        _ => return e.to_string(),
    };
    name.to_owned()
}

/// Every open here is non-blocking: a granted path may be a FIFO or a
/// device, and the verify must not wait for a peer that never comes.
fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Open to append without writing anything (see [`open_read`]).
fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

fn certs(path: &Path) -> Outcome {
    let mut text = Vec::new();
    let read = open_read(path).and_then(|f| f.take(MAX_BUNDLE).read_to_end(&mut text));
    if let Err(e) = read {
        return fail(format!("not readable: {}", errno(&e)));
    }
    let count = |marker: &[u8]| text.windows(marker.len()).filter(|w| *w == marker).count();
    let certificates = count(b"-----BEGIN CERTIFICATE-----");
    let keys = count(b"PRIVATE KEY-----");
    match (certificates, keys) {
        (_, k) if k > 0 => fail(format!("{k} private key block(s) in it")),
        (0, _) => fail("no certificate in it"),
        (1, _) => pass("1 certificate"),
        (n, _) => pass(format!("{n} certificates")),
    }
}

fn readable(path: &Path) -> Outcome {
    if path.is_dir() {
        return match std::fs::read_dir(path) {
            Ok(entries) => pass(match entries.take(MAX_COUNT).count() {
                1 => "1 entry".to_owned(),
                MAX_COUNT => format!("{MAX_COUNT}+ entries"),
                n => format!("{n} entries"),
            }),
            Err(e) => fail(errno(&e)),
        };
    }
    let mut byte = [0u8; 1];
    match open_read(path).and_then(|mut f| f.read(&mut byte)) {
        Ok(_) => pass("opened and read"),
        Err(e) => fail(errno(&e)),
    }
}

/// `Ok` when a file can be made in the directory `dir` (it is gone again),
/// the refusal otherwise.
fn can_make_file(dir: &Path) -> Result<(), io::Error> {
    let unnamed = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match unnamed {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            // This filesystem has no unnamed files: make one and remove it.
            let name = dir.join(format!(".sandspawn-verify-{}", std::process::id()));
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&name)?;
            // Made: that answers the question, whether or not it can go.
            let _ = std::fs::remove_file(&name);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn writable(path: &Path) -> Outcome {
    let result = if path.is_dir() {
        can_make_file(path).map(|()| "a file can be made in it")
    } else {
        open_append(path).map(|_| "opened for writing")
    };
    match result {
        Ok(seen) => pass(seen),
        Err(e) => fail(errno(&e)),
    }
}

/// What a hidden directory may show of the sandbox's own: the way to each
/// grant inside it, and to the working directory.
pub(crate) struct WayTo<'a> {
    /// Paths granted something (the mounts bound into a mask).
    pub granted: &'a [PathBuf],
    /// The working directory (itself hidden: an empty mask).
    pub cwd: Option<PathBuf>,
}

/// Nothing of the host's content shows at `path`. Entries on the way to a
/// grant are the sandbox's own (`--deny ~/.cache` with the trust bundle
/// granted inside it shows `sandspawn/trust/…`): each is either that grant
/// or, below it, hidden in turn but for such entries; so is the way to the
/// working directory, and the working directory itself when hidden.
pub(crate) fn hidden(path: &Path, ways: &WayTo<'_>) -> Outcome {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            // Grants are named by their real paths: a hidden path that is a
            // link lists its target's entries.
            let base = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            let (mut visible, mut own) = (0, 0);
            for entry in entries.take(MAX_COUNT) {
                let inner = match entry {
                    Ok(e) => base.join(e.file_name()),
                    Err(_) => {
                        visible += 1;
                        continue;
                    }
                };
                let is_grant = ways.granted.iter().any(|g| g == &inner);
                let on_the_way = || {
                    (ways.granted.iter().any(|g| g.starts_with(&inner))
                        || ways.cwd.as_ref().is_some_and(|c| c.starts_with(&inner)))
                        && hidden(&inner, ways).ok
                };
                if is_grant || on_the_way() {
                    own += 1;
                } else {
                    visible += 1;
                }
            }
            return match (visible, own) {
                (0, 0) => pass("empty"),
                (0, own) => pass(format!(
                    "{own} entries, only the way to what the plan puts inside it"
                )),
                (visible, _) => fail(format!("{visible} entries visible")),
            };
        }
        Err(e) if e.raw_os_error() != Some(libc::ENOTDIR) => return pass(errno(&e)),
        Err(_) => {}
    }
    let mut byte = [0u8; 1];
    match open_read(path).and_then(|mut f| f.read(&mut byte)) {
        Ok(0) => pass("empty"),
        Ok(_) => fail("its content is readable"),
        Err(e) => pass(errno(&e)),
    }
}

fn read_only(path: &Path) -> Outcome {
    if !readable(path).ok {
        return fail("not readable");
    }
    let attempt = if path.is_dir() {
        can_make_file(path)
    } else {
        open_append(path).map(drop)
    };
    match attempt {
        Ok(()) => fail("writable"),
        Err(e) => pass(format!("readable, writes refused: {}", errno(&e))),
    }
}

fn no_inet() -> Outcome {
    // Port 9 (discard) on loopback: if the socket could be made at all,
    // the filter is missing, whatever the connect then says.
    match TcpStream::connect((Ipv4Addr::LOCALHOST, 9)) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => pass("socket(AF_INET): EPERM"),
        Err(e) => fail(format!("an inet socket was created ({})", errno(&e))),
        Ok(_) => fail("an inet connection was made"),
    }
}

fn proxy_listener(port: Option<u16>) -> Outcome {
    let Some(port) = port else {
        return fail("no inside listener in this sandbox");
    };
    match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => pass(format!("127.0.0.1:{port} accepts")),
        Err(e) => fail(format!("127.0.0.1:{port}: {}", errno(&e))),
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;

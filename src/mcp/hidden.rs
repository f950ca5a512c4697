//! Data paths a server is given that the sandbox does not show as the host
//! has them. Servers take them as arguments (`server-filesystem DIR`,
//! `mcp-server-git --repository DIR`, `--db-path=FILE`) or from their
//! config entry's `env` (`MEMORY_FILE_PATH`). One outside the view reads
//! inside as missing, and the server's own message ("does not exist",
//! "Cannot access directory") does not say why; one to be created inside
//! the private HOME or /tmp is created there and lost when the server
//! exits, silently. `~/…` counts as the HOME path it names. Both are named before the server starts, with the
//! grant that fixes them; nothing is granted here.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::paths::is_within;
use crate::plan::{Access, Plan};

/// One warning per such argument or `env` value.
/// `home` keeps the advice narrow: a file directly in HOME gets its own
/// directory, never a grant of HOME itself.
pub fn data_paths(plan: &Plan, env: &[(OsString, OsString)], home: Option<&Path>) -> Vec<String> {
    let args = plan.command.iter().skip(1).filter_map(|arg| {
        let bytes = arg.as_bytes();
        // `--opt=/path` as well as `/path`.
        let value = match bytes.iter().position(|&b| b == b'=') {
            Some(at) if bytes.starts_with(b"-") => bytes.get(at + 1..)?,
            _ => bytes,
        };
        Some((
            format!("argument {}", OsStr::from_bytes(value).to_string_lossy()),
            value,
        ))
    });
    // Only a value the server gets as written: a CA variable set by hand
    // in the entry is a trust input, replaced by the sanitised bundle (or,
    // SSL_CERT_DIR, folded into it), so its file is not one the server
    // looks for, and granting it would widen the view for nothing.
    let as_written = |(name, value): &&(OsString, OsString)| {
        name.to_str()
            .and_then(|n| plan.env.get(n))
            .is_some_and(|v| v == value)
    };
    let vars = env.iter().filter(as_written).map(|(name, value)| {
        (
            format!("{}={}", name.to_string_lossy(), value.to_string_lossy()),
            value.as_bytes(),
        )
    });
    let mut out = Vec::new();
    for (label, value) in args.chain(vars) {
        // `~/…` reaches the server as written (a config file has no shell);
        // a server that expands it gets the same HOME path as the host.
        let warning = match (value.strip_prefix(b"~/"), home) {
            (Some(rest), Some(home)) => tilde(plan, &label, OsStr::from_bytes(rest), home),
            _ if value.starts_with(b"/") => {
                check(plan, &label, Path::new(OsStr::from_bytes(value)), home)
            }
            _ => None,
        };
        if let Some(warning) = warning.filter(|w| !out.contains(w)) {
            out.push(warning);
        }
    }
    out
}

/// `~/rest`: checked as the host's HOME path it names, except on Landlock,
/// where the server's HOME is sandspawn's own directory: `~` inside is not
/// the host's, and no grant changes that.
fn tilde(plan: &Plan, label: &str, rest: &OsStr, home: &Path) -> Option<String> {
    let path = home.join(rest);
    match plan.env.get("HOME").map(Path::new).filter(|h| *h != home) {
        Some(inside) => Some(format!(
            "{label}: the server's HOME is sandspawn's own {} on the {} backend, so it names {} there, not {}; write {} instead",
            inside.display(),
            plan.backend,
            inside.join(rest).display(),
            path.display(),
            path.display()
        )),
        None => check(plan, label, &path, Some(home)),
    }
}

fn check(plan: &Plan, label: &str, path: &Path, home: Option<&Path>) -> Option<String> {
    if std::fs::symlink_metadata(path).is_ok() {
        // Reached through a link the view shows: the server gets there.
        if seen(plan, path) || std::fs::canonicalize(path).is_ok_and(|real| seen(plan, &real)) {
            return None;
        }
        let shown = path.display();
        return Some(format!(
            "{label} is outside the sandbox's view: the server will find it missing; grant it with `--read {shown}` (`--write` to change it), or `read` in the server's sandbox table"
        ));
    }
    // Not there yet: a file the server will create. Only when its directory
    // exists on the host (a path that names nothing there is no data path).
    // A new file directly under `/` is no data path anyone means; a value
    // like that is more likely a secret that starts with a slash (base64
    // keys do), and these lines end up in clients' logs.
    let parent = path.parent().filter(|p| *p != Path::new("/"))?;
    if !std::fs::metadata(parent).is_ok_and(|m| m.is_dir()) {
        return None;
    }
    let grant = if home.is_some_and(|h| is_within(h, parent)) {
        // Never advise making HOME (or an ancestor) writable.
        "keep it in a directory of its own (e.g. ~/.local/share/NAME) and grant that with `--write DIR`".to_string()
    } else {
        format!("grant its directory with `--write {}`", parent.display())
    };
    match plan.fs.decide(path).map(|e| (&e.access, &e.path)) {
        Some((Access::Tmpfs, root)) => Some(format!(
            "{label} is inside the sandbox's private {}: what the server writes there is lost when it exits; {grant}, or `write` in the server's sandbox table",
            root.display()
        )),
        Some((Access::Deny, _)) | None => Some(format!(
            "{label} is outside the sandbox's view: the server cannot create it; {grant}, or `write` in the server's sandbox table"
        )),
        _ => None,
    }
}

/// Whether the host's `path` is seen inside: granted from the host, not
/// hidden, and not under a private tmpfs that replaces the host's content
/// (the tmpfs's own directory is there, empty).
fn seen(plan: &Plan, path: &Path) -> bool {
    // The usual devices (`/dev/null` as an output file) are there on both
    // backends without any grant; the plan does not list them. Not what is
    // under /dev/pts: the host's terminals are not there (bwrap's devpts is
    // its own, Landlock grants only the command's own).
    if sandspawn_linux::expand::DEVICES
        .iter()
        .any(|d| path == Path::new(d))
    {
        return true;
    }
    match plan.fs.decide(path).map(|e| (&e.access, &e.path)) {
        Some((Access::Read | Access::Write | Access::Link { .. }, _)) => true,
        Some((Access::Tmpfs, root)) => root == path,
        _ => false,
    }
}

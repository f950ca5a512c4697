//! A command the policy hides: a program that is there on the host but not
//! in the sandbox's view (`~/.ssh/tool`, a file in a denied directory,
//! one under no read root, one under a private /tmp). Inside, the exec
//! fails with what the backend makes of it: bwrap has no such path
//! (ENOENT, 127), Landlock refuses to open it (EACCES, 126). The same
//! command then read as "not found" on one backend and "not executable"
//! on the other, and neither said why. Decided here, from the view, before
//! anything starts: one line naming the path, what hides it and the grant
//! that shows it, and one status (126: the program is there, the policy
//! keeps it from being run) on both backends.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::fs::Access;
use super::Plan;
use crate::paths::{self, is_within};

/// The line that explains why the program of `plan.command` cannot be run
/// inside, when the host has it but the view hides it; `None` when it is
/// visible, or when the host has no such program (the exec then reports
/// "not found" on both backends, as for any missing command).
pub(super) fn hidden_command(plan: &Plan) -> Option<String> {
    let program = plan.command.first()?;
    let (path, (hidden, view)) = if program.as_bytes().contains(&b'/') {
        let path = paths::normalize(&plan.cwd.join(program));
        if !is_program(&path) {
            return None;
        }
        (path.clone(), hides(plan, &path)?)
    } else {
        let (hidden, shown) = search_path(plan, program)?;
        if shown.is_some() {
            return None;
        }
        hidden?
    };
    let shown = program.to_string_lossy();
    let at = if Path::new(program) == path {
        String::new()
    } else {
        format!(" ({})", path.display())
    };
    Some(format!(
        "{shown}{at}: {view}, so the sandbox cannot run it; grant it with `--read {}` \
         (`read` in a policy file)",
        hidden.display()
    ))
}

/// The line that says the child's PATH search skips a program the view
/// hides for a later one it shows (pyenv's shim before /usr/bin's python):
/// the command runs, but not the program the host would run.
pub(super) fn shadowed_command(plan: &Plan) -> Option<String> {
    let program = plan.command.first()?;
    if program.as_bytes().contains(&b'/') {
        return None;
    }
    let (Some((first, (grant, view))), Some(runs)) = search_path(plan, program)? else {
        return None;
    };
    Some(format!(
        "{}: {} comes first on PATH, but {view}, so the sandbox runs {} instead; \
         grant it with `--read {}` to run that one",
        program.to_string_lossy(),
        first.display(),
        runs.display(),
        grant.display()
    ))
}

/// A hidden program on PATH: where found, and what `hides` says of it.
type Hidden = (PathBuf, (PathBuf, String));

/// As execvp searches the child's PATH: the first program the view hides
/// before the first it shows (skipped inside as missing), and that one.
/// `None` without a PATH.
fn search_path(
    plan: &Plan,
    program: &std::ffi::OsStr,
) -> Option<(Option<Hidden>, Option<PathBuf>)> {
    let search = plan.env.get("PATH")?;
    let mut hidden = None;
    for dir in std::env::split_paths(search).filter(|d| !d.as_os_str().is_empty()) {
        let path = paths::normalize(&plan.cwd.join(dir).join(program));
        if !is_program(&path) {
            continue;
        }
        match hides(plan, &path) {
            None => return Some((hidden, Some(path))),
            Some(view) => {
                hidden.get_or_insert((path, view));
            }
        }
    }
    Some((hidden, None))
}

/// A regular file with an execute bit on the host (what exec would try).
fn is_program(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Which of `path` (as named) and the file it leads to the view hides,
/// and why; `None` when both are in it. The host's own /proc and /dev are
/// never judged here: each backend provides those of its own.
fn hides(plan: &Plan, path: &Path) -> Option<(PathBuf, String)> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    for p in [path, real.as_path()] {
        if ["/proc", "/dev"].iter().any(|d| is_within(p, Path::new(d))) {
            return None;
        }
    }
    if let Some(why) = hidden_by(plan, path) {
        return Some((path.to_path_buf(), why));
    }
    let why = hidden_by(plan, &real)?;
    Some((
        real.clone(),
        format!("it leads to {}, {why}", real.display()),
    ))
}

/// Why the view hides `path` itself, if it does.
fn hidden_by(plan: &Plan, path: &Path) -> Option<String> {
    match plan.fs.decide(path).map(|e| (&e.access, e)) {
        Some((Access::Read | Access::Write | Access::Link { .. }, _)) => None,
        Some((Access::Tmpfs, e)) if e.path == path => None,
        Some((Access::Tmpfs, e)) => Some(format!(
            "under the sandbox's private {}, which replaces the host's",
            e.path.display()
        )),
        Some((Access::Deny, e)) => Some(format!(
            "hidden by the policy (deny {}: {})",
            e.path.display(),
            e.reason
        )),
        None => Some("outside the sandbox's view (under no read or write root)".to_string()),
    }
}

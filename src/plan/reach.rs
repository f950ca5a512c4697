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
//!
//! Judged by the path as named, on both backends: a symlink the view
//! hides that leads to a program it shows (`~/bin/tool` → `/usr/bin/id`
//! with HOME hidden) is refused on Landlock too, although Landlock, which
//! does not check the walk through a link, would run it. bwrap cannot
//! (its view has no `~/bin`), and one command must not start on one
//! backend and not on the other; naming the target runs it on both.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::fs::Access;
use super::Plan;
use crate::paths::{self, is_within};

/// What the view makes of `plan.command`: why it cannot run (refused
/// before start), and which hidden program a PATH search skips for the one
/// that runs (a warning). One PATH search serves both.
pub(super) fn command(plan: &Plan) -> (Option<String>, Option<String>) {
    let Some(program) = plan.command.first() else {
        return (None, None);
    };
    let searched = if program.as_bytes().contains(&b'/') {
        None
    } else {
        search_path(plan, program)
    };
    (
        hidden_command(plan, program, searched.clone()),
        shadowed_command(program, searched),
    )
}

/// The line that explains why `program` cannot be run inside, when the
/// host has it but the view hides it; `None` when it is visible, or when
/// the host has no such program (the exec then reports "not found" on both
/// backends, as for any missing command). `searched`: its PATH search,
/// for a bare name.
fn hidden_command(plan: &Plan, program: &OsStr, searched: Option<Searched>) -> Option<String> {
    let found = if program.as_bytes().contains(&b'/') {
        let path = paths::normalize(&plan.cwd.join(program));
        if !is_program(&path) {
            return None;
        }
        match hides(plan, &path) {
            Some(view) => Err((path, view)),
            None => Ok(path),
        }
    } else {
        match searched? {
            (_, Some(shown)) => Ok(shown),
            (hidden, None) => Err(hidden?),
        }
    };
    let shown = program.to_string_lossy();
    let at = |path: &Path| {
        if Path::new(program) == path {
            String::new()
        } else {
            format!(" ({})", path.display())
        }
    };
    let (path, (hidden, view)) = match found {
        Err(hidden) => hidden,
        // The program is shown; the interpreter its `#!` line names may
        // not be (bwrap then says ENOENT, Landlock EACCES, both of the
        // script).
        Ok(path) => {
            let (interp, (hidden, view)) = hidden_interpreter(plan, &path)?;
            let view = format!("its `#!` interpreter {}: {view}", interp.display());
            (path, (hidden, view))
        }
    };
    Some(format!(
        "{shown}{}: {view}, so the sandbox cannot run it; grant it with `--read {}` \
         (`read` in a policy file)",
        at(&path),
        hidden.display()
    ))
}

/// The interpreter a script's `#!` line names (as the kernel reads it: up
/// to 4 levels, a script's interpreter may be one), or the program
/// `#!/usr/bin/env NAME` searches PATH for, when the view hides it.
fn hidden_interpreter(plan: &Plan, script: &Path) -> Option<(PathBuf, (PathBuf, String))> {
    let mut script = script.to_path_buf();
    for _ in 0..4 {
        let (interp, arg) = shebang(&script)?;
        let interp = paths::normalize(&plan.cwd.join(interp));
        if !is_program(&interp) {
            return None;
        }
        if let Some(view) = hides(plan, &interp) {
            return Some((interp, view));
        }
        // `env NAME`: the kernel passes the rest of the line as one
        // argument; only a bare name is a program env searches for.
        let is_env = interp.file_name().is_some_and(|n| n == "env");
        if let Some(name) = arg.filter(|a| is_env && !a.starts_with('-') && !a.contains(' ')) {
            if name.contains('/') {
                return None;
            }
            return match search_path(plan, OsStr::new(&name))? {
                (Some((path, view)), None) => Some((path, view)),
                _ => None,
            };
        }
        script = interp;
    }
    None
}

/// The interpreter and its one argument of a `#!` line, within the 256
/// bytes the kernel reads.
fn shebang(path: &Path) -> Option<(PathBuf, Option<String>)> {
    // A regular file only, opened without waiting (a FIFO's open waits
    // for a writer; exec refuses one anyway).
    let (head, _) = crate::readfile::read_regular(path, 256, true).ok()?;
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n')?];
    let line = std::str::from_utf8(line).ok()?.trim_matches([' ', '\t']);
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim_matches([' ', '\t']).to_string())),
        None => (line, None),
    };
    (!interp.is_empty()).then(|| (PathBuf::from(interp), arg.filter(|a| !a.is_empty())))
}

/// The line that says the child's PATH search skips a program the view
/// hides for a later one it shows (pyenv's shim before /usr/bin's python):
/// the command runs, but not the program the host would run.
fn shadowed_command(program: &OsStr, searched: Option<Searched>) -> Option<String> {
    let (Some((first, (grant, view))), Some(runs)) = searched? else {
        return None;
    };
    // The same file by another way (`~/bin/python3` a link to the
    // `/usr/bin/python3` that runs): nothing else runs.
    let real = |p: &Path| std::fs::canonicalize(p).ok();
    if real(&first).is_some_and(|f| Some(f) == real(&runs)) {
        return None;
    }
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

/// A PATH search: the first hidden program before the first shown one,
/// and that one.
type Searched = (Option<Hidden>, Option<PathBuf>);

/// As execvp searches the child's PATH: the first program the view hides
/// before the first it shows (skipped inside as missing), and that one.
/// `None` without a PATH.
fn search_path(plan: &Plan, program: &OsStr) -> Option<Searched> {
    let search = plan.env.get("PATH")?;
    let mut hidden = None;
    // An empty entry is the working directory, to execvp as to the shell.
    for dir in std::env::split_paths(search) {
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

//! Lowering the spec into Landlock rules without namespaces.
//!
//! Mounts override (a later, deeper mount hides what it sits in); Landlock
//! rules only add up (access beneath a path is the union of every rule on its
//! ancestors). A deny inside an allowed tree therefore cannot be a rule: the
//! allow is pushed down instead, onto the siblings along the way to the
//! denied subtree, and what that loses is reported.

use std::io;
use std::path::{Path, PathBuf};

use crate::pathcmp::Keyed;
use crate::policy::Level;
use crate::spec::{Mount, SandboxSpec};

/// The host filesystem as far as expansion needs it (faked in tests).
pub trait HostFs {
    /// Entries of `dir` as `(path, is_symlink)`.
    fn list(&self, dir: &Path) -> io::Result<Vec<(PathBuf, bool)>>;

    /// `path` with every symlink resolved, when it has one (None when it
    /// has none or cannot be resolved).
    fn through_link(&self, path: &Path) -> Option<PathBuf>;
}

/// The real filesystem.
pub struct RealFs;

impl HostFs for RealFs {
    fn list(&self, dir: &Path) -> io::Result<Vec<(PathBuf, bool)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let is_link = entry.file_type().map(|t| t.is_symlink()).unwrap_or(false);
            out.push((entry.path(), is_link));
        }
        // Every entry is `dir/name`: ordering by the bytes of the whole path
        // is ordering by name, as `Path`'s component-wise order would be, at
        // a fraction of the cost.
        out.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
        Ok(out)
    }

    fn through_link(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok().filter(|real| real != path)
    }
}

/// Landlock rules for a spec, and what they could not express.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Rules, `Level::None` never appears.
    pub rules: Vec<(PathBuf, Level)>,
    /// One line per thing the rules do not say exactly as the mounts would.
    pub unexpressed: Vec<String>,
    /// Directories whose entries got rules one by one: they themselves
    /// cannot be listed (a listing right would reach the denied entry too).
    pub split: Vec<PathBuf>,
}

/// Temporary directories that stand in for a private tmpfs (shared instead).
const SHARED_TMP: &[&str] = &["/tmp", "/var/tmp"];

/// Device files a process expects (what bwrap's `--dev` provides), present
/// inside on both backends whatever the policy.
pub const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// The host's pseudo-terminals (see [`own_terminals`]).
const HOST_PTS: &str = "/dev/pts";

/// The controlling terminal's alias (see [`stdio_is_terminal`]).
const CONTROLLING_TTY: &str = "/dev/tty";

/// Whether any of 0, 1 and 2 is a terminal: a command run in the
/// foreground of one, which may reach it as `/dev/tty` too.
fn stdio_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
        || std::io::stdout().is_terminal()
        || std::io::stderr().is_terminal()
}

/// The pseudo-terminals this process has on its standard descriptors,
/// which the command inherits and may reopen by name (`/dev/pts/3`).
fn own_terminals() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for fd in 0..=2 {
        let Ok(target) = std::fs::read_link(format!("/proc/self/fd/{fd}")) else {
            continue;
        };
        let under_pts = target.parent() == Some(Path::new(HOST_PTS));
        if under_pts && !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// What each path should allow, in spec order (later wins at equal path).
fn wanted(spec: &SandboxSpec, fs: &dyn HostFs, notes: &mut Vec<String>) -> Vec<(PathBuf, Level)> {
    let mut nodes: Vec<(PathBuf, Level)> = Vec::new();
    // A rule is opened through links, so a mount written through one acts
    // on its real path. The core mounts that real path too, decided by the
    // plan's own order: the written one is left out, or its rules (say a
    // root's entries, Write) would land beside the real path's deeper nodes
    // without seeing them (a read-only cwd inside it made writable).
    let mounted = |p: &Path| spec.mounts.iter().any(|m| m.path() == p);
    let redundant = |m: &Mount| {
        !matches!(m, Mount::Symlink { .. } | Mount::Tmpfs { .. })
            && fs.through_link(m.path()).is_some_and(|real| mounted(&real))
    };
    for mount in spec.mounts.iter().filter(|m| !redundant(m)) {
        let level = match mount {
            Mount::ReadOnly { .. } => Level::Read,
            Mount::ReadWrite { .. } => Level::Write,
            Mount::Mask { .. } => Level::None,
            Mount::Tmpfs { path } if SHARED_TMP.iter().any(|t| path == Path::new(t)) => {
                notes.push(format!(
                    "{}: the host's directory, shared, instead of a private tmpfs",
                    path.display()
                ));
                Level::Write
            }
            Mount::Tmpfs { path } => {
                notes.push(format!(
                    "{}: denied instead of an empty private directory (needs a mount namespace)",
                    path.display()
                ));
                Level::None
            }
            Mount::Symlink { path, target } => {
                if std::fs::read_link(path).ok().as_deref() != Some(target.as_path()) {
                    notes.push(format!(
                        "{}: cannot create a symlink to {} without a mount namespace",
                        path.display(),
                        target.display()
                    ));
                }
                continue;
            }
        };
        nodes.push((mount.path().to_path_buf(), level));
    }
    // Later wins at an equal path, in the place of the later one: keep each
    // node only when no later one has its path (the same order as removing
    // the earlier one at each push, with each path scanned once).
    let keys: Vec<Keyed> = nodes.iter().map(|(p, _)| Keyed::new(p)).collect();
    let keep: Vec<bool> = (0..keys.len())
        .map(|i| !keys[i + 1..].iter().any(|k| k.same(keys[i])))
        .collect();
    let mut keep = keep.into_iter();
    nodes.retain(|_| keep.next().unwrap_or(true));
    // The host's /dev is not private: only the usual devices, never disks.
    nodes.retain(|(p, _)| !p.starts_with("/dev") && !p.starts_with("/proc"));
    nodes.push(("/dev".into(), Level::None));
    // Not the host's /dev/pts: it holds every terminal of this user, and
    // one opened by its name reads what is typed there (a password in
    // another window). bwrap gives the sandbox a devpts of its own; here
    // only the terminals the command was given on 0, 1 and 2 are granted.
    // `/dev/tty` likewise: without a new session (bwrap makes one) it is
    // the caller's controlling terminal, which a command started with no
    // terminal on 0, 1 or 2 (in the background) could take over.
    let on_stdio = stdio_is_terminal();
    nodes.extend(
        (DEVICES.iter())
            .filter(|d| **d != HOST_PTS && (**d != CONTROLLING_TTY || on_stdio))
            .map(|d| (PathBuf::from(d), Level::Write)),
    );
    nodes.extend(own_terminals().into_iter().map(|t| (t, Level::Write)));
    nodes.push(("/proc".into(), Level::Read));
    nodes
}

/// Expand the spec's mounts into additive Landlock rules.
pub fn expand(spec: &SandboxSpec, fs: &dyn HostFs) -> Expansion {
    let mut out = Expansion::default();
    let nodes = wanted(spec, fs, &mut out.unexpressed);
    let nodes: Vec<(Keyed, Level)> = nodes.iter().map(|(p, l)| (Keyed::new(p), *l)).collect();
    let mut ex = Expander {
        nodes: &nodes,
        fs,
        out,
    };
    for (path, level) in top_nodes(&nodes, None) {
        ex.place(path, level, Level::None);
    }
    ex.out
}

/// Nodes strictly below `under` (or all) with no other node in between.
fn top_nodes<'a>(nodes: &[(Keyed<'a>, Level)], under: Option<Keyed>) -> Vec<(Keyed<'a>, Level)> {
    let below = |p: Keyed| under.is_none_or(|u| p.strictly_under(u));
    nodes
        .iter()
        .filter(|(p, _)| below(*p))
        .filter(|(p, _)| !nodes.iter().any(|(q, _)| p.strictly_under(*q) && below(*q)))
        .copied()
        .collect()
}

struct Expander<'a> {
    nodes: &'a [(Keyed<'a>, Level)],
    fs: &'a dyn HostFs,
    out: Expansion,
}

impl Expander<'_> {
    /// Grant `want` at `path`, given that ancestors' rules already grant `granted`.
    fn place(&mut self, at: Keyed, want: Level, granted: Level) {
        let path = at.path();
        let below: Vec<Level> = self
            .nodes
            .iter()
            .filter(|(p, _)| p.strictly_under(at))
            .map(|(_, l)| *l)
            .collect();
        // A rule here may not exceed anything a deeper node allows.
        let here = below.iter().copied().fold(want, Level::min);
        let mut granted = granted;
        if here > granted {
            self.out.rules.push((path.to_path_buf(), here));
            granted = here;
        }
        if below.is_empty() {
            return;
        }
        if granted >= want {
            for (p, l) in top_nodes(self.nodes, Some(at)) {
                self.place(p, l, granted);
            }
            return;
        }
        let entries = match self.fs.list(path) {
            Ok(entries) => entries,
            Err(e) => {
                self.out.unexpressed.push(format!(
                    "{}: cannot list it to carve out what it contains ({e}); only {granted:?} granted",
                    path.display()
                ));
                for (p, l) in top_nodes(self.nodes, Some(at)) {
                    self.place(p, l, granted);
                }
                return;
            }
        };
        self.out.unexpressed.push(format!(
            "{}: {want:?} granted on its entries one by one; the directory itself gets {granted:?}",
            path.display()
        ));
        self.out.split.push(path.to_path_buf());
        // Only nodes strictly below `path` can equal or lie under one of its
        // entries: compare each entry against those few, not every node
        // (a directory like /etc has hundreds of entries).
        let under: Vec<(Keyed, Level)> = self
            .nodes
            .iter()
            .filter(|(p, _)| p.strictly_under(at))
            .copied()
            .collect();
        for (entry, is_link) in entries {
            let key = Keyed::new(&entry);
            if let Some((_, l)) = under.iter().find(|(p, _)| p.same(key)) {
                self.place(key, *l, granted);
            } else if is_link {
                // A rule is opened through links, so one here would grant
                // this directory's level on the link's target, above the
                // target's own rules (a deny under it read again). The
                // link needs none; what is written through it is placed
                // by its own level.
                for (p, l) in top_nodes(self.nodes, Some(key)) {
                    self.place(p, l, granted);
                }
            } else if under.iter().any(|(p, _)| p.starts_with(key)) {
                self.place(key, want, granted);
            } else {
                self.out.rules.push((entry, want));
            }
        }
    }
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;

//! Landlock's stand-ins for a private HOME and /tmp: a fresh directory per
//! sandbox, `<cache root>/run/<boot>-<ns>-<pid>-<start>-<seq>` holding `home/` and
//! `tmp/`, so nothing one sandbox leaves there (a `~/.gitconfig` with
//! `core.fsmonitor`, a `~/.bashrc`, files in tmp) reaches the next one.
//!
//! Landlock has no mount namespace, so nothing removes them when the
//! sandbox ends: `sandspawn run` execs the command in place and nothing of
//! sandspawn stays behind to clean up. Instead the name says who owns the
//! directory — `<boot>-<ns>-<pid>-<start>` is the process that plans it
//! (field 22 of /proc/PID/stat tells a recycled pid apart; the boot id, a
//! directory left from before a reboot; the pid namespace, whose pids
//! these are: one of another namespace is never swept): with `run` that
//! process becomes the command; with the library it is the host, which
//! also removes it when it reaps the child. Every later planning of a
//! Landlock sandbox sweeps the directories whose owner is gone.
//!
//! With no pid namespace, a process the command leaves running in the
//! background outlives the owner: its HOME and tmp go with the next sweep.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::assemble::PrivateDirs;
use super::BuildError;

/// The directory under the cache root that holds one directory per sandbox.
pub(crate) const RUN_DIR: &str = "run";

/// At most this many entries are removed by one sweep: a sandbox that left
/// a million files in its tmp must not stall the next spawn; the next
/// sweeps go on where this one stopped.
const SWEEP_BUDGET: usize = 5_000;

/// Deeper than this, a leftover tree is reported rather than followed (a
/// child can nest directories without bound; recursion and open
/// descriptors cannot).
const MAX_DEPTH: usize = 128;

/// The start time of process `pid` in clock ticks since boot (field 22 of
/// /proc/PID/stat), `None` when there is no such process.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    start_time_of(&stat)
}

/// Field 22 of a /proc/PID/stat line. The command name (field 2) may hold
/// spaces and parentheses: count from the last `)`.
fn start_time_of(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    // After `)` comes field 3 (state): field 22 is the 20th from there.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Who owns a sandbox's directory: a process, told apart from a later one
/// with its pid by its start time, and from one of an earlier boot (the
/// directory outlived a reboot) by the boot. Its pid namespace says whose
/// pids these are: a container (toolbox, distrobox) sharing the cache with
/// its host numbers its processes apart, and cannot see the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    /// The first 8 hex digits of /proc/sys/kernel/random/boot_id.
    boot: String,
    /// The inode of /proc/self/ns/pid (0 without /proc).
    ns: u64,
    pid: u32,
    start: u64,
}

/// This process's pid namespace, as the inode of /proc/self/ns/pid.
fn this_pid_ns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    static NS: OnceLock<u64> = OnceLock::new();
    *NS.get_or_init(|| std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino()))
}

/// This boot, as the first 8 hex digits of its random id ("0" without
/// /proc: then only pid and start time tell owners apart).
fn this_boot() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|id| id.chars().filter(char::is_ascii_hexdigit).take(8).collect())
            .filter(|id: &String| id.len() == 8)
            .unwrap_or_else(|| "0".into())
    })
}

/// This process. The start time is read once per pid (a forked copy of a
/// library host reads its own).
fn own_identity() -> Owner {
    static OWN: OnceLock<(u32, u64)> = OnceLock::new();
    let pid = std::process::id();
    let start = match OWN.get() {
        Some(&(p, start)) if p == pid => start,
        _ => {
            // No /proc: 0; the sweep cannot tell owners apart then and
            // leaves every directory alone (`owner_alive`).
            let start = start_time(pid).unwrap_or(0);
            let _ = OWN.set((pid, start));
            start
        }
    };
    Owner {
        boot: this_boot().to_string(),
        ns: this_pid_ns(),
        pid,
        start,
    }
}

/// Whether the owner a directory's name gives is still running. Without
/// /proc to tell, or from another pid namespace of this boot (whose pids
/// this one cannot look up), it is taken as alive: a live sandbox's
/// directory is never swept. Of an earlier boot, nothing is alive.
fn owner_alive(owner: &Owner) -> bool {
    if !Path::new("/proc/self/stat").exists() {
        return true;
    }
    if owner.boot != this_boot() {
        return false;
    }
    // 0: the namespace could not be read, by the owner or by us; two such
    // namespaces would take each other's live owners for gone.
    owner.ns == 0 || owner.ns != this_pid_ns() || start_time(owner.pid) == Some(owner.start)
}

/// `<boot>-<ns>-<pid>-<start>-<seq>`, parsed.
fn owner_of(name: &OsStr) -> Option<Owner> {
    let name = std::str::from_utf8(name.as_bytes()).ok()?;
    let mut parts = name.splitn(5, '-');
    let boot = parts
        .next()
        .filter(|b| b.chars().all(|c| c.is_ascii_hexdigit()))?;
    let ns = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    Some(Owner {
        boot: boot.to_string(),
        ns,
        pid,
        start,
    })
}

/// Names a fresh directory under `run` owned by this process; nothing is
/// created (`explain` plans without leaving one behind): see [`create`].
pub(crate) fn name_fresh(run: &Path) -> PrivateDirs {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let Owner {
        boot,
        ns,
        pid,
        start,
    } = own_identity();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = run.join(format!("{boot}-{ns}-{pid}-{start}-{seq}"));
    PrivateDirs {
        home: dir.join("home"),
        tmp: dir.join("tmp"),
        dir,
    }
}

/// A sandbox's own directory, created; removed on drop (or by a later
/// sweep once its owner is gone, when the drop never comes: an exec).
#[derive(Debug)]
pub struct PrivateRun {
    dir: Option<PathBuf>,
}

impl PrivateRun {
    /// The directory holding `home/` and `tmp/`.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Remove it now, saying why it could not be.
    pub fn remove(mut self) -> io::Result<()> {
        match self.dir.take() {
            Some(dir) => remove_tree(&dir),
            None => Ok(()),
        }
    }
}

impl Drop for PrivateRun {
    fn drop(&mut self) {
        // Best effort: what stays is swept once the owner is gone. Within
        // the sweep's budget: a library host drops this on a runtime's
        // worker thread, which a sandbox that left a million files in its
        // tmp must not stall.
        if let Some(dir) = self.dir.take() {
            let mut budget = SWEEP_BUDGET;
            if remove_within(&dir, &mut budget).is_ok() || !dir.exists() {
                return;
            }
            // Past the budget, or a file made by a server killed a moment
            // ago (SIGKILL lands after its current call): the sweep takes
            // only what a gone owner left, and the owner is this process,
            // which may run for weeks. So the rest goes now, on a thread
            // of its own, once more after a pause for a dying server.
            let _ = std::thread::Builder::new()
                .name("sandspawn-private-cleanup".into())
                .spawn(move || {
                    for pause in [100, 1000] {
                        std::thread::sleep(std::time::Duration::from_millis(pause));
                        if remove_tree(&dir).is_ok() || !dir.exists() {
                            return;
                        }
                    }
                });
        }
    }
}

/// Create `dirs` (0700). The directory must not exist yet: its name is
/// this process's and used once, so one that does was not made for this
/// sandbox and is refused.
pub(crate) fn create(dirs: &PrivateDirs) -> Result<PrivateRun, BuildError> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |path: &Path, source: io::Error| BuildError::PrivateDir {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dirs.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(BuildError::UnsafePrivateDir {
                path: dirs.dir.clone(),
                problem: "exists already, but each sandbox's HOME and TMPDIR must be new \
                          (a plan's private directories are made once: plan again, or spawn \
                          with the library, which makes new ones each time)"
                    .into(),
            })
        }
        Err(e) => return Err(fail(&dirs.dir, e)),
    }
    let guard = PrivateRun {
        dir: Some(dirs.dir.clone()),
    };
    owner_only(&dirs.dir).map_err(|e| fail(&dirs.dir, e))?;
    for sub in [&dirs.home, &dirs.tmp] {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(sub)
            .and_then(|()| owner_only(sub))
            .map_err(|e| fail(sub, e))?;
    }
    Ok(guard)
}

/// Make a directory just created 0700 exactly 0700: a umask that takes the
/// owner's bits would leave it unusable. Looked at first, as a chmod
/// costs a journal write (~20 us on ext4) on every spawn.
fn owner_only(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if std::fs::symlink_metadata(path)?.mode() & 0o7777 == 0o700 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// Remove the directories under `run` whose owner is gone; one line about
/// what could not be removed, if anything. Only names of the
/// `<boot>-<ns>-<pid>-<start>-<seq>` shape are touched.
pub(crate) fn sweep(run: &Path) -> Option<String> {
    let entries = match std::fs::read_dir(run) {
        Ok(e) => e,
        Err(e) => {
            return Some(format!(
                "{}: cannot list old Landlock HOME/TMPDIR directories to remove them: {e}",
                run.display()
            ))
        }
    };
    let mut failed: Vec<(PathBuf, TreeError)> = Vec::new();
    let mut budget = SWEEP_BUDGET;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = owner_of(&name) else {
            continue;
        };
        if owner_alive(&owner) {
            continue;
        }
        let path = run.join(&name);
        match remove_within(&path, &mut budget) {
            Ok(()) => {}
            // The rest waits for the next sweeps: unused and hidden from
            // every sandbox meanwhile.
            Err(_) if budget == 0 => break,
            Err(e) => failed.push((path, e)),
        }
    }
    let (_, err) = failed.first()?;
    // The error's path starts at the directory's own name, under `run`.
    Some(format!(
        "{} old Landlock HOME/TMPDIR director{} could not be removed (first: {}: {}); \
         remove {} by hand",
        failed.len(),
        if failed.len() == 1 { "y" } else { "ies" },
        run.join(&err.path).display(),
        err.errno.desc(),
        if failed.len() == 1 { "it" } else { "them" },
    ))
}

/// The Landlock backend's HOME and TMPDIR before each sandbox got its
/// own: `<cache root>/home` and `tmp`, shared by every sandbox and kept.
/// Nothing uses them now, but what they hold came from sandboxes (a token
/// a tool saved in HOME, files left in tmp) and a grant of the cache
/// (`--read ~`) would show it to the next one.
const LEGACY_DIRS: [&str; 2] = ["home", "tmp"];

/// Remove what is left of [`LEGACY_DIRS`] under `cache_root` (never
/// following a link, within the sweep's budget): the paths still there,
/// for the plan to hide, and one line if one could not be removed.
///
/// Only under a cache root named `sandspawn` (the layout sandspawn makes:
/// a library host's own `cache_dir` puts the root wherever its parent is,
/// and `~/home` there is not ours), and only directories of this user.
pub(crate) fn sweep_legacy(cache_root: &Path) -> (Vec<PathBuf>, Option<String>) {
    use std::os::unix::fs::MetadataExt;
    let mut left = Vec::new();
    let mut said = None;
    let mut budget = SWEEP_BUDGET;
    if cache_root.file_name() != Some(OsStr::new("sandspawn")) {
        return (left, said);
    }
    let me = nix::unistd::geteuid().as_raw();
    for name in LEGACY_DIRS {
        let path = cache_root.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.uid() == me => {}
            _ => continue,
        }
        match remove_within(&path, &mut budget) {
            Ok(()) => {}
            Err(e) => {
                if budget > 0 {
                    said.get_or_insert_with(|| {
                        format!(
                            "{}: an older sandspawn's shared Landlock HOME/TMPDIR could not be \
                             removed ({}: {}); it stays hidden from every sandbox: remove it by hand",
                            path.display(),
                            cache_root.join(&e.path).display(),
                            e.errno.desc()
                        )
                    });
                }
                left.push(path);
            }
        }
    }
    (left, said)
}

/// Remove `path` and everything under it without following a symlink: a
/// link the child planted is removed, never its target. Directories the
/// child made unreadable or unwritable are ours: made 0700 first.
fn remove_tree(path: &Path) -> io::Result<()> {
    let mut unbounded = usize::MAX;
    remove_within(path, &mut unbounded)
        .map_err(|e| io::Error::new(io::Error::from(e.errno).kind(), e))
}

/// [`remove_tree`], unlinking at most `budget` entries (counted down).
fn remove_within(path: &Path, budget: &mut usize) -> Result<(), TreeError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(TreeError {
            path: path.to_path_buf(),
            errno: Errno::EINVAL,
        });
    };
    let parent = open_dir(None, parent.as_os_str()).map_err(|errno| TreeError {
        path: parent.to_path_buf(),
        errno,
    })?;
    remove_at(&parent, name, 0, budget)
}

/// Why a tree could not be removed, naming the entry.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", path.display(), errno.desc())]
struct TreeError {
    path: PathBuf,
    errno: Errno,
}

/// The errno of an I/O error of std's (EIO when it carries none).
fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn open_dir(at: Option<&OwnedFd>, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match at {
        Some(dir) => openat(dir, name, flags, Mode::empty()),
        None => nix::fcntl::open(name, flags, Mode::empty()),
    }
}

fn remove_at(
    parent: &OwnedFd,
    name: &OsStr,
    depth: usize,
    budget: &mut usize,
) -> Result<(), TreeError> {
    let fail = |errno| TreeError {
        path: PathBuf::from(name),
        errno,
    };
    let within = |e: TreeError| TreeError {
        path: Path::new(name).join(e.path),
        errno: e.errno,
    };
    *budget = budget.checked_sub(1).ok_or_else(|| fail(Errno::EAGAIN))?;
    // ENOENT anywhere: another sweep (MCP clients start servers in
    // parallel, each planning sweeps) removed it first, which is the goal.
    let st = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => return Ok(()),
        st => st.map_err(fail)?,
    };
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return gone_is_fine(unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)).map_err(fail);
    }
    if depth >= MAX_DEPTH {
        return Err(fail(Errno::ELOOP));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dir = match openat(parent, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        // A directory the child made 0000: ours, so made ours to read.
        Err(Errno::EACCES) => {
            chmod_dir_at(parent, name).map_err(fail)?;
            openat(parent, name, flags, Mode::empty()).map_err(fail)?
        }
        Err(e) => return Err(fail(e)),
    };
    // Read and write (unlink inside) and search.
    if st.st_mode & 0o700 != 0o700 {
        fchmod(dir.as_fd(), Mode::S_IRWXU).map_err(fail)?;
    }
    // Listed through the descriptor, not the name: what the name leads to
    // may have changed since it was opened.
    let listing = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))
        .map_err(|e| fail(errno_of(&e)))?;
    for entry in listing {
        let entry = entry.map_err(|e| fail(errno_of(&e)))?;
        remove_at(&dir, &entry.file_name(), depth + 1, budget).map_err(within)?;
    }
    drop(dir);
    gone_is_fine(unlinkat(parent, name, UnlinkatFlags::RemoveDir)).map_err(fail)
}

/// An unlink that found nothing: removed already (by a concurrent sweep).
fn gone_is_fine(unlinked: nix::Result<()>) -> nix::Result<()> {
    match unlinked {
        Err(Errno::ENOENT) => Ok(()),
        other => other,
    }
}

/// chmod 0700 the directory `name` in `parent` without following a link
/// there: opened O_PATH (which needs no permission on it), then changed
/// through its /proc/self/fd link, which leads to that inode itself.
fn chmod_dir_at(parent: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    use std::os::unix::fs::PermissionsExt;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(parent, name, flags, Mode::empty())?;
    std::fs::set_permissions(
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        std::fs::Permissions::from_mode(0o700),
    )
    .map_err(|e| errno_of(&e))
}

impl super::Plan {
    /// Landlock: create the HOME and TMPDIR directories this plan names,
    /// for a sandbox that starts from this process (`run` execs it in
    /// place). Once per plan: a second call is refused, as the directory
    /// is no longer new. `None` on bwrap, whose are private mounts.
    pub fn create_private_dirs(&self) -> Result<Option<PrivateRun>, BuildError> {
        self.private_dirs.as_ref().map(create).transpose()
    }

    /// Landlock: this plan with HOME and TMPDIR moved to a directory of
    /// their own, newly created, for one more sandbox from the same plan
    /// (the library spawns a plan as often as it is asked to). The owner
    /// is this process; the returned guard removes the directory when
    /// dropped. On bwrap the plan as it is.
    pub fn with_fresh_private_dirs(&self) -> Result<(super::Plan, Option<PrivateRun>), BuildError> {
        let Some(old) = &self.private_dirs else {
            return Ok((self.clone(), None));
        };
        let run = old.dir.parent().ok_or(BuildError::NoCacheDir)?;
        let new = name_fresh(run);
        let mut plan = self.clone();
        let moved = |p: &Path| p.strip_prefix(&old.dir).ok().map(|rest| new.dir.join(rest));
        for e in &mut plan.fs.entries {
            if let Some(p) = moved(&e.path) {
                e.path = p;
            }
        }
        // A list (PATH-like) may name it in any of its entries.
        for v in &mut plan.env.vars {
            let parts: Vec<&[u8]> = v.value.as_bytes().split(|&b| b == b':').collect();
            let rebound: Vec<Option<PathBuf>> = (parts.iter())
                .map(|p| moved(Path::new(OsStr::from_bytes(p))))
                .collect();
            if rebound.iter().all(Option::is_none) {
                continue;
            }
            let mut value = Vec::new();
            for (i, (part, new)) in parts.iter().zip(&rebound).enumerate() {
                if i > 0 {
                    value.push(b':');
                }
                match new {
                    Some(p) => value.extend_from_slice(p.as_os_str().as_bytes()),
                    None => value.extend_from_slice(part),
                }
            }
            v.value = std::ffi::OsString::from_vec(value);
        }
        let guard = create(&new)?;
        plan.private_dirs = Some(new);
        Ok((plan, Some(guard)))
    }
}

#[cfg(test)]
#[path = "private_run_tests.rs"]
mod tests;

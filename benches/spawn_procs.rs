//! /proc inspection for the spawn benchmark: descriptors, zombies,
//! leftover processes, files left behind, the process tree of a spawn.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Every path under `roots` (recursively), for before/after comparison.
/// The system temp dir is shared with the rest of the machine, so only
/// entries there whose name mentions sandspawn or bwrap are counted.
pub fn listing(roots: &[&Path]) -> BTreeSet<PathBuf> {
    let system_tmp = std::env::temp_dir();
    let mut out = BTreeSet::new();
    for root in roots {
        if *root == system_tmp {
            for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().to_lowercase();
                if name.contains("sandspawn") || name.contains("bwrap") {
                    out.insert(e.path());
                }
            }
        } else {
            walk(root, &mut out);
        }
    }
    out
}

fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, out);
        }
        out.insert(path);
    }
}

/// Reap whatever children are left (each one a zombie: every spawn was
/// waited for). Returns how many there were.
pub fn reap_zombies() -> usize {
    let mut n = 0;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return n,
            Ok(_) => n += 1,
        }
    }
}

fn read_lossy(path: impl AsRef<Path>) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = read_lossy(format!("/proc/{pid}/stat"));
    // The command name may hold spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Processes still around after `grace` that belong to the benchmark: a
/// child of this process, or anything whose command line or environment
/// names the benchmark's HOME (sandspawn, bwrap and the sandboxed command
/// all carry it).
pub fn leftovers(home: &Path, grace: Duration) -> Vec<String> {
    let me = std::process::id();
    let marker = home.to_string_lossy().into_owned();
    let deadline = Instant::now() + grace;
    loop {
        let found: Vec<String> = pids()
            .into_iter()
            .filter(|&pid| pid != me)
            .filter(|&pid| {
                ppid(pid) == Some(me)
                    || read_lossy(format!("/proc/{pid}/cmdline")).contains(&marker)
                    || read_lossy(format!("/proc/{pid}/environ")).contains(&marker)
            })
            .map(|pid| format!("{pid} {}", read_lossy(format!("/proc/{pid}/comm")).trim()))
            .collect();
        if found.is_empty() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Children of `pid` (every thread's).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = read_lossy(task.path().join("children"));
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

/// The chain from `pid` down through its first child at each level, as
/// `(pid, comm)`.
pub fn tree(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut cur = Some(pid);
    while let Some(p) = cur {
        out.push((p, read_lossy(format!("/proc/{p}/comm")).trim().to_string()));
        cur = children(p).first().copied();
    }
    out
}

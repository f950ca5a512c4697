//! The process tree under a server's pid, read from /proc, and signals to
//! it. Each process is remembered with its start time so a recycled pid is
//! never signalled.

use std::os::fd::AsFd;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// One process: pid, start time (clock ticks since boot), command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// Its pid.
    pub pid: i32,
    /// Its parent.
    pub ppid: i32,
    /// Start time, field 22 of /proc/PID/stat.
    pub start: u64,
    /// `comm`.
    pub comm: String,
}

/// Parse /proc/PID/stat (the comm field may hold spaces and parentheses).
pub fn parse_stat(pid: i32, text: &str) -> Option<Proc> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 2..)?.split(' ').collect();
    // rest[0] is field 3 (state): ppid is field 4, starttime field 22.
    let ppid = rest.get(1)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        start,
        comm,
    })
}

fn read_proc(pid: i32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

/// `root` and all its descendants, parents before children.
pub fn descendants(root: i32) -> Vec<Proc> {
    let mut all = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let pid = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok());
            if let Some(p) = pid.and_then(read_proc) {
                all.push(p);
            }
        }
    }
    tree_of(root, &all)
}

/// The subtree of `root` in `all`, parents first.
pub fn tree_of(root: i32, all: &[Proc]) -> Vec<Proc> {
    let mut out: Vec<Proc> = all.iter().filter(|p| p.pid == root).cloned().collect();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].pid;
        out.extend(
            all.iter()
                .filter(|p| p.ppid == parent && p.pid != root)
                .cloned(),
        );
        i += 1;
    }
    out
}

/// `procs` without the `--net proxy` bridge (`sandspawn __proxy-bridge`,
/// bwrap's child on the host): it removes its socket directory and exits
/// once bwrap has exited, which a signal to it would prevent. For bwrap
/// sandboxes only: there a process that names itself so still dies with
/// the pid namespace.
pub fn without_bridge(procs: Vec<Proc>) -> Vec<Proc> {
    procs
        .into_iter()
        .filter(|p| {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            cmdline.split(|b| *b == 0).nth(1)
                != Some(sandspawn_linux::bridge::BRIDGE_TOKEN.as_bytes())
        })
        .collect()
}

/// Send `sig` to each process still alive with the same start time,
/// through a pidfd: opened first, the start time read after it, so the
/// process checked is the one the pidfd holds (checked, then signalled by
/// number, it could exit and its number go to another in between).
pub fn signal_all(procs: &[Proc], sig: Signal) {
    for p in procs {
        let pidfd = u32::try_from(p.pid).ok();
        let Some(fd) = pidfd.and_then(|pid| sandspawn_linux::pidfd::open(pid).ok()) else {
            continue;
        };
        if read_proc(p.pid).is_some_and(|now| now.start == p.start) {
            let _ = sandspawn_linux::pidfd::send_signal(fd.as_fd(), sig as libc::c_int);
        }
    }
}

/// Send `sig` to the process group `pgid` (the server was started as a
/// group leader, not yet reaped).
pub fn signal_group(pgid: i32, sig: Signal) {
    let _ = killpg(Pid::from_raw(pgid), sig);
}

/// [`signal_group`] after the leader was reaped: its members may live on
/// (they keep the number `pgid` allocated), but once they are all gone the
/// number can be reused, and a new process with pid `pgid` may lead an
/// unrelated group. While any member lives, no process can have pid
/// `pgid`; so a process with that pid means the group is gone.
pub fn signal_reaped_group(pgid: i32, sig: Signal) {
    if !std::path::Path::new(&format!("/proc/{pgid}")).exists() {
        signal_group(pgid, sig);
    }
}

/// Whether any of `procs` is still alive (same start time, not a zombie
/// awaiting its reaper counts as alive).
pub fn any_alive(procs: &[Proc]) -> bool {
    procs
        .iter()
        .any(|p| read_proc(p.pid).is_some_and(|now| now.start == p.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live process whose pid is the reaped leader's number leads some
    /// other group: it is not signalled.
    #[test]
    fn a_reused_leader_pid_is_not_killed_as_our_group() {
        use std::os::unix::process::CommandExt;
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = other.id() as i32;
        signal_reaped_group(pid, Signal::SIGKILL);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            other.try_wait().unwrap().is_none(),
            "an unrelated group was killed"
        );
        other.kill().unwrap();
        other.wait().unwrap();
    }

    /// The leader reaped, a member of its group still running: the member
    /// is killed (no process holds the leader's pid).
    #[test]
    fn a_reaped_leaders_group_members_are_killed() {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "sleep 30 >/dev/null & echo $!"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        leader
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let member: i32 = out.trim().parse().unwrap();
        let pgid = leader.id() as i32;
        leader.wait().unwrap();
        signal_reaped_group(pgid, Signal::SIGKILL);
        // The member is re-parented (to init or a subreaper) and reaped
        // there once killed: wait, bounded, for it to be gone.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{member}/stat"))
                .is_ok_and(|s| !s.contains(") Z "))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!alive(), "the group member {member} survived");
    }

    #[test]
    fn stat_with_odd_comm_and_subtree() {
        let p = parse_stat(
            7,
            "7 (a (b) c) S 3 7 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1 2",
        )
        .unwrap();
        assert_eq!((p.ppid, p.start, p.comm.as_str()), (3, 12345, "a (b) c"));
        let mk = |pid, ppid| Proc {
            pid,
            ppid,
            start: 1,
            comm: String::new(),
        };
        let all = [mk(1, 0), mk(10, 1), mk(11, 10), mk(12, 11), mk(13, 1)];
        let pids: Vec<i32> = tree_of(10, &all).iter().map(|p| p.pid).collect();
        assert_eq!(pids, [10, 11, 12]);
    }
}

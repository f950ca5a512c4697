//! Process descriptors: how sandspawn holds a process it signals. A pid
//! number names whichever process has it now; once the one we meant was
//! reaped (by us, or by the kernel for a parent that ignores SIGCHLD) a
//! signal by number can reach an unrelated process that took the number.
//! A pidfd names one process for good: a signal through it reaches that
//! process or fails with ESRCH.
//!
//! The calls came in three kernels: `pidfd_send_signal` in 5.1,
//! `pidfd_open` in 5.3, `waitid(P_PIDFD)` in 5.4. Without them a server
//! cannot be owned safely, so [`support`] is checked before one is
//! started and a missing call is an error naming it and the kernel it
//! needs (fail closed; no fallback to signals by number).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use crate::sys;

/// One of the pidfd calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidfdCall {
    /// `pidfd_open`.
    Open,
    /// `waitid(P_PIDFD)`.
    Wait,
    /// `pidfd_send_signal`.
    Signal,
}

impl PidfdCall {
    /// The call as messages name it.
    pub fn name(self) -> &'static str {
        match self {
            PidfdCall::Open => "pidfd_open",
            PidfdCall::Wait => "waitid(P_PIDFD)",
            PidfdCall::Signal => "pidfd_send_signal",
        }
    }

    /// The first Linux release with it.
    pub fn since(self) -> &'static str {
        match self {
            PidfdCall::Open => "5.3",
            PidfdCall::Wait => "5.4",
            PidfdCall::Signal => "5.1",
        }
    }
}

/// A pidfd call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PidfdError {
    /// The kernel does not have the call.
    #[error(
        "{call} is not available on this kernel ({errno}): sandspawn holds the processes it \
         signals by a pidfd, which needs Linux {since} or later; run on a newer kernel",
        call = .call.name(),
        since = .call.since()
    )]
    Unsupported {
        /// The call.
        call: PidfdCall,
        /// ENOSYS, or EINVAL from a waitid that does not know P_PIDFD.
        errno: &'static str,
    },
    /// No descriptor was left for it (EMFILE, ENFILE): a state of the
    /// moment, not of the kernel.
    #[error(
        "{call}: {source}: out of file descriptors (this process's limit, `ulimit -n`, or the \
         system's, fs.file-max); raise the limit or close descriptors, and try again",
        call = .call.name()
    )]
    OutOfDescriptors {
        /// The call.
        call: PidfdCall,
        /// The error.
        source: io::Error,
    },
    /// It failed for another reason (a seccomp filter of the host's: EPERM).
    #[error(
        "{call}: {source} (sandspawn holds the processes it signals by a pidfd; a seccomp \
         filter of the host's may block it)",
        call = .call.name()
    )]
    Failed {
        /// The call.
        call: PidfdCall,
        /// The error.
        source: io::Error,
    },
}

impl PidfdError {
    /// The error of `call` failing with `err`: a kernel without the call
    /// answers ENOSYS; one with waitid but without P_PIDFD (5.3) answers
    /// EINVAL, which a waitid that knows P_PIDFD gives only for flags we
    /// never pass.
    pub fn of(call: PidfdCall, err: io::Error) -> PidfdError {
        match (call, err.raw_os_error()) {
            (_, Some(libc::ENOSYS)) => PidfdError::Unsupported {
                call,
                errno: "ENOSYS",
            },
            (PidfdCall::Wait, Some(libc::EINVAL)) => PidfdError::Unsupported {
                call,
                errno: "EINVAL",
            },
            (_, Some(libc::EMFILE | libc::ENFILE)) => {
                PidfdError::OutOfDescriptors { call, source: err }
            }
            _ => PidfdError::Failed { call, source: err },
        }
    }

    /// Whether the kernel lacks the call (not a failure of this use).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, PidfdError::Unsupported { .. })
    }
}

/// Whether this kernel has every pidfd call sandspawn uses, asked through
/// a pidfd of this process: open it, signal 0 through it (a permission
/// check, nothing delivered), and waitid on it, which a kernel that knows
/// P_PIDFD answers ECHILD (we are not our own child). The kernel's answer
/// (yes, or a missing call) is kept for the process; any other failure
/// (out of descriptors, a filter) is the moment's and asked again, so one
/// spawn that found no descriptor does not refuse every later one.
pub fn support() -> Result<(), PidfdError> {
    static KNOWN: OnceLock<Probed> = OnceLock::new();
    support_in(&KNOWN, || {
        let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
        let own = sys::pidfd_open(std::process::id() as libc::pid_t)
            .map_err(|e| (PidfdCall::Open, errno(e)))?;
        sys::pidfd_send_signal(own.as_fd(), 0).map_err(|e| (PidfdCall::Signal, errno(e)))?;
        match sys::pidfd_exited(own.as_fd()) {
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(()),
            Ok(_) => Ok(()),
            Err(e) => Err((PidfdCall::Wait, errno(e))),
        }
    })
}

/// A probe's answer: the failing call and its errno (an io::Error is not
/// Copy; the error is made again for each caller).
type Probed = Result<(), (PidfdCall, i32)>;

/// [`support`] with the answer kept in `known`, `probe` asked while none
/// is.
fn support_in(known: &OnceLock<Probed>, probe: impl FnOnce() -> Probed) -> Result<(), PidfdError> {
    let error = |(call, e): (PidfdCall, i32)| PidfdError::of(call, io::Error::from_raw_os_error(e));
    if let Some(answer) = known.get() {
        return answer.map_err(error);
    }
    let answer = probe();
    let lasting = answer.map_or_else(|e| error(e).is_unsupported(), |()| true);
    if lasting {
        let _ = known.set(answer);
    }
    answer.map_err(error)
}

/// A pidfd of `pid`. Only as good as the number: take it while `pid`
/// cannot have been reused (our own child not yet reaped), or check the
/// process it names afterwards (its start time).
pub fn open(pid: u32) -> Result<OwnedFd, PidfdError> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| PidfdError::Failed {
        call: PidfdCall::Open,
        source: io::Error::other(format!("pid {pid} out of range")),
    })?;
    sys::pidfd_open(pid).map_err(|e| PidfdError::of(PidfdCall::Open, e))
}

/// Send `sig` to the process `pidfd` names; ESRCH (as a
/// [`PidfdError::Failed`]) once it was reaped.
pub fn send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> Result<(), PidfdError> {
    sys::pidfd_send_signal(pidfd, sig).map_err(|e| PidfdError::of(PidfdCall::Signal, e))
}

/// Whether the child `pidfd` names has exited, without reaping it (ECHILD,
/// as a [`PidfdError::Failed`], once it was reaped).
pub fn exited(pidfd: BorrowedFd<'_>) -> Result<bool, PidfdError> {
    sys::pidfd_exited(pidfd).map_err(|e| PidfdError::of(PidfdCall::Wait, e))
}

#[cfg(test)]
#[path = "pidfd_tests.rs"]
mod tests;

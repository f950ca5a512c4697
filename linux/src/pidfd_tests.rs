use super::*;

fn err(call: PidfdCall, errno: i32) -> PidfdError {
    PidfdError::of(call, io::Error::from_raw_os_error(errno))
}

#[test]
fn a_missing_call_names_itself_and_the_kernel_it_needs() {
    let cases = [
        (PidfdCall::Open, libc::ENOSYS, "pidfd_open", "ENOSYS", "5.3"),
        (
            PidfdCall::Wait,
            libc::ENOSYS,
            "waitid(P_PIDFD)",
            "ENOSYS",
            "5.4",
        ),
        // 5.3 has waitid but not P_PIDFD: EINVAL.
        (
            PidfdCall::Wait,
            libc::EINVAL,
            "waitid(P_PIDFD)",
            "EINVAL",
            "5.4",
        ),
        (
            PidfdCall::Signal,
            libc::ENOSYS,
            "pidfd_send_signal",
            "ENOSYS",
            "5.1",
        ),
    ];
    for (call, errno, name, errno_name, since) in cases {
        let e = err(call, errno);
        assert!(e.is_unsupported(), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{name} is not available on this kernel ({errno_name}): sandspawn holds the \
                 processes it signals by a pidfd, which needs Linux {since} or later; run on a \
                 newer kernel"
            )
        );
    }
}

#[test]
fn other_errors_are_failures_of_the_call_not_a_missing_kernel_feature() {
    // EINVAL from pidfd_open or pidfd_send_signal is a bad argument, not
    // an old kernel; EPERM is a filter; ECHILD and ESRCH are the process.
    for (call, errno) in [
        (PidfdCall::Open, libc::EINVAL),
        (PidfdCall::Signal, libc::EINVAL),
        (PidfdCall::Open, libc::EPERM),
        (PidfdCall::Wait, libc::ECHILD),
        (PidfdCall::Signal, libc::ESRCH),
    ] {
        let e = err(call, errno);
        assert!(!e.is_unsupported(), "{e}");
        let PidfdError::Failed { source, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(source.raw_os_error(), Some(errno));
    }
    assert_eq!(
        err(PidfdCall::Open, libc::EPERM).to_string(),
        format!(
            "pidfd_open: {} (sandspawn holds the processes it signals by a pidfd; a seccomp \
             filter of the host's may block it)",
            io::Error::from_raw_os_error(libc::EPERM)
        )
    );
}

#[test]
fn this_kernel_has_them() {
    support().unwrap();
}

#[test]
fn a_signal_through_the_pidfd_of_a_reaped_child_is_esrch() {
    let mut child = std::process::Command::new("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let fd = open(child.id()).unwrap();
    assert!(!exited(fd.as_fd()).unwrap());
    send_signal(fd.as_fd(), libc::SIGKILL).unwrap();
    // Exited, not reaped: waitid still reports it, a signal still takes.
    while !exited(fd.as_fd()).unwrap() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    send_signal(fd.as_fd(), 0).unwrap();
    child.wait().unwrap();
    let gone = send_signal(fd.as_fd(), libc::SIGKILL).unwrap_err();
    let PidfdError::Failed { source, .. } = gone else {
        panic!("{gone:?}");
    };
    assert_eq!(source.raw_os_error(), Some(libc::ESRCH));
    let gone = exited(fd.as_fd()).unwrap_err();
    let PidfdError::Failed { source, .. } = gone else {
        panic!("{gone:?}");
    };
    assert_eq!(source.raw_os_error(), Some(libc::ECHILD));
}

/// Out of descriptors is this moment's state, not the kernel's nor a
/// filter's: said so, with the limit to raise.
#[test]
fn out_of_descriptors_names_the_limit_not_a_filter() {
    for errno in [libc::EMFILE, libc::ENFILE] {
        let e = err(PidfdCall::Open, errno);
        assert!(!e.is_unsupported(), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "pidfd_open: {}: out of file descriptors (this process's limit, `ulimit -n`, \
                 or the system's, fs.file-max); raise the limit or close descriptors, and try \
                 again",
                io::Error::from_raw_os_error(errno)
            )
        );
    }
}

/// Only the kernel's answer is kept: a probe that failed for the moment
/// (EMFILE) is asked again next time, and its success then kept; a
/// missing call is kept and not asked again.
#[test]
fn only_a_lasting_answer_is_kept() {
    let known = OnceLock::new();
    let e = support_in(&known, || Err((PidfdCall::Open, libc::EMFILE))).unwrap_err();
    assert!(matches!(e, PidfdError::OutOfDescriptors { .. }), "{e:?}");
    let e = support_in(&known, || Err((PidfdCall::Signal, libc::EPERM))).unwrap_err();
    assert!(matches!(e, PidfdError::Failed { .. }), "{e:?}");
    support_in(&known, || Ok(())).unwrap();
    support_in(&known, || panic!("asked again after a success")).unwrap();

    let known = OnceLock::new();
    let first = support_in(&known, || Err((PidfdCall::Wait, libc::EINVAL))).unwrap_err();
    assert!(first.is_unsupported(), "{first}");
    let again = support_in(&known, || panic!("asked again after ENOSYS/EINVAL")).unwrap_err();
    assert_eq!(again.to_string(), first.to_string());
}

use super::*;

fn ok(detail: &str) -> Check {
    Check {
        ok: true,
        detail: detail.into(),
    }
}

fn fail(detail: &str) -> Check {
    Check {
        ok: false,
        detail: detail.into(),
    }
}

/// A healthy host: everything works.
fn healthy() -> Diagnosis {
    Diagnosis {
        user_namespaces: ok("unshare(CLONE_NEWUSER) works"),
        sysctls: Sysctls {
            max_user_namespaces: Some(96365),
            ..Sysctls::default()
        },
        apparmor: AppArmor::default(),
        bwrap: BwrapInfo {
            path: Some("/usr/bin/bwrap".into()),
            version: Some("0.8.0".into()),
            setuid: Some(false),
            flags: BWRAP_FLAGS.iter().map(|f| (f.to_string(), true)).collect(),
            error: None,
        },
        bwrap_userns: ok("ran"),
        fresh_proc: ok("ran"),
        bwrap_trial: ok("ran"),
        landlock_abi: 7,
        seccomp: true,
        pidfd: ok("pidfd_open, pidfd_send_signal, waitid(P_PIDFD)"),
        inside_sandbox: false,
        auto: Backend::Bwrap,
        auto_why: String::new(),
        can_enforce: true,
        problems: Vec::new(),
    }
}

fn remedies(d: &Diagnosis) -> Vec<String> {
    problems(d).into_iter().map(|p| p.remedy).collect()
}

#[test]
fn healthy_host_has_no_problem_and_picks_bwrap() {
    let d = healthy();
    assert!(problems(&d).is_empty());
    let (backend, why) = pick(&d);
    assert_eq!(backend, Backend::Bwrap);
    assert!(why.contains("/usr/bin/bwrap"), "{why}");
}

#[test]
fn ubuntu_apparmor_restriction_gets_the_sysctl_remedy() {
    let mut d = healthy();
    d.sysctls.apparmor_restrict_unprivileged_userns = Some(1);
    d.bwrap_userns = fail("setting up uid map: Permission denied");
    d.fresh_proc = fail("setting up uid map: Permission denied");
    d.bwrap_trial = fail("setting up uid map: Permission denied");
    let r = remedies(&d);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 or install the bwrap AppArmor profile"));
    let (backend, why) = pick(&d);
    assert_eq!(backend, Backend::Landlock);
    assert!(why.contains("Landlock ABI 7"), "{why}");
}

#[test]
fn seccomp_blocked_container_names_user_namespaces() {
    let mut d = healthy();
    d.user_namespaces = fail("unshare(CLONE_NEWUSER): Operation not permitted (os error 1)");
    d.bwrap_userns = fail("bwrap: Creating new namespace failed: Operation not permitted");
    d.fresh_proc = d.bwrap_userns.clone();
    d.bwrap_trial = d.bwrap_userns.clone();
    let p = problems(&d);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].problem,
        "user namespaces are blocked (unshare(CLONE_NEWUSER): Operation not permitted (os error 1); \
         bwrap: Creating new namespace failed: Operation not permitted)"
    );
    assert!(p[0].remedy.contains("--backend landlock"));
    let (backend, why) = pick(&d);
    assert_eq!(backend, Backend::Landlock);
    assert!(why.contains("user namespaces are blocked"), "{why}");
}

#[test]
fn sysctl_knobs_get_their_own_remedy() {
    let mut d = healthy();
    d.user_namespaces = fail("unshare(CLONE_NEWUSER): No space left on device");
    d.sysctls.max_user_namespaces = Some(0);
    assert_eq!(remedies(&d), ["sysctl -w user.max_user_namespaces=15000"]);
    d.sysctls.unprivileged_userns_clone = Some(0);
    assert_eq!(
        remedies(&d),
        ["sysctl -w kernel.unprivileged_userns_clone=1"]
    );
}

#[test]
fn masked_proc_and_missing_bwrap() {
    let mut d = healthy();
    d.fresh_proc = fail("bwrap: Can't mount proc on /newroot/proc: Operation not permitted");
    d.bwrap_trial = d.fresh_proc.clone();
    let p = problems(&d);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].problem.contains("fresh /proc"));

    let mut d = healthy();
    d.bwrap = BwrapInfo {
        error: Some("no executable `bwrap` on PATH".into()),
        ..BwrapInfo::default()
    };
    d.bwrap_userns = fail("not tried: no bwrap");
    d.fresh_proc = d.bwrap_userns.clone();
    d.bwrap_trial = d.bwrap_userns.clone();
    assert_eq!(remedies(&d), ["apt-get install bubblewrap"]);
    assert_eq!(pick(&d).0, Backend::Landlock);
}

#[test]
fn no_backend_at_all() {
    let mut d = healthy();
    d.bwrap_trial = fail("x");
    d.landlock_abi = 0;
    let (_, why) = pick(&d);
    assert!(why.starts_with("neither bwrap"), "{why}");
    assert!(remedies(&d)
        .iter()
        .any(|r| r.contains("CONFIG_SECURITY_LANDLOCK")));
}

#[test]
fn old_bwrap_lacks_flags() {
    let mut d = healthy();
    d.bwrap.flags.insert("--cap-drop".into(), false);
    assert_eq!(remedies(&d), ["upgrade bubblewrap"]);
}

#[test]
fn help_and_profile_parsing() {
    let help = "    --unshare-user               Create new user namespace\n    --unshare-user-try  x\n --cap-drop CAP";
    assert!(has_flag(help, "--unshare-user"));
    assert!(has_flag(help, "--cap-drop"));
    assert!(!has_flag(help, "--unshare"));
    let list = "unconfined (unconfined)\nbwrap (unconfined)\n/usr/bin/man (enforce)\n";
    assert_eq!(bwrap_profiles(list), ["bwrap (unconfined)"]);
}

#[test]
fn inside_a_sandbox_the_outer_filter_is_named_not_the_container() {
    let mut d = healthy();
    d.inside_sandbox = true;
    d.user_namespaces = fail("unshare(CLONE_NEWUSER): Operation not permitted (os error 1)");
    d.bwrap_userns = fail("bwrap: No permissions to create new namespace");
    d.fresh_proc = d.bwrap_userns.clone();
    d.bwrap_trial = d.bwrap_userns.clone();
    assert_eq!(
        remedies(&d),
        [
            "this process already runs in a sandbox (a seccomp filter under no_new_privs), \
          which refuses new user namespaces; use --backend landlock (auto does), or start \
          it outside that sandbox"
        ]
    );
}

/// Under a tiny `ulimit -n` the trials fail for want of descriptors, not
/// because a container masks /proc.
#[test]
fn a_descriptor_shortage_gets_the_ulimit_remedy() {
    let mut d = healthy();
    d.fresh_proc = fail("cannot run: Too many open files (os error 24)");
    d.bwrap_trial = d.fresh_proc.clone();
    assert_eq!(
        remedies(&d),
        ["raise the open-file limit (ulimit -n 64), or use --backend landlock"]
    );
}

#[test]
fn a_kernel_without_pidfds_is_a_problem_naming_the_call_and_release() {
    let mut d = healthy();
    let missing = crate::pidfd::PidfdError::of(
        crate::pidfd::PidfdCall::Wait,
        std::io::Error::from_raw_os_error(libc::EINVAL),
    );
    d.pidfd = fail(&missing.to_string());
    let problems = problems(&d);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].problem,
        "the library and `sandspawn mcp check` cannot start servers: waitid(P_PIDFD) is not available on this kernel \
         (EINVAL): sandspawn holds the processes it signals by a pidfd, which needs Linux 5.4 \
         or later; run on a newer kernel"
    );
    assert_eq!(
        problems[0].remedy,
        "upgrade to Linux 5.4 or later, or allow pidfd_open, pidfd_send_signal and waitid in \
         the host's seccomp profile"
    );
}

//! The escape probes and what each backend must answer, shared by the
//! suite that drives the helper directly (linux/tests/escape.rs) and the
//! one that goes through `sandspawn run` (tests/escape_cli.rs).
//! A probe is run by probe.py; it prints OK, an errno name, or a marker.

/// `(probe, expected under bwrap, expected under landlock)`.
pub type Probe = (&'static str, &'static str, &'static str);

pub const PROBES: &[Probe] = &[
    // Controls that must work, so that a broken sandbox cannot pass by refusing everything.
    ("read_usr", "OK", "OK"),
    ("read_notes", "OK", "OK"),
    ("write_ws_subdir", "OK", "OK"),
    // Landlock cannot protect .git and keep the workspace root creatable:
    // the root gets read-only rights (reported as unexpressed).
    ("write_ws", "OK", "EACCES"),
    ("unix_socketpair", "OK", "OK"),
    // Files.
    ("read_secret", "ENOENT", "EACCES"),
    ("list_secret_dir", "OK", "EACCES"), // bwrap: an empty masked directory
    ("read_outside", "ENOENT", "EACCES"),
    ("write_notes", "EROFS", "EACCES"),
    ("write_usr", "EROFS", "EACCES"),
    ("write_etc", "EROFS", "EACCES"),
    ("write_git", "EROFS", "EACCES"),
    ("symlink_planted", "ENOENT", "EACCES"),
    ("symlink_made_inside", "ENOENT", "EACCES"),
    ("hardlink_made_inside", "ENOENT", "EACCES"),
    ("rename_secret_into_ws", "EXDEV", "EACCES"),
    ("dev_kmsg", "ENOENT", "EACCES"),
    // bwrap: a read-only mount (bwrap's own cover skips /proc/sys).
    ("write_proc_sys", "EROFS", "EACCES"),
    // Modes: a plain chmod in a writable root works; no set-ID bit is ever
    // given (a setuid-root file in a writable root is root for any local
    // user). Landlock does not govern chmod: a read-only file's mode can
    // change there (harmless here: the probe sets the mode it already has).
    ("chmod_plain_ws", "OK", "OK"),
    ("chmod_setuid_ws", "EPERM", "EPERM"),
    ("chmod_setgid_ws", "EPERM", "EPERM"),
    ("fchmod_setuid_ws", "EPERM", "EPERM"),
    ("create_setuid_ws", "EPERM", "EPERM"),
    ("mknod_setuid_ws", "EPERM", "EPERM"),
    ("chmod_notes", "EROFS", "KNOWN_GAP"),
    // Processes of the host.
    ("parent_environ", "ENOENT", "EACCES"),
    ("parent_cwd_listing", "ENOENT", "EACCES"),
    ("kill_host_process", "ESRCH", "EPERM"),
    // Another process's limits (RLIMIT_CPU 0 kills it; no LSM sees it).
    ("prlimit_host", "EPERM", "EPERM"),
    ("ptrace_traceme", "EPERM", "EPERM"),
    ("ptrace_attach_host", "EPERM", "EPERM"),
    ("process_vm_readv", "EPERM", "EPERM"),
    // Network, mode `none`.
    ("tcp_host_loopback", "EPERM", "EPERM"),
    ("tcp6_socket", "EPERM", "EPERM"),
    ("udp_socket", "EPERM", "EPERM"),
    ("raw_socket", "EPERM", "EPERM"),
    ("packet_socket", "EPERM", "EPERM"),
    ("netlink_socket", "EPERM", "EPERM"),
    ("vsock_socket", "EPERM", "EPERM"),
    ("abstract_unix_host", "ECONNREFUSED", "EPERM"),
    ("pathname_unix_host", "ENOENT", "KNOWN_GAP"),
    // Kernel surface.
    ("mount_tmpfs", "EPERM", "EPERM"),
    ("umount", "EPERM", "EPERM"),
    ("pivot_root", "EPERM", "EPERM"),
    ("open_tree", "EPERM", "EPERM"),
    ("unshare_user", "EPERM", "EPERM"),
    ("unshare_mount", "EPERM", "EPERM"),
    ("clone_newuser", "EPERM", "EPERM"),
    ("clone_newnet", "EPERM", "EPERM"),
    ("clone3", "ENOSYS", "ENOSYS"),
    ("openat2", "ENOSYS", "ENOSYS"),
    ("setns", "EPERM", "EPERM"),
    ("bpf", "EPERM", "EPERM"),
    ("io_uring_setup", "EPERM", "EPERM"),
    ("userfaultfd", "EPERM", "EPERM"),
    ("perf_event_open", "EPERM", "EPERM"),
    ("keyctl", "EPERM", "EPERM"),
    ("add_key", "EPERM", "EPERM"),
    ("kexec_load", "EPERM", "EPERM"),
    ("tiocsti", "EPERM", "EPERM"),
    ("tiocsti_high_bits", "EPERM", "EPERM"),
    ("tioclinux", "EPERM", "EPERM"),
    ("x32_ptrace", "EPERM", "EPERM"),
    ("sethostname", "EPERM", "EPERM"),
    ("no_new_privs", "NNP", "NNP"),
    ("caps_left", "NOCAPS", "NOCAPS"),
];

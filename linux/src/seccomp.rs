//! seccomp: the rules as a value ([`SeccompRules`]), compiled, then installed.
//!
//! Every denial answers with an errno (EPERM, or ENOSYS for `clone3` and
//! `openat2` so that callers fall back to `clone` and `openat`, whose
//! arguments a filter can read), never a kill:
//! a blocked call must read as "operation not permitted", not as a crash.
//! The one kill is seccompiler's own: a syscall made through a foreign
//! architecture's entry point (e.g. `int 0x80` on x86_64).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::spec::NetworkMode;

/// The filter as data: what is denied, and with which errno.
#[derive(Debug, Clone, PartialEq)]
pub struct SeccompRules {
    /// Syscall number to conditions (any one matching denies; none = always) → EPERM.
    pub eperm: BTreeMap<i64, Vec<SeccompRule>>,
    /// Syscalls answered with ENOSYS.
    pub enosys: Vec<i64>,
}

/// Why the filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// This architecture has no filter (only x86_64 and aarch64 do).
    #[error("seccomp: no filter for this architecture")]
    Arch,
    /// seccompiler rejected a rule (a bug here).
    #[error("seccomp: building the filter: {0}")]
    Build(#[source] seccompiler::BackendError),
    /// seccompiler's program does not start the way the splice expects
    /// (a seccompiler upgrade changed it), or the result is too long.
    #[error("seccomp: unexpected filter layout; refusing to splice")]
    Layout,
    /// The kernel refused the filter.
    #[error("seccomp: installing the filter: {0}")]
    Install(#[source] seccompiler::Error),
}

/// Namespace flags that `clone` may not carry (CLONE_NEWTIME is 0x80, which
/// for `clone` is part of the exit signal, so it is only caught via `unshare`).
const CLONE_NS_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// Syscalls denied in every mode, unconditionally, each with its reason.
const ALWAYS_DENIED: &[(i64, &str)] = &[
    (libc::SYS_ptrace, "inspect or control another process"),
    (libc::SYS_process_vm_readv, "read another process's memory"),
    (
        libc::SYS_process_vm_writev,
        "write another process's memory",
    ),
    (
        libc::SYS_io_uring_setup,
        "io_uring bypasses seccomp for its operations",
    ),
    (libc::SYS_io_uring_enter, "io_uring"),
    (libc::SYS_io_uring_register, "io_uring"),
    (libc::SYS_kexec_load, "replace the kernel"),
    (libc::SYS_kexec_file_load, "replace the kernel"),
    (libc::SYS_bpf, "kernel attack surface"),
    (libc::SYS_userfaultfd, "exploit primitive for kernel races"),
    (
        libc::SYS_perf_event_open,
        "kernel attack surface and side channels",
    ),
    (
        libc::SYS_add_key,
        "kernel keyring shared beyond the sandbox",
    ),
    (libc::SYS_keyctl, "kernel keyring"),
    (libc::SYS_request_key, "kernel keyring"),
    (libc::SYS_mount, "change the filesystem view"),
    (libc::SYS_umount2, "uncover what a mount hides"),
    (libc::SYS_pivot_root, "change the filesystem view"),
    (libc::SYS_move_mount, "new mount API"),
    (libc::SYS_open_tree, "new mount API"),
    (libc::SYS_fsopen, "new mount API"),
    (libc::SYS_fsconfig, "new mount API"),
    (libc::SYS_fsmount, "new mount API"),
    (libc::SYS_fspick, "new mount API"),
    (libc::SYS_mount_setattr, "new mount API"),
    (libc::SYS_unshare, "nested namespaces"),
    (libc::SYS_setns, "join another namespace"),
];

/// Socket families allowed besides AF_UNIX per network mode (`None` = no filter).
fn allowed_families(network: NetworkMode) -> Option<&'static [i32]> {
    match network {
        NetworkMode::None => Some(&[libc::AF_UNIX]),
        NetworkMode::Proxy => Some(&[libc::AF_UNIX, libc::AF_INET, libc::AF_INET6]),
        NetworkMode::Full => None,
    }
}

fn cond(arg: u8, len: Len, op: Op, value: u64) -> Result<SeccompCondition, SeccompError> {
    SeccompCondition::new(arg, len, op, value).map_err(SeccompError::Build)
}

fn rule(conds: Vec<SeccompCondition>) -> Result<SeccompRule, SeccompError> {
    SeccompRule::new(conds).map_err(SeccompError::Build)
}

/// Build the rules for `network`. Pure: no syscall is made.
pub fn build_rules(network: NetworkMode) -> Result<SeccompRules, SeccompError> {
    let mut eperm: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, _why) in ALWAYS_DENIED {
        eperm.insert(*nr, Vec::new());
    }
    // clone with any namespace flag. Flags are an unsigned long: compare all 64 bits.
    let clone_rules = CLONE_NS_FLAGS
        .iter()
        .map(|f| rule(vec![cond(0, Len::Qword, Op::MaskedEq(*f), *f)?]))
        .collect::<Result<Vec<_>, _>>()?;
    eperm.insert(libc::SYS_clone, clone_rules);
    // TIOCSTI (inject terminal input) and TIOCLINUX. The kernel reads `cmd`
    // as an unsigned int, so compare the low 32 bits only: garbage in the
    // upper half must not slip past the filter.
    let ioctl_rules = [libc::TIOCSTI, libc::TIOCLINUX]
        .iter()
        // The request constants' type differs between C libraries (an
        // unsigned long with glibc, an int with musl); both values fit 32 bits.
        .map(|cmd| rule(vec![cond(1, Len::Dword, Op::Eq, u64::from(*cmd as u32))?]))
        .collect::<Result<Vec<_>, _>>()?;
    eperm.insert(libc::SYS_ioctl, ioctl_rules);
    add_setid_rules(&mut eperm)?;
    // prlimit64(pid, resource, new, old) with another pid and a new limit:
    // RLIMIT_CPU 0 kills that process, and no LSM hook sees it, so on the
    // Landlock backend (no pid namespace) a same-uid host process would
    // die past Landlock's signal scope. pid 0 (self, what setrlimit uses)
    // and reading a limit stay allowed. pid_t is an int: compare 32 bits.
    eperm.insert(
        libc::SYS_prlimit64,
        vec![rule(vec![
            cond(0, Len::Dword, Op::Ne, 0)?,
            cond(2, Len::Qword, Op::Ne, 0)?,
        ])?],
    );
    if let Some(families) = allowed_families(network) {
        // socket(domain, ...) where domain is none of the allowed families.
        let conds = families
            .iter()
            .map(|fam| cond(0, Len::Dword, Op::Ne, *fam as u64))
            .collect::<Result<Vec<_>, _>>()?;
        eperm.insert(libc::SYS_socket, vec![rule(conds)?]);
    }
    Ok(SeccompRules {
        eperm,
        // openat2's mode sits behind a pointer the filter cannot read (see
        // add_setid_rules); ENOSYS sends callers back to openat.
        enosys: vec![libc::SYS_clone3, libc::SYS_openat2],
    })
}

/// The set-user-ID and set-group-ID bits.
const SETID_BITS: [u64; 2] = [libc::S_ISUID as u64, libc::S_ISGID as u64];

/// Deny every way of giving a file a set-ID bit: a setuid-root binary
/// written into a writable root (bwrap as root: the bit lands on the host
/// inode, which nosuid inside the sandbox does not cover) or put on a
/// host binary the caller owns (Landlock does not govern chmod) is root
/// for any local user. Writing to a set-ID file already clears the bits.
/// Modes are compared on 32 bits, as the kernel reads them.
fn add_setid_rules(eperm: &mut BTreeMap<i64, Vec<SeccompRule>>) -> Result<(), SeccompError> {
    let on_mode = |arg: u8| -> Result<Vec<SeccompRule>, SeccompError> {
        SETID_BITS
            .iter()
            .map(|bit| rule(vec![cond(arg, Len::Dword, Op::MaskedEq(*bit), *bit)?]))
            .collect()
    };
    // open-like calls read the mode only when they create a file.
    let creating = |flags: u8, mode: u8| -> Result<Vec<SeccompRule>, SeccompError> {
        let tmpfile = (libc::O_TMPFILE & !libc::O_DIRECTORY) as u64;
        let mut rules = Vec::new();
        for create in [libc::O_CREAT as u64, tmpfile] {
            for bit in SETID_BITS {
                rules.push(rule(vec![
                    cond(flags, Len::Dword, Op::MaskedEq(create), create)?,
                    cond(mode, Len::Dword, Op::MaskedEq(bit), bit)?,
                ])?);
            }
        }
        Ok(rules)
    };
    eperm.insert(libc::SYS_fchmod, on_mode(1)?);
    eperm.insert(libc::SYS_fchmodat, on_mode(2)?);
    eperm.insert(libc::SYS_fchmodat2, on_mode(2)?);
    eperm.insert(libc::SYS_mknodat, on_mode(2)?);
    eperm.insert(libc::SYS_openat, creating(2, 3)?);
    #[cfg(target_arch = "x86_64")]
    {
        eperm.insert(libc::SYS_chmod, on_mode(1)?);
        eperm.insert(libc::SYS_mknod, on_mode(1)?);
        eperm.insert(libc::SYS_creat, on_mode(1)?);
        eperm.insert(libc::SYS_open, creating(1, 2)?);
    }
    Ok(())
}

fn target_arch() -> Result<TargetArch, SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else {
        Err(SeccompError::Arch)
    }
}

/// x32 syscalls share x86_64's audit arch but carry this bit; deny them all,
/// or `ptrace | X32_BIT` would walk past an exact-number filter.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Compile the rules into the programs to install, in order: one program.
///
/// seccompiler writes one filter per action, so the EPERM filter is built
/// by it and the other two checks (x32 numbers, answered EPERM; the ENOSYS
/// syscalls) are spliced in right after its syscall-number load, before
/// its per-syscall chains. Every BPF jump is relative and forward, and the
/// only jump before the splice point lands on the load itself, so no jump
/// changes target. One program instead of three: one `seccomp()` call (and
/// JIT) at start-up and one filter run per system call of the target. The
/// outcome per syscall is that of the old stack of three filters, whose
/// errno actions never overlapped.
///
/// Takes the rules by value: seccompiler consumes its map, and a copy of
/// it cost a quarter of the compile, which runs on every spawn.
pub fn compile(rules: SeccompRules) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch = target_arch()?;
    let errno = |e: i32| SeccompAction::Errno(e as u32);
    let eperm = SeccompFilter::new(rules.eperm, SeccompAction::Allow, errno(libc::EPERM), arch)
        .map_err(SeccompError::Build)?;
    let mut program = BpfProgram::try_from(eperm).map_err(SeccompError::Build)?;
    let prefix = expected_prefix(arch);
    if program.len() <= prefix.len() || !same(&program[..prefix.len()], &prefix) {
        return Err(SeccompError::Layout);
    }
    let mut spliced = Vec::new();
    if matches!(arch, TargetArch::x86_64) {
        spliced.extend(x32_check());
    }
    for nr in &rules.enosys {
        let nr = u32::try_from(*nr).map_err(|_| SeccompError::Layout)?;
        spliced.push(stmt(BPF_JEQ_K, 0, 1, nr));
        spliced.push(stmt(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ));
    }
    program.splice(prefix.len()..prefix.len(), spliced);
    if program.len() > BPF_MAX_LEN {
        return Err(SeccompError::Layout);
    }
    Ok(vec![program])
}

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// The kernel's limit on a filter's length (BPF_MAXINSNS).
const BPF_MAX_LEN: usize = 4096;
/// offsetof(struct seccomp_data, nr) and (…, arch).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

fn stmt(code: u16, jt: u8, jf: u8, k: u32) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt, jf, k }
}

fn same(a: &[seccompiler::sock_filter], b: &[seccompiler::sock_filter]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
}

fn audit_arch(arch: TargetArch) -> u32 {
    match arch {
        TargetArch::x86_64 => 0xC000_003E,  // AUDIT_ARCH_X86_64
        TargetArch::aarch64 => 0xC000_00B7, // AUDIT_ARCH_AARCH64
        TargetArch::riscv64 => 0xC000_00F3, // AUDIT_ARCH_RISCV64
    }
}

/// What seccompiler's program starts with: kill on a foreign architecture,
/// then load the syscall number. The splice goes right after it.
fn expected_prefix(arch: TargetArch) -> [seccompiler::sock_filter; 4] {
    [
        stmt(BPF_LD_W_ABS, 0, 0, DATA_ARCH),
        stmt(BPF_JEQ_K, 1, 0, audit_arch(arch)),
        stmt(BPF_RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, 0, 0, DATA_NR),
    ]
}

/// With the syscall number loaded: x32 numbers (the bit set) get EPERM.
fn x32_check() -> [seccompiler::sock_filter; 2] {
    [
        stmt(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT),
        stmt(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
    ]
}

/// Install the compiled programs on the calling thread. Requires
/// no_new_privs (or CAP_SYS_ADMIN); irreversible.
pub fn install(programs: &[BpfProgram]) -> Result<(), SeccompError> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(SeccompError::Install)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_filters_sockets_full_does_not() {
        let none = build_rules(NetworkMode::None).unwrap();
        assert_eq!(none.eperm[&libc::SYS_socket].len(), 1);
        let full = build_rules(NetworkMode::Full).unwrap();
        assert!(!full.eperm.contains_key(&libc::SYS_socket));
        let proxy = build_rules(NetworkMode::Proxy).unwrap();
        assert_ne!(
            proxy.eperm[&libc::SYS_socket],
            none.eperm[&libc::SYS_socket]
        );
    }

    #[test]
    fn always_denied_in_every_mode() {
        for mode in [NetworkMode::None, NetworkMode::Proxy, NetworkMode::Full] {
            let r = build_rules(mode).unwrap();
            for nr in [
                libc::SYS_ptrace,
                libc::SYS_mount,
                libc::SYS_unshare,
                libc::SYS_bpf,
            ] {
                assert_eq!(r.eperm[&nr], Vec::new(), "{nr} is unconditional");
            }
            assert_eq!(r.eperm[&libc::SYS_clone].len(), 7);
            assert_eq!(r.eperm[&libc::SYS_ioctl].len(), 2);
            assert_eq!(r.enosys, vec![libc::SYS_clone3, libc::SYS_openat2]);
            assert!(!r.eperm.contains_key(&libc::SYS_clone3));
            // One rule per set-ID bit; openat: per bit and per creating flag.
            assert_eq!(r.eperm[&libc::SYS_fchmodat].len(), 2);
            assert_eq!(r.eperm[&libc::SYS_openat].len(), 4);
            assert_eq!(r.eperm[&libc::SYS_prlimit64].len(), 1);
        }
    }

    #[test]
    fn compiles() {
        let programs = compile(build_rules(NetworkMode::None).unwrap()).unwrap();
        assert_eq!(programs.len(), 1);
        assert!(programs.iter().all(|p| !p.is_empty()));
    }
}

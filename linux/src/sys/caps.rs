//! Capability sets: `capget`/`capset` on the calling thread, and the
//! bounding and ambient sets through `prctl`. Part of [`super`], the one
//! module tree with `unsafe`.

use std::io;

use super::check;

/// `struct __user_cap_header_struct` (linux/capability.h).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct` (linux/capability.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set (caps 0..63).
const CAP_VERSION_3: u32 = 0x2008_0522;

/// The calling thread's capability sets as 64-bit masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// `capget(2)` on the calling thread: one call for all three sets.
pub fn capget() -> io::Result<CapSets> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` and `data` live on our stack for the whole call; with
    // version 3 the kernel reads one header and writes exactly two
    // `CapData` structs, which is what `data` holds.
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    check(ret)?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// `capset(2)` with every set empty: clears the effective, permitted and
/// inheritable sets of the calling thread in one call (the kernel then
/// clears the ambient set too, which must stay within permitted ∩ inheritable).
pub fn capset_clear() -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: `header` and `data` live on our stack for the whole call; with
    // version 3 the kernel reads one header and two `CapData` structs,
    // which is what `data` holds; nothing is written into `data`.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    check(ret).map(drop)
}

/// `prctl(PR_CAPBSET_READ, cap)`: `Ok(None)` past the kernel's last capability.
pub fn capbset_read(cap: u32) -> io::Result<Option<bool>> {
    // SAFETY: PR_CAPBSET_READ takes a capability number and only returns a
    // value; integer arguments, the unused ones zero.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) };
    match check(ret.into()) {
        Ok(v) => Ok(Some(v == 1)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `prctl(PR_CAPBSET_DROP, cap)`: `Ok(false)` past the kernel's last capability.
pub fn capbset_drop(cap: u32) -> io::Result<bool> {
    // SAFETY: PR_CAPBSET_DROP takes a capability number; integer arguments,
    // the unused ones zero; no memory is passed.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    match check(ret.into()) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
pub fn ambient_clear_all() -> io::Result<()> {
    // SAFETY: integer arguments only, the unused ones zero; no memory is passed.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    check(ret.into()).map(drop)
}

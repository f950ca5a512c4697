use std::os::unix::ffi::OsStringExt;

use super::*;
use crate::spec::Backend;

fn spec(mounts: Vec<Mount>, network: NetworkMode) -> SandboxSpec {
    SandboxSpec {
        program: "node".into(),
        args: vec!["server.js".into()],
        cwd: "/home/u/ws".into(),
        env: vec![("PATH".into(), "/usr/bin".into())],
        mounts,
        network,
        backend: Backend::Bwrap,
        die_with_parent: true,
        proxy: None,
        checks: Vec::new(),
        pins: Vec::new(),
    }
}

fn ro(p: &str) -> Mount {
    Mount::ReadOnly { path: p.into() }
}

fn rw(p: &str) -> Mount {
    Mount::ReadWrite { path: p.into() }
}

fn words(s: &str) -> Vec<OsString> {
    s.split_whitespace().map(OsString::from).collect()
}

const HEAD: &str = "/usr/bin/bwrap --new-session --die-with-parent --unshare-user --unshare-pid \
                    --unshare-ipc --unshare-uts";
const HARDEN: &str = "--cap-drop ALL";
const HELPER: &str = "-- /proc/self/fd/3 __helper --list /";
const TAIL_ENV: &str = "--clearenv --setenv PATH /usr/bin --chdir /home/u/ws";
const CMD: &str = "-- node server.js";

fn render(s: &SandboxSpec) -> Vec<OsString> {
    bwrap_argv(
        s,
        &BwrapFeatures::full("/usr/bin/bwrap"),
        Path::new("/proc/self/fd/3"),
    )
}

#[test]
fn restricted_read_with_protected_git() {
    let s = spec(
        vec![
            Mount::Symlink {
                path: "/bin".into(),
                target: "usr/bin".into(),
            },
            ro("/etc"),
            ro("/usr"),
            Mount::Tmpfs {
                path: "/tmp".into(),
            },
            Mount::ReadWrite {
                path: "/home/u/ws".into(),
            },
            ro("/home/u/ws/.git"),
        ],
        NetworkMode::None,
    );
    let want = format!(
        "{HEAD} --unshare-net {HARDEN} --proc /proc --ro-bind /proc/sys /proc/sys --dev /dev --symlink usr/bin /bin \
         --ro-bind /etc /etc --ro-bind /usr /usr --tmpfs /tmp --bind /home/u/ws /home/u/ws \
         --ro-bind /home/u/ws/.git /home/u/ws/.git {TAIL_ENV} {HELPER} --read /etc --read /usr \
         --write /tmp --write /home/u/ws --read /home/u/ws/.git --write /dev --read /proc \
         --net none --landlock best-effort {CMD}"
    );
    assert_eq!(render(&s), words(&want));
}

#[test]
fn read_all_binds_root_before_proc_and_dev() {
    let s = spec(
        vec![
            ro("/"),
            Mount::Tmpfs {
                path: "/tmp".into(),
            },
        ],
        NetworkMode::Full,
    );
    let want = format!(
        "{HEAD} {HARDEN} --ro-bind / / --proc /proc --ro-bind /proc/sys /proc/sys --dev /dev --tmpfs /tmp {TAIL_ENV} \
         {HELPER} --read / --write /tmp --write /dev --read /proc --net full \
         --landlock best-effort {CMD}"
    );
    assert_eq!(render(&s), words(&want));
}

/// The hidden directory's tmpfs turns read-only after the re-grant inside
/// it: bwrap makes the re-grant's mount point in that tmpfs, and failed
/// with "Can't create file … Read-only file system" when it came first.
#[test]
fn deny_carve_out_comes_after_its_root_and_regrant_after_it() {
    let s = spec(
        vec![
            ro("/etc"),
            ro("/home/u"),
            Mount::Mask {
                path: "/etc/ssl/private".into(),
                is_dir: true,
            },
            Mount::Mask {
                path: "/home/u/.netrc".into(),
                is_dir: false,
            },
            ro("/etc/ssl/private/bundle.pem"),
        ],
        NetworkMode::Proxy,
    );
    let want = format!(
        "{HEAD} --unshare-net {HARDEN} --proc /proc --ro-bind /proc/sys /proc/sys --dev /dev --ro-bind /etc /etc \
         --ro-bind /home/u /home/u --tmpfs /etc/ssl/private \
         --ro-bind /dev/null /home/u/.netrc \
         --ro-bind /etc/ssl/private/bundle.pem /etc/ssl/private/bundle.pem \
         --remount-ro /etc/ssl/private {TAIL_ENV} \
         {HELPER} --read /etc --read /home/u --read /etc/ssl/private/bundle.pem --write /dev \
         --read /proc --net proxy --landlock best-effort {CMD}"
    );
    assert_eq!(render(&s), words(&want));
}

#[test]
fn network_modes_toggle_only_the_net_namespace_and_filter() {
    for (mode, unshared) in [
        (NetworkMode::None, true),
        (NetworkMode::Proxy, true),
        (NetworkMode::Full, false),
    ] {
        let argv = render(&spec(vec![], mode));
        assert_eq!(argv.contains(&"--unshare-net".into()), unshared, "{mode}");
        let net = argv.iter().position(|a| a == "--net").unwrap();
        assert_eq!(argv[net + 1], OsString::from(mode.to_string()));
    }
}

#[test]
fn old_bwrap_gets_no_optional_flags() {
    let old = BwrapFeatures {
        path: "/usr/bin/bwrap".into(),
        version: (0, 4, 0),
        cap_drop: false,
    };
    let argv = bwrap_argv(&spec(vec![], NetworkMode::Full), &old, Path::new("/h"));
    let want = format!(
        "{HEAD} --proc /proc --ro-bind /proc/sys /proc/sys --dev /dev {TAIL_ENV} -- /h __helper --list / --write /dev \
         --read /proc --net full --landlock best-effort {CMD}"
    );
    assert_eq!(argv, words(&want));
}

#[test]
fn non_utf8_env_and_paths_survive_byte_for_byte() {
    let key = OsString::from_vec(b"K\xff".to_vec());
    let value = OsString::from_vec(
        b"v\xfe\x00x"
            .to_vec()
            .into_iter()
            .filter(|b| *b != 0)
            .collect(),
    );
    let path = PathBuf::from(OsString::from_vec(b"/data/\xe9t\xe9".to_vec()));
    let mut s = spec(
        vec![Mount::ReadWrite { path: path.clone() }],
        NetworkMode::None,
    );
    s.env = vec![(key.clone(), value.clone())];
    let argv = render(&s);
    let at = argv.iter().position(|a| a == "--setenv").unwrap();
    assert_eq!(argv[at + 1..at + 3], [key, value]);
    let bind = argv.iter().position(|a| a == "--bind").unwrap();
    assert_eq!(argv[bind + 1], path.as_os_str());
    assert_eq!(argv[bind + 2], path.as_os_str());
}

#[test]
fn version_parsing() {
    assert_eq!(parse_version("bubblewrap 0.8.0\n"), Some((0, 8, 0)));
    assert_eq!(parse_version("bubblewrap 0.11"), Some((0, 11, 0)));
    assert_eq!(parse_version("nope"), None);
}

#[test]
fn bwrap_inside_a_writable_root_is_skipped() {
    let dir = std::env::temp_dir().join(format!("sandspawn-bwrap-find-{}", std::process::id()));
    let planted = dir.join("ws");
    std::fs::create_dir_all(&planted).unwrap();
    let fake = planted.join("bwrap");
    std::fs::write(&fake, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path_var = std::env::join_paths([planted.as_path(), Path::new("/nonexistent")]).unwrap();
    assert_eq!(find_bwrap(&path_var, &[]), Some(fake.clone()));
    assert_eq!(find_bwrap(&path_var, &[planted.as_path()]), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn proxy_bridge_socket_is_bound_last_and_the_helper_gets_the_port() {
    let mut s = spec(vec![ro("/usr")], NetworkMode::Proxy);
    s.proxy = Some(crate::spec::ProxyBridge {
        host: "proxy.corp".into(),
        port: 8080,
        inside_port: 3128,
        origin: "HTTPS_PROXY".into(),
        display: "http://***@proxy.corp:8080".into(),
        authorization: Some("Basic c2VjcmV0LXRva2Vu".into()),
        socks_login: None,
        socks: false,
        allow_local: false,
    });
    let argv = bwrap_argv_with(
        &s,
        &BwrapFeatures::full("/usr/bin/bwrap"),
        Path::new("/proc/self/fd/3"),
        Some(Path::new("/run/user/0/sandspawn-proxy-1/proxy.sock")),
        None,
    );
    let want = format!(
        "{HEAD} --unshare-net {HARDEN} --proc /proc --ro-bind /proc/sys /proc/sys --dev /dev --ro-bind /usr /usr \
         --bind /run/user/0/sandspawn-proxy-1/proxy.sock /dev/.sandspawn-proxy.sock \
         {TAIL_ENV} {HELPER} --read /usr --write /dev --read /proc --net proxy \
         --proxy-port 3128 --landlock best-effort {CMD}"
    );
    assert_eq!(argv, words(&want));
    // The upstream's credentials stay with the host bridge.
    assert!(argv
        .iter()
        .all(|a| !a.to_string_lossy().contains("c2VjcmV0")));
    // Without a socket (explain, tests) nothing is bound; other modes never bind one.
    s.network = NetworkMode::Full;
    let argv = bwrap_argv_with(
        &s,
        &BwrapFeatures::full("/usr/bin/bwrap"),
        Path::new("/proc/self/fd/3"),
        Some(Path::new("/x.sock")),
        None,
    );
    assert!(!argv.contains(&"/dev/.sandspawn-proxy.sock".into()));
    assert!(!argv.contains(&"--proxy-port".into()));
}

#[test]
fn a_working_directory_that_holds_the_system_bin_dirs_does_not_rule_out_every_bwrap() {
    // `run --cwd /` refused bwrap: every candidate lies under `/`. A cwd
    // that contains /usr/bin is the system itself, not a checkout that
    // could ship a fake bwrap; writable roots stay untrusted wherever they are.
    let mut s = spec(vec![ro("/usr"), rw("/")], NetworkMode::None);
    s.cwd = "/".into();
    assert_eq!(untrusted_dirs(&s), vec![Path::new("/")]);
    s.mounts = vec![ro("/")];
    assert!(untrusted_dirs(&s).is_empty());
    s.cwd = "/usr".into();
    assert!(untrusted_dirs(&s).is_empty());
    s.cwd = "/usr/local/src/repo".into();
    assert_eq!(untrusted_dirs(&s), vec![Path::new("/usr/local/src/repo")]);
    s.cwd = "/home/u/ws".into();
    s.mounts = vec![rw("/home/u/ws/out")];
    assert_eq!(
        untrusted_dirs(&s),
        vec![Path::new("/home/u/ws"), Path::new("/home/u/ws/out")]
    );
}

/// A grant at or under /proc (`--read /proc`, or the working directory
/// there) would bind the host's /proc over the fresh one: every host
/// process and its cmdline would show through the pid namespace. Masks
/// there still apply to the fresh /proc.
#[test]
fn grants_under_proc_never_bind_the_hosts_proc() {
    let s = spec(
        vec![
            ro("/proc"),
            rw("/proc/sys/kernel"),
            ro("/procfs-not"),
            Mount::Mask {
                path: "/proc/kallsyms".into(),
                is_dir: false,
            },
        ],
        NetworkMode::Full,
    );
    let want = format!(
        "{HEAD} {HARDEN} --proc /proc --ro-bind /proc/sys /proc/sys --dev /dev --ro-bind /procfs-not /procfs-not \
         --ro-bind /dev/null /proc/kallsyms {TAIL_ENV} \
         {HELPER} --read /proc --write /proc/sys/kernel --read /procfs-not --write /dev \
         --read /proc --net full --landlock best-effort {CMD}"
    );
    assert_eq!(render(&s), words(&want));
}

/// `--read /dev/null` (or `--write`, or `--read /dev`) bound the host's
/// node over the private one without device access: every open of
/// /dev/null then failed with EACCES. The private /dev answers those
/// grants; other paths under /dev (a host /dev/shm) are still bound.
#[test]
fn grants_of_the_private_dev_nodes_never_bind_the_hosts() {
    let s = spec(
        vec![
            ro("/dev"),
            ro("/dev/null"),
            rw("/dev/urandom"),
            rw("/dev/pts/0"),
            rw("/dev/shm"),
            ro("/devices"),
        ],
        NetworkMode::Full,
    );
    let want = format!(
        "{HEAD} {HARDEN} --proc /proc --ro-bind /proc/sys /proc/sys --dev /dev \
         --bind /dev/shm /dev/shm --ro-bind /devices /devices {TAIL_ENV} \
         {HELPER} --read /dev --read /dev/null --write /dev/urandom --write /dev/pts/0 \
         --write /dev/shm --read /devices --write /dev \
         --read /proc --net full --landlock best-effort {CMD}"
    );
    assert_eq!(render(&s), words(&want));
}

//! `sandspawn mcp install` through the real binary, about who owns and
//! who may write what it touches: a directory that refuses the backup, a
//! config of the user's edited by root, another user's config, and a
//! backup path planted as a link.

mod mcp_support;

use std::path::Path;
use std::process::{Command, Output};

use mcp_support::*;

/// `mcp install --client cursor --config CONFIG` as uid/gid 65534 (needs root).
fn install_as_nobody(host: &Host, config: &str) -> Output {
    Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            SANDSPAWN,
        ])
        .args(["mcp", "install", "--client", "cursor", "--config", config])
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir("/")
        .output()
        .unwrap()
}

/// As an unprivileged user (root writes anywhere): a writable config in a
/// directory that refuses the backup is one error before any diff.
#[test]
fn a_config_in_an_unwritable_directory_is_one_error_before_the_diff() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return skip("needs root to drop to uid 65534 with setpriv");
    }
    let host = Host::new();
    let dir = host.work().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let config = dir.join("mcp.json");
    let original = r#"{"mcpServers": {"t": {"command": "uvx"}}}"#;
    std::fs::write(&config, original).unwrap();
    for p in [host.dir.path(), &host.work(), &dir, &config] {
        nix::unistd::chown(p, Some(65534.into()), Some(65534.into())).unwrap();
    }
    std::fs::set_permissions(host.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let c = config.to_str().unwrap();
    let out = install_as_nobody(&host, c);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        stderr(&out),
        format!("sandspawn: cannot write beside {c}: {} is not writable (Permission denied (os error 13)); make it writable, or install into a copy with --config\n", dir.display())
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}

/// `sudo sandspawn mcp install --config /home/me/…`: the rename must not
/// hand the user's config (mode 600) to root, or the client, running as
/// the user, can no longer read it; the backup is the user's too.
#[test]
fn install_as_root_keeps_the_configs_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !nix::unistd::geteuid().is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return skip("needs root to give the config to another user, and setpriv");
    }
    let host = Host::new();
    let config = host.work().join("claude_desktop_config.json");
    let original = r#"{"mcpServers": {"t": {"command": "uvx", "args": ["mcp-server-time"]}}}"#;
    std::fs::write(&config, original).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (uid, gid) = (4242, 4343);
    std::os::unix::fs::chown(&config, Some(uid), Some(gid)).unwrap();
    let c = config.to_str().unwrap();
    let owner = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    for verb in ["install", "uninstall"] {
        let out = host.run(
            &host.work(),
            &["mcp", verb, "--client", "claude", "--config", c],
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(owner(&config), (uid, gid, 0o600), "{verb}");
        let backup = host
            .work()
            .join("claude_desktop_config.json.sandspawn-backup");
        assert_eq!(owner(&backup), (uid, gid, 0o600), "{verb}");
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}

/// Another user's config the caller may write (group-writable): the
/// rename would make it the caller's, so it is one error before any diff.
#[test]
fn another_users_config_is_refused_without_root() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return skip("needs root to drop to uid 65534 with setpriv");
    }
    let host = Host::new();
    let config = host.work().join("mcp.json");
    let original = r#"{"mcpServers": {"t": {"command": "uvx"}}}"#;
    std::fs::write(&config, original).unwrap();
    for p in [host.dir.path(), &host.work()] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
    std::fs::set_permissions(host.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&config, Some(0), Some(65534)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let c = config.to_str().unwrap();
    let out = install_as_nobody(&host, c);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        stderr(&out),
        format!("sandspawn: cannot keep the owner of {c} (uid 0, gid 65534): Operation not permitted (os error 1); run install as its owner, or as root\n")
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert!(!host.work().join("mcp.json.sandspawn-backup").exists());
}

/// `sudo sandspawn mcp install --config /home/u/…` (as the README
/// suggests): a `FILE.sandspawn-backup` the user made a link was written
/// through, so root copied the user's text over the file it named and gave
/// that file to the user (any root-owned file: a privilege escalation).
/// The backup is now a file of its own that replaces whatever was there;
/// without root, the link's target keeps its text all the same.
#[test]
fn a_backup_path_planted_as_a_link_is_replaced_not_written_through() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let host = Host::new();
    let root = nix::unistd::Uid::effective().is_root();
    let victim = host.work().join("victim");
    std::fs::write(&victim, "root's own\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = host.work().join("user");
    std::fs::create_dir(&dir).unwrap();
    let config = dir.join("mcp.json");
    let original = r#"{"mcpServers": {"t": {"command": "uvx"}}}"#;
    std::fs::write(&config, original).unwrap();
    let backup = dir.join("mcp.json.sandspawn-backup");
    std::os::unix::fs::symlink(&victim, &backup).unwrap();
    if root {
        for p in [&dir, &config] {
            nix::unistd::chown(p, Some(65534.into()), Some(65534.into())).unwrap();
        }
        std::os::unix::fs::lchown(&backup, Some(65534), Some(65534)).unwrap();
    }
    let c = config.to_str().unwrap();
    let out = host.run(
        &host.work(),
        &["mcp", "install", "--client", "cursor", "--config", c],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's own\n");
    let v = std::fs::metadata(&victim).unwrap();
    assert_eq!(v.mode() & 0o7777, 0o600);
    assert_eq!(v.uid(), nix::unistd::Uid::effective().as_raw());
    let b = std::fs::symlink_metadata(&backup).unwrap();
    assert!(b.file_type().is_file(), "{b:?}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    if root {
        assert_eq!((b.uid(), b.gid()), (65534, 65534));
    }
}

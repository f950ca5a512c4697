//! A config the user running install may not write (another user's, as
//! when install runs without sudo on a file root created): one error that
//! says it is the owner's and what to do, before any diff, file untouched.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

#[test]
fn a_config_of_another_user_names_its_owner_and_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return skip("needs root to drop to uid 65534 with setpriv");
    }
    let s = Scratch::new(&["home", "work"]);
    for p in [&s.root, &s.path("home"), &s.path("work")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let config = s.path("work/mcp.json");
    let original = r#"{"mcpServers": {"t": {"command": "/bin/true"}}}"#;
    std::fs::write(&config, original).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            SANDSPAWN,
        ])
        .args(["mcp", "install", "--client", "cursor", "--config"])
        .arg(&config)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", s.path("home"))
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        stderr(&out),
        format!(
            "sandspawn: cannot open {} for writing: Permission denied (os error 13); it belongs to uid 0: run install as that user, or change the file's permissions\n",
            config.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert!(!s.path("work/mcp.json.sandspawn-backup").exists());
}

//! Credential stores behind symlinks, through the real binary on both
//! backends: a HOME that is a symlink (Fedora Silverblue's /home ->
//! var/home) and a dotfile that is a symlink into a dotfiles checkout
//! (`~/.npmrc -> dotfiles/npmrc`). The default denies name the paths as the
//! user sees them; the sandbox must hide what they lead to, and still start.
//!
//! Skips print their reason and fail under `SANDSPAWN_MUST_WORK=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::{backend_runs_with, SANDSPAWN};

/// root/real (the home directory), root/link -> real (HOME), root/dotfiles.
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::Builder::new()
        .prefix("sandspawn-symhome-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = dir.path().to_path_buf();
    let real = root.join("real");
    std::fs::create_dir_all(real.join(".ssh")).unwrap();
    std::fs::write(real.join(".ssh/id_ed25519"), "SSH-KEY-SECRET\n").unwrap();
    std::fs::create_dir_all(root.join("dotfiles")).unwrap();
    std::fs::write(root.join("dotfiles/npmrc"), "NPM-TOKEN-SECRET\n").unwrap();
    // Absolute, as `ln -s ~/dotfiles/npmrc ~/.npmrc` writes it; the HOME
    // link below is relative, as Silverblue's /home -> var/home.
    std::os::unix::fs::symlink(root.join("dotfiles/npmrc"), real.join(".npmrc")).unwrap();
    // Relative and inside HOME, as GNU stow lays it out: the secret is
    // also reachable as ~/stow/netrc through the HOME link.
    std::fs::create_dir_all(real.join("stow")).unwrap();
    std::fs::write(real.join("stow/netrc"), "NETRC-SECRET\n").unwrap();
    std::os::unix::fs::symlink("stow/netrc", real.join(".netrc")).unwrap();
    std::os::unix::fs::symlink("real", root.join("link")).unwrap();
    std::fs::create_dir_all(root.join("ws")).unwrap();
    Tree { _dir: dir, root }
}

/// `run` with HOME at the symlink, the whole tree readable, and a script
/// that tries every way to the two secrets, then prints `done`.
fn run(t: &Tree, backend: &str, read: &Path) -> Output {
    let r = &t.root;
    let script = format!(
        "cat ~/.ssh/id_ed25519 {real}/.ssh/id_ed25519 ~/.npmrc {real}/.npmrc {dot}/npmrc \
         ~/.netrc ~/stow/netrc {real}/.netrc {real}/stow/netrc; echo done",
        real = r.join("real").display(),
        dot = r.join("dotfiles").display(),
    );
    Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", r.join("link"))
        .env("XDG_CACHE_HOME", r.join("cache"))
        .current_dir(r.join("ws"))
        .args(["run", "--backend", backend, "--read"])
        .arg(read)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap()
}

/// Whether `backend` runs here at all (skipping, with the reason, if not).
fn usable(t: &Tree, backend: &str) -> bool {
    let (home, cache) = (t.root.join("real"), t.root.join("cache"));
    backend_runs_with(backend, &[("HOME", &home), ("XDG_CACHE_HOME", &cache)])
}

fn check(backend: &str) {
    let t = tree();
    if !usable(&t, backend) {
        return;
    }
    // The tree as a root (the link strictly inside it), HOME itself (a
    // root that is the link), and everything.
    for read in [t.root.clone(), t.root.join("link"), PathBuf::from("/")] {
        let out = run(&t, backend, &read);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stdout.trim(),
            "done",
            "{backend} --read {}: a secret leaked or the script did not run; stderr: {stderr}",
            read.display()
        );
        assert!(
            !stderr.contains("bwrap:") && !stderr.contains("invariant"),
            "{backend} --read {}: the sandbox did not start cleanly: {stderr}",
            read.display()
        );
    }
}

#[test]
fn bwrap_hides_credential_stores_behind_symlinks() {
    check("bwrap");
}

#[test]
fn landlock_hides_credential_stores_behind_symlinks() {
    check("landlock");
}

/// With no XDG_CACHE_HOME the trust cache, and under Landlock the stand-in
/// HOME and TMPDIR, live under the symlinked HOME: the plan must name them
/// so that their symlink hops are granted, not refuse its own directories.
#[test]
fn landlock_private_dirs_under_a_symlinked_home_are_usable() {
    let t = tree();
    if !usable(&t, "landlock") {
        return;
    }
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", t.root.join("link"))
        .current_dir(t.root.join("ws"))
        .args(["run", "--backend", "landlock", "--"])
        .args([
            "sh",
            "-c",
            "cd ~ && echo home > h && cat h && touch \"$TMPDIR/t\" && echo tmp",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "home\ntmp\n",
        "{stderr}"
    );
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

/// A writable root written through a symlink (`--write ~/ws` with `ws` a
/// link) grants its real path too; the repository metadata protected under
/// the written path must be protected under the real one as well.
#[test]
fn a_writable_root_through_a_symlink_keeps_git_read_only_by_both_paths() {
    let t = tree();
    if !usable(&t, "bwrap") || !usable(&t, "landlock") {
        return;
    }
    let real = t.root.join("realws");
    std::fs::create_dir_all(real.join(".git/hooks")).unwrap();
    std::os::unix::fs::symlink("realws", t.root.join("wslink")).unwrap();
    for backend in ["bwrap", "landlock"] {
        let script = format!(
            "echo x > {real}/.git/hooks/pre-commit; echo x > {link}/.git/hooks/pre-commit; \
             echo ok > {real}/out && cat {link}/out",
            real = real.display(),
            link = t.root.join("wslink").display(),
        );
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", t.root.join("real"))
            .env("XDG_CACHE_HOME", t.root.join("cache"))
            .current_dir(t.root.join("ws"))
            .args(["run", "--backend", backend, "--write"])
            .arg(t.root.join("wslink"))
            .args(["--", "sh", "-c", &script])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "{backend}: {stderr}"
        );
        assert!(
            !real.join(".git/hooks/pre-commit").exists(),
            "{backend}: a hook was planted: {stderr}"
        );
    }
}

/// `explain --verify` checks the denies that need no mount of their own
/// too: `~/.netrc` (a link the sandbox follows to a hidden file) is tried
/// by the name the user knows.
#[test]
fn verify_tries_a_deny_hidden_behind_a_link_by_its_own_name() {
    for backend in ["bwrap", "landlock"] {
        let t = tree();
        if !usable(&t, backend) {
            continue;
        }
        let r = &t.root;
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", r.join("link"))
            .env("XDG_CACHE_HOME", r.join("cache"))
            .current_dir(r.join("ws"))
            .args(["explain", "--verify", "--backend", backend, "--read"])
            .arg(r.join("link"))
            .args(["--", "true"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: Vec<&str> = stdout
            .lines()
            .skip_while(|l| !l.starts_with("verify (inside"))
            .collect();
        assert_eq!(out.status.code(), Some(0), "{backend}: {report:#?}");
        let netrc = format!("  {}  (", r.join("link/.netrc").display());
        assert!(
            report
                .iter()
                .any(|l| l.starts_with("  ok    hidden ") && l.contains(&netrc)),
            "{backend}: {report:#?}"
        );
    }
}

//! sandspawn's own state (its cache root: trust bundles, their memos, the
//! MCP servers' launcher caches; its user config; the policy files of this
//! run) reached through a symlink: `~/.cache -> /data/cache` with `--write
//! /data`, `~/.config` linked into a dotfiles checkout that is granted,
//! `--policy ~/team.toml` linking into the workspace. What the next run
//! reads must stay read-only by its real path, and a link on the way that
//! lies inside a writable root (the child could point it at a directory of
//! its own, which the next run would take for the cache) is refused.
//! Before, only the spelling through the link was compared with the
//! writable roots: the real directories were writable, and the links
//! could be retargeted.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;

mod support;
use support::{assert_refused, assert_said, scrubbed, Scratch, PYTHON};

/// The errno names of each attempt the child makes: `w:PATH` appends to
/// PATH, `c:PATH` creates PATH, `m:PATH` renames PATH away.
static ATTEMPTS: LazyLock<String> = LazyLock::new(|| {
    support::attempts(&[
        ("w", "open(p, 'a').write('write = [\"/\"]')"),
        ("c", "open(p, 'x').write('x')"),
        ("", "os.rename(p, p + '.moved')"),
    ])
});

/// `home` and a workspace `ws` (the cwd) side by side.
struct Dirs(Scratch);

impl Dirs {
    fn new() -> Dirs {
        Dirs(Scratch::new(&["ws", "home"]))
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.0.path(rel)
    }

    /// `sandspawn run --backend BACKEND ARGS` in `ws`, HOME `home`, no XDG
    /// variable: the cache and config are found through HOME.
    fn run(&self, backend: &str, args: &[&str]) -> Command {
        let mut cmd = scrubbed(&self.path("home"), None, &self.path("ws"));
        cmd.args(["run", "--backend", backend]).args(args);
        cmd
    }
}

fn backends() -> Vec<&'static str> {
    support::backends(|backend| {
        let d = Dirs::new();
        support::unusable(backend, || d.run(backend, &["--", "true"]).output())
    })
}

/// `~/.cache` and `~/.config` link into the workspace, and the policy file
/// named under HOME is a link to one there: the child must not write the
/// trust cache, the user config or the policy by their real paths, nor
/// rename their directories away and plant new ones.
#[test]
fn own_state_linked_into_a_writable_root_stays_read_only() {
    for backend in backends() {
        let d = Dirs::new();
        let ws = d.path("ws");
        std::fs::create_dir_all(ws.join("dot-cache")).unwrap();
        std::fs::create_dir_all(ws.join("dot-config/sandspawn")).unwrap();
        std::fs::write(ws.join("dot-config/sandspawn/config.toml"), "").unwrap();
        std::fs::write(ws.join("team.toml"), "net = \"none\"\n").unwrap();
        symlink(ws.join("dot-cache"), d.path("home/.cache")).unwrap();
        symlink(ws.join("dot-config"), d.path("home/.config")).unwrap();
        symlink(ws.join("team.toml"), d.path("home/team.toml")).unwrap();
        let attempts = [
            "w:dot-config/sandspawn/config.toml",
            "c:dot-cache/sandspawn/trust/planted.pem",
            "m:dot-cache/sandspawn",
            "m:dot-config/sandspawn",
            "w:team.toml",
        ];
        let policy = d.path("home/team.toml");
        let out = d
            .run(
                backend,
                &[
                    "--preset",
                    "workspace",
                    "--policy",
                    policy.to_str().unwrap(),
                ],
            )
            .args(["--", PYTHON, "-c", ATTEMPTS.as_str()])
            .args(attempts)
            .output()
            .unwrap();
        let want = if backend == "bwrap" {
            "EROFS EROFS EBUSY EBUSY EROFS"
        } else {
            "EACCES EACCES EACCES EACCES EACCES"
        };
        assert_said(&out, want, backend);
        let read = |p: &str| std::fs::read_to_string(ws.join(p)).unwrap();
        assert_eq!(read("dot-config/sandspawn/config.toml"), "", "{backend}");
        assert_eq!(read("team.toml"), "net = \"none\"\n", "{backend}");
        assert!(ws.join("dot-cache/sandspawn/trust").is_dir(), "{backend}");
    }
}

/// `--write ~` with `~/.cache` a link elsewhere: the child could point the
/// link at a directory of its own, and the next run would take that for
/// its cache (trust memos naming a bundle of the child's, another server's
/// launcher cache). Refused before anything starts, naming the link.
#[test]
fn a_link_to_the_cache_inside_a_writable_root_is_refused() {
    for backend in backends() {
        let d = Dirs::new();
        std::fs::create_dir(d.path("cache-out")).unwrap();
        symlink(d.path("cache-out"), d.path("home/.cache")).unwrap();
        let home = d.path("home");
        let out = d
            .run(backend, &["--write", home.to_str().unwrap(), "--", "true"])
            .output()
            .unwrap();
        let want = format!(
            "sandspawn: protected path {}: a symlink inside a writable root on the way to \
             sandspawn's own {}, which the sandbox could point elsewhere for later runs to \
             read; name its real path {} instead (XDG_CACHE_HOME, XDG_CONFIG_HOME, --policy), \
             or keep the link out of the --write roots; refusing to start (a writable root \
             must not redirect it)",
            home.join(".cache").display(),
            home.join(".cache/sandspawn").display(),
            d.path("cache-out/sandspawn").display(),
        );
        assert_refused(&out, backend, &want);
    }
}

/// A protected file with a second name (a hard link a earlier run, or
/// anyone, left in the workspace): the read-only bind covers one name, and
/// on Landlock the grant of the other covers the file itself. The CA input
/// the next run's bundle is built from, and a file `.git/config` includes,
/// were rewritten through it. Refused, naming the file.
#[test]
fn a_protected_file_with_another_hard_link_is_refused() {
    for backend in backends() {
        for (protected, args) in [
            ("ca.pem", &["--ca", "ca.pem"][..]),
            ("shared.gitconfig", &[][..]),
            // A file of a CA directory: the directory is what is protected.
            ("certs/corp.pem", &["--ca", "certs"][..]),
        ] {
            let d = Dirs::new();
            let ws = d.path("ws");
            std::fs::create_dir(ws.join(".git")).unwrap();
            std::fs::write(
                ws.join(".git/config"),
                "[include]\n\tpath = ../shared.gitconfig\n",
            )
            .unwrap();
            std::fs::write(ws.join("shared.gitconfig"), "").unwrap();
            std::fs::copy("/etc/ssl/certs/ca-certificates.crt", ws.join("ca.pem")).unwrap();
            std::fs::create_dir(ws.join("certs")).unwrap();
            std::fs::copy(ws.join("ca.pem"), ws.join("certs/corp.pem")).unwrap();
            std::fs::hard_link(ws.join(protected), ws.join(".planted")).unwrap();
            let out = d
                .run(backend, &["--preset", "workspace"])
                .args(args)
                .args(["--", "true"])
                .output()
                .unwrap();
            let path = ws.join(protected);
            let want = format!(
                "sandspawn: protected path {}: has 2 hard links, and another name inside a \
                 writable root would stay writable; remove the other links (`find / -xdev \
                 -samefile {}` lists them), or keep the file out of the --write roots; \
                 refusing to start (a writable root must not redirect it)",
                path.display(),
                path.display(),
            );
            assert_refused(&out, &format!("{backend} {protected}"), &want);
        }
    }
}

/// `--policy sub/../team.toml` with `sub` a link into a writable root:
/// the kernel reads the `team.toml` beside the link's target, not the one
/// a lexical `..` names, and that is the file to keep.
#[test]
fn a_policy_named_with_dot_dot_after_a_link_stays_read_only() {
    for backend in backends() {
        let d = Dirs::new();
        let data = d.path("data");
        std::fs::create_dir_all(data.join("x")).unwrap();
        std::fs::write(data.join("team.toml"), "net = \"none\"\n").unwrap();
        symlink(data.join("x"), d.path("ws/sub")).unwrap();
        let out = d
            .run(
                backend,
                &[
                    "--policy",
                    "sub/../team.toml",
                    "--write",
                    data.to_str().unwrap(),
                ],
            )
            .args(["--", PYTHON, "-c", ATTEMPTS.as_str()])
            .arg(format!("w:{}", data.join("team.toml").display()))
            .output()
            .unwrap();
        let want = if backend == "bwrap" {
            "EROFS"
        } else {
            "EACCES"
        };
        assert_said(&out, want, backend);
        assert_eq!(
            std::fs::read_to_string(data.join("team.toml")).unwrap(),
            "net = \"none\"\n"
        );
    }
}

/// A writable root that is a link inside another (`--write ~ --write
/// ~/ws`, `~/ws -> /data/ws`): bwrap's child, writing `~`, points `~/ws`
/// at a directory of its own, and the next run reads the CA input named
/// `~/ws/ca.pem` there. Refused, naming the link: as a grant crossing a
/// link in a writable root (see `plan::grant_links`), and, with `~` alone
/// granted, as a link on the way to the CA input.
#[test]
fn a_linked_root_inside_another_on_the_way_to_a_ca_input_is_refused() {
    for backend in backends() {
        let d = Dirs::new();
        std::fs::create_dir_all(d.path("data/ws")).unwrap();
        std::fs::copy(
            "/etc/ssl/certs/ca-certificates.crt",
            d.path("data/ws/ca.pem"),
        )
        .unwrap();
        let (home, link) = (d.path("home"), d.path("home/ws"));
        symlink(d.path("data/ws"), &link).unwrap();
        let grant_link = format!(
            "sandspawn: write root {link} (flags) crosses the symlink {link} (-> {data}), \
             which lies in the writable root {home} where a sandbox could have left it, and \
             leads to {data}; refusing to grant it: name {data} instead if that is what is \
             meant, or remove the link",
            link = link.display(),
            data = d.path("data/ws").display(),
            home = home.display()
        );
        let on_the_way = format!(
            "sandspawn: protected path {}: a symlink inside a writable root on the way to \
             the CA input {}",
            link.display(),
            link.join("ca.pem").display()
        );
        for (also, want) in [(Some(&link), grant_link), (None, on_the_way)] {
            let mut cmd = d.run(backend, &["--write", home.to_str().unwrap()]);
            if let Some(also) = also {
                cmd.args(["--write", also.to_str().unwrap()]);
            }
            let out = cmd
                .env("SSL_CERT_FILE", link.join("ca.pem"))
                .env("XDG_CACHE_HOME", d.path("cache"))
                .args(["--", "true"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(125), "{backend}: {stderr}");
            assert!(
                stderr.lines().any(|l| l.starts_with(&want)),
                "{backend}: want\n{want}\ngot\n{stderr}"
            );
        }
    }
}

/// A link on the way whose directory this user cannot write is no link
/// the child can retarget: `--write /var` with the cache under the
/// root-owned `/var/lock -> /run/lock`. Refused for root only (the child
/// as root could replace it); before, refused for everyone.
#[test]
fn a_link_the_user_cannot_replace_is_not_refused() {
    let var_lock = Path::new("/var/lock");
    if !std::fs::symlink_metadata(var_lock).is_ok_and(|m| m.file_type().is_symlink()) {
        return eprintln!("SKIP: /var/lock is not a link here");
    }
    let cache = var_lock.join(format!("sandspawn-own-links-{}", std::process::id()));
    std::fs::create_dir(&cache).unwrap();
    let d = Dirs::new();
    let out = d
        .run("bwrap", &[])
        .env("XDG_CACHE_HOME", &cache)
        .args(["--write", "/var"])
        .args(["--", "true"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if nix::unistd::geteuid().is_root() {
        assert_eq!(out.status.code(), Some(125), "{stderr}");
        assert!(
            stderr
                .contains("sandspawn: protected path /var/lock: a symlink inside a writable root"),
            "{stderr}"
        );
    } else {
        assert!(
            !stderr.contains("protected path /var/lock"),
            "{:?}: {stderr}",
            out.status
        );
    }
}

use std::collections::BTreeMap;

use super::*;
use crate::spec::{Backend, NetworkMode};

/// A fake tree: directory → entries (name, is_symlink); links: a
/// symlink's path → its target (absolute, resolved).
struct Fake(
    BTreeMap<&'static str, Vec<(&'static str, bool)>>,
    Vec<(&'static str, &'static str)>,
);

impl HostFs for Fake {
    fn list(&self, dir: &Path) -> io::Result<Vec<(PathBuf, bool)>> {
        let key = dir.to_str().unwrap();
        let entries = self.0.get(key).ok_or(io::ErrorKind::NotFound)?;
        Ok(entries.iter().map(|(n, l)| (dir.join(n), *l)).collect())
    }

    fn through_link(&self, path: &Path) -> Option<PathBuf> {
        self.1.iter().find_map(|(link, target)| {
            let rest = path.strip_prefix(link).ok()?;
            Some(Path::new(target).join(rest))
        })
    }
}

fn spec(mounts: Vec<Mount>) -> SandboxSpec {
    SandboxSpec {
        program: "true".into(),
        args: vec![],
        cwd: "/".into(),
        env: vec![],
        mounts,
        network: NetworkMode::None,
        backend: Backend::Landlock,
        die_with_parent: true,
        proxy: None,
        checks: Vec::new(),
        pins: Vec::new(),
    }
}

fn rules(e: &Expansion) -> Vec<(String, Level)> {
    e.rules
        .iter()
        .filter(|(p, _)| !p.starts_with("/dev") && !p.starts_with("/proc"))
        .map(|(p, l)| (p.display().to_string(), *l))
        .collect()
}

fn fake() -> Fake {
    Fake(
        BTreeMap::from([
            ("/home", vec![("u", false)]),
            (
                "/home/u",
                vec![
                    (".ssh", false),
                    ("notes.txt", false),
                    ("src", false),
                    ("link", true),
                ],
            ),
            ("/home/u/src", vec![("deep", false), ("main.rs", false)]),
        ]),
        vec![("/home/u/link", "/home/u/src")],
    )
}

#[test]
fn plain_roots_are_one_rule_each() {
    let e = expand(
        &spec(vec![
            Mount::ReadOnly {
                path: "/usr".into(),
            },
            Mount::ReadWrite {
                path: "/home/u/src".into(),
            },
        ]),
        &fake(),
    );
    assert_eq!(
        rules(&e),
        vec![
            ("/usr".into(), Level::Read),
            ("/home/u/src".into(), Level::Write)
        ]
    );
    assert!(e.unexpressed.is_empty(), "{:?}", e.unexpressed);
}

/// A node written through a link inside a split directory (`--read
/// /home/u/link/pub` with /home/u/link -> data) used to give the link
/// itself the directory's level; the rule, opened through the link, then
/// granted all of `data`, a denied `data/priv` included. Only the node
/// gets a rule.
#[test]
fn a_node_under_a_link_gives_the_link_no_rule() {
    let e = expand(
        &spec(vec![
            Mount::ReadWrite {
                path: "/home/u".into(),
            },
            Mount::Mask {
                path: "/home/u/.ssh".into(),
                is_dir: true,
            },
            Mount::ReadOnly {
                path: "/home/u/link/pub".into(),
            },
        ]),
        &fake(),
    );
    assert_eq!(
        rules(&e),
        vec![
            ("/home/u/notes.txt".into(), Level::Write),
            ("/home/u/src".into(), Level::Write),
            ("/home/u/link/pub".into(), Level::Read),
        ]
    );
}

/// `--write /home/u/link` (-> src) run from src/deep (read-only, the
/// readonly preset): the written root got Write on its entries by the
/// link's path, landing on src/deep, which the real path's own nodes keep
/// read-only. The real path decides alone.
#[test]
fn a_mount_through_a_link_is_left_to_its_real_path() {
    let e = expand(
        &spec(vec![
            Mount::ReadWrite {
                path: "/home/u/link".into(),
            },
            Mount::ReadWrite {
                path: "/home/u/src".into(),
            },
            Mount::ReadOnly {
                path: "/home/u/src/deep".into(),
            },
        ]),
        &fake(),
    );
    assert_eq!(
        rules(&e),
        vec![
            ("/home/u/src".into(), Level::Read),
            ("/home/u/src/main.rs".into(), Level::Write),
        ]
    );
}

#[test]
fn a_path_mounted_twice_keeps_the_later_mount_in_its_place() {
    // The same path spelt another way (trailing slash) is the same node:
    // the later mount's access wins, ordered where the later one stands.
    let e = expand(
        &spec(vec![
            Mount::ReadOnly {
                path: "/usr".into(),
            },
            Mount::ReadWrite {
                path: "/home/u/src".into(),
            },
            Mount::ReadOnly {
                path: "/opt".into(),
            },
            Mount::ReadOnly {
                path: "/home/u/src/".into(),
            },
        ]),
        &fake(),
    );
    assert_eq!(
        rules(&e),
        vec![
            ("/usr".into(), Level::Read),
            ("/opt".into(), Level::Read),
            ("/home/u/src/".into(), Level::Read),
        ]
    );
}

#[test]
fn deny_under_allow_becomes_sibling_rules() {
    let e = expand(
        &spec(vec![
            Mount::ReadOnly {
                path: "/home/u".into(),
            },
            Mount::Mask {
                path: "/home/u/.ssh".into(),
                is_dir: true,
            },
        ]),
        &fake(),
    );
    // No rule on /home/u itself, none on .ssh, none on the symlink.
    assert_eq!(
        rules(&e),
        vec![
            ("/home/u/notes.txt".into(), Level::Read),
            ("/home/u/src".into(), Level::Read)
        ]
    );
    assert_eq!(e.unexpressed.len(), 1);
    assert!(e.unexpressed[0].starts_with("/home/u: Read granted on its entries one by one"));
}

#[test]
fn read_only_protected_path_under_writable_root() {
    let e = expand(
        &spec(vec![
            Mount::ReadWrite {
                path: "/home/u".into(),
            },
            Mount::ReadOnly {
                path: "/home/u/.ssh".into(),
            },
        ]),
        &fake(),
    );
    assert_eq!(
        rules(&e),
        vec![
            ("/home/u".into(), Level::Read),
            ("/home/u/notes.txt".into(), Level::Write),
            ("/home/u/src".into(), Level::Write),
        ]
    );
}

#[test]
fn root_read_keeps_disks_out_and_devices_in() {
    let fs = Fake(
        BTreeMap::from([
            ("/", vec![("dev", false), ("usr", false), ("proc", false)]),
            (
                "/dev",
                vec![("null", false), ("sda", false), ("pts", false)],
            ),
        ]),
        vec![],
    );
    let e = expand(&spec(vec![Mount::ReadOnly { path: "/".into() }]), &fs);
    let all: Vec<_> = e
        .rules
        .iter()
        .map(|(p, l)| (p.display().to_string(), *l))
        .collect();
    assert!(all.contains(&("/usr".into(), Level::Read)));
    assert!(all.contains(&("/dev/null".into(), Level::Write)));
    assert!(all.contains(&("/proc".into(), Level::Read)));
    assert!(!all.iter().any(|(p, _)| p == "/dev/sda" || p == "/"));
}

#[test]
fn private_home_is_denied_and_tmp_is_shared_both_reported() {
    let e = expand(
        &spec(vec![
            Mount::Tmpfs {
                path: "/tmp".into(),
            },
            Mount::Tmpfs {
                path: "/home/u".into(),
            },
        ]),
        &fake(),
    );
    assert_eq!(rules(&e), vec![("/tmp".into(), Level::Write)]);
    assert_eq!(e.unexpressed.len(), 2);
    assert!(e.unexpressed[1].contains("/home/u: denied"));
}

//! Judging one path's verdicts on the two backends: equal, a documented
//! Landlock difference (each allowance below is narrow and says why), or a
//! disagreement.

use std::path::{Path, PathBuf};

/// The probe's verdicts for one path: stat, read, list, write.
pub type Verdicts = [String; 4];
pub const OPS: [&str; 4] = ["stat", "read", "list", "write"];

/// What the plan says about a path (from `explain --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No rule covers it: not in the sandbox's view at all.
    Outside,
    Read,
    Write,
    Deny,
    /// An empty private tmpfs under bwrap (HOME, /tmp); under Landlock the
    /// host's path stays closed and a stand-in directory is used instead.
    Private,
}

/// The plan's rules, as `explain --json` lists them.
pub struct PlanRules {
    pub rules: Vec<(PathBuf, Rule)>,
}

impl PlanRules {
    pub fn from_explain(json: &serde_json::Value) -> PlanRules {
        let mut rules = Vec::new();
        for (key, rule) in [
            ("readable", Rule::Read),
            ("writable", Rule::Write),
            ("denied", Rule::Deny),
        ] {
            for e in json[key].as_array().into_iter().flatten() {
                let rule = match e["access"].as_str() {
                    Some("link") => continue,
                    Some("tmpfs") => Rule::Private,
                    _ => rule,
                };
                if let Some(p) = e["path"].as_str() {
                    rules.push((PathBuf::from(p), rule));
                }
            }
        }
        PlanRules { rules }
    }

    /// The deepest rule containing `path`; a deny wins a tie, a write
    /// beats a read at one path.
    pub fn decide(&self, path: &Path) -> Rule {
        let mut best: Option<(usize, Rule)> = None;
        for (p, r) in &self.rules {
            if !path.starts_with(p) {
                continue;
            }
            let depth = p.components().count();
            let rank = |r: Rule| match r {
                Rule::Deny | Rule::Private => 3,
                Rule::Write => 2,
                Rule::Read => 1,
                Rule::Outside => 0,
            };
            if best.is_none_or(|(d, b)| depth > d || (depth == d && rank(*r) > rank(b))) {
                best = Some((depth, *r));
            }
        }
        best.map_or(Rule::Outside, |(_, r)| r)
    }

    /// The names in `dir` on the way to a grant or private tmpfs strictly
    /// below it (or to `extra`): a hidden directory shows these as mount
    /// points, nothing else.
    pub fn mount_points(&self, dir: &Path, extra: &Path) -> usize {
        let granted = (self.rules.iter())
            .filter(|(_, r)| matches!(r, Rule::Read | Rule::Write | Rule::Private))
            .map(|(p, _)| p.as_path());
        let names: std::collections::BTreeSet<_> = granted
            .chain([extra])
            .filter_map(|p| p.strip_prefix(dir).ok()?.components().next())
            .collect();
        names.len()
    }
}

/// What the test knows about one probed path.
pub struct PathFacts<'a> {
    pub path: &'a Path,
    /// Its real path on the host (links resolved), when it exists.
    pub real: Option<PathBuf>,
    pub is_dir: bool,
    /// The plan hides it (as written or as resolved) or never grants it.
    pub hidden: bool,
    /// It is where bwrap mounts a private tmpfs (HOME when hidden).
    pub private_root: bool,
    /// It is in such a tmpfs (bwrap's writes there reach no host file).
    pub private: bool,
    /// How many names bwrap's mount points may show in it: grants
    /// strictly below it, and the working directory (a hidden cwd is
    /// masked in place to start in).
    pub mount_points: usize,
    /// bwrap's verdicts for the other probed names of the same file
    /// (hard links, paths through symlinks) that the plan grants.
    pub twins: Vec<&'a Verdicts>,
    /// The Landlock backend's stderr.
    pub landlock_stderr: &'a str,
}

fn denied(v: &str) -> bool {
    !v.starts_with("OK") && v != "-"
}

/// Why a difference between `bwrap` and `landlock` for `op` is
/// acceptable, or None when it is a disagreement.
pub fn allowance(op: usize, b: &str, l: &str, f: &PathFacts) -> Option<&'static str> {
    // Where the path is not in bwrap's view the probe never learns it is a
    // directory, so bwrap has no list verdict: nothing to compare.
    if (b == "-" && denied(l)) || (l == "-" && denied(b) && f.hidden) {
        return Some("list: not a directory in one view");
    }
    if denied(b) && denied(l) {
        // A path missing from the mount namespace is ENOENT, a read-only
        // bind answers EROFS; Landlock refuses both with EACCES.
        if matches!(b, "ENOENT" | "EROFS") && l == "EACCES" {
            return Some("errno: ENOENT/EROFS under bwrap, EACCES under Landlock");
        }
        return None;
    }
    // Landlock judges the file reached, not the name: a granted file is
    // reachable through every host name of it (a symlink outside bwrap's
    // view, a hard link to a file granted on its own), with exactly the
    // access bwrap gives under the granted name. bwrap may show the name
    // as nothing, or as the skeleton of a mount made through it.
    if l.starts_with("OK") && f.twins.iter().any(|t| t[op] == l) {
        return Some("names: Landlock reaches a granted file by any of its names");
    }
    // bwrap makes the parents of its mount points: they show the mount
    // points and nothing else of the host.
    let at_most_mount_points = match b.strip_prefix("OK:") {
        Some(n) => n.parse::<usize>().is_ok_and(|n| n <= f.mount_points),
        None => b == "OK",
    };
    if f.hidden && f.mount_points > 0 && at_most_mount_points && denied(l) && OPS[op] != "write" {
        return Some("mount points: bwrap shows the parents of its mounts");
    }
    // Landlock governs opening, not lookup: a hidden path's name and
    // metadata stay visible (reported by `run --report` as unexpressed).
    if OPS[op] == "stat" && b == "ENOENT" && l == "OK" && f.hidden {
        return Some("stat: Landlock does not hide names");
    }
    // HOME hidden by the policy: bwrap mounts an empty writable tmpfs
    // there (with the mount points of grants inside it), Landlock leaves
    // the host's directory closed and points HOME at a stand-in directory
    // (README, Backends).
    if f.private && (f.private_root || f.mount_points > 0) && b.starts_with("OK") && l == "EACCES" {
        return Some("private HOME: tmpfs under bwrap, a stand-in under Landlock");
    }
    // bwrap masks a hidden file with /dev/null and a hidden directory with
    // an empty tmpfs: opening succeeds and yields nothing.
    if f.hidden && denied(l) && matches!(b, "OK" | "OK:0") && OPS[op] != "write" {
        return Some("hidden: empty mask under bwrap, EACCES under Landlock");
    }
    // A directory granted entry by entry (to keep a deny or protected path
    // inside it) cannot be opened, listed or get new entries itself; the
    // Landlock backend says so on stderr, naming it.
    if f.is_dir && b.starts_with("OK") && l == "EACCES" && OPS[op] != "stat" {
        let dir = f.real.as_deref().unwrap_or(f.path);
        let line = format!("{}: ", dir.display());
        let named = f
            .landlock_stderr
            .lines()
            .any(|s| s.contains(&line) && s.contains("one by one"));
        if named {
            return Some("split: directory granted entry by entry under Landlock");
        }
    }
    None
}

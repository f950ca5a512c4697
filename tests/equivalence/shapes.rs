//! The host tree the differential test probes, and the seeded generator of
//! policy shapes over it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// splitmix64: small, deterministic, good enough to pick rules.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Content of every credential-like file: not one byte of it may be
/// readable where the plan hides it.
pub const SECRET: &str = "SECRET-BYTES";

/// The tree: `root/home` is HOME (credential dotfiles, one linked into
/// `dotfiles/`), `root/ws` a git checkout with links into and out of
/// everything, `root/data` the nesting playground, `root/outside` never
/// granted unless a shape says so, `root/alias -> data` (relative) and
/// `root/wslink -> root/ws` (absolute). `root/cache` is
/// XDG_CACHE_HOME and is not probed (the Landlock backend's stand-in TMPDIR
/// and HOME live there).
pub struct Tree {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    /// Every path the probe tries, absolute.
    pub paths: Vec<PathBuf>,
}

impl Tree {
    /// Under /var/tmp: not the private /tmp of the bwrap backend (a
    /// documented difference this test does not measure), and writable by
    /// the unprivileged CI user.
    pub fn new() -> Tree {
        let dir = tempfile::Builder::new()
            .prefix("sandspawn-diff-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let root = dir.path().to_path_buf();
        let r = |p: &str| root.join(p);
        for d in [
            "home/.ssh",
            "home/.aws",
            "home/.config/gh",
            "home/.config/app",
            "home/docs",
            "dotfiles",
            "ws/.git/objects",
            "ws/src/deep",
            "ws/out",
            "data/pub",
            "data/priv/inner/deeper",
            "outside",
            "cache",
        ] {
            std::fs::create_dir_all(r(d)).unwrap();
        }
        let secret = format!("{SECRET}\n");
        for f in [
            "home/.ssh/id_ed25519",
            "home/.aws/credentials",
            "home/.config/gh/hosts.yml",
            "home/.netrc",
            "dotfiles/npmrc",
            "dotfiles/git-credentials",
        ] {
            std::fs::write(r(f), &secret).unwrap();
        }
        for f in [
            "home/notes.txt",
            "home/docs/readme.txt",
            "home/.config/app/settings.toml",
            "ws/.git/config",
            "ws/.git/HEAD",
            "ws/src/main.rs",
            "ws/src/deep/leaf.txt",
            "data/pub/a.txt",
            "data/priv/b.txt",
            "data/priv/inner/c.txt",
            "data/priv/inner/deeper/d.txt",
            "outside/private.txt",
            "outside/hard-target.txt",
        ] {
            std::fs::write(r(f), format!("{f}\n")).unwrap();
        }
        let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, r(at)).unwrap();
        let abs = |p: &str| r(p).display().to_string();
        // Dotfiles kept elsewhere, absolute (ln -s) and relative (stow).
        link(&abs("dotfiles/npmrc"), "home/.npmrc");
        link("../dotfiles/git-credentials", "home/.git-credentials");
        link("../outside/private.txt", "ws/link-out");
        link(&abs("home/notes.txt"), "ws/link-home");
        link("../data", "ws/link-data");
        link(&abs("home/.ssh/id_ed25519"), "ws/link-ssh");
        link("../nowhere", "ws/dangling");
        link("data", "alias");
        link(&abs("ws"), "wslink");
        std::fs::hard_link(r("outside/hard-target.txt"), r("ws/hard.txt")).unwrap();
        std::fs::hard_link(r("data/priv/b.txt"), r("data/pub/hard-b.txt")).unwrap();

        let mut paths = Vec::new();
        walk(&root, &r("cache"), &mut paths);
        for extra in [
            "nope",
            "ws/nope",
            "data/priv/nope",
            "alias/pub/a.txt",
            "alias/priv/b.txt",
            "alias/priv/inner/c.txt",
            "ws/link-data/priv/b.txt",
            "ws/link-data/priv/inner",
            "wslink/.git/config",
            "wslink/src/main.rs",
        ] {
            paths.push(r(extra));
        }
        paths.sort();
        Tree {
            _dir: dir,
            root,
            paths,
        }
    }
}

fn walk(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path == skip {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            walk(&path, skip, out);
        } else {
            out.push(path);
        }
    }
}

/// One policy: rules relative to the tree root ("/" is the host's root),
/// the working directory, and whether it is given as flags or a file.
#[derive(Debug, Clone)]
pub struct Shape {
    pub presets: Vec<&'static str>,
    pub read: Vec<&'static str>,
    pub write: Vec<&'static str>,
    pub deny: Vec<&'static str>,
    pub cwd: &'static str,
    pub policy_file: bool,
}

const READ: &[&str] = &[
    "",
    "home",
    "ws",
    "data",
    "data/pub",
    "data/priv/inner",
    "alias",
    "alias/priv",
    "outside",
    "/",
    "ws/link-data",
    "ws/link-ssh",
    "missing-dir",
    "home/.ssh",
    "dotfiles",
    "data/priv/inner/deeper",
    "wslink",
];
const WRITE: &[&str] = &[
    "ws",
    "data/priv",
    "data/priv/inner",
    "ws/out",
    "ws/src",
    "alias/pub",
    "home/docs",
    "data",
    "missing-out",
    "wslink",
];
const DENY: &[&str] = &[
    "data/priv",
    "ws/src/deep",
    "home/docs",
    "ws",
    "alias/priv",
    "data/priv/inner/c.txt",
    "ws/link-out",
    "missing-deny",
    "data",
    "home/notes.txt",
    "data/pub",
    "ws/.git",
    "wslink/src",
];
const CWD: &[&str] = &[
    "ws",
    "ws/src",
    "data/pub",
    "outside",
    "home",
    "",
    "data/priv",
];
const PRESETS: &[&str] = &["readonly", "workspace", "read-all"];

impl Shape {
    /// A random shape; a third of them built around one of the nestings
    /// that are easy to get wrong.
    pub fn generate(rng: &mut Rng) -> Shape {
        let mut s = Shape {
            presets: Vec::new(),
            read: Vec::new(),
            write: Vec::new(),
            deny: Vec::new(),
            cwd: rng.pick(CWD),
            policy_file: rng.chance(30),
        };
        if rng.chance(25) {
            s.presets.push(rng.pick(PRESETS));
        }
        match rng.below(6) {
            // allow inside deny inside allow
            0 => {
                s.read.push("data");
                s.deny.push("data/priv");
                let inner = rng.pick(&["data/priv/inner", "data/priv/inner/deeper"]);
                if rng.chance(50) {
                    s.write.push(inner);
                } else {
                    s.read.push(inner);
                }
            }
            // a deny at a grant's own path
            1 => {
                let p = rng.pick(&["ws", "data", "data/pub", "home/docs", "alias"]);
                s.read.push(p);
                s.deny.push(p);
            }
            // the same path read and written
            2 => {
                let p = rng.pick(&["ws", "data/priv", "ws/out", "alias/pub"]);
                s.read.push(p);
                s.write.push(p);
            }
            _ => {}
        }
        for _ in 0..rng.below(4) {
            s.read.push(rng.pick(READ));
        }
        for _ in 0..rng.below(3) {
            s.write.push(rng.pick(WRITE));
        }
        for _ in 0..rng.below(3) {
            s.deny.push(rng.pick(DENY));
        }
        s
    }

    /// How a rule is spelled: absolute, `~/…` for HOME's, `./…` for the
    /// working directory's (flags only: a policy file gets absolute paths).
    fn spell(&self, root: &Path, rule: &str, salt: usize) -> String {
        if rule == "/" {
            return "/".into();
        }
        let abs = root.join(rule);
        if let Ok(rest) = Path::new(rule).strip_prefix("home") {
            if salt % 2 == 0 {
                return format!("~/{}", rest.display());
            }
        }
        if !self.policy_file && salt % 3 == 0 {
            if let Ok(rest) = abs.strip_prefix(root.join(self.cwd)) {
                return format!("./{}", rest.display());
            }
        }
        abs.display().to_string()
    }

    /// The `run` arguments before `--`; a policy file is written to `dir`.
    pub fn args(&self, root: &Path, dir: &Path) -> Vec<String> {
        let mut args = Vec::new();
        let lists = [
            ("read", &self.read),
            ("write", &self.write),
            ("deny", &self.deny),
        ];
        if self.policy_file {
            let mut toml = String::new();
            let quote = |v: &[String]| {
                let items: Vec<String> = v.iter().map(|p| format!("{p:?}")).collect();
                format!("[{}]", items.join(", "))
            };
            let presets: Vec<String> = self.presets.iter().map(|p| p.to_string()).collect();
            writeln!(toml, "presets = {}", quote(&presets)).unwrap();
            for (key, list) in lists {
                let spelled: Vec<String> = (list.iter().enumerate())
                    .map(|(i, r)| self.spell(root, r, i))
                    .collect();
                writeln!(toml, "{key} = {}", quote(&spelled)).unwrap();
            }
            let file = dir.join("policy.toml");
            std::fs::write(&file, toml).unwrap();
            args.push("--policy".into());
            args.push(file.display().to_string());
        } else {
            for p in &self.presets {
                args.push("--preset".into());
                args.push(p.to_string());
            }
            for (key, list) in lists {
                for (i, r) in list.iter().enumerate() {
                    args.push(format!("--{key}"));
                    args.push(self.spell(root, r, i));
                }
            }
        }
        args
    }
}

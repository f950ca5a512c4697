//! What git on the host runs or reads from a repository's `.git`, when it
//! lies outside `.git` in a writable root: a hooks directory `.git/hooks`
//! links to (`ln -s ../scripts/hooks .git/hooks`), the `core.hooksPath`
//! husky and others set (`.husky/_`), a file `.git/config` includes
//! (`include.path = ../shared.gitconfig`, where a `core.fsmonitor` is a
//! command). `.git` itself is read-only, but before, the child wrote
//! these: the next `git commit` or `git status` on the host ran its code.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

mod support;
use support::{assert_refused, assert_said, scrubbed, Scratch, PYTHON};

/// The errno names of each attempt the child makes: `w:PATH` appends to
/// PATH, `c:PATH` creates PATH.
static ATTEMPTS: LazyLock<String> = LazyLock::new(|| {
    support::attempts(&[
        (
            "w",
            "open(p, 'a').write('[core]\\n\\tfsmonitor = touch pwned\\n')",
        ),
        ("", "open(p, 'x').write('#!/bin/sh\\ntouch pwned\\n')"),
    ])
});

/// A repository `ws` (the cwd, writable under the workspace preset) with
/// a hand-written `.git` (no git needed), and `home` beside it.
struct Repo {
    _dirs: Scratch,
    root: PathBuf,
}

impl Repo {
    fn new(config: &str) -> Repo {
        let dirs = Scratch::new(&["ws/.git", "home"]);
        let root = dirs.root.clone();
        std::fs::write(root.join("ws/.git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(root.join("ws/.git/config"), config).unwrap();
        Repo { _dirs: dirs, root }
    }

    fn ws(&self) -> PathBuf {
        self.root.join("ws")
    }

    /// `sandspawn` in `ws`, HOME `home`, its cache below it.
    fn sandspawn(&self) -> Command {
        let home = self.root.join("home");
        scrubbed(&home, Some(&home.join(".cache")), &self.ws())
    }

    fn run(&self, backend: &str, args: &[&str]) -> Command {
        let mut cmd = self.sandspawn();
        cmd.args(["run", "--backend", backend, "--preset", "workspace"])
            .args(args);
        cmd
    }
}

fn backends() -> Vec<&'static str> {
    support::backends(|backend| {
        let repo = Repo::new("");
        support::unusable(backend, || repo.run(backend, &["--", "true"]).output())
    })
}

/// The hooks git runs and the config it reads, wherever `.git` sends it
/// inside the workspace, stay read-only.
#[test]
fn hooks_and_included_config_outside_dot_git_stay_read_only() {
    for backend in backends() {
        let repo = Repo::new(
            "[core]\n\trepositoryformatversion = 0\n\tHooksPath = \".husky/_\" ; husky\n\
             [include]\n\tpath = ../shared.gitconfig\n\
             [includeIf \"onbranch:main\"]\n\tpath = ../branch.gitconfig\n",
        );
        let ws = repo.ws();
        std::fs::create_dir_all(ws.join("scripts/hooks")).unwrap();
        std::fs::create_dir_all(ws.join(".husky/_")).unwrap();
        std::fs::write(ws.join("shared.gitconfig"), "").unwrap();
        std::fs::write(ws.join("branch.gitconfig"), "").unwrap();
        symlink("../scripts/hooks", ws.join(".git/hooks")).unwrap();
        let attempts = [
            "c:scripts/hooks/pre-commit",
            "c:.husky/_/pre-commit",
            "w:shared.gitconfig",
            "w:branch.gitconfig",
            "c:notes.txt",
        ];
        let out = repo
            .run(backend, &["--", PYTHON, "-c", ATTEMPTS.as_str()])
            .args(attempts)
            .output()
            .unwrap();
        // Landlock: the workspace's own entries are read-only on
        // themselves (a protected path inside), deeper ones writable.
        let want = if backend == "bwrap" {
            "EROFS EROFS EROFS EROFS OK"
        } else {
            "EACCES EACCES EACCES EACCES EACCES"
        };
        assert_said(&out, want, backend);
        assert_eq!(
            std::fs::read_to_string(ws.join("shared.gitconfig")).unwrap(),
            ""
        );
        assert!(!ws.join("scripts/hooks/pre-commit").exists(), "{backend}");
        assert!(!ws.join(".husky/_/pre-commit").exists(), "{backend}");
    }
}

/// A hooks directory the config names but that is missing in the
/// workspace: the child could create it, hooks and all. Refused.
#[test]
fn a_missing_hooks_path_inside_a_writable_root_is_refused() {
    for backend in backends() {
        let repo = Repo::new("[core]\n\thooksPath = githooks\n");
        let want = format!(
            "sandspawn: protected path {}: missing inside a writable root, where core.hooksPath \
             of {} leads; the sandbox could create it and git on the host would run or read \
             what it holds: create it, or change the setting; refusing to start (a writable \
             root must not redirect it)",
            repo.ws().join("githooks").display(),
            repo.ws().join(".git/config").display(),
        );
        refuses(&repo, backend, &want);
    }
}

/// A link inside the workspace on the way to the hooks: the child could
/// point it elsewhere. Refused, naming the link.
#[test]
fn a_link_inside_a_writable_root_on_the_way_to_the_hooks_is_refused() {
    for backend in backends() {
        let repo = Repo::new("[core]\n\thooksPath = tools/hooks\n");
        std::fs::create_dir_all(repo.root.join("shared/hooks")).unwrap();
        symlink(repo.root.join("shared"), repo.ws().join("tools")).unwrap();
        let want = format!(
            "sandspawn: protected path {}: a symlink inside a writable root on the way to \
             core.hooksPath of {}, which the sandbox could point elsewhere for git on the \
             host to run or read; name its real path {} instead; refusing to start (a \
             writable root must not redirect it)",
            repo.ws().join("tools").display(),
            repo.ws().join(".git/config").display(),
            repo.root.join("shared/hooks").display(),
        );
        refuses(&repo, backend, &want);
    }
}

/// A writable root deeper in a repository (`--write scripts` under the
/// repository's root): git run anywhere in that repository reads its
/// config, whose `core.hooksPath` names a directory in that root.
#[test]
fn hooks_in_a_writable_root_below_the_repository_stay_read_only() {
    for backend in backends() {
        let repo = Repo::new("[core]\n\thooksPath = scripts/hooks\n");
        let ws = repo.ws();
        std::fs::create_dir_all(ws.join("scripts/hooks")).unwrap();
        let scripts = ws.join("scripts");
        let out = (repo.sandspawn())
            .args(["run", "--backend", backend, "--write"])
            .arg(&scripts)
            .args(["--", PYTHON, "-c", ATTEMPTS.as_str()])
            .args(["c:scripts/hooks/pre-commit", "c:scripts/notes.txt"])
            .output()
            .unwrap();
        let want = if backend == "bwrap" {
            "EROFS OK"
        } else {
            "EACCES EACCES"
        };
        assert_said(&out, want, backend);
        assert!(!ws.join("scripts/hooks/pre-commit").exists(), "{backend}");
    }
}

/// Runs `true` in `repo` and asserts the refusal: exit 125 and `want` as
/// one line of stderr.
fn refuses(repo: &Repo, backend: &str, want: &str) {
    let out = repo.run(backend, &["--", "true"]).output().unwrap();
    assert_refused(&out, backend, want);
}

/// More config files than sandspawn reads: before, those past the cap
/// were neither read nor kept read-only (inc31..inc40 stayed writable,
/// and git on the host reads them). Refused, naming the first one.
#[test]
fn config_files_past_the_cap_are_refused() {
    for backend in backends() {
        let includes: String = (1..=40)
            .map(|n| format!("[include]\n\tpath = ../inc{n}.gitconfig\n"))
            .collect();
        let repo = Repo::new(&includes);
        for n in 1..=40 {
            std::fs::write(repo.ws().join(format!("inc{n}.gitconfig")), "").unwrap();
        }
        // The repository's config, then inc1..inc31 (config.worktree, missing,
        // and a file included twice count nothing).
        let want = format!(
            "sandspawn: protected path {}: include.path of {}, a config file past the 32 \
             sandspawn reads per repository, which git on the host would read too; merge \
             the includes into fewer files, or keep the repository out of the --write \
             roots; refusing to start (a writable root must not redirect it)",
            repo.ws().join("inc32.gitconfig").display(),
            repo.ws().join(".git/config").display(),
        );
        refuses(&repo, backend, &want);
    }
}

/// A config longer than sandspawn reads: an include past the first MiB
/// was not followed, and the file it names stayed writable. Refused.
#[test]
fn a_config_past_the_byte_bound_is_refused() {
    for backend in backends() {
        let mut config = String::from("[core]\n\tbare = false\n");
        config.push_str(&"# padding padding padding padding\n".repeat(40_000));
        config.push_str("[include]\n\tpath = ../late.gitconfig\n");
        assert!(config.len() > 1 << 20);
        let repo = Repo::new(&config);
        std::fs::write(repo.ws().join("late.gitconfig"), "").unwrap();
        let want = format!(
            "sandspawn: protected path {}: the repository's config, a config file longer \
             than the 1048576 bytes sandspawn reads, whose includes past them git on the \
             host would follow; shorten it, or keep the repository out of the --write \
             roots; refusing to start (a writable root must not redirect it)",
            repo.ws().join(".git/config").display(),
        );
        refuses(&repo, backend, &want);
    }
}

/// A hook in a protected hooks directory with another name in the
/// workspace (`ln .husky/_/pre-commit x`): the child appended to `x` and
/// the host's next commit ran it. Refused, naming the hook; likewise in
/// a `.git/hooks` that links into the workspace.
#[test]
fn a_hook_with_another_name_in_a_writable_root_is_refused() {
    for backend in backends() {
        let repo = Repo::new("[core]\n\thooksPath = .husky/_\n");
        let hook = repo.ws().join(".husky/_/pre-commit");
        std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
        std::fs::write(&hook, "#!/bin/sh\n").unwrap();
        std::fs::hard_link(&hook, repo.ws().join("x")).unwrap();
        let want = |hook: &Path| {
            format!(
                "sandspawn: protected path {p}: has 2 hard links, and another name inside a \
                 writable root would stay writable; remove the other links (`find / -xdev \
                 -samefile {p}` lists them), or keep the file out of the --write roots; \
                 refusing to start (a writable root must not redirect it)",
                p = hook.display()
            )
        };
        refuses(&repo, backend, &want(&hook));

        let repo = Repo::new("");
        let hook = repo.ws().join("scripts/hooks/post-checkout");
        std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
        std::fs::write(&hook, "#!/bin/sh\n").unwrap();
        std::fs::hard_link(&hook, repo.ws().join("x")).unwrap();
        symlink("../scripts/hooks", repo.ws().join(".git/hooks")).unwrap();
        refuses(&repo, backend, &want(&hook));
    }
}

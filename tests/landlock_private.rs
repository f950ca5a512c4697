//! Landlock's stand-ins for a private HOME and /tmp, through the real
//! binary: each sandbox gets new ones, no other sandbox sees them, and
//! they are swept once their owner is gone. Before, every Landlock sandbox
//! of a user shared `<cache>/sandspawn/home` and `…/tmp`: one run could
//! plant `~/.gitconfig` (core.fsmonitor) for the next one to execute.
//!
//! Skips print their reason and fail under `SANDSPAWN_MUST_WORK=1`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;
use support::{scrubbed, skip};

/// A host HOME and cache of the test's own (scrubbed environment: no CA
/// variables of the machine's).
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::Builder::new()
            .prefix("sandspawn-lpriv-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for d in ["home", "cache", "ws"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        Host { _dir: dir, root }
    }

    fn run_dir(&self) -> PathBuf {
        self.root.join("cache/sandspawn/run")
    }

    /// `sandspawn` in `ws`, HOME `home`, its cache `cache`.
    fn sandspawn(&self) -> Command {
        let r = &self.root;
        scrubbed(&r.join("home"), Some(&r.join("cache")), &r.join("ws"))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.sandspawn();
        cmd.args(["run", "--backend", "landlock"]).args(args);
        cmd
    }

    fn sh(&self, script: &str) -> Output {
        self.command(&["--", "sh", "-c", script]).output().unwrap()
    }

    /// The per-sandbox directories present now.
    fn leftovers(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.run_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn usable(host: &Host) -> bool {
    let out = host.sh("true");
    if !out.status.success() {
        skip(&format!(
            "`sandspawn run --backend landlock` does not work here: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    out.status.success()
}

/// stdout's lines, asserting success.
fn lines(out: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// HOME's and TMPDIR's shared parent: the sandbox's own directory.
fn own_dir(home: &str, tmp: &str) -> PathBuf {
    let (home, tmp) = (Path::new(home), Path::new(tmp));
    assert_eq!(home.file_name().unwrap(), "home");
    assert_eq!(tmp.file_name().unwrap(), "tmp");
    assert_eq!(home.parent(), tmp.parent());
    home.parent().unwrap().to_path_buf()
}

#[test]
fn what_one_run_writes_to_home_and_tmpdir_does_not_reach_the_next() {
    let host = Host::new();
    if !usable(&host) {
        return;
    }
    let plant = "printf '[core]\\n\\tfsmonitor = touch /tmp/pwned\\n' > ~/.gitconfig \
                 && echo x > ~/.bashrc && echo x > \"$TMPDIR/planted\" \
                 && echo \"$HOME\" && echo \"$TMPDIR\"";
    let first = lines(&host.sh(plant));
    let first_dir = own_dir(&first[0], &first[1]);
    assert!(first_dir.starts_with(host.run_dir()), "{first:?}");
    let look = "for f in ~/.gitconfig ~/.bashrc \"$TMPDIR/planted\"; do \
                test -e \"$f\" && echo \"LEAK $f\"; done; \
                if command -v git >/dev/null; then git config --global --list 2>&1 | grep -i fsmonitor; fi; \
                echo \"$HOME\"; echo \"$TMPDIR\"";
    let second = lines(&host.sh(look));
    assert_eq!(
        second.len(),
        2,
        "planted files reached the next run: {second:?}"
    );
    let second_dir = own_dir(&second[0], &second[1]);
    assert_ne!(first_dir, second_dir);
    // The first run's owner (the process that became its command) has
    // ended: the second run's planning swept its directory.
    assert!(!first_dir.exists(), "{} was not swept", first_dir.display());
    assert_eq!(
        host.leftovers(),
        [second_dir.file_name().unwrap().to_string_lossy()],
        "only the last run's directory is left"
    );
    // Nothing is left in the old shared directories either.
    let cache = host.root.join("cache/sandspawn");
    assert!(!cache.join("home").exists() && !cache.join("tmp").exists());
}

#[test]
fn concurrent_sandboxes_have_their_own_and_the_live_one_survives_a_sweep() {
    let host = Host::new();
    if !usable(&host) {
        return;
    }
    // A: writes its secrets, says where, and waits for its stdin to close.
    let mut a = host
        .command(&[
            "--",
            "sh",
            "-c",
            "echo A > ~/secret && echo A > \"$TMPDIR/secret\" \
             && echo \"$HOME\" && echo \"$TMPDIR\" && read _ ; echo \"$HOME\" > /dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(a.stdout.take().unwrap());
    let (mut a_home, mut a_tmp) = (String::new(), String::new());
    out.read_line(&mut a_home).unwrap();
    out.read_line(&mut a_tmp).unwrap();
    let (a_home, a_tmp) = (a_home.trim().to_string(), a_tmp.trim().to_string());
    assert!(!a_home.is_empty(), "A did not start");
    let a_dir = own_dir(&a_home, &a_tmp);

    // B, while A runs: its own HOME and TMPDIR, and A's cannot be read or
    // listed, even with their path in hand and a grant that covers the
    // cache (`--read` of the whole tree, as `--read ~` would).
    let script = format!(
        "echo \"$HOME\"; echo \"$TMPDIR\"; \
         for f in {a_home}/secret {a_tmp}/secret; do cat \"$f\" 2>/dev/null && echo \"READ $f\"; done; \
         ls {a_home} 2>/dev/null && echo LISTED; true"
    );
    let root = host.root.to_str().unwrap();
    let b = host.command(&["--read", root, "--", "sh", "-c", &script]);
    let b = lines(&{ b }.output().unwrap());
    assert_eq!(b.len(), 2, "B reached A's files: {b:?}");
    // The grant covers the host's HOME, which B gets; TMPDIR is its own.
    assert_eq!(Path::new(&b[0]), host.root.join("home"));
    let b_dir = Path::new(&b[1]).parent().unwrap().to_path_buf();
    assert_ne!(a_dir, b_dir);
    // B's planning swept, but A's owner lives: A's files are there.
    assert_eq!(
        std::fs::read_to_string(Path::new(&a_home).join("secret")).unwrap(),
        "A\n"
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(&a_tmp).join("secret")).unwrap(),
        "A\n"
    );

    // A bwrap sandbox with the same grant does not see them either (the
    // run directory was hidden only from Landlock plans: a bwrap
    // `--read ~` read a live Landlock sandbox's HOME).
    let bwrap = host
        .sandspawn()
        .args(["run", "--backend", "bwrap", "--read", root, "--", "sh", "-c"])
        .arg(format!(
            "for f in {a_home}/secret {a_tmp}/secret; do cat \"$f\" 2>/dev/null && echo \"READ $f\"; done; \
             ls {a_home} 2>/dev/null && echo LISTED; echo done"
        ))
        .output()
        .unwrap();
    assert_eq!(lines(&bwrap), ["done"], "a bwrap sandbox reached A's files");

    a.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(a.wait().unwrap().success());
    // A has ended: the next planning sweeps its directory (and B's).
    let c = lines(&host.sh("echo \"$HOME\"; echo \"$TMPDIR\""));
    let c_dir = own_dir(&c[0], &c[1]);
    assert!(!a_dir.exists() && !b_dir.exists());
    assert_eq!(
        host.leftovers(),
        [c_dir.file_name().unwrap().to_string_lossy()]
    );
}

#[test]
fn a_leftover_with_a_locked_directory_and_a_link_out_is_swept_without_following_it() {
    let host = Host::new();
    if !usable(&host) {
        return;
    }
    // Written as a sandbox could: a 0000 directory with content, a
    // read-only one, and links to a file and a directory outside.
    let outside = host.root.join("precious");
    std::fs::write(&outside, "keep\n").unwrap();
    let script = format!(
        "cd ~ && mkdir -p locked/inner ro && echo x > locked/inner/f && echo x > ro/f \
         && ln -s {o} link-file && ln -s {dir} link-dir && ln -s {o} locked/link \
         && chmod 0 locked/inner && chmod 0 locked && chmod 500 ro \
         && cd \"$TMPDIR\" && ln -s {o} t-link && echo \"$HOME\" && echo \"$TMPDIR\"",
        o = outside.display(),
        dir = host.root.display(),
    );
    let first = lines(&host.sh(&script));
    let dir = own_dir(&first[0], &first[1]);
    assert!(dir.join("home/locked").exists());
    let next = host.sh("true");
    let stderr = String::from_utf8_lossy(&next.stderr);
    assert!(next.status.success(), "{stderr}");
    assert!(!stderr.contains("could not be removed"), "{stderr}");
    assert!(!dir.exists(), "{} was not swept: {stderr}", dir.display());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep\n");
    assert!(host.root.join("home").is_dir() && host.root.join("ws").is_dir());
}

#[test]
fn explain_names_a_home_but_leaves_no_directory_behind() {
    let host = Host::new();
    if !usable(&host) {
        return;
    }
    // The probe run's directory is swept by the next planning, explain's
    // own: afterwards nothing is left.
    for json in [false, true] {
        let mut cmd = host.sandspawn();
        cmd.args(["explain", "--backend", "landlock"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.args(["--", "true"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = host.run_dir().display().to_string();
        assert!(text.contains(&run), "{text}");
        if json {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let dirs = &v["private_dirs"];
            assert_eq!(dirs["per_sandbox"], true, "{dirs}");
            let dir = dirs["dir"].as_str().unwrap();
            assert!(dir.starts_with(&run), "{dirs}");
            assert_eq!(dirs["home"].as_str().unwrap(), format!("{dir}/home"));
            assert_eq!(dirs["tmp"].as_str().unwrap(), format!("{dir}/tmp"));
        }
        assert_eq!(host.leftovers(), Vec::<String>::new(), "json: {json}");
    }
}

/// A bwrap sandbox started before the host's first Landlock run: the run
/// directory did not exist yet, so its deny mounted nothing, and the
/// sandbox's live bind of the cache showed the Landlock sandboxes made
/// after it.
#[test]
fn a_bwrap_sandbox_started_before_any_landlock_run_does_not_see_theirs() {
    let host = Host::new();
    assert!(!host.run_dir().exists());
    let root = host.root.to_str().unwrap();
    let mut b = host
        .sandspawn()
        .args([
            "run",
            "--backend",
            "bwrap",
            "--read",
            root,
            "--",
            "sh",
            "-c",
        ])
        .arg("echo up; read p; cat \"$p/secret\" 2>/dev/null && echo READ; echo done")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(b.stdout.take().unwrap());
    let mut up = String::new();
    out.read_line(&mut up).unwrap();
    if up.trim() != "up" {
        let _ = b.kill();
        let status = b.wait().unwrap();
        return skip(&format!("the bwrap sandbox did not start: {status}"));
    }
    if !usable(&host) {
        let _ = b.kill();
        let _ = b.wait();
        return;
    }
    let a = lines(&host.sh("echo A > ~/secret && echo \"$HOME\""));
    let a_home = a.last().unwrap();
    assert!(Path::new(a_home).join("secret").is_file());
    b.stdin
        .take()
        .unwrap()
        .write_all(format!("{a_home}\n").as_bytes())
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(b.wait().unwrap().success());
    assert_eq!(
        rest, "done\n",
        "the bwrap sandbox read a Landlock sandbox's HOME"
    );
}

/// The layout before per-sandbox directories left `<cache>/home` and
/// `tmp`, shared by every Landlock sandbox and kept: what one saved there
/// (a tool's token) was readable by any later sandbox granted the cache
/// (`--read ~`, here `--read` of the cache's parent). The next plan, of
/// either backend, removes them, without following a link out of them.
#[test]
fn an_older_layouts_shared_home_and_tmp_are_removed() {
    let host = Host::new();
    if !usable(&host) {
        return;
    }
    let cache = host.root.join("cache/sandspawn");
    std::fs::create_dir_all(cache.join("home/.config/gh")).unwrap();
    std::fs::write(cache.join("home/.config/gh/hosts.yml"), "token: x\n").unwrap();
    std::fs::create_dir_all(cache.join("tmp")).unwrap();
    let outside = host.root.join("home/keep.txt");
    std::fs::write(&outside, "mine").unwrap();
    std::os::unix::fs::symlink(&outside, cache.join("tmp/link")).unwrap();
    let token = cache.join("home/.config/gh/hosts.yml");
    let script = format!("cat {} 2>&1; true", token.display());
    let out = host
        .sandspawn()
        .args(["run", "--backend", "bwrap", "--read"])
        .arg(host.root.join("cache"))
        .args(["--", "sh", "-c"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        lines(&out),
        [format!(
            "cat: {}: No such file or directory",
            token.display()
        )]
    );
    assert!(!cache.join("home").exists());
    assert!(!cache.join("tmp").exists());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "mine");
}

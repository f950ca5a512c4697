//! Differential test: the bwrap and Landlock backends must give the same
//! verdicts for the same policy.
//!
//! Over a tree with nested directories, links (relative and absolute, into
//! and out of granted and hidden areas), hardlinks, a fake HOME with
//! credential dotfiles and a git checkout, a seeded generator makes policy
//! shapes (flags or a policy file; allow inside deny inside allow, a deny
//! at a grant's own path, one path read and written, `/`, missing paths,
//! the working directory inside and outside the grants). For each, one
//! probe runs under `sandspawn run --backend bwrap` and `--backend
//! landlock` and tries stat, read, list and write on every path; the
//! verdicts are compared path by path. A difference passes only through a
//! narrow, documented allowance (`equivalence/compare.rs`). On both
//! backends, no byte of a credential file, and nothing the plan hides, may
//! be read.
//!
//! `SANDSPAWN_DIFF_SEED` (default: fixed) and `SANDSPAWN_DIFF_CASES`
//! (default 120, 20–40 s on the 2-core VM) choose the run; a failure
//! prints the seed and case, and `SANDSPAWN_DIFF_CASE=N` replays that one
//! alone. Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "equivalence/compare.rs"]
mod compare;
#[path = "equivalence/shapes.rs"]
mod shapes;
mod support;

use compare::{allowance, PathFacts, PlanRules, Rule, Verdicts, OPS};
use shapes::{Rng, Shape, Tree, SECRET};
use support::{skip, PYTHON, SANDSPAWN};

const PROBE: &str = include_str!("equivalence/probe.py");
const DEFAULT_SEED: u64 = 0x5EED_D1FF;
const DEFAULT_CASES: usize = 120;

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

struct Outcome {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `sandspawn` with a scrubbed environment; killed after a minute so a
/// hang fails the test instead of holding it.
fn sandspawn(tree: &Tree, shape: &Shape, args: &[String]) -> Outcome {
    let mut child = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tree.root.join("home"))
        .env("XDG_CACHE_HOME", tree.root.join("cache"))
        .current_dir(tree.root.join(shape.cwd))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut out = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sandspawn {args:?} hung for 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        status: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn run_probe(tree: &Tree, shape: &Shape, backend: &str, policy: &[String]) -> Outcome {
    let mut args: Vec<String> = ["run", "--backend", backend, "--net", "none"]
        .map(String::from)
        .to_vec();
    args.extend(policy.iter().cloned());
    args.extend(["--", PYTHON, "-c", PROBE].map(String::from));
    args.extend(tree.paths.iter().map(|p| p.display().to_string()));
    sandspawn(tree, shape, &args)
}

fn parse(out: &str) -> BTreeMap<PathBuf, Verdicts> {
    out.lines()
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let path = PathBuf::from(cols.next()?);
            let mut v: Verdicts = Default::default();
            for (slot, col) in v.iter_mut().zip(cols) {
                *slot = col.split_once('=')?.1.to_string();
            }
            Some((path, v))
        })
        .collect()
}

/// Why either backend cannot run here, if one cannot.
fn unusable(tree: &Tree) -> Option<String> {
    if !Path::new(PYTHON).exists() {
        return Some(format!("{PYTHON} is missing (the probe is Python)"));
    }
    let shape = Shape {
        presets: vec![],
        read: vec![],
        write: vec![],
        deny: vec![],
        cwd: "ws",
        policy_file: false,
    };
    for backend in ["bwrap", "landlock"] {
        let args = ["run", "--backend", backend, "--", "true"].map(String::from);
        let out = sandspawn(tree, &shape, &args);
        if out.status != Some(0) {
            return Some(format!(
                "`sandspawn run --backend {backend}` does not work here: {}",
                out.stderr.trim()
            ));
        }
    }
    None
}

/// Everything one case found wrong, one line each.
fn check_case(tree: &Tree, shape: &Shape, used: &mut BTreeMap<&'static str, usize>) -> Vec<String> {
    let policy_dir = tree.root.join("cache");
    let policy = shape.args(&tree.root, &policy_dir);
    let b = run_probe(tree, shape, "bwrap", &policy);
    let l = run_probe(tree, shape, "landlock", &policy);
    let mut problems = Vec::new();
    let started = |o: &Outcome| o.status == Some(0) && !o.stdout.is_empty();
    match (started(&b), started(&l)) {
        (true, true) => {}
        // The same refusal from both (a plan that breaks its invariant)
        // is agreement.
        (false, false) if b.status == l.status && b.status == Some(125) => return problems,
        _ => {
            problems.push(format!(
                "the backends disagree on starting: bwrap exit {:?}: {} | landlock exit {:?}: {}",
                b.status,
                b.stderr.trim(),
                l.status,
                l.stderr.trim()
            ));
            return problems;
        }
    }
    let mut explain_args = vec!["explain".to_string(), "--json".into()];
    explain_args.extend(["--backend", "bwrap"].map(String::from));
    explain_args.extend(policy.iter().cloned());
    explain_args.extend(["--", "true"].map(String::from));
    let explain = sandspawn(tree, shape, &explain_args);
    let json: serde_json::Value = serde_json::from_str(&explain.stdout)
        .unwrap_or_else(|e| panic!("explain --json: {e}: {}", explain.stderr));
    let rules = PlanRules::from_explain(&json);
    let (bv, lv) = (parse(&b.stdout), parse(&l.stdout));
    // A credential the shape grants on purpose: a grant strictly inside a
    // credential store, or through a link to a file in one, is deeper than
    // the store's default deny and wins (a grant at the store itself loses).
    let stores = ["home/.ssh", "home/.aws", "home/.config/gh"].map(|s| tree.root.join(s));
    let grants: Vec<PathBuf> = (shape.read.iter().chain(&shape.write))
        .filter_map(|g| std::fs::canonicalize(tree.root.join(g)).ok())
        .filter(|g| stores.iter().any(|s| g.starts_with(s) && g != s))
        .collect();
    let explicit =
        |p: &Path| std::fs::canonicalize(p).is_ok_and(|r| grants.iter().any(|g| r.starts_with(g)));
    // Access follows the real path (bwrap follows links inside its view,
    // Landlock checks the real file); a deny written at a link hides the
    // link's own path as well.
    let decide = |path: &Path| {
        let real = std::fs::canonicalize(path).ok();
        let decided = rules.decide(real.as_deref().unwrap_or(path));
        let hidden = matches!(decided, Rule::Deny | Rule::Outside | Rule::Private)
            || rules.decide(path) == Rule::Deny;
        (decided, hidden)
    };
    let hidden_of: BTreeMap<&PathBuf, bool> = tree.paths.iter().map(|p| (p, decide(p).1)).collect();
    for path in &tree.paths {
        let (Some(bp), Some(lp)) = (bv.get(path), lv.get(path)) else {
            problems.push(format!("{}: no verdict from one backend", path.display()));
            continue;
        };
        let real = std::fs::canonicalize(path).ok();
        let host_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
        let secret = std::fs::read(path).is_ok_and(|c| c.starts_with(SECRET.as_bytes()));
        let (decided, hidden) = decide(path);
        let private_root = rules
            .rules
            .iter()
            .any(|(p, r)| *r == Rule::Private && Some(p.as_path()) == real.as_deref());
        let ino = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        // Other names of the same file that the plan grants.
        let twins: Vec<&Verdicts> = match ino(path) {
            Some(id) => (tree.paths.iter())
                .filter(|q| *q != path && !hidden_of[q] && ino(q) == Some(id))
                .filter_map(|q| bv.get(q))
                .collect(),
            None => Vec::new(),
        };
        let cwd = tree.root.join(shape.cwd);
        let mount_points = real
            .as_deref()
            .map_or(0, |r| rules.mount_points(r, &cwd))
            .max(rules.mount_points(path, &cwd));
        let private = real.as_deref().is_some_and(|r| {
            (rules.rules.iter()).any(|(p, rule)| *rule == Rule::Private && r.starts_with(p))
        });
        let facts = PathFacts {
            path,
            real: real.clone(),
            is_dir: host_dir,
            hidden,
            private_root,
            private,
            mount_points,
            twins,
            landlock_stderr: &l.stderr,
        };
        for op in 0..OPS.len() {
            let (bo, lo) = (bp[op].as_str(), lp[op].as_str());
            // The same file granted under another name is no leak: its
            // content is the policy's to give (a hard link in a root).
            let twin_granted = facts.twins.iter().any(|t| t[op].starts_with("OK"));
            // The security invariant, on each backend on its own.
            for (name, v) in [("bwrap", bo), ("landlock", lo)] {
                let bytes = v.strip_prefix("OK:").and_then(|n| n.parse::<u64>().ok());
                let leaks = match OPS[op] {
                    "read" => {
                        (hidden || (secret && !explicit(path)))
                            && !twin_granted
                            && bytes.is_some_and(|n| n > 0)
                    }
                    "list" => {
                        hidden
                            && !private
                            && !twin_granted
                            && bytes.is_some_and(|n| n > mount_points as u64)
                    }
                    "write" => hidden && !private && !twin_granted && v == "OK",
                    _ => false,
                };
                if leaks {
                    problems.push(format!(
                        "LEAK {name}: {} {} = {v} (hidden by the plan{})",
                        path.display(),
                        OPS[op],
                        if secret { ", a credential" } else { "" }
                    ));
                }
            }
            if bo == lo {
                continue;
            }
            match allowance(op, bo, lo, &facts) {
                Some(why) => *used.entry(why).or_default() += 1,
                None => problems.push(format!(
                    "{} {}: bwrap {bo}, landlock {lo} (plan: {:?}{})",
                    path.display(),
                    OPS[op],
                    decided,
                    if hidden { ", hidden" } else { "" }
                )),
            }
        }
    }
    if !problems.is_empty() {
        if shape.policy_file {
            let toml = std::fs::read_to_string(policy_dir.join("policy.toml")).unwrap();
            problems.push(format!(
                "  policy file: {}",
                toml.trim().replace('\n', "; ")
            ));
        }
        problems.push(format!("  landlock stderr: {}", l.stderr.trim()));
        problems.push(format!("  bwrap stderr: {}", b.stderr.trim()));
    }
    problems
}

#[test]
fn backends_agree_on_generated_policies() {
    let seed = env_number("SANDSPAWN_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_number("SANDSPAWN_DIFF_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let only = env_number("SANDSPAWN_DIFF_CASE").map(|n| n as usize);
    eprintln!("backend equivalence: SANDSPAWN_DIFF_SEED={seed:#x} SANDSPAWN_DIFF_CASES={cases}");
    let tree = Tree::new();
    if let Some(reason) = unusable(&tree) {
        return skip(&reason);
    }
    let mut rng = Rng::new(seed);
    let mut used = BTreeMap::new();
    let mut failures = Vec::new();
    for case in 0..cases {
        let shape = Shape::generate(&mut rng);
        if only.is_some_and(|n| n != case) {
            continue;
        }
        let problems = check_case(&tree, &shape, &mut used);
        if !problems.is_empty() {
            failures.push(format!(
                "case {case} (SANDSPAWN_DIFF_SEED={seed:#x} SANDSPAWN_DIFF_CASE={case}), cwd {}, {:?}:\n  {}",
                shape.cwd,
                shape.args(&tree.root, &tree.root.join("cache")),
                problems.join("\n  ")
            ));
        }
    }
    eprintln!("allowances used: {used:?}");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases disagree (tree {}):\n{}",
        failures.len(),
        tree.root.display(),
        failures.join("\n")
    );
}

/// A shape given by hand (rules relative to the tree root).
fn fixed(
    cwd: &'static str,
    presets: &[&'static str],
    read: &[&'static str],
    write: &[&'static str],
    deny: &[&'static str],
) -> Shape {
    Shape {
        presets: presets.to_vec(),
        read: read.to_vec(),
        write: write.to_vec(),
        deny: deny.to_vec(),
        cwd,
        policy_file: false,
    }
}

/// The shapes that disagreed before their fixes, each with the exact
/// verdicts it must now give: `(path, op, bwrap, landlock)`.
#[test]
fn shapes_that_once_disagreed() {
    let tree = Tree::new();
    if let Some(reason) = unusable(&tree) {
        return skip(&reason);
    }
    type Want = (&'static str, usize, &'static str, &'static str);
    let (stat, read, list, write) = (0, 1, 2, 3);
    let cases: Vec<(Shape, Vec<Want>)> = vec![
        // Allow inside deny inside allow: bwrap could not make the mount
        // point of inner in the hidden priv's read-only tmpfs.
        (
            fixed("ws", &[], &["data"], &["data/priv/inner"], &["data/priv"]),
            vec![
                ("data/priv/inner/c.txt", read, "OK:22", "OK:22"),
                ("data/priv/inner", write, "OK", "OK"),
                ("data/priv/b.txt", read, "ENOENT", "EACCES"),
                ("data/priv", write, "EROFS", "EACCES"),
            ],
        ),
        // A grant through an absolute link the view shows: bwrap failed
        // to start ("Can't create file at …/ws/link-ssh"). The link leads
        // into the hidden ~/.ssh, which its written path is outside of: a
        // link a sandbox could have left there does not lift the deny
        // (granted by its own name, the key is readable).
        (
            fixed("ws", &[], &["", "ws/link-ssh"], &[], &[]),
            vec![
                ("ws/link-ssh", read, "EACCES", "EACCES"),
                ("home/.ssh/id_ed25519", read, "EACCES", "EACCES"),
                ("home/.aws/credentials", read, "ENOENT", "EACCES"),
            ],
        ),
        // A grant through a link inside a directory Landlock splits: the
        // link got a rule, which reached the hidden data/priv.
        (
            fixed("ws", &[], &["", "alias/pub"], &[], &["data/priv"]),
            vec![
                ("data/priv/b.txt", read, "ENOENT", "EACCES"),
                ("alias/priv/b.txt", read, "ENOENT", "EACCES"),
                ("alias/pub/a.txt", read, "OK:15", "OK:15"),
            ],
        ),
        // A deny seen through a link the view shows covered the grant
        // inside it on bwrap.
        (
            fixed(
                "ws",
                &[],
                &["", "ws/link-data", "data/priv/inner"],
                &[],
                &["data/priv"],
            ),
            vec![
                ("data/priv/inner/c.txt", read, "OK:22", "OK:22"),
                ("ws/link-data/priv/b.txt", read, "ENOENT", "EACCES"),
            ],
        ),
        // A deny inside a hidden directory showed its mount point there.
        (
            fixed("outside", &[], &[""], &[], &["ws", "ws/src/deep"]),
            vec![("ws", list, "OK:0", "EACCES")],
        ),
        // A writable root through an absolute link that a read root shows:
        // bwrap could not mount the protected .git under the link.
        (
            fixed("ws", &[], &[""], &["wslink"], &[]),
            vec![
                ("ws/out", write, "OK", "OK"),
                ("wslink/.git/config", write, "EROFS", "EACCES"),
            ],
        ),
        // The same root from a read-only cwd inside it: Landlock gave the
        // link's entries Write, and through the link the cwd too.
        (
            fixed("ws/src", &["readonly"], &[], &["wslink"], &[]),
            vec![
                ("ws/src", write, "EROFS", "EACCES"),
                ("ws/src/main.rs", write, "EROFS", "EACCES"),
                ("ws/out", write, "OK", "OK"),
            ],
        ),
        // A working directory inside a hidden path: bwrap could not chdir.
        (
            fixed("ws/src", &["read-all"], &[], &[], &["ws"]),
            vec![
                ("ws/src/main.rs", read, "ENOENT", "EACCES"),
                ("ws/src", stat, "OK", "OK"),
                ("ws/src", list, "OK:0", "EACCES"),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (shape, wants) in &cases {
        let policy = shape.args(&tree.root, &tree.root.join("cache"));
        let mut used = BTreeMap::new();
        for problem in check_case(&tree, shape, &mut used) {
            failures.push(format!("{policy:?}: {problem}"));
        }
        for backend in ["bwrap", "landlock"] {
            let got = parse(&run_probe(&tree, shape, backend, &policy).stdout);
            for (path, op, want_b, want_l) in wants {
                let want = if backend == "bwrap" { want_b } else { want_l };
                let v = got.get(&tree.root.join(path)).map(|v| v[*op].as_str());
                if v != Some(*want) {
                    failures.push(format!(
                        "{policy:?} {backend}: {path} {}: want {want}, got {v:?}",
                        OPS[*op]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

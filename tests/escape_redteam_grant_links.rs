//! A grant root through a link a sandbox planted: run 1 (`--write .`)
//! leaves `out -> ~/.bashrc` in the workspace, and run 2 (`--write .
//! --write out`) handed the child `~/.bashrc` writable, a host file no
//! deny covers and nobody named; so with `hooks -> other/.git/hooks`,
//! another repository's hooks, which git on the host runs. Now a root
//! whose path crosses a link inside a root the same policy makes writable
//! is refused (125, one line), on both backends, under `run` and `mcp`; so
//! is a write root leading through any link into a `.git`. A link outside
//! the writable roots (`~/.npm -> /data/npm`) works as before.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{assert_refused, assert_said, scrubbed, stderr, Scratch};

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Output;

/// `home` (HOME, with `.bashrc`), `ws` (the cwd), `other/.git/hooks` and
/// `data/npm`.
fn scratch() -> Scratch {
    let s = Scratch::new(&["home", "ws", "other/.git/hooks", "data/npm"]);
    std::fs::write(s.path("home/.bashrc"), "# rc\n").unwrap();
    s
}

/// `sandspawn SUB --backend BACKEND ARGS -- sh -c SCRIPT` in `ws`, its
/// cache in `xdg` (not under HOME, whose links the tests make).
fn run(s: &Scratch, sub: &str, backend: &str, args: &[&str], script: &str) -> Output {
    run_in(s, &s.path("ws"), sub, backend, args, script)
}

/// [`run`] in `cwd`.
fn run_in(
    s: &Scratch,
    cwd: &Path,
    sub: &str,
    backend: &str,
    args: &[&str],
    script: &str,
) -> Output {
    scrubbed(&s.path("home"), Some(&s.path("xdg")), cwd)
        .args([sub, "--backend", backend])
        .args(args)
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap()
}

fn backends() -> Vec<&'static str> {
    support::backends(|backend| {
        support::unusable(backend, || {
            Ok(run(&scratch(), "run", backend, &["--write", "."], "true"))
        })
    })
}

/// The refusal of `what` root `ws/NAME`, a link to `to` lying in `place`
/// (`writable root`, `working directory`) `ws`.
fn planted(what: &str, s: &Scratch, name: &str, to: &str, place: &str) -> String {
    format!(
        "sandspawn: {what} root {link} (flags) crosses the symlink {link} (-> {to}), which \
         lies in the {place} {ws} where a sandbox could have left it, and leads to \
         {to}; refusing to grant it: name {to} instead if that is what is meant, or remove \
         the link",
        link = s.path("ws").join(name).display(),
        ws = s.path("ws").display(),
    )
}

#[test]
fn a_root_through_a_link_a_sandbox_planted_is_refused() {
    for backend in backends() {
        let s = scratch();
        let bashrc = s.path("home/.bashrc");
        // Run 1: its child plants the link where it may write (named
        // whole: Landlock's child has a HOME of its own).
        let plant = format!("ln -s {} out", bashrc.display());
        let out = run(&s, "run", backend, &["--write", "."], &plant);
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        let to = bashrc.to_str().unwrap();
        for (sub, args, what) in [
            ("run", ["--write", "."], ["--write", "out"], "write"),
            ("run", ["--write", "."], ["--read", "out"], "read"),
            (
                "mcp",
                ["--preset", "workspace"],
                ["--write", "out"],
                "write",
            ),
        ]
        .map(|(sub, a, b, what)| (sub, [a, b].concat(), what))
        {
            let out = run(&s, sub, backend, &args, "echo evil >> out; cat out");
            let label = format!("{backend} {sub} {args:?}");
            let want = planted(what, &s, "out", to, "writable root");
            assert_refused(&out, &label, &want);
            assert!(out.stdout.is_empty(), "{label}");
        }
        assert_eq!(std::fs::read_to_string(&bashrc).unwrap(), "# rc\n");
    }
}

#[test]
fn a_write_root_through_a_link_into_another_repositorys_git_is_refused() {
    for backend in backends() {
        let s = scratch();
        let hooks = s.path("other/.git/hooks");
        let out = run(
            &s,
            "run",
            backend,
            &["--write", "."],
            &format!("ln -s {} hooks", hooks.display()),
        );
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        // A link of the user's, outside every writable root, as well.
        symlink(&hooks, s.path("home/hooks")).unwrap();
        for (args, link) in [
            (vec!["--write", ".", "--write", "hooks"], s.path("ws/hooks")),
            (vec!["--write", "~/hooks"], s.path("home/hooks")),
        ] {
            let out = run(&s, "run", backend, &args, "echo evil > hooks/pre-commit");
            let want = format!(
                "sandspawn: write root {} (flags) leads through a symlink to {}, inside a \
                 `.git` directory that sandspawn keeps read-only; refusing to make it \
                 writable: name {} instead if that is what is meant",
                link.display(),
                hooks.display(),
                hooks.display()
            );
            assert_refused(&out, &format!("{backend} {args:?}"), &want);
        }
        assert!(!hooks.join("pre-commit").exists(), "{backend}");
    }
}

/// The host's own links keep working: `~/.npm -> data/npm` granted by
/// its name, and a link inside the workspace that leads only within it.
#[test]
fn a_link_outside_the_writable_roots_still_works() {
    for backend in backends() {
        let s = scratch();
        let cache = s.path("home/.npm");
        symlink(s.path("data/npm"), &cache).unwrap();
        std::fs::create_dir(s.path("ws/build")).unwrap();
        symlink("build", s.path("ws/out")).unwrap();
        let out = run(
            &s,
            "run",
            backend,
            &["--write", ".", "--write", "~/.npm", "--write", "out"],
            &format!(
                "echo a > {c}/x && echo b > out/y && cat {c}/x out/y",
                c = cache.display()
            ),
        );
        assert_said(&out, "a\nb", backend);
        assert_eq!(
            std::fs::read_to_string(s.path("data/npm/x")).unwrap(),
            "a\n"
        );
        assert_eq!(
            std::fs::read_to_string(s.path("ws/build/y")).unwrap(),
            "b\n"
        );
    }
}

/// The link run 1 planted, named by a run 2 that does not make the
/// workspace writable: `run --write out` (-> ~/.bashrc), `mcp --write out`
/// (-> ~/tgt), `run --read leak` (-> ~/.histfile, which no deny covers);
/// `explain` as well.
/// The working directory is where a sandbox could have left it, granted
/// this run or not.
#[test]
fn a_link_planted_in_the_working_directory_is_refused_though_it_is_not_writable() {
    for backend in backends() {
        for (sub, flag, name, to, script, what) in [
            (
                "run",
                "--write",
                "out",
                ".bashrc",
                "echo pwned >> out",
                "write",
            ),
            (
                "mcp",
                "--write",
                "out",
                "tgt",
                "echo pwned > out/x",
                "write",
            ),
            ("run", "--read", "leak", ".histfile", "cat leak", "read"),
            // The plan shown is the plan run: refused alike.
            ("explain", "--write", "out", ".bashrc", "true", "write"),
        ] {
            let s = scratch();
            std::fs::create_dir(s.path("home/tgt")).unwrap();
            std::fs::write(s.path("home/.histfile"), "secret\n").unwrap();
            let to = s.path("home").join(to);
            let plant = format!("ln -s {} {name}", to.display());
            let out = run(&s, "run", backend, &["--write", "."], &plant);
            assert!(out.status.success(), "{backend}: {}", stderr(&out));
            let out = run(&s, sub, backend, &[flag, name], script);
            let label = format!("{backend} {sub} {flag} {name}");
            let want = planted(what, &s, name, to.to_str().unwrap(), "working directory");
            assert_refused(&out, &label, &want);
            assert!(out.stdout.is_empty(), "{label}");
            assert_eq!(
                std::fs::read_to_string(s.path("home/.bashrc")).unwrap(),
                "# rc\n",
                "{label}"
            );
            assert!(!s.path("home/tgt/x").exists(), "{label}");
        }
    }
}

/// Links in the project leading within it work with the project not
/// writable (`out -> build`; a monorepo's `node_modules/@x/lib ->
/// ../../../lib`); and from a working directory that is no project (HOME,
/// `/`) a link of HOME's named directly (`~/.npm -> data/npm`) is the
/// host's own, as it is from a project elsewhere.
#[test]
fn links_within_the_project_and_links_named_from_no_project_still_work() {
    for backend in backends() {
        let s = scratch();
        let ws = s.path("ws");
        for d in ["build", "lib", "app/node_modules/@x"] {
            std::fs::create_dir_all(ws.join(d)).unwrap();
        }
        std::fs::write(ws.join("lib/index.js"), "lib\n").unwrap();
        symlink("build", ws.join("out")).unwrap();
        symlink("../../../lib", ws.join("app/node_modules/@x/lib")).unwrap();
        let out = run(
            &s,
            "run",
            backend,
            &["--write", "out", "--read", "app/node_modules/@x/lib"],
            &format!(
                "echo b > out/y && cat {}/app/node_modules/@x/lib/index.js",
                ws.display()
            ),
        );
        assert_said(&out, "lib", backend);
        assert_eq!(std::fs::read_to_string(ws.join("build/y")).unwrap(), "b\n");
        let npm = s.path("home/.npm");
        symlink(s.path("data/npm"), &npm).unwrap();
        for cwd in [s.path("home"), "/".into()] {
            let label = format!("{backend} in {}", cwd.display());
            let out = run_in(
                &s,
                &cwd,
                "run",
                backend,
                &["--write", npm.to_str().unwrap()],
                &format!("echo a > {}/x && cat {0}/x", npm.display()),
            );
            assert_said(&out, "a", &label);
            std::fs::remove_file(s.path("data/npm/x")).unwrap();
        }
    }
}

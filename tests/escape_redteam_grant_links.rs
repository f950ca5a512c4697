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
    scrubbed(&s.path("home"), Some(&s.path("xdg")), &s.path("ws"))
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

fn planted(what: &str, s: &Scratch, name: &str, to: &str) -> String {
    format!(
        "sandspawn: {what} root {link} (flags) crosses the symlink {link} (-> {to}), which \
         lies in the writable root {ws} where a sandbox could have left it, and leads to \
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
            assert_refused(&out, &label, &planted(what, &s, "out", to));
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

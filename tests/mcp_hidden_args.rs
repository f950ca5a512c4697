//! Data paths a server is given (`server-filesystem DIR`, `mcp-server-git
//! --repository DIR`, `--db-path=FILE`, an entry's `MEMORY_FILE_PATH`)
//! that the sandbox does not show as the host has them are named before the
//! server starts: inside, the server finds them missing and says only "does
//! not exist", or writes a new file into the private HOME, where it is lost
//! when the server exits.

mod mcp_support;

use std::process::Command;

use mcp_support::*;

fn explain(host: &Host, args: &[&str]) -> String {
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .args(["mcp", "explain", "--no-host-env"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_path_argument_outside_the_view_is_named_with_the_flag_that_grants_it() {
    let host = Host::new();
    // Beside the working directory, under the host's /tmp: the sandbox has
    // a private /tmp and grants only the working directory.
    let data = host.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("db.sqlite"), "").unwrap();
    std::fs::write(host.work().join("in-cwd"), "").unwrap();
    let d = data.display().to_string();
    let db = format!("--db-path={d}/db.sqlite");
    let in_cwd = format!("{}/in-cwd", host.work().display());
    let mut args = vec!["--", "sh", "-c", "true"];
    args.extend([
        d.as_str(),
        db.as_str(),
        in_cwd.as_str(),
        "/usr/bin",
        // A device both backends provide: seen, whatever the policy.
        "/dev/null",
        "--output=/dev/null",
        "/nonexistent/path",
        "https://example.com/x",
    ]);
    let all = explain(&host, &args);
    for hidden in [d.clone(), format!("{d}/db.sqlite")] {
        let line = format!(
            "  argument {hidden} is outside the sandbox's view: the server will find it missing; grant it with `--read {hidden}` (`--write` to change it), or `read` in the server's sandbox table"
        );
        assert!(all.contains(&line), "missing {line:?} in\n{all}");
    }
    assert_eq!(
        all.matches("outside the sandbox's view").count(),
        2,
        "{all}"
    );
    // Granted: no warning.
    let mut granted = vec!["--read", &d];
    granted.extend(&args);
    let all = explain(&host, &granted);
    assert!(!all.contains("outside the sandbox's view"), "{all}");
    // What is under /dev/pts is the host's terminals, not a device both
    // backends provide: named like any path outside the view.
    let all = explain(&host, &["--", "sh", "-c", "true", "/dev/pts/ptmx"]);
    assert!(
        all.contains("  argument /dev/pts/ptmx is outside the sandbox's view"),
        "{all}"
    );
}

#[test]
fn a_file_the_entry_names_in_the_private_home_is_named_as_lost_on_exit() {
    let host = Host::new();
    let home = host.home().display().to_string();
    let data = host.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = host.work().join("config.toml");
    let mut text = String::new();
    for backend in ["bwrap", "landlock"] {
        text.push_str(&format!(
            "[mcp_servers.{backend}]\ncommand = \"true\"\n\
             env = {{ MEMORY_FILE_PATH = \"{home}/memory.jsonl\", DB = \"{}/new.db\" }}\n\
             [mcp_servers.{backend}.sandbox]\nbackend = \"{backend}\"\n\n",
            data.display()
        ));
    }
    std::fs::write(&config, text).unwrap();
    let cfg = config.display().to_string();
    let mem = format!("MEMORY_FILE_PATH={home}/memory.jsonl");
    let db = format!("DB={}/new.db", data.display());
    let keep = "keep it in a directory of its own (e.g. ~/.local/share/NAME) and grant that with `--write DIR`, or `write` in the server's sandbox table";
    // bwrap: HOME is an empty private tmpfs, writable; the file is lost.
    let all = explain(&host, &["--config", &cfg, "--server", "bwrap"]);
    let line = format!(
        "  server bwrap in {cfg}: {mem} is inside the sandbox's private {home}: what the server writes there is lost when it exits; {keep}"
    );
    assert!(all.contains(&line), "missing {line:?} in\n{all}");
    // /tmp is private too; its directory there is no HOME: granted as is.
    let line = format!(
        "  server bwrap in {cfg}: {db} is inside the sandbox's private /tmp: what the server writes there is lost when it exits; grant its directory with `--write {}`, or `write` in the server's sandbox table",
        data.display()
    );
    assert!(all.contains(&line), "missing {line:?} in\n{all}");
    // Landlock: HOME is not there at all.
    let all = explain(&host, &["--config", &cfg, "--server", "landlock"]);
    let line =
        format!("  server landlock in {cfg}: {mem} is outside the sandbox's view: the server cannot create it; {keep}");
    assert!(all.contains(&line), "missing {line:?} in\n{all}");
}

/// An `env` value that starts with `/` is not necessarily a path: a base64
/// API key can start with one. A value naming nothing under the root
/// directory is taken for what it most likely is, and never printed (these
/// lines end up in MCP clients' logs).
#[test]
fn a_secret_that_starts_with_a_slash_is_never_printed() {
    let host = Host::new();
    let config = host.work().join("config.toml");
    let secret = "/q8Zk3v+Rm0aXw2Tn";
    std::fs::write(
        &config,
        format!("[mcp_servers.s]\ncommand = \"true\"\nenv = {{ API_KEY = \"{secret}\" }}\n"),
    )
    .unwrap();
    let cfg = config.display().to_string();
    let all = explain(&host, &["--config", &cfg, "--server", "s", "--json"]);
    let warnings: Vec<&str> = all.lines().filter(|l| l.contains("sandbox's")).collect();
    assert!(
        !warnings.iter().any(|l| l.contains(secret)),
        "the secret was printed: {warnings:?}"
    );
}

/// `~/DIR` as the server gets it literally from a config file (no shell
/// expands it; servers such as server-filesystem expand it themselves, to
/// the same HOME path, which the sandbox shows empty): named like the path
/// it expands to, the grant spelled out.
#[test]
fn a_tilde_path_argument_is_checked_as_the_path_it_expands_to() {
    let host = Host::new();
    let notes = host.home().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let n = notes.display().to_string();
    let all = explain(
        &host,
        &[
            "--",
            "sh",
            "-c",
            "true",
            "~/notes",
            "--root=~/notes",
            "~user/x",
        ],
    );
    let line = format!(
        "  argument ~/notes is outside the sandbox's view: the server will find it missing; grant it with `--read {n}` (`--write` to change it), or `read` in the server's sandbox table"
    );
    assert!(all.contains(&line), "missing {line:?} in\n{all}");
    // The two spellings say the same; `~user` is not expanded.
    assert_eq!(
        all.matches("outside the sandbox's view").count(),
        1,
        "{all}"
    );
    let all = explain(&host, &["--read", &n, "--", "sh", "-c", "true", "~/notes"]);
    assert!(!all.contains("outside the sandbox's view"), "{all}");
    // On Landlock the server's HOME is sandspawn's own directory: `~` there
    // is not the host's, and no grant changes that; the absolute path does.
    let all = explain(
        &host,
        &[
            "--backend",
            "landlock",
            "--read",
            &n,
            "--",
            "sh",
            "-c",
            "true",
            "~/notes",
        ],
    );
    // Each sandbox's own: `<cache>/sandspawn/run/<pid>-<start>-<seq>/home`.
    let said = all
        .split("the server's HOME is sandspawn's own ")
        .nth(1)
        .and_then(|rest| rest.split(" on the landlock backend").next())
        .unwrap_or_else(|| panic!("no HOME named in\n{all}"));
    let inside = std::path::PathBuf::from(said);
    assert!(
        inside.starts_with(host.home().join(".cache/sandspawn/run")) && inside.ends_with("home"),
        "{said}"
    );
    let line = format!(
        "  argument ~/notes: the server's HOME is sandspawn's own {} on the landlock backend, so it names {}/notes there, not {n}; write {n} instead",
        inside.display(),
        inside.display()
    );
    assert!(all.contains(&line), "missing {line:?} in\n{all}");
}

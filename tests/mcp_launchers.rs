//! The launchers MCP configs use, end to end from an empty HOME: `npx -y`
//! and `uvx` fetch their package from the registry (npm, PyPI) into the
//! server's own caches (`~/.cache/sandspawn/mcp/NAME@HASH/…`, never the host's
//! `~/.npm` or `~/.cache/uv`), then the server answers initialize and
//! tools/list — on both backends, through `sandspawn mcp check`; and again
//! with `--net none`, from those caches alone.
//!
//! uvx is installed as uv's own installer does, in `~/.local/bin`.
//!
//! Needs the registries and uv (`.ci/run` installs it pinned under
//! `$SANDSPAWN_TEST_CACHE/uv`); skips with its reason otherwise, and fails
//! under `SANDSPAWN_MUST_WORK=1`.

use std::path::PathBuf;
use std::process::Command;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

fn skip(reason: &str) {
    if std::env::var_os("SANDSPAWN_MUST_WORK").is_some_and(|v| v == "1") {
        panic!("SANDSPAWN_MUST_WORK=1 but skipping: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

fn uv_bin() -> PathBuf {
    let cache = std::env::var_os("SANDSPAWN_TEST_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/sandspawn-test"), PathBuf::from);
    cache.join("uv/bin")
}

#[test]
fn npx_and_uvx_servers_start_from_an_empty_home_on_both_backends() {
    let uv = uv_bin();
    if !uv.join("uvx").exists() {
        return skip(&format!(
            "{} is missing (.ci/run installs uv)",
            uv.join("uvx").display()
        ));
    }
    if Command::new("npx")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return skip("npx is not on PATH");
    }
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    let mut text = String::new();
    for backend in ["bwrap", "landlock"] {
        text.push_str(&format!(
            "[mcp_servers.npx-{backend}]\ncommand = \"npx\"\nargs = [\"-y\", \"@modelcontextprotocol/server-everything@2026.8.31\"]\nstartup_timeout_sec = 180\n[mcp_servers.npx-{backend}.sandbox]\nbackend = \"{backend}\"\n\n\
             [mcp_servers.uvx-{backend}]\ncommand = \"uvx\"\nargs = [\"mcp-server-time==2026.10.19\"]\nstartup_timeout_sec = 180\n[mcp_servers.uvx-{backend}.sandbox]\nbackend = \"{backend}\"\n\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    // Where uv's standalone installer puts it: uvx and uv side by side in
    // ~/.local/bin, which the profile grants file by file (uvx execs the uv
    // beside it).
    let local_bin = home.path().join("home/.local/bin");
    std::fs::create_dir_all(&local_bin).unwrap();
    for name in ["uv", "uvx"] {
        std::fs::copy(uv.join(name), local_bin.join(name)).unwrap();
    }
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", local_bin.display());
    check(home.path(), &path, &config, &[]);
    // Each server's packages went into its own caches, none into the
    // host's (which the host's own npx and uvx would run next).
    let root = home.path().join("home/.cache/sandspawn/mcp");
    let real = std::fs::canonicalize(&config).unwrap();
    let own = |name: &str| {
        root.join(sandspawn::mcp::caches::cache_key(
            Some(name),
            Some(&real),
            &[],
        ))
    };
    for backend in ["bwrap", "landlock"] {
        let npx = own(&format!("npx-{backend}")).join("npm/_npx");
        assert!(npx.is_dir(), "{}", npx.display());
        let uv = own(&format!("uvx-{backend}")).join("uv-cache");
        assert!(
            std::fs::read_dir(&uv).unwrap().next().is_some(),
            "{}",
            uv.display()
        );
    }
    for host_cache in [".npm", ".cache/uv", ".local/share/uv"] {
        let p = home.path().join("home").join(host_cache);
        assert!(!p.exists(), "{}", p.display());
    }
    // Offline, each starts at once from what its first run cached.
    check(home.path(), &path, &config, &["--net", "none"]);
}

fn check(dir: &std::path::Path, path: &str, config: &std::path::Path, flags: &[&str]) {
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir.join("home"))
        .current_dir(dir)
        .args(["mcp", "check", "--no-host-env"])
        .args(flags)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{table}\n{err}");
    for (server, tools) in [
        ("npx-bwrap", "13"),
        ("npx-landlock", "13"),
        ("uvx-bwrap", "2"),
        ("uvx-landlock", "2"),
    ] {
        let line = table
            .lines()
            .find(|l| l.starts_with(server))
            .unwrap_or_else(|| panic!("no row for {server}: {table}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        let backend = server.split('-').nth(1).unwrap();
        assert_eq!(
            (cols[1], cols[3], cols[4]),
            (backend, tools, "ok"),
            "{flags:?} {line}\n{err}"
        );
    }
}

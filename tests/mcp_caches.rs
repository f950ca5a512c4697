//! The launcher caches of the default MCP profile are the server's own:
//! `<cache root>/mcp/<key>/{npm,uv-cache,uv-tools,uv-python}`, never the
//! host's `~/.npm`, `~/.cache/uv` or `~/.local/share/uv` (what a server
//! wrote there, the host's own npx and uvx ran next). From inside a server
//! started as `sandspawn mcp` starts it, on both backends: its own caches
//! are writable, the host's `~/.npm`, another server's cache and the trust
//! cache are not.

mod mcp_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_support::*;

/// Tries to create each labelled path (`$VAR` expanded inside) and prints
/// `label OK` or `label ERRNO`.
const PROBE: &str = r#"
import errno, os, sys
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    try:
        with open(os.path.expandvars(path), "w") as f:
            f.write("planted")
        print(label, "OK")
    except OSError as e:
        print(label, errno.errorcode[e.errno])
"#;

const VARS: [(&str, &str); 4] = [
    ("npm_config_cache", "npm"),
    ("UV_CACHE_DIR", "uv-cache"),
    ("UV_TOOL_DIR", "uv-tools"),
    ("UV_PYTHON_INSTALL_DIR", "uv-python"),
];

fn cache_root(host: &Host) -> PathBuf {
    host.home().join(".cache/sandspawn")
}

/// Where the server `name` of `cfg` keeps its caches: the key covers the
/// config file's real path (pinned in the unit tests).
fn own_in(host: &Host, name: &str, cfg: &Path) -> PathBuf {
    let real = std::fs::canonicalize(cfg).unwrap();
    let key = sandspawn::mcp::caches::cache_key(Some(name), Some(&real), &[]);
    assert!(key.starts_with(&format!("{name}@")), "{key}");
    cache_root(host).join("mcp").join(key)
}

/// The caches of the server `name` of [`config`]'s file.
fn own(host: &Host, name: &str) -> PathBuf {
    own_in(host, name, &host.work().join("config.toml"))
}

/// `(value, source kind)` of the child's variable `name`.
fn var(plan: &serde_json::Value, name: &str) -> Option<(String, String)> {
    let v = plan["env"].as_array()?.iter().find(|v| v["name"] == name)?;
    Some((
        v["value"].as_str()?.to_string(),
        v["source"]["kind"].as_str()?.to_string(),
    ))
}

fn writable(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["writable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("path"), s("reason"))
        })
        .collect()
}

fn config(host: &Host, servers: &[&str]) -> PathBuf {
    let path = host.work().join("config.toml");
    let mut text = String::new();
    for s in servers {
        text.push_str(&format!(
            "[mcp_servers.{s}]\ncommand = \"python3\"\nargs = [\"-c\", \"pass\"]\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn each_server_gets_the_four_variables_and_grants_of_its_own() {
    let host = Host::new();
    let cfg = config(&host, &["memory", "time"]);
    let cfg = cfg.to_str().unwrap();
    let root = cache_root(&host);
    let plan = mcp_explain_json(&host, &["--config", cfg, "--server", "memory"]);
    let mut want_writes = Vec::new();
    for (name, dir) in VARS {
        let path = own(&host, "memory").join(dir);
        let path = path.to_str().unwrap().to_string();
        assert_eq!(
            var(&plan, name),
            Some((path.clone(), "mcp_profile".into())),
            "{name}"
        );
        want_writes.push((
            path,
            "mcp profile: the server's own launcher caches".to_string(),
        ));
    }
    // Exactly these are writable (besides the private /tmp and HOME):
    // nothing of the host's ~/.npm, ~/.cache/uv or ~/.local/share/uv.
    let writes: Vec<_> = writable(&plan)
        .into_iter()
        .filter(|(_, r)| !r.starts_with("sandbox"))
        .collect();
    assert_eq!(writes, want_writes, "{:#}", plan["writable"]);
    // Another server, another cache.
    let time = mcp_explain_json(&host, &["--config", cfg, "--server", "time"]);
    assert_eq!(
        var(&time, "npm_config_cache").unwrap().0,
        own(&host, "time").join("npm").to_str().unwrap()
    );
    // Without a name, the command line keys the cache: two commands, two.
    let a = mcp_explain_json(&host, &["--", "npx", "-y", "a"]);
    let b = mcp_explain_json(&host, &["--", "npx", "-y", "b"]);
    let (a, b) = (
        var(&a, "UV_CACHE_DIR").unwrap().0,
        var(&b, "UV_CACHE_DIR").unwrap().0,
    );
    let under = root.join("mcp");
    for v in [&a, &b] {
        let key = Path::new(v).strip_prefix(&under).unwrap();
        let key = key.iter().next().unwrap().to_str().unwrap();
        assert!(key.starts_with("cmd@") && key.len() == 20, "{v}");
    }
    assert_ne!(a, b);
    // Stable across runs: the same command line, the same cache.
    let again = mcp_explain_json(&host, &["--", "npx", "-y", "a"]);
    assert_eq!(var(&again, "UV_CACHE_DIR").unwrap().0, a);
}

#[test]
fn a_value_given_for_a_cache_variable_wins_and_its_cache_is_not_granted() {
    let host = Host::new();
    let cfg = config(&host, &["memory"]);
    let cfg = cfg.to_str().unwrap();
    let plan = mcp_explain_json(
        &host,
        &[
            "--config",
            cfg,
            "--server",
            "memory",
            "--set",
            "npm_config_cache=/srv/npm-cache",
        ],
    );
    assert_eq!(
        var(&plan, "npm_config_cache"),
        Some(("/srv/npm-cache".into(), "set".into()))
    );
    let writes: Vec<String> = writable(&plan).into_iter().map(|(p, _)| p).collect();
    let npm = own(&host, "memory").join("npm");
    assert!(
        !writes.contains(&npm.to_str().unwrap().to_string()),
        "{writes:?}"
    );
    assert!(!npm.exists(), "not created either");
    // The others stay the profile's.
    assert_eq!(
        var(&plan, "UV_CACHE_DIR"),
        Some((
            own(&host, "memory")
                .join("uv-cache")
                .to_str()
                .unwrap()
                .into(),
            "mcp_profile".into()
        ))
    );
    // npm reads its variables in either case: an upper-case one is the
    // user's value too, and the profile does not set a second spelling.
    let plan = mcp_explain_json(
        &host,
        &["--set", "NPM_CONFIG_CACHE=/srv/npm-cache", "--", "npx", "x"],
    );
    assert_eq!(var(&plan, "npm_config_cache"), None);
    // A `pass` of the parent's value is the user's too.
    let mut host = host;
    host.env
        .push(("UV_TOOL_DIR".into(), "/srv/uv-tools".into()));
    let plan = mcp_explain_json(&host, &["--pass", "UV_*", "--", "uvx", "x"]);
    assert_eq!(
        var(&plan, "UV_TOOL_DIR"),
        Some(("/srv/uv-tools".into(), "pass".into()))
    );
    let writes: Vec<String> = writable(&plan).into_iter().map(|(p, _)| p).collect();
    assert!(
        !writes.iter().any(|w| w.ends_with("/uv-tools")),
        "{writes:?}"
    );
    assert!(
        writes.iter().any(|w| w.ends_with("/uv-cache")),
        "{writes:?}"
    );
}

fn probe_in_sandbox(host: &Host, backend: &str) -> (Vec<String>, PathBuf) {
    let script = host.work().join("probe.py");
    std::fs::write(&script, PROBE).unwrap();
    let root = cache_root(host);
    // Another server's cache, made as sandspawn makes it.
    let cfg = config(host, &["mine", "other"]);
    let cfg = cfg.to_str().unwrap().to_string();
    mcp_explain_json(host, &["--config", &cfg, "--server", "other"]);
    let other = own(host, "other").join("npm");
    assert!(other.is_dir());
    // The host's ~/.npm, as any npm user has it.
    std::fs::create_dir_all(host.home().join(".npm/_npx")).unwrap();
    let targets = [
        format!("host-npm={}/.npm/_npx/planted", host.home().display()),
        "own-npm=$npm_config_cache/planted".to_string(),
        "own-uv-cache=$UV_CACHE_DIR/planted".to_string(),
        "own-uv-tools=$UV_TOOL_DIR/planted".to_string(),
        "own-uv-python=$UV_PYTHON_INSTALL_DIR/planted".to_string(),
        format!("other={}/planted", other.display()),
        // The bundle every later sandbox trusts.
        "bundle=$SSL_CERT_FILE".to_string(),
        format!("trust-dir={}/trust/planted", root.display()),
    ];
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .args([
            "mcp",
            "--no-host-env",
            "--backend",
            backend,
            "--config",
            &cfg,
        ])
        .args(["--server", "mine", "--", "python3"])
        .arg(&script)
        .args(&targets)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (lines, root)
}

fn lines(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// What the server wrote reached only its own caches on the host.
fn only_own_caches_written(host: &Host, root: &Path) {
    for (_, dir) in VARS {
        let own = own(host, "mine").join(dir).join("planted");
        assert!(own.is_file(), "{}", own.display());
    }
    for planted in [
        host.home().join(".npm/_npx/planted"),
        own(host, "other").join("npm/planted"),
        root.join("trust/planted"),
    ] {
        assert!(!planted.exists(), "{}", planted.display());
    }
    for pem in std::fs::read_dir(root.join("trust")).unwrap().flatten() {
        let bytes = std::fs::read(pem.path()).unwrap();
        assert!(!bytes.starts_with(b"planted"), "{}", pem.path().display());
    }
}

#[test]
fn bwrap_a_server_writes_its_own_caches_and_nothing_shared() {
    if !usable("bwrap") {
        return;
    }
    let host = Host::new();
    let (got, root) = probe_in_sandbox(&host, "bwrap");
    // HOME is the sandbox's own: the host's ~/.npm and the other server's
    // cache are not there at all; the bundle is bound read-only; a new
    // name in the trust directory lands in the private HOME, not the host.
    assert_eq!(
        got,
        lines(&[
            "host-npm ENOENT",
            "own-npm OK",
            "own-uv-cache OK",
            "own-uv-tools OK",
            "own-uv-python OK",
            "other ENOENT",
            "bundle EROFS",
            "trust-dir OK",
        ])
    );
    only_own_caches_written(&host, &root);
}

#[test]
fn landlock_a_server_writes_its_own_caches_and_nothing_shared() {
    if !usable("landlock") {
        return;
    }
    let host = Host::new();
    let (got, root) = probe_in_sandbox(&host, "landlock");
    assert_eq!(
        got,
        lines(&[
            "host-npm EACCES",
            "own-npm OK",
            "own-uv-cache OK",
            "own-uv-tools OK",
            "own-uv-python OK",
            "other EACCES",
            "bundle EACCES",
            "trust-dir EACCES",
        ])
    );
    only_own_caches_written(&host, &root);
}

/// `--write ~` makes HOME writable, sandspawn's cache root stays read-only
/// inside it (a protected own-state path), and the server's own caches,
/// deeper, stay writable: on both backends.
#[test]
fn under_a_writable_home_the_cache_root_stays_protected_but_the_own_caches_do_not() {
    for backend in ["bwrap", "landlock"] {
        if !usable(backend) {
            continue;
        }
        let host = Host::new();
        let script = host.work().join("probe.py");
        std::fs::write(&script, PROBE).unwrap();
        let cfg = config(&host, &["mine", "other"]);
        let cfg = cfg.to_str().unwrap().to_string();
        mcp_explain_json(&host, &["--config", &cfg, "--server", "other"]);
        let root = cache_root(&host);
        let home = host.home();
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .envs(host.env.iter().cloned())
            .current_dir(host.work())
            .args([
                "mcp",
                "--no-host-env",
                "--backend",
                backend,
                "--config",
                &cfg,
            ])
            .args(["--server", "mine", "--write"])
            .arg(&home)
            .args(["--", "python3"])
            .arg(&script)
            .arg("own=$npm_config_cache/planted")
            .arg(format!(
                "other={}/npm/planted",
                own(&host, "other").display()
            ))
            .arg(format!("mcp={}/mcp/planted", root.display()))
            .arg(format!("trust={}/trust/planted", root.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let denied = if backend == "bwrap" {
            "EROFS"
        } else {
            "EACCES"
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .collect::<Vec<_>>(),
            [
                "own OK".to_string(),
                format!("other {denied}"),
                format!("mcp {denied}"),
                format!("trust {denied}"),
            ],
            "{backend}"
        );
        assert!(
            own(&host, "mine").join("npm/planted").is_file(),
            "{backend}"
        );
    }
}

/// Plants `$npm_config_cache/_npx/ARG` and prints the cache and what
/// `_npx` held before.
const NPX_PROBE: &str = r#"
import os, sys
cache = os.environ["npm_config_cache"]
npx = os.path.join(cache, "_npx")
os.makedirs(npx, exist_ok=True)
seen = sorted(os.listdir(npx))
with open(os.path.join(npx, sys.argv[1]), "w") as f:
    f.write("planted")
print(cache, ",".join(seen))
"#;

/// A repository's `.mcp.json` that names its server `github`, as the
/// user's own config does: one name, two servers, two caches. Keyed by the
/// name alone, what the repository's server planted under `npm/_npx` was
/// what the user's `github` ran next. The same entry started twice keeps
/// its cache.
#[test]
fn one_name_in_two_config_files_never_shares_a_cache() {
    let Some(backend) = ["bwrap", "landlock"].into_iter().find(|b| usable(b)) else {
        return;
    };
    let host = Host::new();
    let user = config(&host, &["github"]);
    let repo = host.work().join("repo/.mcp.json");
    std::fs::create_dir_all(repo.parent().unwrap()).unwrap();
    std::fs::write(
        &repo,
        r#"{"mcpServers": {"github": {"command": "python3", "args": ["-c", "pass"]}}}"#,
    )
    .unwrap();
    let run = |cfg: &Path, mark: &str| -> String {
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .envs(host.env.iter().cloned())
            .current_dir(host.work())
            .args(["mcp", "--no-host-env", "--backend", backend, "--config"])
            .arg(cfg)
            .args(["--server", "github", "--", "python3", "-c", NPX_PROBE, mark])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end_matches('\n')
            .to_string()
    };
    let theirs = own_in(&host, "github", &repo).join("npm");
    let mine = own_in(&host, "github", &user).join("npm");
    assert_ne!(theirs, mine);
    assert_eq!(run(&repo, "repo"), format!("{} ", theirs.display()));
    // The user's server does not see what the repository's planted.
    assert_eq!(run(&user, "first"), format!("{} ", mine.display()));
    // Started again (and by a relative path to the same file): the same
    // cache, with what its first run left.
    assert_eq!(
        run(Path::new("config.toml"), "second"),
        format!("{} first", mine.display())
    );
    assert!(theirs.join("_npx/repo").is_file());
    assert!(!mine.join("_npx/repo").exists());
}

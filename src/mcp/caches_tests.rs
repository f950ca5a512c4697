use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn argv(a: &[&str]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

#[test]
fn a_safe_name_is_the_key_as_it_is() {
    let cmd = argv(&["npx", "-y", "pkg"]);
    for name in [
        "memory",
        "server-everything",
        "a.b_c-1",
        "..x",
        &"n".repeat(64),
    ] {
        assert_eq!(cache_key(Some(name), None, &cmd), name);
    }
}

#[test]
fn an_unsafe_name_is_hashed_and_never_a_path() {
    let cmd = argv(&["npx"]);
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "../../etc",
        "with space",
        "mémoire",
        "memory (project /w)",
        &"n".repeat(65),
    ] {
        let key = cache_key(Some(name), None, &cmd);
        assert!(key.starts_with("name@"), "{name:?}: {key}");
        assert_eq!(key.len(), "name@".len() + 16, "{key}");
        assert!(key[5..].bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    // Distinct names, distinct keys; the same name, the same key.
    assert_ne!(
        cache_key(Some("a/b"), None, &cmd),
        cache_key(Some("a b"), None, &cmd)
    );
    assert_eq!(
        cache_key(Some("a/b"), None, &cmd),
        cache_key(Some("a/b"), None, &[])
    );
}

#[test]
fn without_a_name_the_command_line_is_the_key() {
    let a = cache_key(None, None, &argv(&["npx", "-y", "@m/server-memory"]));
    assert!(a.starts_with("cmd@") && a.len() == 4 + 16, "{a}");
    // Stable: the same command line, the same cache, run after run (this
    // value is what `~/.cache/sandspawn/mcp/` holds for it).
    assert_eq!(
        a,
        cache_key(None, None, &argv(&["npx", "-y", "@m/server-memory"]))
    );
    assert_eq!(
        a,
        "cmd@".to_string() + &short_hash("cmd", [&b"npx"[..], b"-y", b"@m/server-memory"])
    );
    // Every argument counts, and their boundaries do.
    assert_ne!(
        a,
        cache_key(None, None, &argv(&["npx", "-y", "@m/server-fs"]))
    );
    assert_ne!(
        cache_key(None, None, &argv(&["uvx", "a b"])),
        cache_key(None, None, &argv(&["uvx", "a", "b"]))
    );
    // A name and a command line never meet: no name holds `@`.
    assert_ne!(a, cache_key(Some(&a), None, &[]));
}

#[test]
fn an_entry_of_a_config_file_is_keyed_by_its_name_and_the_file() {
    let user = Path::new("/home/u/.codex/config.toml");
    let repo = Path::new("/home/u/src/repo/.mcp.json");
    let cmd = argv(&["npx", "-y", "@m/server-github"]);
    // A repository's `github` is not the user's `github`: the packages one
    // writes under `npm/_npx` are never what the other runs.
    let mine = cache_key(Some("github"), Some(user), &cmd);
    let theirs = cache_key(Some("github"), Some(repo), &cmd);
    assert_ne!(mine, theirs);
    assert_ne!(mine, cache_key(Some("github"), None, &cmd));
    // Readable: the name first, then 16 hex digits.
    for key in [&mine, &theirs] {
        let hash = key.strip_prefix("github@").unwrap();
        assert_eq!(hash.len(), 16, "{key}");
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    // Stable: the same entry of the same file, the same key; the command
    // line does not count (an updated version keeps its cache).
    assert_eq!(mine, cache_key(Some("github"), Some(user), &[]));
    // Another name in the same file, another key.
    assert_ne!(mine, cache_key(Some("gitlab"), Some(user), &cmd));
    // Claude Code's servers of one name in two projects of one file.
    let claude = Path::new("/home/u/.claude.json");
    let a = cache_key(Some("memory (project /w/a)"), Some(claude), &cmd);
    let b = cache_key(Some("memory (project /w/b)"), Some(claude), &cmd);
    assert_ne!(a, b);
    assert!(a.starts_with("name@") && a.len() == 5 + 16, "{a}");
    // A safe name that reads `name` is not an unsafe name's key.
    assert_ne!(
        cache_key(Some("name"), Some(claude), &cmd),
        cache_key(Some("a/b"), Some(claude), &cmd)
    );
}

#[test]
fn a_config_is_identified_by_its_real_path() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(tmp.path()).unwrap();
    std::fs::create_dir(base.join("repo")).unwrap();
    std::fs::write(base.join("repo/.mcp.json"), "{}").unwrap();
    std::os::unix::fs::symlink(base.join("repo"), base.join("link")).unwrap();
    let real = base.join("repo/.mcp.json");
    for (given, cwd) in [
        (PathBuf::from(".mcp.json"), base.join("repo")),
        (PathBuf::from("../link/./.mcp.json"), base.join("repo")),
        (real.clone(), PathBuf::from("/")),
    ] {
        assert_eq!(config_identity(&given, &cwd), real, "{}", given.display());
    }
    // A file that is not there (a library host's): its absolute path.
    assert_eq!(
        config_identity(Path::new("gone/../x.json"), &base),
        base.join("x.json")
    );
}

#[test]
fn the_hash_is_fixed_across_builds() {
    // A changed hash would orphan every server's cache: pinned (SHA-256 of
    // the domain, then each part's u64 LE length and bytes; 8 bytes hex).
    assert_eq!(
        cache_key(None, None, &argv(&["uvx", "mcp-server-time"])),
        "cmd@a37511d3761c4fe9"
    );
    assert_eq!(cache_key(Some("a/b"), None, &[]), "name@1076366abb0469ef");
    // Domain `server`, then the name, then the config's path.
    let codex = Path::new("/home/u/.codex/config.toml");
    assert_eq!(
        cache_key(Some("github"), Some(codex), &[]),
        "github@55ba4ee2bdd0625a"
    );
    let claude = Path::new("/home/u/.claude.json");
    assert_eq!(
        cache_key(Some("memory (project /w)"), Some(claude), &[]),
        "name@432fe64fb42936a5"
    );
}

#[test]
fn the_caches_are_made_private_and_granted_by_real_path() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(tmp.path()).unwrap();
    let root = base.join(".cache/sandspawn");
    let all: Vec<&(&str, &str)> = CACHE_VARS.iter().collect();
    let layer = layer(&root, "srv", &all).unwrap();
    let dir = root.join("mcp/srv");
    let want: Vec<(OsString, OsString)> = [
        ("npm_config_cache", "npm"),
        ("UV_CACHE_DIR", "uv-cache"),
        ("UV_TOOL_DIR", "uv-tools"),
        ("UV_PYTHON_INSTALL_DIR", "uv-python"),
    ]
    .iter()
    .map(|(n, d)| (OsString::from(n), dir.join(d).into_os_string()))
    .collect();
    assert_eq!(layer.set, want);
    let writes: Vec<PathBuf> = want.iter().map(|(_, v)| PathBuf::from(v)).collect();
    assert_eq!(layer.write, writes);
    assert_eq!(layer.origin, ORIGIN);
    for d in writes.iter().chain([&dir, &root.join("mcp")]) {
        let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
}

#[test]
fn a_planted_or_shared_cache_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(tmp.path()).unwrap();
    let root = base.join("sandspawn");
    let npm = [&CACHE_VARS[0]];
    let private = |p: &Path| {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(p)
            .unwrap();
    };
    // A symlink where the server's cache goes: refused by name.
    private(&root.join("mcp/a"));
    std::fs::create_dir(base.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(base.join("elsewhere"), root.join("mcp/a/npm")).unwrap();
    let err = layer(&root, "a", &npm).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "cache directory {} is a symlink; remove it or use another cache directory",
            root.join("mcp/a/npm").display()
        )
    );
    // Another key's directory, opened to others: refused too.
    private(&root.join("mcp/b"));
    std::fs::set_permissions(root.join("mcp/b"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = layer(&root, "b", &npm).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "cache directory {} is accessible to other users",
            root.join("mcp/b").display()
        )),
        "{err}"
    );
    // A HOME that does not exist is not created.
    let gone = base.join("no-home/.cache/sandspawn");
    let err = layer(&gone, "a", &npm).unwrap_err().to_string();
    assert!(err.contains("no-home is not a directory"), "{err}");
    assert!(!base.join("no-home").exists());
}

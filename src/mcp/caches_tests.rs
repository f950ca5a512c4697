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
        assert_eq!(cache_key(Some(name), &cmd), name);
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
        let key = cache_key(Some(name), &cmd);
        assert!(key.starts_with("name@"), "{name:?}: {key}");
        assert_eq!(key.len(), "name@".len() + 16, "{key}");
        assert!(key[5..].bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    // Distinct names, distinct keys; the same name, the same key.
    assert_ne!(cache_key(Some("a/b"), &cmd), cache_key(Some("a b"), &cmd));
    assert_eq!(cache_key(Some("a/b"), &cmd), cache_key(Some("a/b"), &[]));
}

#[test]
fn without_a_name_the_command_line_is_the_key() {
    let a = cache_key(None, &argv(&["npx", "-y", "@m/server-memory"]));
    assert!(a.starts_with("cmd@") && a.len() == 4 + 16, "{a}");
    // Stable: the same command line, the same cache, run after run (this
    // value is what `~/.cache/sandspawn/mcp/` holds for it).
    assert_eq!(
        a,
        cache_key(None, &argv(&["npx", "-y", "@m/server-memory"]))
    );
    assert_eq!(
        a,
        "cmd@".to_string() + &short_hash("cmd", [&b"npx"[..], b"-y", b"@m/server-memory"])
    );
    // Every argument counts, and their boundaries do.
    assert_ne!(a, cache_key(None, &argv(&["npx", "-y", "@m/server-fs"])));
    assert_ne!(
        cache_key(None, &argv(&["uvx", "a b"])),
        cache_key(None, &argv(&["uvx", "a", "b"]))
    );
    // A name and a command line never meet: no name holds `@`.
    assert_ne!(a, cache_key(Some(&a), &[]));
}

#[test]
fn the_hash_is_fixed_across_builds() {
    // A changed hash would orphan every server's cache: pinned (SHA-256 of
    // the domain, then each part's u64 LE length and bytes; 8 bytes hex).
    assert_eq!(
        cache_key(None, &argv(&["uvx", "mcp-server-time"])),
        "cmd@a37511d3761c4fe9"
    );
    assert_eq!(cache_key(Some("a/b"), &[]), "name@1076366abb0469ef");
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

use super::*;
use std::path::Path;

fn ctx() -> ResolveContext<'static> {
    ResolveContext {
        cwd: Path::new("/work/proj"),
        home: Some(Path::new("/home/u")),
    }
}

fn paths(rules: &[PathRule]) -> Vec<&Path> {
    rules.iter().map(|r| r.path.as_path()).collect()
}

#[test]
fn default_is_readonly_cwd_no_network_auto_backend() {
    let p = Policy::resolve(&[], &ctx()).unwrap();
    assert_eq!(paths(&p.read), vec![Path::new("/work/proj")]);
    assert!(p.write.is_empty());
    assert_eq!(p.network, NetworkMode::None);
    assert_eq!(p.backend, Backend::Auto);
    assert!(p.trust.merge_system_roots);
    assert!(paths(&p.deny).contains(&Path::new("/home/u/.ssh")));
    assert_eq!(p.read[0].origin, "preset readonly");
}

#[test]
fn file_keys_merge_with_flags_and_later_scalars_win() {
    let text = r#"
presets = ["workspace"]
read = ["~/data", "/opt/tools"]
deny = ["./secret"]
net = "full"
pass = ["AWS_*"]
deny_env = ["AWS_SECRET_ACCESS_KEY"]
ca = ["certs/corp.pem"]
merge_system_roots = false
backend = "landlock"
[set]
RUST_LOG = "debug"
"#;
    let file = parse_policy_toml(text, Path::new("p.toml"))
        .unwrap()
        .into_layer("p.toml".into());
    let flags = Layer {
        origin: "flags".into(),
        net: Some(NetworkMode::None),
        set: vec![("RUST_LOG".into(), "info".into())],
        read: vec!["/srv".into()],
        ..Layer::default()
    };
    let p = Policy::resolve(&[file, flags], &ctx()).unwrap();
    assert_eq!(
        paths(&p.read),
        vec![
            Path::new("/home/u/data"),
            Path::new("/opt/tools"),
            Path::new("/srv")
        ]
    );
    assert_eq!(paths(&p.write), vec![Path::new("/work/proj")]);
    assert!(paths(&p.deny).contains(&Path::new("/work/proj/secret")));
    assert_eq!(p.network, NetworkMode::None);
    assert_eq!(p.backend, Backend::Landlock);
    assert!(!p.trust.merge_system_roots);
    assert_eq!(p.trust.ca, vec![PathBuf::from("/work/proj/certs/corp.pem")]);
    assert_eq!(p.env.set, vec![("RUST_LOG".into(), "info".into())]);
    assert_eq!(p.env.pass, vec![NamePattern::Prefix("AWS_".into())]);
    assert_eq!(p.write[0].origin, "preset workspace");
}

#[test]
fn unknown_key_is_an_error_with_line_and_column() {
    let err = parse_policy_toml("read = []\nwrit = [\"x\"]\n", Path::new("/p.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("policy file /p.toml: line 2, column 1:"),
        "{err}"
    );
    assert!(err.contains("unknown field `writ`"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn wrong_types_and_bad_modes_are_errors() {
    let err = parse_policy_toml("net = \"internet\"\n", Path::new("p"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1") && err.contains("internet"), "{err}");
    assert!(parse_policy_toml("read = \"/x\"\n", Path::new("p")).is_err());
    assert!(parse_policy_toml("[set]\nA = 1\n", Path::new("p")).is_err());
}

#[test]
fn unreadable_and_non_utf8_policy_files_name_the_path() {
    let err = read_policy_file(Path::new("/nonexistent/policy.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/policy.toml") && err.contains("No such file"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p.toml");
    std::fs::write(&f, b"read = [\"\xff\"]").unwrap();
    let err = read_policy_file(&f).unwrap_err().to_string();
    assert!(err.contains("not UTF-8"), "{err}");
}

#[test]
fn an_endless_policy_file_is_refused_not_read_to_exhaustion() {
    // `--policy /dev/zero` (or a FIFO that never closes its writer after
    // writing a lot) must not eat all memory: the read is bounded.
    let err = read_policy_file(Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "policy file /dev/zero: larger than 1048576 bytes; a policy is a few lines of TOML"
    );
}

/// An unknown preset names where it was written: a policy file's
/// `presets` said only "unknown preset `bogus`", leaving the user to guess
/// which of the flags, the file or an MCP server's table it came from.
#[test]
fn an_unknown_preset_names_its_origin() {
    for origin in ["/work/p.toml", "flags"] {
        let layer = Layer {
            origin: origin.into(),
            presets: vec!["bogus".into()],
            ..Layer::default()
        };
        let err = Policy::resolve(&[layer], &ctx()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("presets (from {origin}): unknown preset `bogus`; known presets: readonly, workspace, read-all, mcp")
        );
    }
}

#[test]
fn unknown_preset_and_tilde_without_home_are_errors() {
    let layer = Layer {
        origin: "flags".into(),
        presets: vec!["wide-open".into()],
        ..Layer::default()
    };
    let err = Policy::resolve(&[layer], &ctx()).unwrap_err().to_string();
    assert!(
        err.contains("wide-open") && err.contains("readonly"),
        "{err}"
    );
    let layer = Layer {
        origin: "--read".into(),
        read: vec!["~/x".into()],
        ..Layer::default()
    };
    let no_home = ResolveContext {
        cwd: Path::new("/w"),
        home: None,
    };
    let err = Policy::resolve(&[layer], &no_home).unwrap_err().to_string();
    // A relative HOME reaches here as no HOME (the plan ignores it): the
    // message said "HOME is not set" to a caller whose HOME was set.
    assert_eq!(
        err,
        "read (from --read): `~/x` starts with `~` but HOME is not set to an absolute path; \
         write an absolute path, or set HOME"
    );
    // The mcp preset names nothing under HOME (the launcher caches are the
    // server's own, outside it): an MCP client that starts sandspawn
    // without HOME resolves it, and it makes nothing writable.
    let layer = Layer {
        origin: "flags".into(),
        presets: vec!["mcp".into()],
        ..Layer::default()
    };
    let policy = Policy::resolve(&[layer], &no_home).unwrap();
    assert!(policy.write.is_empty(), "{:?}", policy.write);
    let layer = Layer {
        origin: "--read".into(),
        read: vec!["".into()],
        ..Layer::default()
    };
    assert!(Policy::resolve(&[layer], &ctx())
        .unwrap_err()
        .to_string()
        .contains("empty path"));
}

#[test]
fn non_utf8_flag_paths_survive() {
    use std::os::unix::ffi::OsStrExt;
    let raw = PathBuf::from(std::ffi::OsStr::from_bytes(b"/data/\xff"));
    let layer = Layer {
        origin: "--read".into(),
        read: vec![raw.clone()],
        ..Layer::default()
    };
    let p = Policy::resolve(&[layer], &ctx()).unwrap();
    assert!(p.read.iter().any(|r| r.path == raw));
}

#[test]
fn a_mode_of_the_wrong_type_names_its_type_and_the_words_are_listed() {
    let err = |text: &str| {
        parse_policy_toml(text, Path::new("/p.toml"))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("net = 3\n"),
        "policy file /p.toml: line 1, column 7: invalid type: integer `3`, expected a string"
    );
    assert_eq!(
        err("backend = [\"x\"]\n"),
        "policy file /p.toml: line 1, column 11: invalid type: sequence, expected a string"
    );
    assert_eq!(
        err("backend = \"docker\"\n"),
        "policy file /p.toml: line 1, column 11: unknown variant `docker`, expected one of `auto`, `bwrap`, `landlock`"
    );
    let ok = parse_policy_toml("net = \"full\"\nbackend = \"landlock\"\n", Path::new("p")).unwrap();
    assert_eq!(ok.net, Some(NetworkMode::Full));
    assert_eq!(ok.backend, Some(Backend::Landlock));
}

#[test]
fn a_path_with_a_nul_byte_is_an_error_naming_the_rule() {
    let file = parse_policy_toml("deny = [\"./secret\\u0000\"]\n", Path::new("/p.toml"))
        .unwrap()
        .into_layer("/p.toml".into());
    let err = Policy::resolve(&[file], &ctx()).unwrap_err().to_string();
    assert_eq!(
        err,
        "deny (from /p.toml): `./secret\\0` contains a NUL byte (shown as \\0), which no path can hold; remove it"
    );
    let layer = Layer {
        origin: "flags".into(),
        ca: vec!["a\0b.pem".into()],
        ..Layer::default()
    };
    let err = Policy::resolve(&[layer], &ctx()).unwrap_err().to_string();
    assert!(
        err.starts_with("ca (from flags): `a\\0b.pem` contains a NUL byte"),
        "{err}"
    );
}

#[test]
fn a_set_value_with_a_nul_byte_is_an_error_naming_the_variable() {
    let file = parse_policy_toml("[set]\nA = \"x\\u0000y\"\n", Path::new("/p.toml"))
        .unwrap()
        .into_layer("/p.toml".into());
    let err = Policy::resolve(&[file], &ctx()).unwrap_err().to_string();
    assert_eq!(
        err,
        "set (from /p.toml): the value of `A` contains a NUL byte, which no environment variable can hold; remove it"
    );
}

#[test]
fn a_set_name_that_is_a_pattern_is_refused_as_the_flag_refuses_it() {
    let file = parse_policy_toml("[set]\n\"AB*\" = \"x\"\n", Path::new("/p.toml"))
        .unwrap()
        .into_layer("/p.toml".into());
    let err = Policy::resolve(&[file], &ctx()).unwrap_err().to_string();
    assert_eq!(
        err,
        "set (from /p.toml): `AB*` is not a valid variable name or pattern: a set variable needs a plain name (letters, digits, `_`)"
    );
}

#[test]
fn too_many_paths_are_refused_before_any_planning() {
    let many = |n: usize, prefix: &str| -> Vec<PathBuf> {
        (0..n).map(|i| format!("/{prefix}{i}").into()).collect()
    };
    let file = Layer {
        origin: "/p.toml".into(),
        read: many(MAX_PATH_RULES - 1, "r"),
        ..Layer::default()
    };
    let flags = Layer {
        origin: "flags".into(),
        deny: many(2, "d"),
        ..Layer::default()
    };
    let err = Policy::resolve(&[file.clone(), flags], &ctx())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "read, write and deny name 4097 paths in all (/p.toml: 4095, flags: 2); at most 4096 are accepted: grant or deny a common parent directory instead of each path"
    );
    let one = Layer {
        origin: "flags".into(),
        write: many(1, "w"),
        ..Layer::default()
    };
    assert!(Policy::resolve(&[file, one], &ctx()).is_ok());
}

#[test]
fn the_proxy_is_named_by_where_it_was_written() {
    let file = parse_policy_toml("proxy = \"ftp://x:1\"\n", Path::new("/p.toml"))
        .unwrap()
        .into_layer("/p.toml".into());
    let p = Policy::resolve(std::slice::from_ref(&file), &ctx()).unwrap();
    assert_eq!(p.proxy_origin, "proxy (from /p.toml)");
    let flags = Layer {
        origin: "flags".into(),
        proxy: Some("http://f:4".into()),
        ..Layer::default()
    };
    let p = Policy::resolve(&[file, flags], &ctx()).unwrap();
    assert_eq!(p.proxy_origin, "--proxy");
}

#[test]
fn host_local_proxy_targets_are_refused_unless_a_layer_allows_them() {
    assert!(!Policy::resolve(&[], &ctx()).unwrap().proxy_allow_local);
    let file = parse_policy_toml("proxy_allow_local = true\n", Path::new("/p.toml"))
        .unwrap()
        .into_layer("/p.toml".into());
    let p = Policy::resolve(std::slice::from_ref(&file), &ctx()).unwrap();
    assert!(p.proxy_allow_local);
    // A later layer's `false` wins, as for every scalar.
    let off = parse_policy_toml("proxy_allow_local = false\n", Path::new("/q.toml"))
        .unwrap()
        .into_layer("/q.toml".into());
    assert!(
        !Policy::resolve(&[file, off], &ctx())
            .unwrap()
            .proxy_allow_local
    );
    let err = parse_policy_toml("proxy_allow_local = \"yes\"\n", Path::new("/p.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1, column 21: invalid type: string \"yes\", expected a boolean"),
        "{err}"
    );
}

#[test]
fn a_bad_pass_or_deny_env_names_the_file_it_came_from() {
    let file = parse_policy_toml("pass = [\"BAD NAME\"]\n", Path::new("/p.toml"))
        .unwrap()
        .into_layer("/p.toml".into());
    let err = Policy::resolve(&[file], &ctx()).unwrap_err().to_string();
    assert_eq!(
        err,
        "pass (from /p.toml): `BAD NAME` is not a valid variable name or pattern: byte ' ' is not allowed in a variable name (letters, digits, `_`)"
    );
    let file = parse_policy_toml("deny_env = [\"*\"]\n", Path::new("/p.toml"))
        .unwrap()
        .into_layer("/p.toml".into());
    let err = Policy::resolve(&[file], &ctx()).unwrap_err().to_string();
    assert!(err.starts_with("deny_env (from /p.toml): `*` "), "{err}");
}

#[test]
fn a_presets_working_directory_is_withheld_where_it_holds_home_or_is_root() {
    let flags = |read: &[&str], presets: &[&str]| Layer {
        origin: "flags".into(),
        read: read.iter().map(PathBuf::from).collect(),
        presets: presets.iter().map(|p| p.to_string()).collect(),
        ..Layer::default()
    };
    for cwd in ["/home/u", "/home", "/"] {
        let ctx = ResolveContext {
            cwd: Path::new(cwd),
            home: Some(Path::new("/home/u")),
        };
        // The default readonly: nothing of the cwd granted, and said.
        let p = Policy::resolve(&[], &ctx).unwrap();
        assert!(p.read.is_empty(), "{cwd}: {:?}", p.read);
        assert_eq!(p.withheld_cwd, vec![("readonly".to_string(), "read")]);
        // workspace: not writable either.
        let p = Policy::resolve(&[flags(&[], &["workspace"])], &ctx).unwrap();
        assert!(p.write.is_empty(), "{cwd}: {:?}", p.write);
        assert_eq!(p.withheld_cwd, vec![("workspace".to_string(), "write")]);
        // A `.` the user wrote grants it; read-all's `/` is not a `.`.
        let p = Policy::resolve(&[flags(&["."], &["workspace"])], &ctx).unwrap();
        assert_eq!(paths(&p.read), vec![Path::new(cwd)]);
        assert_eq!(p.read[0].origin, "flags");
        assert!(p.write.is_empty());
        let p = Policy::resolve(&[flags(&[], &["read-all"])], &ctx).unwrap();
        assert_eq!(paths(&p.read), vec![Path::new("/")]);
        assert!(p.withheld_cwd.is_empty());
    }
    // A project directory, even inside HOME, is granted as before.
    let ctx = ResolveContext {
        cwd: Path::new("/home/u/proj"),
        home: Some(Path::new("/home/u")),
    };
    let p = Policy::resolve(&[], &ctx).unwrap();
    assert_eq!(paths(&p.read), vec![Path::new("/home/u/proj")]);
    assert!(p.withheld_cwd.is_empty());
    // The caller knows better (HOME reached through a link): it decides.
    let p = Policy::resolve_with(&[], &ctx, true).unwrap();
    assert!(p.read.is_empty());
}

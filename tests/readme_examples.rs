//! README.md's examples and tables, checked against the code so that the
//! two cannot drift: the policy file and client configs parse as shown, the
//! Codex example really applies its `sandbox` table, and the environment
//! table names exactly the variables of each family.

use std::collections::BTreeSet;
use std::path::Path;

use sandspawn::env::families::{BASE_VARS, TRUST_FLAGS, TRUST_VARS, VERIFICATION_KILLERS};
use sandspawn::mcp::config::{parse_config, Format};
use sandspawn::mcp::install::hand_wrapped_note;
use sandspawn::policy::parse_policy_toml;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The body of the first fenced block of `lang` after the line `after`.
fn block(text: &str, after: &str, lang: &str) -> String {
    let start = text
        .find(after)
        .unwrap_or_else(|| panic!("README lost {after:?}"));
    let fence = format!("```{lang}\n");
    let open = start + text[start..].find(&fence).unwrap() + fence.len();
    let close = open + text[open..].find("```").unwrap();
    text[open..close].to_string()
}

/// The names in the `variables` cell of the environment table's `family` row.
fn family_row(text: &str, family: &str) -> String {
    let prefix = format!("| {family} | ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap();
    line[prefix.len()..]
        .split(" | ")
        .next()
        .unwrap()
        .to_string()
}

fn names(cell: &str) -> BTreeSet<String> {
    cell.split([',', '/'])
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn the_policy_file_example_parses() {
    let toml = block(&readme(), "## Policy file", "toml");
    let policy = parse_policy_toml(&toml, Path::new("README.md")).unwrap();
    assert_eq!(policy.read.len(), 2);
}

#[test]
fn the_environment_table_names_each_family_exactly() {
    let text = readme();
    let want = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let trust: Vec<&str> = TRUST_VARS.iter().map(|v| v.name).collect();
    assert_eq!(names(&family_row(&text, "trust")), want(&trust));
    assert_eq!(
        names(&family_row(&text, "verification killers")),
        want(VERIFICATION_KILLERS)
    );
    let mut base = names(&family_row(&text, "base"));
    assert!(base.remove("LC_*"), "{base:?}");
    // The trust flags are passed as the base family is, and listed there.
    let passed: Vec<&str> = BASE_VARS.iter().chain(TRUST_FLAGS).copied().collect();
    assert_eq!(base, want(&passed));
}

#[test]
fn the_codex_example_applies_its_sandbox_table() {
    let toml = block(&readme(), "Codex (`~/.codex/config.toml`)", "toml");
    let path = Path::new("/home/me/.codex/config.toml");
    let config = parse_config(&toml, path, Format::Codex).unwrap();
    let fetch = config.server("fetch").unwrap();
    assert_eq!(hand_wrapped_note(fetch, path), None);
    let sandbox = fetch.sandbox.as_ref().expect("the sandbox table");
    assert_eq!(sandbox.read, vec![Path::new("~/notes")]);
    assert_eq!(
        fetch.command_line(path).unwrap(),
        vec!["uvx", "mcp-server-fetch"]
    );
}

#[test]
fn the_json_client_examples_parse() {
    let text = readme();
    for (after, name) in [
        ("Claude Desktop (", "filesystem"),
        ("VS Code (`.vscode/mcp.json`)", "time"),
    ] {
        let json = block(&text, after, "json");
        let config = parse_config(&json, Path::new("/w/mcp.json"), Format::Json).unwrap();
        assert!(config.server(name).is_ok(), "{after}");
    }
}

/// The VS Code example, started as VS Code starts it (`${workspaceFolder}`
/// expanded in `args`, the `envFile` variables in sandspawn's environment):
/// the server gets the `envFile` variable. Wrapped as `sandspawn mcp --
/// CMD`, it was dropped as not in the allow-list.
#[test]
fn the_vscode_example_passes_its_env_file_to_the_server() {
    let json = block(&readme(), "VS Code (`.vscode/mcp.json`)", "json");
    let ws = tempfile::tempdir().unwrap();
    let home = ws.path().join("home");
    std::fs::create_dir_all(ws.path().join(".vscode")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(ws.path().join(".vscode/mcp.json"), &json).unwrap();
    std::fs::write(ws.path().join(".env"), "TIME_API_KEY=from-env-file\n").unwrap();
    let entry: serde_json::Value = serde_json::from_str(&json).unwrap();
    let folder = ws.path().to_str().unwrap();
    let args: Vec<String> = entry["servers"]["time"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().replace("${workspaceFolder}", folder))
        .collect();
    assert_eq!(args[0], "mcp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandspawn"))
        .args(["mcp", "explain", "--json", "--no-host-env"])
        .args(&args[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("TIME_API_KEY", "from-env-file")
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let passed = plan["env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "TIME_API_KEY");
    assert!(passed, "{}", plan["env_dropped"]);
    // Wrapped with `--server time`, the server's launcher caches are keyed
    // by that name and the file's real path, under sandspawn's cache
    // directory, not the host's.
    let npm = plan["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "npm_config_cache")
        .map(|v| v["value"].as_str().unwrap().to_string());
    let config = std::fs::canonicalize(ws.path().join(".vscode/mcp.json")).unwrap();
    let key = sandspawn::mcp::caches::cache_key(Some("time"), Some(&config), &[]);
    assert!(key.starts_with("time@"), "{key}");
    let want = std::fs::canonicalize(&home)
        .unwrap()
        .join(".cache/sandspawn/mcp")
        .join(key)
        .join("npm");
    assert_eq!(npm.as_deref(), want.to_str());
}

/// The MCP profile's paragraph names each launcher cache variable and the
/// directory it points at, as the profile sets them.
#[test]
fn the_mcp_profile_names_each_launcher_cache() {
    let text = readme();
    let start = text
        .find("The launcher caches are never the host's")
        .unwrap();
    let para = &text[start..start + text[start..].find("\n\n").unwrap()];
    for (var, dir) in sandspawn::mcp::caches::CACHE_VARS {
        assert!(para.contains(&format!("`{var}`")), "{var}");
        assert!(
            para.contains(&format!("`{dir}`")) || para.contains(&format!("/{dir}`")),
            "{dir}"
        );
    }
    assert!(para.contains(sandspawn::mcp::caches::ORIGIN.trim_start_matches("mcp profile: ")));
}

//! Network `none` for a server started by npx or uvx: both are told to stay
//! offline (npm_config_offline, UV_OFFLINE), so they start from their
//! caches at once instead of asking the registry first (npx retried for
//! about a minute, past every client's startup timeout; uvx failed). The
//! entry's `env` and flags can still set them otherwise.

mod mcp_support;

use mcp_support::*;

fn child_env(host: &Host, args: &[&str]) -> Vec<(String, String)> {
    plan_env(&mcp_explain_json(host, args), |n| {
        n == "UV_OFFLINE" || n.eq_ignore_ascii_case("npm_config_offline")
    })
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn network_none_keeps_npx_and_uvx_offline_and_the_entry_can_say_otherwise() {
    let host = Host::new();
    let none = child_env(&host, &["--net", "none", "--", "uvx", "mcp-server-time"]);
    assert_eq!(
        none,
        pairs(&[("UV_OFFLINE", "1"), ("npm_config_offline", "true")])
    );
    // The profile's network (full): nothing added.
    assert_eq!(child_env(&host, &["--", "uvx", "mcp-server-time"]), []);
    // A flag wins.
    let set = child_env(
        &host,
        &["--net", "none", "--set", "UV_OFFLINE=0", "--", "uvx", "x"],
    );
    assert_eq!(
        set,
        pairs(&[("UV_OFFLINE", "0"), ("npm_config_offline", "true")])
    );
    // So does the entry's env, with net = "none" in its sandbox table.
    let config = host.work().join("config.toml");
    std::fs::write(
        &config,
        "[mcp_servers.s]\ncommand = \"npx\"\nargs = [\"-y\", \"x\"]\n\
         env = { npm_config_offline = \"false\" }\n\
         [mcp_servers.s.sandbox]\nnet = \"none\"\n",
    )
    .unwrap();
    let cfg = config.display().to_string();
    assert_eq!(
        child_env(&host, &["--config", &cfg, "--server", "s"]),
        pairs(&[("UV_OFFLINE", "1"), ("npm_config_offline", "false")])
    );
}

/// Offline, npx and uvx start from the server's own caches: the same ones
/// its runs with the network filled (same key, same directories), not the
/// host's `~/.npm` or `~/.cache/uv`.
#[test]
fn network_none_points_the_launchers_at_the_caches_the_online_runs_filled() {
    let host = Host::new();
    let caches = |args: &[&str]| {
        let names = ["npm_config_cache", "UV_CACHE_DIR", "UV_TOOL_DIR"];
        plan_env(&mcp_explain_json(&host, args), |n| names.contains(&n))
    };
    let online = caches(&["--", "uvx", "mcp-server-time"]);
    let offline = caches(&["--net", "none", "--", "uvx", "mcp-server-time"]);
    assert_eq!(online, offline);
    assert_eq!(online.len(), 3, "{online:?}");
    let own = host.home().join(".cache/sandspawn/mcp");
    for (name, value) in &online {
        assert!(
            std::path::Path::new(value).starts_with(&own),
            "{name}={value}"
        );
    }
}

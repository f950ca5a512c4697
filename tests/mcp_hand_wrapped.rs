//! A client config entry wrapped by hand (`sandspawn mcp [OPTIONS] -- CMD`
//! without `--config FILE --server NAME`): the client's start applies the
//! wrapper's options and not the entry's `sandbox` table, so `mcp explain`
//! and `mcp check`, which plan from the entry, say that their plan is not
//! the one the server gets.

mod mcp_support;

use std::process::{Command, Output};

use mcp_support::*;

fn explain(host: &Host, config: &std::path::Path) -> Output {
    Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .args(["mcp", "explain", "--no-host-env", "--config"])
        .arg(config)
        .args(["--server", "fetch"])
        .output()
        .unwrap()
}

#[test]
fn a_hand_wrapped_entry_is_named_and_an_installed_one_is_not() {
    let host = Host::new();
    let config = host.work().join("config.toml");
    let abs = config.display();
    let cases = [
        // The shape README's Codex example once showed: a table that the
        // client's start never reads.
        (
            "args = [\"mcp\", \"--\", \"/bin/true\"]\n[mcp_servers.fetch.sandbox]\nnet = \"none\"\n".to_string(),
            Some(format!(
                "server `fetch`: the client starts it as `sandspawn mcp -- …`, without `--config {abs} --server fetch`: its `sandbox` table is not applied then, so the plan shown here is not the one it gets; add those options before `--` (as `sandspawn mcp install` writes them)"
            )),
        ),
        (
            "args = [\"mcp\", \"--net\", \"none\", \"--\", \"/bin/true\"]\n".to_string(),
            Some(format!(
                "server `fetch`: the client starts it as `sandspawn mcp --net none -- …`, without `--config {abs} --server fetch`: the options `--net none` apply then, not its `sandbox` table, so the plan shown here is not the one it gets; add those options before `--` (as `sandspawn mcp install` writes them)"
            )),
        ),
        // As `mcp install` writes it: what the client starts is this plan.
        (
            format!("args = [\"mcp\", \"--config\", \"{abs}\", \"--server\", \"fetch\", \"--\", \"/bin/true\"]\n[mcp_servers.fetch.sandbox]\nnet = \"none\"\n"),
            None,
        ),
        // Nothing of the entry is lost: nothing to say.
        ("args = [\"mcp\", \"--\", \"/bin/true\"]\n".to_string(), None),
        // An API key in `env` reaches sandspawn, not the server (explain
        // and check, planning from the entry, showed it passed); a trust
        // variable and one the wrapper passes are kept.
        (
            "args = [\"mcp\", \"--pass\", \"KEPT\", \"--\", \"/bin/true\"]\nenv = { GITHUB_TOKEN = \"x\", SSL_CERT_FILE = \"/c.pem\", KEPT = \"1\" }\nenv_vars = [\"OPENAI_API_KEY\"]\n".to_string(),
            Some(format!(
                "server `fetch`: the client starts it as `sandspawn mcp --pass KEPT -- …`, without `--config {abs} --server fetch`: the options `--pass KEPT` apply then, not its `sandbox` table; its `env` variables GITHUB_TOKEN, OPENAI_API_KEY go to sandspawn's environment, which passes on only the allow-list, `--pass` and the user config's `pass`, so the plan shown here is not the one it gets; add those options before `--` (as `sandspawn mcp install` writes them)"
            )),
        ),
        // A policy file may pass it: no claim about `env` then.
        (
            "args = [\"mcp\", \"--policy\", \"/p.toml\", \"--\", \"/bin/true\"]\nenv = { API_KEY = \"x\" }\n".to_string(),
            Some(format!(
                "server `fetch`: the client starts it as `sandspawn mcp --policy /p.toml -- …`, without `--config {abs} --server fetch`: the options `--policy /p.toml` apply then, not its `sandbox` table, so the plan shown here is not the one it gets; add those options before `--` (as `sandspawn mcp install` writes them)"
            )),
        ),
        (
            "args = [\"mcp\", \"--\", \"/bin/true\"]\nenv = { API_KEY = \"x\" }\n".to_string(),
            Some(format!(
                "server `fetch`: the client starts it as `sandspawn mcp -- …`, without `--config {abs} --server fetch`: its `env` variables API_KEY go to sandspawn's environment, which passes on only the allow-list, `--pass` and the user config's `pass`, so the plan shown here is not the one it gets; add those options before `--` (as `sandspawn mcp install` writes them)"
            )),
        ),
    ];
    for (tail, want) in cases {
        let text = format!("[mcp_servers.fetch]\ncommand = \"sandspawn\"\n{tail}");
        std::fs::write(&config, &text).unwrap();
        let out = explain(&host, &config);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}\n{stdout}");
        let found = stdout
            .lines()
            .find(|l| l.contains("the client starts it as"))
            .map(str::trim);
        assert_eq!(found, want.as_deref(), "{text}\n{stdout}");
    }
}

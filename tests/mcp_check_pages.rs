//! `mcp check` counts every page of `tools/list`, following `nextCursor`
//! within a cap on pages, and stops (with one line saying why) on a cursor
//! the server repeats. The server is a small stdlib-Python mock: the pinned
//! real servers answer tools/list in one page, so they cannot show this.

mod mcp_support;

use std::process::Command;

use mcp_support::*;

/// argv[1]: `three` (pages p0..p2, one tool each), `loop` (always offers
/// cursor "p1"), `endless` (always a new cursor).
const PAGER: &str = r#"
import json, sys
mode = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if m["method"] == "initialize":
        r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}},
             "serverInfo": {"name": "pager", "version": "0"}}
    else:
        n = int((m.get("params") or {}).get("cursor", "p0")[1:])
        r = {"tools": [{"name": "t%d" % n, "inputSchema": {"type": "object"}}]}
        if mode == "loop":
            r["nextCursor"] = "p1"
        elif mode == "endless" or n < 2:
            r["nextCursor"] = "p%d" % (n + 1)
    print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
"#;

#[test]
fn check_follows_next_cursor_within_caps() {
    let host = Host::new();
    let script = host.work().join("pager.py");
    std::fs::write(&script, PAGER).unwrap();
    let config = host.work().join("config.toml");
    let mut toml = String::new();
    for mode in ["three", "loop", "endless"] {
        toml.push_str(&format!(
            "[mcp_servers.{mode}]\ncommand = \"/usr/bin/python3\"\nargs = [{:?}, \"{mode}\"]\n\n",
            script.display()
        ));
    }
    std::fs::write(&config, toml).unwrap();
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .args(["mcp", "check", "--no-host-env", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split_whitespace().collect())
        .collect();
    // name, backend, initialize ms, tools, status; by name
    assert_eq!(
        rows.iter().map(|r| (r[0], r[3], r[4])).collect::<Vec<_>>(),
        [
            ("endless", "100+", "ok"),
            ("loop", "2+", "ok"),
            ("three", "3", "ok")
        ],
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains(
            "\nloop: tools/list stopped after 2 page(s): the server repeated cursor \"p1\"\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "\nendless: tools/list stopped after 100 page(s), the cap; the server offers more\n"
        ),
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
}

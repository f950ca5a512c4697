//! `--proxy URL` outside `--net proxy`: with `--net full` the child gets
//! it as HTTPS_PROXY and HTTP_PROXY (as `sandspawn mcp --proxy` gives a
//! server), with `--net none` it can do nothing and one warning says so;
//! both were silent, the child getting no proxy variable at all. Under
//! `--net full` the flag replaces the parent's variables of those names
//! (it silently lost to them), and says so.

mod support;

use support::{backend_runs, scrubbed, stderr, Scratch};

const URL: &str = "http://proxy.test:3128";
const WARNING: &str = "sandspawn: warning: --proxy has no effect with --net none (the sandbox \
                       has no network): pass --net proxy to go out through it, or --net full \
                       to hand it to the command as HTTPS_PROXY and HTTP_PROXY";

#[test]
fn net_full_hands_the_proxy_to_the_command() {
    if !backend_runs("bwrap") {
        return;
    }
    let s = Scratch::new(&["home", "proj"]);
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .args(["run", "--net", "full", "--proxy", URL])
        .args(["--", "/bin/sh", "-c", "echo \"$HTTPS_PROXY $HTTP_PROXY\""])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{URL} {URL}\n"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("--proxy"), "{}", stderr(&out));
}

/// The proxy lines of `env`'s output, in its order.
fn proxy_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split('=')
                .next()
                .is_some_and(|n| n.to_ascii_uppercase().contains("PROXY"))
        })
        .map(str::to_owned)
        .collect()
}

const REPLACED: &str = "sandspawn: warning: --proxy replaces the parent's HTTPS_PROXY, \
                        https_proxy for the command (network full); the parent's value is not \
                        passed; the parent's NO_PROXY still reaches the command: --proxy does not \
                        replace it";

#[test]
fn net_full_the_flag_replaces_the_parents_proxy_variables() {
    if !backend_runs("bwrap") {
        return;
    }
    let s = Scratch::new(&["home", "proj"]);
    // The flag lost to the parent's variable (both spellings), silently.
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .env("HTTPS_PROXY", "http://parent.test:1")
        .env("https_proxy", "http://user:secret@parent.test:1")
        .env("NO_PROXY", ".corp")
        .args(["run", "--net", "full", "--proxy", URL, "--", "/usr/bin/env"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        proxy_lines(&out),
        [
            format!("HTTPS_PROXY={URL}"),
            format!("HTTP_PROXY={URL}"),
            "NODE_USE_ENV_PROXY=1".into(),
            "NO_PROXY=.corp".into(),
            format!("http_proxy={URL}"),
            format!("https_proxy={URL}"),
            "no_proxy=.corp".into(),
        ],
        "{}",
        stderr(&out)
    );
    let err = stderr(&out);
    let said: Vec<&str> = err.lines().filter(|l| l.contains("--proxy")).collect();
    assert_eq!(said, [REPLACED], "{err}");
    assert!(!err.contains("parent.test"), "{err}");
    // The parent's variable holding the flag's own value is not replaced.
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .env("HTTP_PROXY", URL)
        .args(["env", "--net", "full", "--proxy", URL])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("--proxy"), "{}", stderr(&out));
    assert_eq!(
        proxy_lines(&out),
        [
            format!("HTTPS_PROXY={URL}"),
            format!("HTTP_PROXY={URL}"),
            "NODE_USE_ENV_PROXY=1".into(),
            format!("http_proxy={URL}"),
            format!("https_proxy={URL}"),
        ]
    );
}

/// The parent's NO_PROXY (and ALL_PROXY) pass as they are: `NO_PROXY=*`
/// sends everything around the flag's proxy. Said, by name, with nothing
/// replaced as well.
#[test]
fn net_full_names_the_parents_no_proxy_the_flag_leaves() {
    let s = Scratch::new(&["home", "proj"]);
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .env("no_proxy", "*")
        .env("ALL_PROXY", "socks5h://user:secret@parent.test:1")
        .env("NO_PROXY", "")
        .args(["env", "--net", "full", "--proxy", URL])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let said: Vec<&str> = err.lines().filter(|l| l.contains("--proxy")).collect();
    assert_eq!(
        said,
        [
            "sandspawn: warning: the parent's no_proxy, ALL_PROXY still reach the command \
          (network full): --proxy does not replace them"
        ],
        "{err}"
    );
    assert!(!err.contains("parent.test") && !err.contains('*'), "{err}");
}

#[test]
fn mcp_the_flag_replaces_the_parents_proxy_variables() {
    let s = Scratch::new(&["home", "proj"]);
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .env("https_proxy", "http://parent.test:1")
        .args([
            "mcp",
            "explain",
            "--no-host-env",
            "--proxy",
            URL,
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = (text.lines())
        .filter(|l| l.starts_with("  ") && l.to_ascii_uppercase().contains("_PROXY="))
        .collect();
    assert_eq!(
        lines,
        [
            format!("  HTTPS_PROXY={URL}  [proxy]"),
            format!("  HTTP_PROXY={URL}  [proxy]"),
            "  NODE_USE_ENV_PROXY=1  [proxy: derived]".into(),
            format!("  http_proxy={URL}  [proxy: other spelling of HTTP_PROXY]"),
            format!("  https_proxy={URL}  [proxy: other spelling of HTTPS_PROXY]"),
        ]
    );
    // mcp explain lists the warnings with the plan.
    let replaced = "  --proxy replaces the parent's https_proxy for the command (network \
                    full); the parent's value is not passed";
    assert!(text.lines().any(|l| l == replaced), "{text}");
}

#[test]
fn net_proxy_the_flag_is_the_upstream_and_the_parents_stays_out() {
    if !backend_runs("bwrap") {
        return;
    }
    let s = Scratch::new(&["home", "proj"]);
    // The upstream only has to accept a connection: sandspawn checks it
    // is reachable before it starts the command.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", upstream.local_addr().unwrap());
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .env("HTTPS_PROXY", "http://parent.test:1")
        .env("all_proxy", "socks5h://parent.test:2")
        .args([
            "run",
            "--net",
            "proxy",
            "--proxy",
            &url,
            "--",
            "/usr/bin/env",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = proxy_lines(&out);
    let bridge = lines
        .iter()
        .find_map(|l| l.strip_prefix("HTTPS_PROXY="))
        .expect("HTTPS_PROXY in the child")
        .to_owned();
    assert!(bridge.starts_with("http://127.0.0.1:"), "{bridge}");
    for l in &lines {
        let (name, value) = l.split_once('=').unwrap();
        let want = match name {
            "NODE_USE_ENV_PROXY" => "1",
            _ => &bridge,
        };
        assert_eq!(value, want, "{l}");
    }
    assert!(lines.contains(&format!("all_proxy={bridge}")), "{lines:?}");
    // explain names the upstream the bridge goes to, and where it came from.
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .env("HTTPS_PROXY", "http://parent.test:1")
        .args([
            "explain",
            "--net",
            "proxy",
            "--proxy",
            URL,
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l
            == format!("network:  proxy (upstream {URL} from --proxy, through the bridge at http://127.0.0.1:3128)")),
        "{text}"
    );
    assert!(!text.contains("parent.test"), "{text}");
}

#[test]
fn net_none_says_the_proxy_does_nothing() {
    let s = Scratch::new(&["home", "proj"]);
    let out = scrubbed(&s.path("home"), None, &s.path("proj"))
        .args(["env", "--net", "none", "--proxy", URL])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).lines().any(|l| l == WARNING),
        "{}",
        stderr(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PROXY"));
}

//! The library's `--net proxy` servers (bwrap): the host-side bridge
//! removes its socket directory when the sandbox ends, however the host
//! ends it (`shutdown`, or dropping the handle).

mod mcp_support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use mcp_support::*;
use sandspawn::mcp::process::{spawn, SpawnOptions};
use sandspawn::policy::{Layer, NetworkMode};

/// The bridge's socket directories for the sandbox whose bwrap is `pid`
/// (the library clears the child's environment: they are under /tmp).
fn bridge_dirs(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("sandspawn-proxy-{pid}-");
    std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// `shutdown` sent SIGTERM to every process under the server but bwrap,
/// the bridge among them, and dropping the handle SIGKILLed its process
/// group, the bridge's too: it died before it could remove its directory,
/// and a host left one `/tmp/sandspawn-proxy-*` behind per server.
#[tokio::test(flavor = "multi_thread")]
async fn the_bridge_directory_goes_with_shutdown_and_drop() {
    let Some(_) = ready("bwrap") else {
        return;
    };
    // The upstream is only checked for a connection at start.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", upstream.local_addr().unwrap());
    let host = Host::new();
    let extra = Layer {
        origin: "test".into(),
        net: Some(NetworkMode::Proxy),
        proxy: Some(url.into()),
        ..Layer::default()
    };
    let plan = host.plan(vec!["sleep".into(), "300".into()], "bwrap", extra);
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    for how in ["shutdown", "drop"] {
        let mut server = spawn(&plan, &opts).await.unwrap();
        let pid = server.pid();
        let mut made = Vec::new();
        // Bounds for a loaded machine: 30 s to start, 10 s to clean up.
        for _ in 0..600 {
            made = bridge_dirs(pid);
            if !made.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(made.len(), 1, "{how}: {}", server.stderr_tail(10));
        if how == "shutdown" {
            server.shutdown(Duration::from_secs(2)).await.unwrap();
        } else {
            drop(server);
        }
        let mut left = made.clone();
        for _ in 0..200 {
            left.retain(|d| d.exists());
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(left.is_empty(), "{how}: {left:?} outlived the sandbox");
    }
}

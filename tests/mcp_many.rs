//! The library as a host uses it: many servers at once, spawned from
//! short-lived threads, and a runtime dropped while they run.

mod mcp_support;

use std::time::Duration;

use mcp_support::*;
use sandspawn::mcp::process::{spawn, SpawnOptions};
use sandspawn::mcp::session::initialize;
use sandspawn::policy::Layer;

fn opts() -> SpawnOptions {
    SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    }
}

fn wait_gone(tag: &str) -> Vec<i32> {
    let mut left = tagged_processes(tag);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = tagged_processes(tag);
    }
    left
}

fn many(backend: &str) {
    if !usable(backend) {
        return;
    }
    let host = Host::new();
    let script = host.work().join("s.py");
    std::fs::write(&script, ONE_TOOL_SERVER).unwrap();
    let tag = format!("SANDSPAWN_TEST_TAG=many-{backend}-{}", std::process::id());
    let (name, value) = tag.split_once('=').unwrap();
    let plan = host.plan(
        vec!["/usr/bin/python3".into(), script.clone().into()],
        backend,
        Layer {
            origin: "test".into(),
            set: vec![(name.into(), value.into())],
            ..Layer::default()
        },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .thread_keep_alive(Duration::from_millis(10))
        .enable_all()
        .build()
        .unwrap();
    let n = 12;
    let servers = rt.block_on(async {
        // Each spawn from a blocking-pool thread that exits soon after.
        let mut tasks = Vec::new();
        for _ in 0..n {
            let plan = plan.clone();
            let handle = tokio::runtime::Handle::current();
            tasks.push(tokio::task::spawn_blocking(move || {
                handle.block_on(async move {
                    let mut s = spawn(&plan, &opts()).await.unwrap();
                    let (mut session, _) =
                        initialize(&mut s, Duration::from_secs(30)).await.unwrap();
                    assert_eq!(session.list_tools().await.unwrap().len(), 1);
                    (s, session)
                })
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    // The blocking threads are gone by now (10 ms keep-alive).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        tagged_processes(&tag).len(),
        n,
        "a server died with its spawning thread"
    );
    // Still answering.
    let mut servers = servers;
    rt.block_on(async {
        for (_, session) in servers.iter_mut() {
            assert_eq!(session.list_tools().await.unwrap().len(), 1);
        }
    });
    // The host drops its runtime first, then the servers.
    drop(rt);
    drop(servers);
    let left = wait_gone(&tag);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn many_bwrap() {
    many("bwrap");
}

#[test]
fn many_landlock() {
    many("landlock");
}

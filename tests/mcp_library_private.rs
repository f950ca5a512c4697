//! The library's Landlock spawns: each spawn of a plan, even the same plan
//! twice, gets a HOME and TMPDIR of its own, owned by the host process and
//! removed when the host reaps the server.

mod mcp_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mcp_support::*;
use sandspawn::mcp::process::{spawn, ServerProcess, SpawnOptions};
use sandspawn::policy::Layer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn opts() -> SpawnOptions {
    SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    }
}

/// The server's HOME and TMPDIR as it prints them, after it wrote a file
/// into each.
async fn started(server: &mut ServerProcess) -> (PathBuf, PathBuf) {
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let (mut home, mut tmp) = (String::new(), String::new());
    let read = async {
        out.read_line(&mut home).await.unwrap();
        out.read_line(&mut tmp).await.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap_or_else(|_| panic!("no output: {}", server.stderr_tail(20)));
    (home.trim().into(), tmp.trim().into())
}

const SCRIPT: &str = "echo x > ~/planted && echo x > \"$TMPDIR/planted\" \
                      && echo \"$HOME\" && echo \"$TMPDIR\" && read _";

#[tokio::test(flavor = "multi_thread")]
async fn each_spawn_has_its_own_dirs_and_reaping_removes_them() {
    if !usable("landlock") {
        return;
    }
    let host = Host::new();
    let cmd = vec!["sh".into(), "-c".into(), SCRIPT.into()];
    let plan = host.plan(cmd, "landlock", Layer::default());
    let planned = plan.private_dirs.clone().expect("landlock names them");

    let mut a = spawn(&plan, &opts()).await.unwrap();
    let mut b = spawn(&plan, &opts()).await.unwrap();
    let (a_home, a_tmp) = started(&mut a).await;
    let (b_home, b_tmp) = started(&mut b).await;
    let a_dir = a
        .private_dir()
        .expect("a directory of its own")
        .to_path_buf();
    assert_eq!(
        (a_home.parent(), a_tmp.parent()),
        (Some(&*a_dir), Some(&*a_dir))
    );
    assert_ne!(a_home, b_home);
    assert_ne!(a_tmp, b_tmp);
    assert_ne!(
        a_dir, planned.dir,
        "a spawn does not use the plan's own name"
    );
    assert!(!planned.dir.exists());
    for f in [&a_home, &a_tmp, &b_home, &b_tmp] {
        assert!(f.join("planted").is_file(), "{}", f.display());
    }

    // Ends by itself (stdin), reaped by `wait`: its directory goes.
    a.stdin.take().unwrap().write_all(b"\n").await.unwrap();
    assert!(a.wait().await.unwrap().success());
    assert!(a.private_dir().is_none());
    assert!(
        !a_dir.exists(),
        "{} outlived the reaped server",
        a_dir.display()
    );
    assert!(
        b_home.join("planted").is_file(),
        "the live one keeps its own"
    );

    // Shut down: reaped by `shutdown`, same outcome.
    let b_dir = b.private_dir().unwrap().to_path_buf();
    b.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(!b_dir.exists(), "{} outlived shutdown", b_dir.display());

    // Dropped while running: killed, and its directory goes with it.
    let mut c = spawn(&plan, &opts()).await.unwrap();
    let (c_home, _) = started(&mut c).await;
    drop(c);
    assert!(!Path::new(&c_home).exists());
}

/// A server that left more in its TMPDIR than one bounded removal takes
/// (5000 entries, so a worker thread is not stalled): the rest stayed
/// until the host process ended and a later plan swept it, so a
/// long-running host kept every such directory. Now the rest is removed
/// off the caller's thread.
#[tokio::test(flavor = "multi_thread")]
async fn a_reaped_servers_many_files_are_all_removed() {
    if !usable("landlock") {
        return;
    }
    let host = Host::new();
    let script = "cd \"$TMPDIR\" && i=0 && while [ $i -lt 6000 ]; do : > f$i; i=$((i+1)); done";
    let cmd = vec!["sh".into(), "-c".into(), script.into()];
    let plan = host.plan(cmd, "landlock", Layer::default());
    let mut server = spawn(&plan, &opts()).await.unwrap();
    let dir = server.private_dir().unwrap().to_path_buf();
    let status = tokio::time::timeout(Duration::from_secs(60), server.wait())
        .await
        .expect("the loop ends")
        .unwrap();
    assert!(status.success(), "{}", server.stderr_tail(5));
    for _ in 0..100 {
        if !dir.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = std::fs::read_dir(dir.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    panic!("{} still holds {left} files", dir.display());
}

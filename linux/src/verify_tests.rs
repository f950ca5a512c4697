use super::*;

fn check(expect: Expect, path: &Path) -> Check {
    Check {
        expect,
        label: "LABEL".into(),
        path: path.to_path_buf(),
    }
}

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

#[test]
fn a_bundle_passes_with_its_count_and_fails_with_a_key_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.pem");
    std::fs::write(&good, format!("{CERT}{CERT}")).unwrap();
    assert_eq!(
        run(&check(Expect::Certs, &good), None, &[]),
        pass("2 certificates")
    );
    let keyed = dir.path().join("keyed.pem");
    std::fs::write(
        &keyed,
        format!("{CERT}-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    assert_eq!(
        run(&check(Expect::Certs, &keyed), None, &[]),
        fail("2 private key block(s) in it")
    );
    assert_eq!(
        run(
            &check(Expect::Certs, &dir.path().join("absent.pem")),
            None,
            &[]
        ),
        fail("not readable: ENOENT")
    );
}

#[test]
fn hidden_passes_for_empty_or_refused_and_fails_for_visible_content() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        run(&check(Expect::Hidden, &empty), None, &[]),
        pass("empty")
    );
    assert_eq!(
        run(
            &check(Expect::Hidden, &dir.path().join("absent")),
            None,
            &[]
        ),
        pass("ENOENT")
    );
    let file = dir.path().join("secret");
    std::fs::write(&file, "key").unwrap();
    assert_eq!(
        run(&check(Expect::Hidden, &file), None, &[]),
        fail("its content is readable")
    );
    assert_eq!(
        run(&check(Expect::Hidden, dir.path()), None, &[]),
        fail("2 entries visible")
    );
}

/// `--preset read-all --deny ~/.cache` with the trust bundle granted in
/// it: bwrap's mask shows the way to the bundle (`sandspawn/trust/…`),
/// and `--verify` failed "1 entries visible" where the plan held.
#[test]
fn a_hidden_directory_may_show_the_way_to_grants_inside_it_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let hidden_dir = dir.path().join("cache");
    let bundle = hidden_dir.join("sandspawn/trust/b.pem");
    std::fs::create_dir_all(bundle.parent().unwrap()).unwrap();
    std::fs::write(&bundle, CERT).unwrap();
    let granted = vec![bundle.clone(), dir.path().join("elsewhere")];
    let granted = WayTo {
        granted: &granted,
        cwd: None,
    };
    assert_eq!(
        hidden(&hidden_dir, &granted),
        pass("1 entries, only the way to what the plan puts inside it")
    );
    // Anything else on the way, or beside it, is the host's content.
    std::fs::write(hidden_dir.join("sandspawn/trust/other.pem"), CERT).unwrap();
    assert_eq!(hidden(&hidden_dir, &granted), fail("1 entries visible"));
    std::fs::remove_file(hidden_dir.join("sandspawn/trust/other.pem")).unwrap();
    std::fs::write(hidden_dir.join("history"), "x").unwrap();
    assert_eq!(hidden(&hidden_dir, &granted), fail("1 entries visible"));
    let nothing = WayTo {
        granted: &[],
        cwd: None,
    };
    assert_eq!(hidden(&hidden_dir, &nothing), fail("2 entries visible"));
}

/// `--deny /var/tmp` run from /var/tmp/qa/ws: the command starts in its
/// (empty) working directory, whose way bwrap makes in the mask; and a
/// hidden path that is a link lists its target, where grants are named.
#[test]
fn a_hidden_directory_may_show_the_way_to_the_working_directory_and_follows_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let cwd = root.join("tmp/qa/ws");
    std::fs::create_dir_all(&cwd).unwrap();
    let ways = WayTo {
        granted: &[],
        cwd: Some(cwd.clone()),
    };
    assert_eq!(
        hidden(&root.join("tmp"), &ways),
        pass("1 entries, only the way to what the plan puts inside it")
    );
    // The working directory itself must show nothing either.
    std::fs::write(cwd.join("notes"), "x").unwrap();
    assert_eq!(hidden(&root.join("tmp"), &ways), fail("1 entries visible"));

    let granted = vec![root.join("outside/o.txt")];
    std::fs::create_dir(root.join("outside")).unwrap();
    std::fs::write(root.join("outside/o.txt"), "o").unwrap();
    std::os::unix::fs::symlink(root.join("outside"), root.join("link")).unwrap();
    let ways = WayTo {
        granted: &granted,
        cwd: None,
    };
    assert_eq!(
        hidden(&root.join("link"), &ways),
        pass("1 entries, only the way to what the plan puts inside it")
    );
}

#[test]
fn writable_leaves_no_trace_and_read_only_fails_on_a_writable_dir() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        run(&check(Expect::Writable, dir.path()), None, &[]),
        pass("a file can be made in it")
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert_eq!(
        run(&check(Expect::ReadOnly, dir.path()), None, &[]),
        fail("writable")
    );
    assert_eq!(
        run(&check(Expect::Readable, dir.path()), None, &[]),
        pass("0 entries")
    );
}

#[test]
fn outside_a_sandbox_the_network_checks_fail_and_say_why() {
    let no_inet = run(&check(Expect::NoInet, Path::new("")), None, &[]);
    assert!(!no_inet.ok);
    assert!(no_inet.seen.starts_with("an inet "), "{}", no_inet.seen);
    assert_eq!(
        run(&check(Expect::ProxyListener, Path::new("")), None, &[]),
        fail("no inside listener in this sandbox")
    );
}

#[test]
fn report_lines_name_the_verdict_the_promise_the_label_and_the_path() {
    let c = check(Expect::Hidden, Path::new("/home/u/.ssh"));
    assert_eq!(
        line(&c, &pass("ENOENT")),
        "  ok    hidden     LABEL  /home/u/.ssh  (ENOENT)"
    );
    let n = check(Expect::NoInet, Path::new(""));
    assert_eq!(
        line(&n, &fail("an inet socket was created (ECONNREFUSED)")),
        "  FAIL  no-inet    LABEL  (an inet socket was created (ECONNREFUSED))"
    );
}

#[test]
fn expectation_words_round_trip() {
    for e in Expect::ALL {
        assert_eq!(Expect::parse(e.as_str()), Some(e));
    }
    // Every variant is in ALL (a new one fails to compile here first).
    for e in Expect::ALL {
        match e {
            Expect::Certs
            | Expect::Readable
            | Expect::Writable
            | Expect::Hidden
            | Expect::ReadOnly
            | Expect::NoInet
            | Expect::ProxyListener
            | Expect::Tls => {}
        }
    }
    assert_eq!(Expect::parse("other"), None);
}

#[test]
fn a_fifo_does_not_hang_any_check() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for expect in [Expect::Certs, Expect::Readable, Expect::Hidden] {
        // Opening for reading without a writer succeeds at once; reading
        // then finds nothing (no writer) rather than waiting for one.
        let _ = run(&check(expect, &fifo), None, &[]);
    }
    // Opening a FIFO to write without a reader fails with ENXIO instead
    // of waiting for a reader.
    assert_eq!(
        run(&check(Expect::Writable, &fifo), None, &[]),
        fail("ENXIO")
    );
}

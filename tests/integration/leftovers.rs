//! No test leaves a process behind (issue 26): every process a test starts
//! runs under a [`ChildGuard`], which kills its process group, and anything
//! still carrying its mark, when the test ends, passes, fails or panics.

use crate::helpers::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A guard dropped by a panic still stops its process, the children that
/// process forked, and a grandchild that left the process group (`setsid`).
#[test]
fn a_panicking_test_leaves_no_process_behind() {
    let marks = std::sync::Mutex::new(Vec::new());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let shell = ChildGuard::spawn(
            Command::new("sh")
                .args(["-c", "sleep 300 & setsid sleep 300 & sleep 300"])
                .stdout(Stdio::null()),
        );
        marks.lock().unwrap().push(shell.mark().to_owned());
        // The shell, its two sleeps in the group and the one outside it.
        let deadline = std::time::Instant::now() + WAIT;
        while marked(GUARD_VAR, shell.mark()).len() < 4 {
            assert!(std::time::Instant::now() < deadline, "the shell forked");
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the test fails with its processes running");
    }));
    assert!(panicked.is_err());
    let marks = marks.into_inner().unwrap();
    assert_eq!(marks.len(), 1);
    assert_eq!(marked(GUARD_VAR, &marks[0]), vec![]);
}

/// The Kerberos, end-to-end and landing-page tests, run again in a child
/// test process with a run mark of their own: each daemon they start
/// (krb5kdc, Prometheus, Alertmanager, Chromium, the exporter binary) is
/// recorded as it starts, and once they have finished no process with
/// that mark is alive.
#[test]
#[ignore = "full tier: runs the Kerberos, e2e and landing tests (KDC, Prometheus, Alertmanager, Chromium) again"]
fn the_daemons_of_the_kerberos_e2e_and_landing_tests_do_not_outlive_them() {
    let installed = |name: &str, probe: &mut Command| tool_available(name, probe);
    if !installed(
        "krb5kdc",
        Command::new("test").args(["-x", "/usr/sbin/krb5kdc"]),
    ) || !installed("prometheus", Command::new("prometheus").arg("--version"))
        || !installed("chromium", Command::new("chromium").arg("--version"))
    {
        return;
    }
    // A second copy of the KDC, e2e and Chromium tests: not beside the load tests.
    let _turn = heavy_blocking();
    let dir = tempfile::tempdir().unwrap();
    let spawned_log = dir.path().join("spawned");
    let run = format!("{}-leftovers", run_id());
    assert_eq!(marked(RUN_VAR, &run), vec![], "before the run");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--include-ignored",
            "--test-threads=2",
            "kerberos::",
            "e2e::",
            "landing::",
        ])
        .env(RUN_VAR, &run)
        .env(SPAWN_LOG_VAR, &spawned_log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the tests failed:\n{text}");
    assert!(
        text.contains("test result: ok. 7 passed; 0 failed; 0 ignored"),
        "{text}"
    );
    let spawned = std::fs::read_to_string(&spawned_log).unwrap();
    let programs: BTreeSet<&str> = spawned
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, p)| p))
        .collect();
    for daemon in [
        "krb5kdc",
        "prometheus",
        "prometheus-alertmanager",
        "chromium",
        "ivanti-exporter",
    ] {
        assert!(programs.contains(daemon), "{daemon} not started: {spawned}");
    }
    assert_eq!(
        marked(RUN_VAR, &run),
        vec![],
        "alive after the tests that started them:\n{spawned}"
    );
}

//! No test leaves a process behind (issue 26): every process a test starts
//! runs under a [`ChildGuard`], which kills its process group, and anything
//! still carrying its mark, when the test ends, passes, fails or panics;
//! and when the test process is killed outright, so that nothing of it
//! runs, the kernel kills its processes ([`dies_with_this_process`]).

use crate::helpers::*;
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set by [`a_killed_test_process_takes_its_processes_with_it`] for the
/// copy of this binary it kills: where
/// [`a_process_outlives_the_thread_that_started_it`] reports its process
/// (`<pid> <mark>`) before waiting to be killed.
const REPORT_VAR: &str = "IVANTI_TEST_REPORT_FILE";

/// `pid` is gone, a zombie, or has SIGKILL pending (its `/proc/<pid>/status`):
/// the kernel has been told to kill it, whether or not it has died yet.
fn killed(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let has_sigkill = |mask: String| {
        u64::from_str_radix(&mask, 16).is_ok_and(|m| m & (1 << (libc::SIGKILL - 1)) != 0)
    };
    field("State:").starts_with(['Z', 'X'])
        || has_sigkill(field("SigPnd:"))
        || has_sigkill(field("ShdPnd:"))
}

/// A process started from a thread that then ends lives on: the kernel
/// sends the parent-death signal when the *thread* that forked a process
/// exits (prctl(2)), and [`ChildGuard`] forks from a thread that lasts.
/// Run again, in a process of its own, by
/// [`a_killed_test_process_takes_its_processes_with_it`], which then
/// kills that process.
#[test]
fn a_process_outlives_the_thread_that_started_it() {
    let (mut guard, thread) = std::thread::spawn(|| {
        let thread = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
        let guard = ChildGuard::spawn(
            Command::new("sleep")
                .arg("300")
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        (guard, thread)
    })
    .join()
    .unwrap();
    // `<pid>/task/<tid>`: the kernel removes the entry after the thread's
    // exit has sent its children their parent-death signal, if any.
    let entry = Path::new("/proc").join(thread);
    eventually_blocking("the thread's end", WAIT, || !entry.exists());
    assert!(
        !killed(guard.id()),
        "the process was killed when the thread that started it ended"
    );
    assert_eq!(guard.child().try_wait().unwrap(), None);
    if let Some(report) = std::env::var_os(REPORT_VAR) {
        let report = Path::new(&report);
        let partial = report.with_extension("partial");
        std::fs::write(&partial, format!("{} {}", guard.id(), guard.mark())).unwrap();
        std::fs::rename(&partial, report).unwrap();
        loop {
            std::thread::park();
        }
    }
}

/// A test process killed by a signal (SIGKILL, a CI timeout) runs no
/// `Drop`, so no [`ChildGuard`] stops anything; the processes it started
/// die with it all the same, by the kernel's parent-death signal.
#[test]
fn a_killed_test_process_takes_its_processes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let log = dir.path().join("log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut tests = ChildGuard::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "leftovers::a_process_outlives_the_thread_that_started_it",
                "--nocapture",
            ])
            .env(REPORT_VAR, &report)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file),
    );
    let output = || std::fs::read_to_string(&log).unwrap_or_default();
    eventually_blocking("the test process's report", WAIT, || {
        if let Ok(Some(status)) = tests.child().try_wait() {
            panic!("the test process ended ({status}):\n{}", output());
        }
        report.exists()
    });
    let report = std::fs::read_to_string(&report).unwrap();
    let (pid, mark) = report.split_once(' ').expect("<pid> <mark>");
    let pid: u32 = pid.parse().unwrap();
    let alive = |mark: &str| -> Vec<u32> {
        marked(GUARD_VAR, mark)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    };
    assert_eq!(alive(mark), vec![pid], "its process runs");

    kill9(tests.id(), false);
    let status = tests.wait_timeout(WAIT).expect("SIGKILL ends it");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    eventually_blocking("the killed test process's process to die", WAIT, || {
        alive(mark).is_empty()
    });
}

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
    let out = dies_with_this_process(&mut Command::new(std::env::current_exe().unwrap()))
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

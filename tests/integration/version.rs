//! `--version` and the revision `build.rs` bakes in.

use crate::helpers::tool_available;
use std::process::Command;

/// `git rev-parse --short=12 HEAD` in the source tree, `None` outside a
/// git checkout.
fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_prints_the_git_revision_prometheus_style() {
    if !tool_available("git", Command::new("git").arg("--version")) {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // A build outside a checkout (a source archive) says "unknown".
    let revision = git_head().unwrap_or_else(|| "unknown".to_owned());
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "ivanti-exporter, version {} (revision: {revision})",
            env!("CARGO_PKG_VERSION")
        )
    );
    if revision != "unknown" {
        assert_eq!(revision.len(), 12);
        assert!(
            revision.bytes().all(|b| b.is_ascii_hexdigit()),
            "{revision}"
        );
    }
    // The library the daemon is built from carries the same revision
    // (the `revision` label of ivanti_exporter_build_info).
    assert_eq!(ivanti_exporter::version::REVISION, revision);
    assert!(text.contains("\n  rustc version:    rustc "), "{text}");
    assert!(text.contains("\n  build date:       "), "{text}");
    // -V is the same flag.
    let short = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .arg("-V")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(short.stdout).unwrap(), text);
}

//! Bakes the build's identity into the binary (`src/version.rs` reads it):
//! `IVANTI_EXPORTER_REVISION` (the git commit, 12 hex digits, or "unknown"
//! outside a git checkout or without git; a value already set in the
//! environment wins, for builds from a source archive or a container
//! context without `.git`), `IVANTI_EXPORTER_BUILD_DATE` and
//! `IVANTI_EXPORTER_RUSTC`. Never fails the build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=IVANTI_EXPORTER_REVISION");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let revision = match std::env::var("IVANTI_EXPORTER_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_owned(),
        _ => git_revision().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=IVANTI_EXPORTER_REVISION={revision}");
    println!(
        "cargo:rustc-env=IVANTI_EXPORTER_BUILD_DATE={}",
        build_date()
    );
    println!("cargo:rustc-env=IVANTI_EXPORTER_RUSTC={}", rustc_version());
}

/// Output of `git args` in the package directory, trimmed; `None` when git
/// is missing, fails or prints nothing.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// The short commit of HEAD; asks cargo to run this again when HEAD moves
/// (HEAD itself, the branch it points to, and packed refs), with the paths
/// git gives, so a worktree's own HEAD is watched too.
fn git_revision() -> Option<String> {
    let rev = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(head_ref);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    Some(rev)
}

/// `$RUSTC --version`, or "unknown".
fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// UTC build time as Prometheus' exporters print it (`20261203-11:40:00`),
/// from `SOURCE_DATE_EPOCH` when set (reproducible builds).
fn build_date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs())
        });
    let Some(secs) = secs else {
        return "unknown".to_owned();
    };
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

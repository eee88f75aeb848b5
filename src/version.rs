//! The build's identity, as `build.rs` baked it in: the version, the git
//! revision (`ivanti_exporter_build_info{revision}`), and the `--version`
//! text in the shape Prometheus' own exporters print.

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (12 hex digits), or "unknown".
pub const REVISION: &str = match option_env!("IVANTI_EXPORTER_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// UTC build time, `YYYYMMDD-HH:MM:SS`, or "unknown".
pub const BUILD_DATE: &str = match option_env!("IVANTI_EXPORTER_BUILD_DATE") {
    Some(d) => d,
    None => "unknown",
};

/// `rustc --version` of the compiler that built the binary, or "unknown".
pub const RUSTC: &str = match option_env!("IVANTI_EXPORTER_RUSTC") {
    Some(r) => r,
    None => "unknown",
};

/// What `--version` prints, e.g.
///
/// ```text
/// ivanti-exporter, version 0.1.0 (revision: 65ae3c4d1f2a)
///   build date:       20261203-11:40:00
///   rustc version:    rustc 1.93.0 (254b59607 2026-01-19)
///   platform:         linux/x86_64
/// ```
pub fn text() -> String {
    format!(
        "ivanti-exporter, version {VERSION} (revision: {REVISION})\n  build date:       {BUILD_DATE}\n  rustc version:    {RUSTC}\n  platform:         {}/{}\n",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_line_is_prometheus_shaped() {
        let text = super::text();
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!(
                "ivanti-exporter, version {} (revision: {})",
                env!("CARGO_PKG_VERSION"),
                super::REVISION
            )
        );
        assert_eq!(text.lines().count(), 4);
    }
}

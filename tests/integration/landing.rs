//! The landing page (`GET /`) of a running exporter: the summary a person
//! would count by hand, failing targets first, and the client-side filter
//! run by a real browser (headless Chromium).

use crate::helpers::*;
use ivanti_exporter::sim::{Fault, Fleet, FleetOptions, SimKind};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The cells (as text) of the line starting with `marker`.
fn cells(page: &str, marker: &str) -> Vec<String> {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {page}"));
    let line = page[start..].lines().next().unwrap();
    line.split("<td")
        .skip(1)
        .map(|c| c.split_once('>').unwrap().1.to_owned())
        .collect()
}

/// The targets' rows, in page order: (state, name).
fn rows(page: &str) -> Vec<(String, String)> {
    page.split("<tr class=")
        .skip(1)
        .map(|r| {
            let state = r.split('>').next().unwrap().to_owned();
            let name = r.split("\">").nth(1).unwrap().split('<').next().unwrap();
            (state, name.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_landing_page_counts_states_by_kind_and_reason_and_lists_failures_first() {
    init();
    // Three Connect Secure appliances and a Security Controls console.
    let fleet = Fleet::start(FleetOptions {
        appliances: 4,
        kinds: vec![SimKind::Isec],
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let name = |i: usize| fleet.appliance(i).name().to_owned();
    // sim-001 refuses connections: every collector fails, reason connect (down).
    fleet.appliance(1).set_fault(Fault::Refuse);
    // 50,001 machines are over the inventory's page cap: that collector
    // fails with reason parse, console and operations succeed (degraded).
    fleet.appliance(3).set_isec_machines(50_001);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = fleet
        .config_yaml(Some(&ca), Duration::from_secs(1))
        .replace(
            "defaults:\n",
            // The inventory's poll, bounded by its interval, reads 51 pages:
            // 5 s for them on a loaded machine.
            "defaults:\n  collector_intervals: { license: 1s, system_information: 1s, console: 1s, inventory: 5s }\n",
        );
    let exp = Exporter::start_in(dir, &config, &[]);
    let isec = name(3);
    exp.wait_for("one down, one degraded, two up", WAIT, |m| {
        errors(m, &name(1), "healthcheck", "connect") > 0.0
            && errors(m, &isec, "inventory", "parse") > 0.0
            && m.get(
                "ivanti_collector_success",
                &[("target", &isec), ("collector", "console")],
            ) == Some(1.0)
            && up(m, &name(0))
            && up(m, &name(2))
    })
    .await;
    let (status, content_type, page) = exp.get("/").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(
        page.contains(
            "<p id=states>4 targets: <a href=\"/?state=down\">1 down</a> · \
             <a href=\"/?state=degraded\">1 degraded</a> · \
             <a href=\"/?state=pending\">0 pending</a> · <a href=\"/?state=up\">2 up</a></p>"
        ),
        "{page}"
    );
    // kind, targets, down, degraded, pending, up
    assert_eq!(
        cells(&page, "<tr id=kind-ics>"),
        ["ics", "3", "1", "0", "0", "2"]
    );
    assert_eq!(
        cells(&page, "<tr id=kind-isec>"),
        ["isec", "1", "0", "1", "0", "0"]
    );
    // reason, down targets, degraded targets
    assert_eq!(
        cells(&page, "<tr id=reason-connect>"),
        ["connect", "1", "0"]
    );
    assert_eq!(cells(&page, "<tr id=reason-parse>"), ["parse", "0", "1"]);
    assert!(!page.contains("<tr id=reason-timeout>"), "{page}");
    let s = |x: &str| x.to_owned();
    assert_eq!(
        rows(&page),
        [
            (s("down"), name(1)),
            (s("degraded"), isec.clone()),
            (s("up"), name(0)),
            (s("up"), name(2)),
        ]
    );
    let degraded = cells(&page, "<tr class=degraded>");
    assert_eq!(degraded[3], "degraded");
    assert!(
        degraded[4].starts_with("<b>inventory</b> [parse] "),
        "{degraded:?}"
    );
    // ?state=down leaves the one down target.
    let (status, _, down) = exp.get("/?state=down").await;
    assert_eq!(status, 200);
    assert_eq!(rows(&down), [(s("down"), name(1))]);
    assert!(down.contains("1 of 4 targets shown"), "{down}");
    let (status, _, body) = exp.get("/?state=sideways").await;
    assert_eq!(status, 400);
    assert!(body.starts_with("unknown state \"sideways\""), "{body}");
}

/// Headless Chromium, `--no-sandbox` (CI runs as root), with its own
/// profile and HOME in `dir`; killed after 60 s, its helper processes
/// (zygote, GPU, renderers) with it.
fn chromium(dir: &std::path::Path, args: &[&str]) -> Output {
    ChildGuard::spawn(
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(args)
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .output_within(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: headless Chromium"]
async fn chromium_runs_the_filter_and_renders_the_page() {
    if !tool_available("chromium", Command::new("chromium").arg("--version")) {
        return;
    }
    let (fleet, app) = fleet_and_app(3, "", |_| String::new()).await;
    let name = |i: usize| fleet.appliance(i).name().to_owned();
    fleet.appliance(0).set_fault(Fault::Unauthorized);
    app.wait_for("one target failing, two up", WAIT, |m| {
        errors(m, &name(0), "system_information", "auth") > 0.0
            && up(m, &name(1))
            && up(m, &name(2))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    // The fragment never reaches the server: only the script can filter by it.
    let url = app.url(&format!("/#filter={}", urlencode(&name(2))));
    let (d, u) = (dir.path().to_owned(), url.clone());
    let out = tokio::task::spawn_blocking(move || chromium(&d, &["--dump-dom", &u]))
        .await
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<span id=\"n\" data-total=\"3\">1 of 3 targets shown</span>"),
        "{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let visible: Vec<_> = dom
        .split("<tr class=\"")
        .skip(1)
        .filter(|r| !r.split('>').next().unwrap().contains("hidden"))
        .collect();
    assert_eq!(visible.len(), 1, "{dom}");
    assert!(visible[0].starts_with(&format!("up\"><td><a href=\"/probe?target={}\">", name(2))));
    assert_eq!(dom.matches("hidden=\"\"").count(), 2, "{dom}");
    // The unfiltered page as a 1280×900 PNG.
    let png = dir.path().join("landing.png");
    let (d, shot) = (
        dir.path().to_owned(),
        format!("--screenshot={}", png.display()),
    );
    let u = app.url("/");
    let out = tokio::task::spawn_blocking(move || {
        chromium(
            &d,
            &[&shot, "--window-size=1280,900", "--hide-scrollbars", &u],
        )
    })
    .await
    .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    assert_eq!((be(&bytes[16..20]), be(&bytes[20..24])), (1280, 900));
}

use super::*;
use crate::config::Config;
use crate::error::CollectError;
use std::time::Duration;

const HOSTILE: &str = "<script>alert('x')</script>&\"";

/// A fixed moment: every poll below is `secs` before it.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn outcome(result: Result<(), CollectError>, ms: u64, secs_ago: u64) -> PollOutcome {
    PollOutcome {
        result,
        duration: Duration::from_millis(ms),
        at: now() - Duration::from_secs(secs_ago),
    }
}

/// Three ics up, one ics down (a TLS error, the others timed out), one sps
/// degraded (one collector refused with 401, the other fine), one ics
/// pending with a hostile name, one epmm down (connection refused, reset).
fn inventory() -> Inventory {
    let yaml = format!(
        "defaults:\n  api_key: k\ntargets:\n\
         - {{ name: vpn-c, url: \"https://vpn-c.example.net\" }}\n\
         - {{ name: vpn-a, url: \"https://vpn-a.example.net\" }}\n\
         - {{ name: vpn-b, url: \"https://vpn-b.example.net\" }}\n\
         - {{ name: vpn-dead, url: \"https://vpn-dead.example.net\" }}\n\
         - {{ name: sps-1, kind: sps, url: \"https://sps-1.example.net\", basic_auth: {{ username: u, password: p }} }}\n\
         - {{ name: {}, url: \"https://new.example.net\" }}\n\
         - {{ name: mdm-1, kind: epmm, url: \"https://mdm-1.example.net\", basic_auth: {{ username: u, password: p }} }}\n",
        serde_json::to_string(HOSTILE).unwrap()
    );
    let config = Config::from_yaml(&yaml, std::path::Path::new(".")).unwrap();
    let targets: Vec<_> = config
        .targets
        .iter()
        .map(|t| Arc::new(TargetState::new(t.clone())))
        .collect();
    for t in &targets[..3] {
        for i in 0..t.collectors.len() {
            // The oldest success 402 s ago, the newest 42 s ago.
            t.record(
                i,
                outcome(Ok(()), 20 + i as u64, 42 + i as u64 * 60),
                vec![],
                3,
            );
        }
    }
    let dead = &targets[3];
    for i in 0..dead.collectors.len() {
        dead.record(i, outcome(Ok(()), 10, 400), vec![], 3);
        let e = match i {
            0 => CollectError::Tls("certificate expired".into()),
            _ => CollectError::Timeout("no answer within 900ms".into()),
        };
        dead.record(i, outcome(Err(e), 900, 190), vec![], 3);
    }
    let sps = &targets[4];
    assert!(sps.collectors.len() >= 2, "sps has two collectors");
    sps.record(0, outcome(Ok(()), 30, 5), vec![], 3);
    let e = CollectError::Auth("401 <b>Unauthorized</b>".into());
    sps.record(1, outcome(Err(e), 1500, 5), vec![], 3);
    let epmm = &targets[6];
    for (i, why) in ["refused", "reset"].into_iter().enumerate() {
        let e = CollectError::Connect(why.into());
        epmm.record(i, outcome(Err(e), 1, 3), vec![], 3);
    }
    Inventory::new(targets)
}

fn page(sel: &Selection) -> String {
    render(&inventory(), now(), "", "/metrics", sel)
}

/// The cells of the row whose `<tr` carries `marker`, as text.
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

/// Target names of the table's rows, in order.
fn row_names(page: &str) -> Vec<String> {
    page.split("<tr class=")
        .skip(1)
        .map(|r| {
            cells(r, "")[0]
                .split('>')
                .nth(1)
                .unwrap()
                .trim_end_matches("</a")
                .to_owned()
        })
        .collect()
}

#[test]
fn failing_targets_come_first_then_pending_then_up_alphabetically() {
    let p = page(&Selection::default());
    let hostile = esc(HOSTILE);
    assert_eq!(
        row_names(&p),
        [
            "mdm-1",
            "vpn-dead",
            "sps-1",
            hostile.as_str(),
            "vpn-a",
            "vpn-b",
            "vpn-c"
        ]
    );
    let states: Vec<_> = p
        .split("<tr class=")
        .skip(1)
        .map(|r| r.split('>').next().unwrap())
        .collect();
    assert_eq!(
        states,
        ["down", "down", "degraded", "pending", "up", "up", "up"]
    );
}

#[test]
fn summary_counts_states_kinds_and_reasons() {
    let p = page(&Selection::default());
    assert!(p.contains("<p id=states>7 targets: <a href=\"/?state=down\">2 down</a> · <a href=\"/?state=degraded\">1 degraded</a> · <a href=\"/?state=pending\">1 pending</a> · <a href=\"/?state=up\">3 up</a></p>"), "{p}");
    // kind, targets, down, degraded, pending, up
    assert_eq!(
        cells(&p, "<tr id=kind-ics>"),
        ["ics", "5", "1", "0", "1", "3"]
    );
    assert_eq!(
        cells(&p, "<tr id=kind-sps>"),
        ["sps", "1", "0", "1", "0", "0"]
    );
    assert_eq!(
        cells(&p, "<tr id=kind-epmm>"),
        ["epmm", "1", "1", "0", "0", "0"]
    );
    assert!(!p.contains("kind-isec"), "no isec target, no isec row");
    // In the registry's order: ics, sps, epmm.
    assert!(p.find("kind-ics").unwrap() < p.find("kind-sps").unwrap());
    assert!(p.find("kind-sps").unwrap() < p.find("kind-epmm").unwrap());
    // reason, down targets, degraded targets
    assert_eq!(cells(&p, "<tr id=reason-timeout>"), ["timeout", "1", "0"]);
    assert_eq!(cells(&p, "<tr id=reason-tls>"), ["tls", "1", "0"]);
    assert_eq!(cells(&p, "<tr id=reason-connect>"), ["connect", "1", "0"]);
    assert_eq!(cells(&p, "<tr id=reason-auth>"), ["auth", "0", "1"]);
    assert!(!p.contains("reason-parse"));
}

#[test]
fn a_row_has_its_failures_data_age_and_slowest_poll() {
    let p = page(&Selection::default());
    let dead = cells(&p, "<tr class=down><td><a href=\"/probe?target=vpn-dead\">");
    assert_eq!(
        &dead[1..4],
        ["ics", "https://vpn-dead.example.net/", "down"]
    );
    // Each collector: last success 400 s ago, the failure 190 s ago.
    // One line per reason; failing alike, collectors share one.
    assert_eq!(
        dead[4],
        "<b>healthcheck</b> [tls] TLS error: certificate expired (ok 6m ago)<br>\
         <b>active_users, cluster, license, system_information, license_capacity, ntp</b> [timeout] \
         timeout: no answer within 900ms (ok 6m ago)"
    );
    assert_eq!(&dead[5..], ["6m", "0.90s"]);
    // Failing for one reason with different messages: one line, the first message.
    let mdm = cells(&p, "<tr class=down><td><a href=\"/probe?target=mdm-1\">");
    assert_eq!(
        mdm[4],
        "<b>all collectors</b> [connect] connection failed: refused (never ok) (+1 similar)"
    );
    assert_eq!(&mdm[5..], ["never", "0.00s"]);
    let sps = cells(&p, "<tr class=degraded>");
    // The hostile error text is escaped; the sps' newest success is 5 s old.
    assert!(
        sps[4].ends_with(
            "[auth] authentication failed: 401 &lt;b&gt;Unauthorized&lt;/b&gt; (never ok)"
        ),
        "{}",
        sps[4]
    );
    assert_eq!(&sps[5..], ["5s", "1.5s"]);
    let up = cells(&p, "<tr class=up><td><a href=\"/probe?target=vpn-a\">");
    // Newest success 42 s ago; the slowest poll 20 ms + 6 (seventh collector).
    assert_eq!(inventory().targets[1].collectors.len(), 7);
    assert_eq!(&up[3..], ["up", "", "42s", "0.03s"]);
    let pending = cells(&p, "<tr class=pending>");
    assert_eq!(&pending[3..], ["pending", "", "never", ""]);
}

#[test]
fn hostile_names_are_escaped_everywhere() {
    let p = page(&Selection::default());
    assert!(!p.contains("<script>alert"), "{p}");
    assert!(!p.contains("<b>Unauthorized"), "{p}");
    let link = format!(
        "href=\"/probe?target={}\">{}</a>",
        esc(&urlencode(HOSTILE)),
        esc(HOSTILE)
    );
    assert!(p.contains(&link), "{p}");
    assert!(p.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    // The only scripts are the page's own filter.
    assert_eq!(p.matches("<script>").count(), 1);
    // A hostile telemetry path is an attribute, escaped.
    let p = render(
        &inventory(),
        now(),
        "",
        "/m\"><script>",
        &Selection::default(),
    );
    assert!(p.contains("<a href=\"/m&quot;&gt;&lt;script&gt;\">Metrics</a>"));
}

fn query(pairs: &[(&str, &str)]) -> Result<Selection, String> {
    let q = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Selection::from_query(&q)
}

#[test]
fn filter_state_and_limit_select_rows_on_the_server() {
    let sel = query(&[("filter", " VPN-")]).unwrap();
    let p = page(&sel);
    assert_eq!(row_names(&p), ["vpn-dead", "vpn-a", "vpn-b", "vpn-c"]);
    assert!(p.contains("value=\"vpn-\""), "the input shows the filter");
    assert!(p.contains("4 of 7 targets shown"));
    // The summary is the whole fleet's, whatever is shown.
    assert_eq!(
        cells(&p, "<tr id=kind-ics>"),
        ["ics", "5", "1", "0", "1", "3"]
    );
    // Errors, reasons and kinds are searched too.
    assert_eq!(
        row_names(&page(&query(&[("filter", "unauthorized")]).unwrap())),
        ["sps-1"]
    );
    assert_eq!(
        row_names(&page(&query(&[("filter", "epmm")]).unwrap())),
        ["mdm-1"]
    );
    let sel = query(&[("state", "down,degraded")]).unwrap();
    let p = page(&sel);
    assert_eq!(row_names(&p), ["mdm-1", "vpn-dead", "sps-1"]);
    assert!(p.contains("<input type=hidden name=state value=\"down,degraded\">"));
    let p = page(&query(&[("state", "up"), ("limit", "2")]).unwrap());
    assert_eq!(row_names(&p), ["vpn-a", "vpn-b"]);
    assert!(p.contains("2 of 7 targets shown"));
    assert_eq!(
        query(&[("state", "sick")]),
        Err("unknown state \"sick\" (known: down, degraded, pending, up)".into())
    );
    assert!(query(&[("limit", "ten")]).is_err());
    assert_eq!(query(&[]), Ok(Selection::default()));
}

#[test]
fn ages_and_durations_read_in_one_unit() {
    let at = |s| now() - Duration::from_secs(s);
    let got: Vec<_> = [0, 59, 60, 3599, 3600, 172_799, 172_800]
        .map(|s| age(now(), at(s)))
        .into();
    assert_eq!(got, ["0s", "59s", "1m", "59m", "1h", "47h", "2d"]);
    // A clock that went backwards is no negative age.
    assert_eq!(age(now(), now() + Duration::from_secs(5)), "0s");
    let got: Vec<_> = [5, 999, 1500, 12_400]
        .map(|ms| seconds(Duration::from_millis(ms)))
        .into();
    assert_eq!(got, ["0.01s", "1.00s", "1.5s", "12s"]);
}

/// 10,000 healthy targets: exactly one row each, and a page well under
/// 2.5 MB (its render time is measured by `cargo bench --bench hot_paths`,
/// docs/performance.md).
#[test]
fn ten_thousand_targets_make_ten_thousand_rows_in_a_small_page() {
    let mut yaml = String::from("defaults:\n  api_key: k\ntargets:\n");
    for i in 0..10_000 {
        let _ = writeln!(
            yaml,
            "  - {{ name: vpn-{i:05}, url: \"https://10.0.{}.{}:8443\" }}",
            i / 256,
            i % 256
        );
    }
    let config = Config::from_yaml(&yaml, std::path::Path::new(".")).unwrap();
    let targets: Vec<_> = config
        .targets
        .iter()
        .map(|t| {
            let st = Arc::new(TargetState::new(t.clone()));
            for i in 0..st.collectors.len() {
                st.record(i, outcome(Ok(()), 20, 3), vec![], 3);
            }
            st
        })
        .collect();
    let p = render(
        &Inventory::new(targets),
        now(),
        "",
        "/metrics",
        &Selection::default(),
    );
    assert_eq!(p.matches("<tr class=up>").count(), 10_000);
    assert_eq!(p.matches("<tr class=").count(), 10_000);
    assert!(p.len() < 2_500_000, "{} bytes", p.len());
    assert!(p.contains("10000 of 10000 targets shown"));
}

/// Behind a reverse proxy at `/ivanti` (`--web.external-url`), every link
/// of the page is below it; none is a bare `/...`.
#[test]
fn every_link_is_below_the_external_path() {
    let sel = query(&[("state", "down")]).unwrap();
    let p = render(&inventory(), now(), "/ivanti", "/metrics", &sel);
    let links: Vec<&str> = p
        .split("href=\"")
        .skip(1)
        .map(|l| l.split('"').next().unwrap())
        .collect();
    assert!(links.len() > 10, "{links:?}");
    for l in &links {
        assert!(l.starts_with("/ivanti/"), "{l}");
    }
    for want in [
        "/ivanti/metrics",
        "/ivanti/targets",
        "/ivanti/-/healthy",
        "/ivanti/-/ready",
        "/ivanti/?state=down",
        "/ivanti/",
        "/ivanti/probe?target=vpn-dead",
    ] {
        assert!(links.contains(&want), "{want} not in {links:?}");
    }
}

/// A gateway that answers its healthcheck with 5xx is up (every poll
/// succeeded) but reports itself not accessible: the row says so, and the
/// filter finds it (issue 25).
#[test]
fn a_gateway_reporting_itself_not_accessible_is_marked() {
    let config = Config::from_yaml(
        "defaults:\n  api_key: k\ntargets:\n\
         - { name: vpn-ok, url: \"https://vpn-ok.example.net\" }\n\
         - { name: vpn-na, url: \"https://vpn-na.example.net\" }\n",
        std::path::Path::new("."),
    )
    .unwrap();
    let targets: Vec<_> = config
        .targets
        .iter()
        .map(|t| Arc::new(TargetState::new(t.clone())))
        .collect();
    for (t, accessible) in targets.iter().zip([true, false]) {
        for i in 0..t.collectors.len() {
            let mut data = crate::exposition::Samples::default();
            if t.collectors[i].name == "healthcheck" {
                crate::kinds::ics::healthcheck::samples(accessible, None, None, &mut data);
            }
            t.record(i, outcome(Ok(()), 10, 5), data.into_vec(), 3);
        }
    }
    let inv = Inventory::new(targets);
    let page = render(&inv, now(), "", "/metrics", &Selection::default());
    let row = |name: &str| {
        page.lines()
            .find(|l| l.contains(&format!(">{name}</a>")))
            .unwrap()
            .to_owned()
    };
    assert!(
        row("vpn-na").contains("up · <b class=na"),
        "{}",
        row("vpn-na")
    );
    assert!(row("vpn-na").contains("not accessible"));
    assert!(
        !row("vpn-ok").contains("not accessible"),
        "{}",
        row("vpn-ok")
    );
    let sel = Selection {
        filter: "not accessible".into(),
        ..Selection::default()
    };
    let filtered = render(&inv, now(), "", "/metrics", &sel);
    assert!(filtered.contains(">vpn-na</a>") && !filtered.contains(">vpn-ok</a>"));
}

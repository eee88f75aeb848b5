//! Security Controls' request half against a scripted transport: the
//! paged lists follow `links.next` (and only inside the API), and a list
//! longer than [`super::MAX_PAGES`] is an error, never a short count.

use super::{Isec, MAX_PAGES};
use crate::exposition::Samples;
use crate::kinds::transport::testing::{get, ScriptedTransport, Step};
use crate::kinds::{Appliance, Credentials, Kind, Options, Target, Transport};
use crate::secret::Secret;
use std::sync::Arc;

const API: &str = "/st/console/api/v1.0";

fn appliance(steps: Vec<Step>) -> (Arc<dyn Appliance>, Arc<ScriptedTransport>) {
    let transport = Arc::new(ScriptedTransport::new(steps));
    let target = Target {
        name: "console".into(),
        credentials: Credentials::Basic {
            username: "CORP\\monitor".into(),
            password: Secret::new("pw"),
        },
        options: Options::default(),
    };
    (
        Isec.appliance(target, transport.clone() as Arc<dyn Transport>),
        transport,
    )
}

/// A page of `n` items whose `links.next` is `next` (an absolute URL, as
/// the console writes it).
fn page(n: usize, next: Option<&str>) -> String {
    let items = vec![serde_json::json!({"name": "m"}); n];
    let mut v = serde_json::json!({"count": n, "value": items});
    if let Some(next) = next {
        v["links"] =
            serde_json::json!({"next": {"href": format!("https://console.example:3121{next}")}});
    }
    v.to_string()
}

#[tokio::test(start_paused = true)]
async fn inventory_follows_every_page_of_both_lists() {
    let agents2 = format!("{API}/agents?count=1000&start=1000");
    let (a, t) = appliance(vec![
        get(
            &format!("{API}/agents?count=1000"),
            200,
            page(1000, Some(&agents2)),
        )
        .auth("none"),
        get(&agents2, 200, page(234, None)),
        get(&format!("{API}/machines?count=1000"), 200, page(17, None)),
    ]);
    let mut out = Samples::default();
    a.collect("inventory", &mut out).await.unwrap();
    t.finish();
    assert_eq!(out.value_of("ivanti_isec_agents", ""), Some(1234.0));
    assert_eq!(out.value_of("ivanti_isec_machines", ""), Some(17.0));
}

#[tokio::test(start_paused = true)]
async fn a_list_longer_than_the_page_limit_is_an_error() {
    let mut steps = vec![];
    let mut path = format!("{API}/agents?count=1000");
    for i in 1..=MAX_PAGES {
        let next = format!("{API}/agents?count=1000&start={}", i * 1000);
        steps.push(get(&path, 200, page(1000, Some(&next))));
        path = next;
    }
    let (a, t) = appliance(steps);
    let mut out = Samples::default();
    let e = a.collect("inventory", &mut out).await.unwrap_err();
    t.finish();
    assert_eq!(e.kind(), "parse", "{e}");
    assert!(out.is_empty());
}

/// `/operations` is not documented as a list: 404 is "not applicable".
#[tokio::test(start_paused = true)]
async fn a_console_without_the_operations_list_reports_nothing() {
    let (a, t) = appliance(vec![get(&format!("{API}/operations"), 404, "")]);
    let mut out = Samples::default();
    a.collect("operations", &mut out).await.unwrap();
    t.finish();
    assert!(out.is_empty());
}

/// A console that does list `/operations` with `links.next` (issue 23):
/// every page is counted, by status.
#[tokio::test(start_paused = true)]
async fn operations_follow_links_next() {
    let p2 = format!("{API}/operations?count=2&start=2");
    let first = serde_json::json!({
        "count": 2,
        "value": [{"status": "Complete"}, {"status": "Running"}],
        "links": {"next": {"href": format!("https://console.example:3121{p2}")}},
    });
    let second = serde_json::json!({"count": 1, "value": [{"status": "Complete"}]});
    let (a, t) = appliance(vec![
        get(&format!("{API}/operations"), 200, first.to_string()),
        get(&p2, 200, second.to_string()),
    ]);
    let mut out = Samples::default();
    a.collect("operations", &mut out).await.unwrap();
    t.finish();
    assert_eq!(
        out.value_of("ivanti_isec_operations", "Complete"),
        Some(2.0)
    );
    assert_eq!(out.value_of("ivanti_isec_operations", "Running"), Some(1.0));
}

//! Active sessions beyond one 200-record page: every session counted once.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn pages_beyond_200_sessions_without_double_counting() {
    let (fleet, exp) = fleet_and_app(3, "  collectors: [active_users]\n", |i| match i {
        1 => "    active_users: { max_records: 300 }\n".into(),
        2 => "    active_users: { page_size: 1000 }\n".into(),
        _ => String::new(),
    })
    .await;
    for i in 0..3 {
        fleet.appliance(i).set_sessions(450);
    }
    let names: Vec<String> = (0..3)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let m = exp
        .wait_for("450 sessions everywhere", WAIT, |m| {
            names
                .iter()
                .all(|n| m.get("ivanti_active_sessions", &[("target", n)]) == Some(450.0))
        })
        .await;
    let sum = |metric: &str, t: &str| -> f64 {
        m.find(metric, &[("target", t)])
            .iter()
            .map(|s| s.value)
            .sum()
    };
    // Default page size 200: three pages, 450 distinct sessions.
    assert_eq!(
        m.get(
            "ivanti_active_sessions_breakdown_records",
            &[("target", &names[0])]
        ),
        Some(450.0)
    );
    assert_eq!(sum("ivanti_active_sessions_by_realm", &names[0]), 450.0);
    assert_eq!(sum("ivanti_active_sessions_by_node", &names[0]), 450.0);
    assert_eq!(sum("ivanti_active_sessions_by_transport", &names[0]), 450.0);
    // A record cap: the total stays exact, the breakdown says what it used.
    assert_eq!(
        m.get(
            "ivanti_active_sessions_breakdown_records",
            &[("target", &names[1])]
        ),
        Some(300.0)
    );
    assert_eq!(sum("ivanti_active_sessions_by_realm", &names[1]), 300.0);
    // Asking for 1000 per page from firmware that caps pages at 200 still works.
    assert_eq!(
        m.get(
            "ivanti_active_sessions_breakdown_records",
            &[("target", &names[2])]
        ),
        Some(450.0)
    );
    assert_eq!(sum("ivanti_active_sessions_by_realm", &names[2]), 450.0);
}

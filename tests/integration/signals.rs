//! Issue 22 against the simulator over HTTPS: the boot time is the same at
//! every poll and moves on a reboot; a 9.x appliance's NTP status (404) is
//! "not applicable" (a success with no series); a license server's
//! user-stats allocate nothing.

use crate::helpers::*;
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn boot_time_is_stable_moves_on_a_reboot_and_9x_has_no_ntp() {
    // Appliance 0 stand-alone 22.x, 4 a license server, 5 old (9.x) firmware.
    let (fleet, exp) = fleet_and_app(
        6,
        "  collectors: [status_overview, ntp, license_capacity]\n  collector_intervals: { status_overview: 1s, ntp: 1s, license_capacity: 1s }\n",
        |_| String::new(),
    )
    .await;
    let names: Vec<String> = (0..6)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let t0 = [("target", names[0].as_str())];
    let last_success = |m: &Metrics| {
        m.get(
            "ivanti_collector_last_success_timestamp_seconds",
            &[t0[0], ("collector", "status_overview")],
        )
    };
    let m = exp
        .wait_for("every collector of every target polled", WAIT, |m| {
            names.iter().all(|n| {
                m.find("ivanti_collector_success", &[("target", n)])
                    .iter()
                    .filter(|s| s.value == 1.0)
                    .count()
                    == 3
            })
        })
        .await;
    let boot = m.get("ivanti_boot_time_seconds", &t0).expect("boot time");
    let since = last_success(&m).unwrap();
    // Three polls later (1 s interval), the same boot time to the second.
    let m = exp
        .wait_for("three more polls", WAIT, |m| {
            last_success(m).is_some_and(|t| t >= since + 3.0)
        })
        .await;
    assert_eq!(m.get("ivanti_boot_time_seconds", &t0), Some(boot));
    // The simulator booted 12 days and a part of one before it started.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (12.0 * 86_400.0..=13.0 * 86_400.0 + 60.0).contains(&(now - boot)),
        "{boot}"
    );
    // 9.x: NTP status 404, not applicable; 22.x: its two servers.
    let old = [("target", names[5].as_str())];
    assert_eq!(
        m.get("ivanti_collector_success", &[old[0], ("collector", "ntp")]),
        Some(1.0)
    );
    assert!(m.find("ivanti_ntp_synchronized", &old).is_empty());
    assert_eq!(m.get("ivanti_ntp_synchronized", &t0), Some(1.0));
    assert_eq!(
        m.get(
            "ivanti_ntp_server_reachable",
            &[t0[0], ("server", "10.64.1.11")]
        ),
        Some(0.0)
    );
    // The license server allocates nothing (no utilisation ratio for it).
    assert_eq!(
        m.get(
            "ivanti_license_allocated_users",
            &[("target", names[4].as_str())]
        ),
        Some(0.0)
    );

    let rebooted = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    fleet.appliance(0).reboot();
    let m = exp
        .wait_for("a new boot time", WAIT, |m| {
            m.get("ivanti_boot_time_seconds", &t0)
                .is_some_and(|b| b != boot)
        })
        .await;
    let new_boot = m.get("ivanti_boot_time_seconds", &t0).unwrap();
    assert!(
        (rebooted.floor() - 1.0..=rebooted + 1.0).contains(&new_boot),
        "rebooted at {rebooted}, published {new_boot}"
    );
}

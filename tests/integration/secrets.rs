//! A credentials file or a `tls_config` file that cannot be read fails its
//! target, not the daemon (issue 25): the other targets are polled, the
//! broken one says why on /metrics, on the landing page and in the log (the
//! file and the OS error, never a secret), and recovers at the first poll
//! after the file can be read, without a reload.

use crate::helpers::*;
use ivanti_exporter::sim::FleetOptions;

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_password_file_fails_only_its_target_until_it_can_be_read() {
    let fleet = fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let (realm, user, password) = FleetOptions::default().admin;
    // Target 0's password file is there; target 1's is missing (as root,
    // which runs CI, a mode 000 file would still be readable).
    std::fs::write(dir.path().join("pw-0"), format!("{password}\n")).unwrap();
    // Target 0 finds its file where systemd would put a credential
    // (`${CREDENTIALS_DIRECTORY}`, from the environment).
    let config = config_for(&fleet, &ca, "", |i| {
        let file = match i {
            0 => "\"${CREDENTIALS_DIRECTORY}/pw-0\"".to_owned(),
            _ => format!("{{dir}}/pw-{i}"),
        };
        format!(
            "    realm_auth: {{ realm: \"{realm}\", username: {user}, password_file: {file} }}\n"
        )
    });
    let credentials_directory = dir.path().to_owned();
    let exp = Exporter::start_in_env(
        dir,
        &config,
        &[],
        &[("CREDENTIALS_DIRECTORY", &credentials_directory)],
    );
    let dir = exp.config_path.parent().unwrap().to_owned();
    let missing = dir.join("pw-1");
    let (good, broken) = (fleet.appliance(0).name(), fleet.appliance(1).name());
    let m = exp
        .wait_for(
            "one target up, the other failing for credentials",
            WAIT,
            |m| up(m, good) && errors(m, broken, "active_users", "credentials") > 0.0,
        )
        .await;
    assert_eq!(m.get("ivanti_up", &[("target", broken)]), Some(0.0));
    // The unauthenticated healthcheck is still polled: the appliance is
    // not reported down for a file of the exporter's.
    let success = |m: &Metrics, c: &str| {
        m.get(
            "ivanti_collector_success",
            &[("target", broken), ("collector", c)],
        )
    };
    assert_eq!(success(&m, "healthcheck"), Some(1.0));
    assert_eq!(success(&m, "cluster"), Some(0.0));
    // Nothing but `credentials` for the broken target: no login was tried.
    for s in m.find("ivanti_collector_errors_total", &[("target", broken)]) {
        assert_eq!(s.labels["reason"], "credentials", "{s:?}");
    }
    assert_eq!(fleet.appliance(1).stats().logins, 0);

    let expected = format!(
        "credentials unreadable: realm_auth.password_file: cannot read {}: No such file or directory (os error 2)",
        missing.display()
    );
    let (status, _, page) = exp.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<tr id=reason-credentials><td>credentials<td class=n>0<td class=n>1"),
        "{page}"
    );
    let row = page
        .split("<tr class=degraded>")
        .nth(1)
        .expect("the broken target is degraded")
        .lines()
        .next()
        .unwrap();
    assert!(row.contains(broken), "{row}");
    assert!(row.contains(&format!("[credentials] {expected}")), "{row}");

    // The log names the file and the OS error, at start and at the first
    // failed poll; never the password (target 0's, read from its file).
    let logs = exp.logs();
    let start = events(
        &logs,
        "credentials unreadable: the target fails until they can be read (again at every poll); the other targets are polled",
        broken,
    );
    assert_eq!(start.len(), 1, "{logs}");
    assert_eq!(start[0]["level"], "WARN");
    assert_eq!(
        start[0]["error"],
        format!(
            "realm_auth.password_file: cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let failed = events(&logs, "poll failed", broken);
    assert!(
        failed
            .iter()
            .any(|e| e["reason"] == "credentials" && e["error"] == expected.as_str()),
        "{logs}"
    );
    assert!(!logs.contains(&password), "the password was logged");

    // The file appears: the next poll reads it and logs in; no reload.
    std::fs::write(&missing, format!("{password}\n")).unwrap();
    exp.wait_for("the broken target recovers", WAIT, |m| up(m, broken))
        .await;
    assert!(fleet.appliance(1).stats().logins >= 1);
    let logs = exp.logs();
    assert_eq!(
        events(&logs, "credentials read: polling with them", broken).len(),
        1,
        "{logs}"
    );
    assert!(!logs.contains("configuration reloaded"), "{logs}");
    assert!(!logs.contains(&password), "the password was logged");
}

/// A client key the exporter cannot read (not yet installed) fails only
/// its target, with reason `credentials` and without a connection, the
/// healthcheck included; the other target is polled. When the key
/// appears, the next poll reads it and builds the target's client, once.
/// (The simulator does not ask for a client certificate: this checks the
/// deferral, not the mutual TLS itself.)
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_tls_key_file_fails_only_its_target_until_it_can_be_read() {
    let fleet = fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let (cert, key) = TestCa::new().leaf("exporter", rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::write(dir.path().join("client.crt"), &cert).unwrap();
    // Target 1's own tls_config keeps the defaults' ca_file.
    let config = config_for(&fleet, &ca, "", |i| match i {
        0 => String::new(),
        _ => {
            "    tls_config: { cert_file: \"{dir}/client.crt\", key_file: \"{dir}/client.key\" }\n"
                .to_owned()
        }
    });
    let exp = Exporter::start_in(dir, &config, &[]);
    let dir = exp.config_path.parent().unwrap().to_owned();
    let missing = dir.join("client.key");
    let (good, broken) = (fleet.appliance(0).name(), fleet.appliance(1).name());
    let m = exp
        .wait_for(
            "one target up, the other failing for credentials",
            WAIT,
            |m| up(m, good) && errors(m, broken, "healthcheck", "credentials") > 0.0,
        )
        .await;
    assert_eq!(m.get("ivanti_up", &[("target", broken)]), Some(0.0));
    // Every collector fails, the healthcheck too: without its TLS files
    // the target has no connection to make.
    for s in m.find("ivanti_collector_success", &[("target", broken)]) {
        assert_eq!(s.value, 0.0, "{s:?}");
    }
    for s in m.find("ivanti_collector_errors_total", &[("target", broken)]) {
        assert_eq!(s.labels["reason"], "credentials", "{s:?}");
    }
    let stats = fleet.appliance(1).stats();
    assert_eq!((stats.connections, stats.requests), (0, 0), "{stats:?}");
    assert!(fleet.appliance(0).stats().requests > 0);

    let problem = format!(
        "tls_config.key_file: cannot read {}: No such file or directory (os error 2)",
        missing.display()
    );
    let (status, _, page) = exp.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("[credentials] credentials unreadable: {problem}")),
        "{page}"
    );
    let logs = exp.logs();
    let start = events(
        &logs,
        "TLS files unreadable: the target fails until they can be read (again at every poll); the other targets are polled",
        broken,
    );
    assert_eq!(start.len(), 1, "{logs}");
    assert_eq!(start[0]["level"], "WARN");
    assert_eq!(start[0]["reason"], "credentials");
    assert_eq!(start[0]["error"], problem.as_str());

    // A reload while the key is still missing is accepted, and keeps both
    // targets as they are (the same files, the same problem).
    exp.signal("HUP");
    eventually("the reload", WAIT, || {
        exp.logs().contains("configuration reloaded")
    })
    .await;
    let applied: Vec<serde_json::Value> = exp
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["msg"] == "configuration applied")
        .collect();
    assert_eq!(applied.len(), 2, "{applied:?}");
    assert_eq!(
        (&applied[1]["kept"], &applied[1]["started"]),
        (&2.into(), &0.into())
    );

    // The key appears: the next poll reads it and connects; no reload.
    std::fs::write(&missing, &key).unwrap();
    exp.wait_for("the broken target recovers", WAIT, |m| up(m, broken))
        .await;
    // Polls go on with the client built at the first read.
    let healthchecks = || {
        fleet
            .appliance(1)
            .stats()
            .by_method_path
            .get(&("GET".to_owned(), "/api/v1/system/healthcheck".to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let polls = healthchecks();
    eventually("three more healthchecks", WAIT, || {
        healthchecks() >= polls + 3
    })
    .await;
    let m = exp.metrics().await;
    // The certificate the appliance presents is recorded for the target.
    assert!(m
        .get(
            "ivanti_tls_certificate_expiry_timestamp_seconds",
            &[("target", broken)]
        )
        .is_some_and(|t| t > 0.0));
    let logs = exp.logs();
    assert_eq!(
        events(&logs, "TLS files read: connecting with them", broken).len(),
        1,
        "{logs}"
    );
    assert_eq!(logs.matches("configuration reloaded").count(), 1, "{logs}");
    let key_body = key.lines().nth(1).unwrap();
    assert!(!logs.contains(key_body), "the key was logged");
    let (_, _, text) = exp.get("/metrics").await;
    assert!(!text.contains(key_body), "the key was published");
}

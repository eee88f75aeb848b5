//! Reload (SIGHUP and POST /-/reload), a rejected reload, readiness, and
//! graceful shutdown.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn reload_adds_targets_and_rejects_bad_configs() {
    let fleet = fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let full = config_for(&fleet, &ca, "", |_| String::new());
    // Start with the first target only.
    let (a, b) = (
        fleet.appliance(0).name().to_owned(),
        fleet.appliance(1).name().to_owned(),
    );
    let first_only = full
        .split(&format!("  - name: {b}"))
        .next()
        .unwrap()
        .to_owned();
    let mut exp = Exporter::start_in(dir, &first_only, &["--web.enable-lifecycle"]);
    let (status, _, _) = exp.get("/-/ready").await;
    assert_eq!(status, 200);
    exp.wait_for("a up", WAIT, |m| up(m, &a)).await;

    // SIGHUP with both targets: b appears, a keeps its state (its counters continue).
    std::fs::write(&exp.config_path, &full).unwrap();
    exp.signal("HUP");
    let m = exp.wait_for("b up", WAIT, |m| up(m, &b) && up(m, &a)).await;
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(2.0));
    assert!(exp.logs().contains("\"kept\":1"), "unchanged target kept");

    // A broken config is rejected; the old one keeps running.
    std::fs::write(
        &exp.config_path,
        "targets:\n  - name: x\n    url: not a url\n",
    )
    .unwrap();
    let (status, body) = exp.post("/-/reload").await;
    assert_eq!(status, 500);
    assert!(body.contains("targets[0].url"), "{body}");
    let m = exp.metrics().await;
    assert_eq!(
        m.get("ivanti_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(2.0));
    // The old config keeps polling both.
    more_requests(fleet.appliance(0), 6).await;
    more_requests(fleet.appliance(1), 6).await;
    let m = exp.metrics().await;
    assert!(up(&m, &a) && up(&m, &b));

    // A good config again: removal of b via POST /-/reload.
    std::fs::write(&exp.config_path, &first_only).unwrap();
    let (status, _) = exp.post("/-/reload").await;
    assert_eq!(status, 200);
    let m = exp.metrics().await;
    assert_eq!(
        m.get("ivanti_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert!(!m.has("ivanti_up", &[("target", &b)]));

    // GET on /-/reload is not allowed.
    let (status, _, _) = exp.get("/-/reload").await;
    assert_eq!(status, 405);

    // SIGTERM: graceful exit with status 0.
    exp.signal("TERM");
    assert_eq!(exp.wait_exit(Duration::from_secs(15)), Some(0));
}

/// `simulate --write-config` in one process, the exporter on that file in another.
#[tokio::test(flavor = "multi_thread")]
async fn simulate_subcommand_writes_a_config_the_exporter_polls() {
    let dir = tempfile::tempdir().unwrap();
    let fleet_yml = dir.path().join("fleet.yml");
    let _sim = simulator(&fleet_yml, 3, &["--faults", "3=unauthorized"]).await;
    let yaml = std::fs::read_to_string(&fleet_yml).expect("config written");
    assert!(dir.path().join("fleet-ca.pem").exists());
    // Poll faster than the written 15s.
    let yaml = yaml
        .replace("interval: 15s", "interval: 1s")
        .replace("timeout: 5s", "timeout: 900ms");
    let exp = App::spawn(&yaml).await;
    let m = exp
        .wait_for("two up, one failing auth", WAIT, |m| {
            up(m, "sim-001") && up(m, "sim-002") && errors(m, "sim-003", "cluster", "auth") > 0.0
        })
        .await;
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(3.0));
}

/// `--demo`: no config, no appliance, metrics within seconds.
#[tokio::test(flavor = "multi_thread")]
async fn demo_mode_serves_metrics_within_seconds() {
    let exp = Exporter::demo(&[]);
    // First polls fall within the 5 s interval; the wait covers a loaded CI
    // machine and one retry after a failed first poll. On a timeout the
    // last scrape shows which are down.
    exp.wait_for(
        "all 8 simulated appliances up",
        Duration::from_secs(40),
        |m| {
            m.find("ivanti_up", &[])
                .iter()
                .filter(|s| s.value == 1.0)
                .count()
                == 8
        },
    )
    .await;
}

/// An in-process replica with `--shard.index i --shard.count 3`.
async fn sharded(config: &str, i: u32) -> App {
    App::spawn_with(tempfile::tempdir().unwrap(), config, |s| s.shard = (i, 3)).await
}

/// Three replicas with --shard.index 0..2 split one inventory: no overlap, no gap.
#[tokio::test(flavor = "multi_thread")]
async fn shards_split_the_inventory_without_overlap_or_gap() {
    let fleet = fleet(60).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = config_for(&fleet, &ca, "  collectors: [healthcheck]\n", |_| {
        String::new()
    });
    let mut seen = std::collections::BTreeMap::new();
    let mut exporters = Vec::new();
    for i in 0..3 {
        exporters.push(sharded(&config, i).await);
    }
    for (i, exp) in exporters.iter().enumerate() {
        let m = exp.metrics().await;
        let n = m.get("ivanti_exporter_targets", &[]).unwrap();
        assert!(
            (10.0..=30.0).contains(&n),
            "shard {i} holds {n} of 60 targets"
        );
        let m = exp
            .wait_for("every target of the shard polled", WAIT, |m| {
                m.find("ivanti_collector_success", &[]).len() as f64 == n
            })
            .await;
        for s in m.find("ivanti_collector_success", &[]) {
            let t = s.labels["target"].clone();
            assert!(
                seen.insert(t.clone(), i).is_none(),
                "{t} polled by two shards"
            );
        }
    }
    assert_eq!(seen.len(), 60, "every target polled by exactly one shard");
}

/// target_files: targets from files are picked up when a file changes,
/// unchanged targets keep their state, a broken file is reported and the
/// last good inventory stays.
#[tokio::test(flavor = "multi_thread")]
async fn target_files_are_watched_and_broken_files_rejected() {
    let fleet = fleet(3).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let entry = |i: usize| {
        let a = fleet.appliance(i);
        format!(
            "- name: {}\n  url: {}\n  labels: {{ source: file }}\n",
            a.name(),
            a.url()
        )
    };
    std::fs::create_dir(dir.path().join("targets.d")).unwrap();
    std::fs::write(dir.path().join("targets.d/a.yml"), entry(1)).unwrap();
    let main = format!(
        "defaults:\n  interval: 1s\n  timeout: 900ms\n  api_key: sim-api-key\n  collectors: [healthcheck]\n  tls_config: {{ ca_file: {} }}\ntarget_files: [\"targets.d/*.yml\"]\ntargets:\n  - name: {}\n    url: {}\n",
        ca.display(),
        fleet.appliance(0).name(),
        fleet.appliance(0).url()
    );
    let exp = Exporter::start_in(dir, &main, &[]);
    let names: Vec<String> = (0..3)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let m = exp
        .wait_for("inline and file target up", WAIT, |m| {
            up(m, &names[0]) && up(m, &names[1])
        })
        .await;
    assert!(m.has("ivanti_up", &[("target", &names[1]), ("source", "file")]));
    let polls_before = m.get(
        "ivanti_collector_last_success_timestamp_seconds",
        &[("target", &names[1])],
    );
    // A new file: its target appears without a signal.
    let tdir = exp.config_path.parent().unwrap().join("targets.d");
    std::fs::write(tdir.join("b.yml"), entry(2)).unwrap();
    let m = exp
        .wait_for("file target added", WAIT, |m| up(m, &names[2]))
        .await;
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(3.0));
    assert!(polls_before.is_some());
    // A broken file: rejected, reported, the three targets stay.
    std::fs::write(tdir.join("b.yml"), "- name: [oops\n").unwrap();
    let m = exp
        .wait_for("reload rejected", WAIT, |m| {
            m.get("ivanti_exporter_config_last_reload_successful", &[]) == Some(0.0)
        })
        .await;
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(3.0));
    assert!(
        exp.logs().contains("b.yml"),
        "the log names the broken file"
    );
    // Removing the file removes its target.
    std::fs::remove_file(tdir.join("b.yml")).unwrap();
    exp.wait_for("file target removed", WAIT, |m| {
        m.get("ivanti_exporter_targets", &[]) == Some(2.0)
            && m.get("ivanti_exporter_config_last_reload_successful", &[]) == Some(1.0)
    })
    .await;
}

/// The main configuration file is watched like `target_files`, also when it
/// is replaced the way the kubelet updates a mounted ConfigMap (a new
/// `..<version>` directory, then the `..data` symlink renamed over the old
/// one; `config.yml` itself is a symlink into `..data`): a good edit applies
/// without a signal, a broken one is rejected and the last good config stays.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn config_file_is_watched_through_a_configmap_swap() {
    let fleet = fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let names: Vec<String> = (0..2)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let config = |n: usize| {
        let mut text = format!(
            "defaults:\n  interval: 1s\n  timeout: 900ms\n  collectors: [healthcheck]\n  tls_config: {{ ca_file: {} }}\ntargets:\n",
            ca.display()
        );
        for i in 0..n {
            let a = fleet.appliance(i);
            text += &format!("  - name: {}\n    url: {}\n", a.name(), a.url());
        }
        text
    };
    let cm = dir.path().join("cm");
    std::fs::create_dir(&cm).unwrap();
    let publish = |version: &str, text: &str| {
        let data = cm.join(format!("..{version}"));
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("config.yml"), text).unwrap();
        let tmp = cm.join("..data_tmp");
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
        std::fs::rename(&tmp, cm.join("..data")).unwrap();
    };
    publish("v1", &config(1));
    std::os::unix::fs::symlink("..data/config.yml", cm.join("config.yml")).unwrap();
    let main = cm.join("config.yml");
    let app = App::spawn_with(tempfile::tempdir().unwrap(), "", move |s| {
        s.source = ivanti_exporter::daemon::SourceKind::File(main)
    })
    .await;
    app.wait_for("first target up", WAIT, |m| up(m, &names[0]))
        .await;
    // A good edit: the second target appears, no signal sent.
    publish("v2", &config(2));
    let m = app
        .wait_for("edit applied", WAIT, |m| up(m, &names[1]))
        .await;
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(2.0));
    assert_eq!(
        m.get("ivanti_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    // A broken edit: rejected, both targets stay polled.
    publish("v3", "targets: [oops\n");
    let m = app
        .wait_for("broken edit rejected", WAIT, |m| {
            m.get("ivanti_exporter_config_last_reload_successful", &[]) == Some(0.0)
        })
        .await;
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(2.0));
    assert!(up(&m, &names[0]) && up(&m, &names[1]));
}

#[test]
fn problems_in_target_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.yml"),
        "- name: x\n  url: not-a-url\n  api_key: k\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("c.yml"), "target_files: [t.yml]\n").unwrap();
    let err = ivanti_exporter::config::Config::load(&dir.path().join("c.yml")).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(
        err.problems[0].ends_with("t.yml[0].url: relative URL without a base"),
        "{err}"
    );
}

/// Issue 4's sharding test at size: 3 replicas over 3,000 appliances poll
/// each appliance exactly once per cycle, each replica within ±10 % of a third.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: 3,000 simulated appliances"]
async fn three_replicas_split_three_thousand_appliances() {
    let _turn = heavy().await;
    const N: usize = 3000;
    const INTERVAL: u64 = 10;
    let fleet = fleet(N).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = config_for(
        &fleet,
        &ca,
        // system_information: one request per poll on every box (a
        // stand-alone box's cluster is asked only hourly).
        &format!("  interval: {INTERVAL}s\n  timeout: 5s\n  collectors: [system_information]\n  collector_intervals: {{ system_information: {INTERVAL}s }}\n"),
        |_| String::new(),
    );
    let mut exporters = Vec::new();
    for i in 0..3 {
        exporters.push(sharded(&config, i).await);
    }
    let mut owner = std::collections::BTreeMap::new();
    for (i, exp) in exporters.iter().enumerate() {
        let n = exp
            .metrics()
            .await
            .get("ivanti_exporter_targets", &[])
            .unwrap();
        assert!(
            (900.0..=1100.0).contains(&n),
            "replica {i} holds {n} of {N} targets (a third ±10 %)"
        );
        let m = exp
            .wait_for(
                "every target of the replica polled",
                Duration::from_secs(90),
                |m| {
                    m.find(
                        "ivanti_collector_success",
                        &[("collector", "system_information")],
                    )
                    .len() as f64
                        == n
                },
            )
            .await;
        for s in m.find("ivanti_collector_success", &[]) {
            let t = s.labels["target"].clone();
            assert!(
                owner.insert(t.clone(), i).is_none(),
                "{t} polled by two replicas"
            );
        }
    }
    assert_eq!(
        owner.len(),
        N,
        "every appliance polled by exactly one replica"
    );
    // Steady state: over about three cycles (measured: a loaded machine
    // wakes late and reads 3,000 counters slowly), each appliance got one
    // poll per cycle (±1 for where the window cuts its phase), never more
    // from a second replica.
    let count = |i: usize| poll_requests(&fleet, i);
    let started = std::time::Instant::now();
    let before: Vec<u64> = (0..N).map(count).collect();
    let read = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3 * INTERVAL)).await;
    let again = std::time::Instant::now();
    let polls: Vec<u64> = (0..N).map(|i| count(i) - before[i]).collect();
    // Appliance i's window runs from its first read to its second: on
    // average from the middle of the first pass to the middle of the second.
    let window = Duration::from_secs_f64(
        (again - started).as_secs_f64()
            + (again.elapsed().as_secs_f64() - read.as_secs_f64()) / 2.0,
    );
    let cycles = window.as_secs_f64() / INTERVAL as f64;
    let (low, high) = (cycles.floor() as u64 - 1, cycles.ceil() as u64 + 1);
    let off: Vec<String> = polls
        .iter()
        .enumerate()
        .filter(|(_, &p)| !(low..=high).contains(&p))
        .map(|(i, p)| format!("{}: {p}", fleet.appliance(i).name()))
        .collect();
    assert!(
        off.is_empty(),
        "{} appliances not polled {cycles:.2} times in {window:?}: {:?}",
        off.len(),
        &off[..off.len().min(10)]
    );
    let total: u64 = polls.iter().sum();
    let expected = cycles * N as f64;
    assert!(
        (total as f64 - expected).abs() <= 0.02 * expected,
        "{total} polls in {cycles:.2} cycles ({window:?}) of {N} appliances, not {expected:.0}"
    );
}

/// The shard from the environment, as the sharded StatefulSet passes it:
/// `IVANTI_EXPORTER_SHARD_*`, and the old `IVANTI_SHARD_*` names still
/// honoured with a deprecation warning. The real binary, its own count of
/// targets after sharding.
#[tokio::test(flavor = "multi_thread")]
async fn shard_from_the_environment_by_new_and_old_names() {
    use std::path::Path;
    let names: Vec<String> = (0..12).map(|i| format!("t{i:02}")).collect();
    let mut config = String::from("targets:\n");
    for n in &names {
        // Nothing listens there: only the count of targets matters.
        config.push_str(&format!(
            "  - name: {n}\n    url: https://127.0.0.1:9\n    api_key: k\n"
        ));
    }
    let ours = names
        .iter()
        .filter(|n| ivanti_exporter::config::shard_of(n, 3) == 1)
        .count() as f64;
    let warning = "IVANTI_SHARD_INDEX is deprecated: use IVANTI_EXPORTER_SHARD_INDEX";
    for (prefix, deprecated) in [("IVANTI_EXPORTER_SHARD_", false), ("IVANTI_SHARD_", true)] {
        let (index, count) = (format!("{prefix}INDEX"), format!("{prefix}COUNT"));
        let env = [
            (index.as_str(), Path::new("1")),
            (count.as_str(), Path::new("3")),
        ];
        let exp = Exporter::start_in_env(tempfile::tempdir().unwrap(), &config, &[], &env);
        let m = exp.metrics().await;
        assert_eq!(
            m.get("ivanti_exporter_targets", &[]),
            Some(ours),
            "{prefix}*"
        );
        assert_eq!(exp.logs().contains(warning), deprecated, "{}", exp.logs());
    }
}

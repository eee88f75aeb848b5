//! Every validation rule has a bad config and the exact message it must
//! produce (blackbox_exporter's TestLoadBadConfigs).

use ivanti_exporter::config::{Config, Credentials, LoadOptions};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn testdata() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/testdata/config"
    ))
}

#[test]
fn bad_configs_fail_with_their_exact_messages() {
    let mut checked = 0;
    for entry in std::fs::read_dir(testdata()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("invalid-") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let exact: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# error: "))
            .collect();
        let prefixes: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# error-prefix: "))
            .collect();
        assert!(
            !exact.is_empty() || !prefixes.is_empty(),
            "{name} states no expected error"
        );
        // As check-config sees it: an unreadable credentials file is a
        // problem too (the daemon would start, failing that target).
        let err = Config::check(&path, &LoadOptions::default()).expect_err(&name);
        if !exact.is_empty() {
            assert_eq!(err.problems, exact, "{name}");
        }
        for (i, p) in prefixes.iter().enumerate() {
            let got = err
                .problems
                .get(i)
                .unwrap_or_else(|| panic!("{name}: no problem #{i}: {err}"));
            assert!(
                got.starts_with(p),
                "{name}: {got:?} should start with {p:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} bad configs found");
}

#[test]
fn defaults_merge_into_targets() {
    let c = Config::load(&testdata().join("valid-full.yml")).expect("valid");
    assert_eq!(c.global.max_concurrent_polls, 16);
    assert_eq!(c.global.stale_after, 2);
    let fra = c.target("vpn-fra-1").unwrap();
    assert_eq!(fra.client.url.as_str(), "https://vpn-fra-1.example.net/");
    assert_eq!(
        fra.labels,
        vec![("env".into(), "prod".into()), ("site".into(), "fra".into())]
    );
    assert_eq!(
        fra.credentials,
        Credentials::ApiKey(ivanti_exporter::secret::Secret::new("default-key"))
    );
    assert_eq!(fra.client.body_size_limit, 4 << 20);
    assert_eq!(
        fra.options,
        ivanti_exporter::kinds::Options::new(ivanti_exporter::kinds::ics::Options {
            page_size: 100,
            max_records: 500,
            ..Default::default()
        })
    );
    let intervals: Vec<_> = fra
        .collectors
        .iter()
        .map(|c| (c.spec.name, c.interval.as_secs()))
        .collect();
    assert_eq!(
        intervals,
        [
            ("healthcheck", 60),
            ("active_users", 60),
            ("cluster", 60),
            ("license", 600),
            ("system_information", 300)
        ]
    );
    let sin = c.target("vpn-sin-1").unwrap();
    // A target's own credentials replace the defaults' as a group.
    assert!(
        matches!(&sin.credentials, Credentials::RealmAuth { realm, username, .. } if realm == "Admin Users" && username == "monitor")
    );
    assert_eq!(sin.collectors.len(), 1);
    assert_eq!(sin.client.max_concurrent_requests, 2);
    assert_eq!(sin.client.timeout, Duration::from_secs(10));
    // Debug output of the whole config never shows a secret.
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("default-key") && !dbg.contains("\"pw\""),
        "{dbg}"
    );
}

fn check_config(path: &Path, envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .args(["check-config", "--config.file"])
        .arg(path)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `check-config --web.config.file` checks the web configuration too: a
/// file accepted with a warning, one with a refused key, one with a
/// password that is not a bcrypt hash.
#[test]
fn check_config_checks_the_web_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = |web: &str| {
        let path = dir.path().join("web.yml");
        std::fs::write(&path, web).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
            .args(["check-config", "--config.file"])
            .arg(testdata().join("valid-full.yml"))
            .arg("--web.config.file")
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, out) = run("basic_auth_users:\n  prometheus: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\nhttp_server_config:\n  http2: true\n");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("web.yml: OK\n  warning: http_server_config.http2: true ignored"),
        "{out}"
    );
    let (code, out) = run("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("web.yml: invalid web configuration"), "{out}");
    let (code, out) = run("basic_auth_users:\n  prometheus: plain-text\n");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{out}"
    );
}

#[test]
fn check_config_exit_codes_and_paths() {
    let (code, out, _) = check_config(&testdata().join("valid-full.yml"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK (2 targets"), "{out}");
    let (code, _, err) = check_config(&testdata().join("invalid-several-problems.yml"), &[]);
    assert_eq!(code, 1);
    for line in [
        "targets[0].url: scheme must be https or http, not \"ftp\"",
        "targets[1].interval: must be at least 1s",
        "targets[1].max_concurrent_requests: must be at least 1",
        "targets[1].proxy_url: unsupported scheme \"https\": an http:// proxy (HTTPS targets are tunnelled with CONNECT)",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    let (code, _, err) = check_config(Path::new("/nonexistent/ivanti.yml"), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("no such file"), "{err}");
}

#[test]
fn environment_overrides_the_file() {
    let (code, _, err) = check_config(
        &testdata().join("valid-full.yml"),
        &[("IVANTI_EXPORTER_DEFAULTS__TIMEOUT", "2m")],
    );
    assert_eq!(code, 1, "the override must apply: {err}");
    assert!(
        err.contains("targets[0].timeout: 2m is longer than the interval 1m"),
        "{err}"
    );
}

#[test]
fn invalid_config_at_start_exits_1_without_serving() {
    let out = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .arg("--config.file")
        .arg(testdata().join("invalid-relative-url.yml"))
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("targets[0].url: relative URL without a base"),
        "{err}"
    );
    assert!(!err.contains("listening"), "{err}");
}

#[test]
fn readme_example_config_is_valid() {
    // The README's configuration block, with its files created in a temp dir.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```yaml\nglobal:")
        .expect("README config block")
        + "```yaml\n".len();
    let len = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let yaml = readme[start..start + len]
        .replace("/etc/ivanti-exporter", &d)
        .replace("/run/secrets", &d);
    // A real CA certificate for ca_file.
    let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.path().join("api.key"), "key\n").unwrap();
    std::fs::write(dir.path().join("ics"), "password\n").unwrap();
    std::fs::write(dir.path().join("sps"), "password\n").unwrap();
    std::fs::write(dir.path().join("epmm"), "password\n").unwrap();
    std::fs::write(dir.path().join("isec"), "password\n").unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out, err) = check_config(&path, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn toml_is_accepted_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ivanti-exporter.toml");
    std::fs::write(
        &path,
        "[defaults]\ninterval = \"45s\"\napi_key = \"k\"\n\n[[targets]]\nname = \"vpn-1\"\nurl = \"https://vpn-1.example.net\"\nlabels = { site = \"fra\" }\n",
    )
    .unwrap();
    let c = Config::load(&path).expect("valid TOML");
    let t = c.target("vpn-1").unwrap();
    assert_eq!(t.collectors[0].interval, Duration::from_secs(45));
    assert_eq!(t.labels, vec![("site".into(), "fra".into())]);
}

#[test]
fn a_target_without_credentials_may_enable_only_unauthenticated_collectors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(
        &path,
        "targets:\n\
         - { name: vpn-1, url: \"https://vpn-1.example.net\" }\n\
         - { name: vpn-2, url: \"https://vpn-2.example.net\", collectors: [healthcheck] }\n\
         - { name: sps-1, kind: sps, url: \"https://sps-1.example.net\" }\n\
         - { name: vpn-3, url: \"https://vpn-3.example.net\", api_key: k }\n",
    )
    .unwrap();
    let (code, _, err) = check_config(&path, &[]);
    assert_eq!(code, 1, "{err}");
    for line in [
        "targets[0]: no credentials, but collectors active_users, cluster, license, system_information, license_capacity, ntp need them: set api_key or api_key_file or realm_auth, or enable only collectors that need none",
        "targets[2]: no credentials, but collectors health_status, cluster_status need them: set basic_auth, or enable only collectors that need none",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    // The healthcheck-only target and the one with a key are valid.
    assert!(!err.contains("targets[1]"), "{err}");
    assert!(!err.contains("targets[3]"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("no credentials")).count(),
        2,
        "{err}"
    );
}

/// A target's own `tls_config` refines the defaults' key by key (issue 25):
/// a `server_name` per box keeps the fleet's `ca_file`; `insecure_skip_verify`
/// is not inherited into it.
#[test]
fn a_targets_tls_config_keeps_the_defaults_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let pem = rcgen::generate_simple_self_signed(vec!["ca.example".to_owned()])
        .unwrap()
        .cert
        .pem();
    std::fs::write(dir.path().join("fleet-ca.pem"), &pem).unwrap();
    let yaml = "defaults:\n  api_key: k\n  tls_config: { ca_file: fleet-ca.pem }\ntargets:\n\
        - { name: a, url: \"https://10.0.0.1\", tls_config: { server_name: vpn-a.example.net } }\n\
        - { name: b, url: \"https://10.0.0.2\" }\n";
    let c = Config::from_yaml(yaml, dir.path()).unwrap();
    let a = &c.target("a").unwrap().client.tls;
    assert_eq!(a.server_name.as_deref(), Some("vpn-a.example.net"));
    assert_eq!(a.ca_pem.as_deref(), Some(pem.as_bytes()));
    assert!(!a.insecure_skip_verify);
    let b = &c.target("b").unwrap().client.tls;
    assert_eq!(b.ca_pem.as_deref(), Some(pem.as_bytes()));
    assert_eq!(b.server_name, None);
    let insecure =
        "defaults:\n  api_key: k\n  tls_config: { insecure_skip_verify: true }\ntargets:\n\
        - { name: a, url: \"https://10.0.0.1\", tls_config: { server_name: vpn-a.example.net } }\n";
    let c = Config::from_yaml(insecure, dir.path()).unwrap();
    assert!(!c.target("a").unwrap().client.tls.insecure_skip_verify);
}

/// `check-config` run as the service (issue 25): the credentials the
/// service gets from systemd (`/run/credentials/<unit>/NAME`, or
/// `${CREDENTIALS_DIRECTORY}/NAME`) are looked for in
/// `--credentials-directory` (or `$CREDENTIALS_DIRECTORY`, as inside
/// `systemd-run -p LoadCredential=...`); without it, the line says what
/// is missing and what the service does about it.
#[test]
fn check_config_looks_for_credentials_as_the_service_will() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ivanti-exporter.yml");
    std::fs::write(
        &config,
        concat!(
            "targets:\n",
            "  - name: a\n",
            "    url: https://vpn-a.example.net\n",
            "    api_key_file: /run/credentials/ivanti-exporter.service/api.key\n",
            "  - name: b\n",
            "    url: https://vpn-b.example.net\n",
            "    realm_auth: { realm: Admin Users, username: monitor, password_file: \"${CREDENTIALS_DIRECTORY}/pw\" }\n",
            "  - name: c\n",
            "    url: https://vpn-c.example.net\n",
            "    api_key: k\n",
            "    tls_config:\n",
            "      cert_file: /run/credentials/ivanti-exporter.service/client.crt\n",
            "      key_file: \"${CREDENTIALS_DIRECTORY}/client.key\"\n",
        ),
    )
    .unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("api.key"), "k\n").unwrap();
    std::fs::write(creds.join("pw"), "p\n").unwrap();
    let (cert, key) =
        crate::helpers::TestCa::new().leaf("exporter", rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::write(creds.join("client.crt"), cert).unwrap();
    std::fs::write(creds.join("client.key"), key).unwrap();
    let run = |args: &[&str], env: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"));
        cmd.args(["check-config", "--config.file"])
            .arg(&config)
            .args(args)
            .env_remove("CREDENTIALS_DIRECTORY");
        if let Some(d) = env {
            cmd.env("CREDENTIALS_DIRECTORY", d);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // Outside the service: neither is there.
    let (code, out) = run(&[], None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("  targets[0].api_key_file: cannot read /run/credentials/ivanti-exporter.service/api.key: No such file or directory (os error 2) (the exporter starts; the targets using it fail with reason credentials until it can be read)\n"),
        "{out}"
    );
    assert!(
        out.contains("  targets[1].realm_auth.password_file: ${CREDENTIALS_DIRECTORY}/pw: $CREDENTIALS_DIRECTORY is not set (systemd sets it for a service with LoadCredential=; check-config --credentials-directory DIR)"),
        "{out}"
    );
    // TLS files as credentials files: the same words, the same lookup.
    assert!(
        out.contains("  targets[2].tls_config.cert_file: cannot read /run/credentials/ivanti-exporter.service/client.crt: No such file or directory (os error 2) (the exporter starts; the targets using it fail with reason credentials until it can be read)\n"),
        "{out}"
    );
    assert!(
        out.contains("  targets[2].tls_config.key_file: ${CREDENTIALS_DIRECTORY}/client.key: $CREDENTIALS_DIRECTORY is not set"),
        "{out}"
    );
    // As the service: all resolve to the directory.
    let (code, out) = run(&["--credentials-directory", creds.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ivanti-exporter.yml: OK (3 targets"), "{out}");
    // The same from the environment systemd gives a service.
    let (code, out) = run(&[], Some(&creds));
    assert_eq!(code, 0, "{out}");
    // A credential the directory lacks is named with its path there.
    std::fs::remove_file(creds.join("pw")).unwrap();
    let (code, out) = run(&["--credentials-directory", creds.to_str().unwrap()], None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "  targets[1].realm_auth.password_file: cannot read {}: No such file or directory (os error 2)",
            creds.join("pw").display()
        )),
        "{out}"
    );
    std::fs::remove_file(creds.join("client.key")).unwrap();
    let (code, out) = run(&["--credentials-directory", creds.to_str().unwrap()], None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "  targets[2].tls_config.key_file: cannot read {}: No such file or directory (os error 2) (the exporter starts; the targets using it fail with reason credentials until it can be read)",
            creds.join("client.key").display()
        )),
        "{out}"
    );
}

/// A key file of root's at mode 0400 passes `sudo check-config` but is
/// unreadable by the packaged unit's `DynamicUser` (issue 25): as root,
/// check-config says so; as another user it has nothing to say (what it
/// read, its user can read).
#[test]
fn check_config_as_root_warns_about_files_the_service_cannot_read() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("api.key");
    std::fs::write(&key, "k\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    let config = dir.path().join("c.yml");
    std::fs::write(
        &config,
        "targets:\n  - { name: a, url: \"https://vpn-a.example.net\", api_key_file: api.key }\n",
    )
    .unwrap();
    let (code, out, _) = check_config(&config, &[]);
    assert_eq!(code, 0, "{out}");
    let warning = format!(
        "  warning: targets[0].api_key_file: {} is root's (mode 0400): readable by check-config as root, not by the service's DynamicUser, which will see \"Permission denied\"",
        key.display()
    );
    // The file is ours: its owner is the user running the test.
    if std::fs::metadata(&key).unwrap().uid() == 0 {
        assert!(out.contains(&warning), "{out}");
    } else {
        assert!(!out.contains("warning:"), "{out}");
    }
    // Readable by others: no warning either way.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (code, out, _) = check_config(&config, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning:"), "{out}");
}

/// `check-config` lists every problem of a file, not the first one serde
/// meets (issue 25 item 11): a duration without unit (with the fix), a
/// second one, an unknown key, a bad target in a `target_files` file, and
/// the problems of the targets that decode; a relative path is shown
/// resolved against the config file's directory, also when the config
/// file itself is given relative to the working directory.
#[test]
fn check_config_reports_every_problem_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("targets.d")).unwrap();
    std::fs::write(
        etc.join("ivanti-exporter.yml"),
        concat!(
            "defaults:\n",
            "  interval: 30\n",
            "  timeout: 5\n",
            "  lables: { site: fra }\n",
            "  api_key: k\n",
            "target_files: [targets.d/*.yml]\n",
            "targets:\n",
            "  - name: vpn-a\n",
            "    url: https://vpn-a.example.net\n",
            "    tls_config: { ca_file: certs/ca.pem }\n",
            "  - name: vpn-b\n",
            "    url: https://vpn-b.example.net\n",
            "    max_concurrent_requests: many\n",
        ),
    )
    .unwrap();
    std::fs::write(
        etc.join("targets.d/more.yml"),
        "- { name: vpn-c, url: \"https://vpn-c.example.net\", body_size_limit: 8XB, proxy_url: \"https://proxy:3128\" }\n\
         - { name: vpn-d, url: \"gopher://vpn-d.example.net\" }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .current_dir(dir.path())
        .args(["check-config", "--config.file", "etc/ivanti-exporter.yml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let more = etc.join("targets.d/more.yml");
    let expected = [
        "etc/ivanti-exporter.yml: invalid configuration".to_owned(),
        "  defaults.interval: invalid type: found unsigned int `30`, expected a duration: a duration needs a unit, e.g. 30s (or 30ms, 30m) (in etc/ivanti-exporter.yml)".to_owned(),
        "  defaults.lables: unknown field \"lables\", did you mean \"labels\"? (known: interval, timeout, collectors, collector_intervals, tls_config, api_key, api_key_file, realm_auth, basic_auth, kerberos, kind_options, proxy_url, max_concurrent_requests, body_size_limit, active_users, labels) (in etc/ivanti-exporter.yml)".to_owned(),
        "  defaults.timeout: invalid type: found unsigned int `5`, expected a duration: a duration needs a unit, e.g. 5s (or 5ms, 5m) (in etc/ivanti-exporter.yml)".to_owned(),
        "  targets[1].max_concurrent_requests: invalid type: found string \"many\", expected usize (in etc/ivanti-exporter.yml)".to_owned(),
        format!("  {}[0].body_size_limit: invalid size unit \"XB\" in \"8XB\": use B, KiB, MiB or GiB", more.display()),
        // Then validation of what decoded, in target order.
        format!("  {}[0].proxy_url: unsupported scheme \"https\": an http:// proxy (HTTPS targets are tunnelled with CONNECT)", more.display()),
        format!("  {}[1].url: scheme must be https or http, not \"gopher\"", more.display()),
        // Last, files that cannot be read (alone, they fail only their targets).
        format!("  targets[0].tls_config.ca_file: cannot read {}: No such file or directory (os error 2)", etc.join("certs/ca.pem").display()),
    ];
    let got: Vec<&str> = err.lines().collect();
    assert_eq!(got, expected, "{err}");
}

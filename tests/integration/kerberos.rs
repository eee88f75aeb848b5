//! Kerberos for Security Controls against a real MIT KDC (Debian's
//! `krb5-kdc`): a throw-away realm `SIM.TEST` on 127.0.0.1, the exporter's
//! principal `monitor@SIM.TEST` (pre-authentication required, as Active
//! Directory does), and the console's `HTTP/127.0.0.1` key in a keytab
//! that the simulated console accepts tickets with.

use crate::helpers::*;
use ivanti_exporter::sim::{Fault, Fleet, FleetOptions, SimKerberos, SimKind};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REALM: &str = "SIM.TEST";
const PASSWORD: &str = "krb-Passw0rd!";
const SPN: &str = "HTTP/127.0.0.1@SIM.TEST";
const WAIT: Duration = Duration::from_secs(40);

/// `/usr/sbin/<name>` (not always on a user's PATH), else the PATH's.
fn sbin(name: &str) -> PathBuf {
    let p = Path::new("/usr/sbin").join(name);
    if p.exists() {
        p
    } else {
        PathBuf::from(name)
    }
}

/// A realm with one KDC (more with [`Kdc::spawn`]), each a `krb5kdc -n`
/// in the foreground under a [`ChildGuard`]: stopped when the test ends.
struct Kdc {
    dir: tempfile::TempDir,
    port: u16,
    children: Vec<ChildGuard>,
}

impl Kdc {
    /// `None` (skipped) when the MIT KDC is not installed, unless
    /// `IVANTI_TEST_REQUIRE_TOOLS` is set (then it panics).
    fn start() -> Option<Kdc> {
        let mut installed = Command::new("test");
        installed
            .arg("-x")
            .arg(sbin("krb5kdc"))
            .arg("-a")
            .arg("-x")
            .arg(sbin("kadmin.local"));
        if !tool_available(
            "the MIT KDC (apt install krb5-kdc krb5-admin-server)",
            &mut installed,
        ) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut kdc = Kdc {
            port: free_port(),
            dir,
            children: Vec::new(),
        };
        kdc.write_profile("kdc.conf", kdc.port, "kdc.log");
        let d = kdc.dir.path().to_owned();
        std::fs::write(
            d.join("krb5.conf"),
            format!(
                "[libdefaults]\n  default_realm = {REALM}\n  dns_lookup_kdc = false\n\
                 [realms]\n  {REALM} = {{\n    kdc = 127.0.0.1:{}\n  }}\n",
                kdc.port
            ),
        )
        .unwrap();
        kdc.run(Command::new(sbin("kdb5_util")).args([
            "create",
            "-s",
            "-r",
            REALM,
            "-P",
            "master-Passw0rd",
        ]));
        kdc.kadmin(&format!(
            "addprinc -pw {PASSWORD} +requires_preauth monitor"
        ));
        kdc.kadmin("addprinc -randkey HTTP/127.0.0.1");
        kdc.kadmin(&format!(
            "ktadd -k {} HTTP/127.0.0.1",
            d.join("http.keytab").display()
        ));
        let port = kdc.port;
        kdc.spawn("kdc.conf", port, 0);
        Some(kdc)
    }

    fn write_profile(&self, name: &str, port: u16, log: &str) {
        self.write_profile_with(name, port, log, "");
    }

    /// A KDC profile; `extra` is prepended (e.g. a `[libdefaults]` section).
    fn write_profile_with(&self, name: &str, port: u16, log: &str, extra: &str) {
        let d = self.dir.path();
        std::fs::write(
            d.join(name),
            format!(
                "{extra}[kdcdefaults]\n  kdc_ports = {port}\n  kdc_tcp_ports = {port}\n\
                 [realms]\n  {REALM} = {{\n    database_name = {db}\n    key_stash_file = {stash}\n\
                 \x20   max_life = 10h\n    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n  }}\n\
                 [logging]\n  kdc = FILE:{log}\n",
                db = d.join("principal").display(),
                stash = d.join("stash").display(),
                log = d.join(log).display(),
            ),
        )
        .unwrap();
    }

    fn env(&self, c: &mut Command, profile: &str) {
        c.env("KRB5_CONFIG", self.dir.path().join("krb5.conf"))
            .env("KRB5_KDC_PROFILE", self.dir.path().join(profile));
    }

    fn run(&self, c: &mut Command) {
        self.env(c, "kdc.conf");
        let out = c.output().expect("run a krb5 tool");
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn kadmin(&self, query: &str) {
        self.run(Command::new(sbin("kadmin.local")).args(["-q", query]));
    }

    /// Another KDC of the realm on `port` (its own profile), its clock
    /// `offset` seconds off (`krb5kdc -T`, MIT's option for tests); returns
    /// when it accepts TCP. Not under `faketime`: that forks the KDC and
    /// waits for it, so killing it left the KDC running (issue 26).
    fn spawn(&mut self, profile: &str, port: u16, offset: i64) {
        let mut c = Command::new(sbin("krb5kdc"));
        c.arg("-n").stdout(Stdio::null()).stderr(Stdio::null());
        if offset != 0 {
            c.args(["-T", &offset.to_string()]);
        }
        self.env(&mut c, profile);
        self.children.push(ChildGuard::spawn(&mut c));
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "krb5kdc on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A KDC whose clock is `offset` seconds off, accepting clients within
    /// `tolerance` seconds (`clockskew`, MIT's default 300); its port.
    fn skewed(&mut self, name: &str, offset: i64, tolerance: u32) -> u16 {
        let port = free_port();
        let profile = format!("{name}.conf");
        let extra = format!("[libdefaults]\n  clockskew = {tolerance}\n");
        self.write_profile_with(&profile, port, &format!("{name}.log"), &extra);
        self.spawn(&profile, port, offset);
        port
    }

    fn keytab(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("http.keytab")).unwrap()
    }

    fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// Tickets the KDC issued for `service` (from its log: `AS_REQ` for
    /// `krbtgt/...`, `TGS_REQ` for `HTTP/...`).
    fn issued(&self, request: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("kdc.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(request) && l.contains(": ISSUE:"))
            .count()
    }
}

async fn isec_fleet(n: usize) -> Fleet {
    init();
    Fleet::start(FleetOptions {
        appliances: n,
        kinds: vec![SimKind::Isec; n],
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// The fleet's config with the `basic_auth` of the consoles in `kerberos`
/// (index -> the `kerberos:` block) replaced.
fn config(fleet: &Fleet, dir: &Path, kerberos: &[(usize, String)]) -> String {
    let ca = write_ca(fleet, dir);
    let mut yaml = fleet
        .config_yaml(Some(&ca), Duration::from_secs(2))
        .replace(
            "defaults:\n",
            "global:\n  stale_after: 3\ndefaults:\n  collector_intervals: { console: 2s, inventory: 2s }\n",
        )
        // Each KDC gets a third of it: room for a loaded CI machine.
        .replace("timeout: 2s", "timeout: 1800ms");
    for (i, block) in kerberos {
        let name = fleet.appliance(*i).name();
        let at = yaml.find(&format!("name: {name}\n")).expect("target");
        let start = at + yaml[at..].find("    basic_auth:").expect("basic_auth");
        let end = start + yaml[start..].find('\n').unwrap() + 1;
        yaml.replace_range(start..end, &format!("    kerberos: {block}\n"));
    }
    yaml
}

fn kerberos_console(fleet: &Fleet, i: usize, kdc: &Kdc) {
    let k = SimKerberos::from_keytab(&kdc.keytab(), SPN).expect("console keytab");
    fleet.appliance(i).set_kerberos(Some(k.without_ntlm()));
}

/// Drop every connection to console `i` and let it come back, so the next
/// poll authenticates on a new connection.
async fn reconnect(exp: &Exporter, fleet: &Fleet, i: usize) {
    let name = fleet.appliance(i).name().to_owned();
    fleet.appliance(i).set_fault(Fault::Refuse);
    exp.wait_for("console down", WAIT, |m| !up(m, &name)).await;
    fleet.appliance(i).set_fault(Fault::None);
    exp.wait_for("console up", WAIT, |m| up(m, &name)).await;
}

fn up(m: &Metrics, target: &str) -> bool {
    m.get("ivanti_up", &[("target", target)]) == Some(1.0)
}

fn errors(m: &Metrics, target: &str, reason: &str) -> f64 {
    m.get(
        "ivanti_collector_errors_total",
        &[
            ("target", target),
            ("collector", "console"),
            ("reason", reason),
        ],
    )
    .unwrap_or(0.0)
}

/// One AS and one TGS exchange serve every handshake of the ticket's
/// lifetime, on new connections too; a console beside it keeps NTLM.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: a real MIT KDC (krb5kdc)"]
async fn kerberos_reuses_one_ticket_across_connections_and_ntlm_keeps_working() {
    let Some(kdc) = Kdc::start() else { return };
    let fleet = isec_fleet(2).await;
    kerberos_console(&fleet, 0, &kdc);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("krb-password"), format!("{PASSWORD}\n")).unwrap();
    // The KDC from krb5.conf ($KRB5_CONFIG), the service principal by default.
    let block = format!("{{ principal: monitor@{REALM}, password_file: krb-password }}");
    let yaml = config(&fleet, dir.path(), &[(0, block)]);
    let conf = kdc.krb5_conf();
    let exp = Exporter::start_in_env(dir, &yaml, &[], &[("KRB5_CONFIG", &conf)]);
    let (krb, ntlm) = (
        fleet.appliance(0).name().to_owned(),
        fleet.appliance(1).name().to_owned(),
    );
    exp.wait_for("both consoles up", WAIT, |m| up(m, &krb) && up(m, &ntlm))
        .await;
    let logins = fleet.appliance(0).stats().logins;
    reconnect(&exp, &fleet, 0).await;
    reconnect(&exp, &fleet, 0).await;
    let handshakes = fleet.appliance(0).stats().logins;
    assert!(
        handshakes >= logins + 2,
        "{logins} then {handshakes} Kerberos handshakes"
    );
    assert_eq!(
        kdc.issued("AS_REQ"),
        1,
        "TGTs issued for {handshakes} handshakes"
    );
    assert_eq!(
        kdc.issued("TGS_REQ"),
        1,
        "service tickets issued for {handshakes} handshakes"
    );
    let m = exp.metrics().await;
    assert!(m.get("ivanti_isec_machines", &[("target", &krb)]) == Some(2345.0));
    for reason in ["auth", "clock_skew", "ticket_expired", "kdc_unreachable"] {
        assert_eq!(errors(&m, &krb, reason), 0.0, "{reason}");
        assert_eq!(errors(&m, &ntlm, reason), 0.0, "{reason}");
    }
    assert!(
        fleet.appliance(1).stats().logins >= 1,
        "NTLM console authenticated"
    );
    assert!(!exp.logs().contains(PASSWORD), "password in the log");
}

/// The exporter's principal with its keys in a keytab (as `ktpass` or
/// `ktutil` make it) instead of a password.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: a real MIT KDC (krb5kdc)"]
async fn a_keytab_logs_in_without_a_password() {
    let Some(kdc) = Kdc::start() else { return };
    kdc.kadmin("addprinc -randkey +requires_preauth svc-keytab");
    let dir = tempfile::tempdir().unwrap();
    let keytab = dir.path().join("svc.keytab");
    kdc.kadmin(&format!("ktadd -k {} svc-keytab", keytab.display()));
    let fleet = isec_fleet(1).await;
    kerberos_console(&fleet, 0, &kdc);
    let block = format!(
        "{{ principal: svc-keytab@{REALM}, keytab_file: svc.keytab, kdc: [127.0.0.1:{}] }}",
        kdc.port
    );
    let yaml = config(&fleet, dir.path(), &[(0, block)]);
    let exp = Exporter::start_in(dir, &yaml, &[]);
    let name = fleet.appliance(0).name().to_owned();
    exp.wait_for("console up", WAIT, |m| up(m, &name)).await;
    let log = std::fs::read_to_string(kdc.dir.path().join("kdc.log")).unwrap();
    let issued = |what: &str| {
        log.lines()
            .filter(|l| l.contains(": ISSUE:") && l.contains(what))
            .count()
    };
    assert_eq!(
        issued("svc-keytab@SIM.TEST for krbtgt/SIM.TEST@SIM.TEST"),
        1
    );
    assert_eq!(issued("svc-keytab@SIM.TEST for HTTP/127.0.0.1@SIM.TEST"), 1);
}

/// A ticket that has expired is replaced on the next handshake, without
/// an error: the console's ticket lives 20 s (`maxlife` of its principal).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: a real MIT KDC (krb5kdc) and a ticket that lives 20 s"]
async fn an_expired_ticket_is_replaced_without_an_error() {
    let Some(kdc) = Kdc::start() else { return };
    kdc.kadmin("modprinc -maxlife \"20 seconds\" HTTP/127.0.0.1");
    let fleet = isec_fleet(1).await;
    kerberos_console(&fleet, 0, &kdc);
    let dir = tempfile::tempdir().unwrap();
    let block = format!(
        "{{ principal: monitor@{REALM}, password: {PASSWORD:?}, kdc: [127.0.0.1:{}] }}",
        kdc.port
    );
    let yaml = config(&fleet, dir.path(), &[(0, block)]);
    let exp = Exporter::start_in(dir, &yaml, &[]);
    let name = fleet.appliance(0).name().to_owned();
    exp.wait_for("console up", WAIT, |m| up(m, &name)).await;
    reconnect(&exp, &fleet, 0).await;
    assert_eq!(kdc.issued("TGS_REQ"), 1, "one ticket within its lifetime");
    // New connections until the ticket has expired (20 s after it was
    // issued): each reuses it until then, and the one after gets a new one.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        reconnect(&exp, &fleet, 0).await;
        match kdc.issued("TGS_REQ") {
            1 => assert!(Instant::now() < deadline, "the ticket never expired"),
            2 => break,
            n => panic!("{n} tickets: one per lifetime expected"),
        }
    }
    let m = exp.metrics().await;
    for reason in ["auth", "ticket_expired", "clock_skew"] {
        assert_eq!(errors(&m, &name, reason), 0.0, "{reason}");
    }
}

/// Wrong password, a KDC that refuses, one that accepts and never answers,
/// one whose clock is 15 minutes ahead, and one 8 minutes behind with a
/// 15-minute tolerance, whose 60-second tickets have expired by the
/// console's clock when they arrive: each its own `reason`, the console
/// down, and a log line that says why.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: real MIT KDCs (krb5kdc), two with clocks off"]
async fn kerberos_failures_have_their_reason() {
    let Some(mut kdc) = Kdc::start() else { return };
    kdc.kadmin("modprinc -maxlife \"60 seconds\" HTTP/127.0.0.1");
    let skewed = kdc.skewed("ahead", 15 * 60, 300);
    let lagging = kdc.skewed("behind", -8 * 60, 900);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming() {
            held.push(s);
        }
    });
    let fleet = isec_fleet(5).await;
    for i in 0..5 {
        kerberos_console(&fleet, i, &kdc);
    }
    let block = |password: &str, port: u16| {
        format!("{{ principal: monitor@{REALM}, password: {password:?}, kdc: [127.0.0.1:{port}] }}")
    };
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(
        &fleet,
        dir.path(),
        &[
            (0, block("wrong-password", kdc.port)),
            (1, block(PASSWORD, free_port())),
            (2, block(PASSWORD, silent_port)),
            (3, block(PASSWORD, skewed)),
            (4, block(PASSWORD, lagging)),
        ],
    );
    let exp = Exporter::start_in(dir, &yaml, &[]);
    let names: Vec<String> = (0..5)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let expected = ["auth", "kdc_unreachable", "kdc_unreachable", "clock_skew"];
    let m = exp
        .wait_for("each failure counted", WAIT, |m| {
            names
                .iter()
                .zip(expected)
                .all(|(n, r)| errors(m, n, r) > 0.0)
        })
        .await;
    for (n, r) in names.iter().zip(expected) {
        assert!(!up(&m, n), "{n} is up");
        for other in ["auth", "kdc_unreachable", "clock_skew", "ticket_expired"] {
            if other != r {
                assert_eq!(errors(&m, n, other), 0.0, "{n}: {other} besides {r}");
            }
        }
    }
    let logs = exp.logs();
    for line in [
        "wrong password (pre-authentication failed)",
        "Connection refused",
        "no answer within 600ms",
        "KRB_AP_ERR_SKEW",
        "a new ticket was refused as expired too",
    ] {
        assert!(logs.contains(line), "no log line with {line:?}:\n{logs}");
    }
    assert!(
        !logs.contains(PASSWORD) && !logs.contains("wrong-password"),
        "a password in the log"
    );
    assert_eq!(fleet.appliance(0).stats().logins, 0);
    // The collectors that started together share one attempt (one
    // PREAUTH_FAILED at the KDC for each failure the exporter logs), and the
    // backoff it announces (5 s, doubling) holds the next: no lockout.
    let kdc_log = kdc.dir.path().join("kdc.log");
    let wrong = || {
        std::fs::read_to_string(&kdc_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("PREAUTH_FAILED"))
            .count()
    };
    eventually("each failed attempt logged by both", WAIT, || {
        let n = events(&exp.logs(), "Windows authentication failed", &names[0]).len();
        n >= 1 && n == wrong()
    })
    .await;
    let failed = events(&exp.logs(), "Windows authentication failed", &names[0]);
    assert_eq!(retry_in(&failed[0]), Duration::from_secs(5));
    assert_spaced(&failed, |_, before| retry_in(before));
}

//! Shared test harness: run the exporter against a real (simulated) HTTPS
//! fleet on loopback and scrape it, either in-process ([`App`], the daemon
//! on this test's runtime) or as the real binary ([`Exporter`], for tests
//! of logs, signals, exit codes and the process's `/proc`). Both scrape
//! through [`Scrape`]. Set `TEST_LOG=1` to see the exporter's log lines.
//! Every process a test starts goes through [`ChildGuard`], which stops it
//! (and whatever it forked) when the test ends, however it ends; and if the
//! test process itself is killed (SIGKILL, a CI timeout), so that no
//! `Drop` runs, the kernel kills it ([`dies_with_this_process`]).

use ivanti_exporter::daemon::{Daemon, Settings, SourceKind};
use ivanti_exporter::sim::{Fleet, FleetOptions};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The environment variable that marks every process of one test run.
pub const RUN_VAR: &str = "IVANTI_TEST_RUN";
/// The environment variable that marks the processes of one [`ChildGuard`].
pub const GUARD_VAR: &str = "IVANTI_TEST_DAEMON";
/// When set, every [`ChildGuard::spawn`] appends `<pid> <program>` to this file.
pub const SPAWN_LOG_VAR: &str = "IVANTI_TEST_SPAWN_LOG";

/// This run's mark: `$IVANTI_TEST_RUN` when the caller set one (`.ci/run`
/// does, to find leftovers afterwards), else one made up per test process.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        std::env::var(RUN_VAR).unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!("{}-{nanos}", std::process::id())
        })
    })
}

/// Live processes (not zombies, not this one) whose environment has
/// `var=value`, as (pid, command line). Reads `/proc/*/environ`.
pub fn marked(var: &str, value: &str) -> Vec<(u32, String)> {
    let needle = format!("{var}={value}");
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if state == Some("Z") || state == Some("X") {
            continue;
        }
        let cmd = std::fs::read(entry.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        found.push((pid, cmd.trim().to_owned()));
    }
    found
}

/// SIGKILL to `pid`, or to process group `pid` with `group`.
pub fn kill9(pid: u32, group: bool) {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let _ = Command::new("kill")
        .args(["-KILL", "--", &target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `cmd`'s process is sent SIGKILL by the kernel when its parent goes away
/// (`prctl(PR_SET_PDEATHSIG)`, Linux): when this test process is killed by
/// a signal and no `Drop` runs, the process goes with it instead of
/// lingering until `.ci/run`'s scan finds it.
///
/// The kernel sends the signal when the *thread* that forked the process
/// exits, not the whole process (prctl(2)): the calling thread must outlive
/// the child. It does when the caller waits for it (`output()`,
/// `status()`); a process that outlives the call goes through
/// [`ChildGuard::spawn`], which forks from one thread that lives as long
/// as the test process. As prctl(2) advises, the child checks after the
/// `prctl` that its parent is still this process (it may have died between
/// the fork and the `prctl`, and then no signal would ever come), and exits
/// if not.
#[allow(unsafe_code)]
pub fn dies_with_this_process(cmd: &mut Command) -> &mut Command {
    let parent = std::process::id();
    // SAFETY: between fork and exec the hook makes only async-signal-safe
    // system calls (prctl, getppid, _exit) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let sig = libc::SIGKILL as libc::c_ulong;
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::_exit(1);
            }
            Ok(())
        })
    }
}

/// Spawn `cmd` from the one thread that lives as long as this process
/// (see [`dies_with_this_process`]): the test threads, tokio's workers and
/// its blocking-pool threads (which end after 10 s idle) all come and go
/// while the processes they start must live on.
fn spawn_from_lasting_thread(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    // Never dropped, so the thread's loop never ends.
    static SPAWNER: OnceLock<std::sync::mpsc::Sender<Job>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("child-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the spawner thread");
        tx
    });
    let (reply, answer) = std::sync::mpsc::channel();
    spawner.send((cmd, reply)).expect("spawner thread alive");
    answer.recv().expect("spawner thread answers")
}

/// A process a test started (a KDC, Prometheus, Alertmanager, Chromium, the
/// exporter binary, a simulator): the leader of its own process group, its
/// environment marked with [`RUN_VAR`] and a [`GUARD_VAR`] of its own. On
/// drop (the test passed, failed or panicked) it kills the whole group and
/// any process that still carries its mark (one that left the group), then
/// reaps the child: nothing it started outlives the test. If the test
/// process is killed before any drop runs, the kernel kills the process
/// ([`dies_with_this_process`]).
pub struct ChildGuard {
    child: Child,
    mark: String,
}

impl ChildGuard {
    /// Start `cmd` (it is taken: `cmd` is left a bare command of the same program).
    pub fn spawn(cmd: &mut Command) -> ChildGuard {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // The pid too: a test process started by a test (with the same run
        // mark) numbers its guards from 0 as well.
        let mark = format!(
            "{}.{}.{}",
            run_id(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let program = cmd.get_program().to_owned();
        dies_with_this_process(
            cmd.env(RUN_VAR, run_id())
                .env(GUARD_VAR, &mark)
                .process_group(0),
        );
        let cmd = std::mem::replace(cmd, Command::new(&program));
        let child =
            spawn_from_lasting_thread(cmd).unwrap_or_else(|e| panic!("start {program:?}: {e}"));
        if let Some(log) = std::env::var_os(SPAWN_LOG_VAR) {
            use std::io::Write;
            let program = Path::new(&program)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let line = format!("{} {program}\n", child.id());
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }
        ChildGuard { child, mark }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// This guard's [`GUARD_VAR`] value.
    pub fn mark(&self) -> &str {
        &self.mark
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status, if it exited within `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its stdout and stderr (piped by the caller) once it exits, or once
    /// `timeout` has passed and it was killed.
    pub fn output_within(mut self, timeout: Duration) -> Output {
        fn drain(
            pipe: Option<impl std::io::Read + Send + 'static>,
        ) -> std::thread::JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        }
        let out = drain(self.child.stdout.take());
        let err = drain(self.child.stderr.take());
        let status = self.wait_timeout(timeout);
        // Whatever it forked holds the pipes open: end the group first.
        self.stop();
        let status = status.unwrap_or_else(|| self.child.wait().expect("reap"));
        Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }

    fn stop(&mut self) {
        // Only while it is unreaped (running, or a zombie) is its pid, and
        // so its group id, surely still ours; once reaped, what is left of
        // the group is found by its mark below.
        if let Ok(None) = self.child.try_wait() {
            kill9(self.child.id(), true);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = marked(GUARD_VAR, &self.mark);
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                eprintln!("processes of {} survive SIGKILL: {left:?}", self.mark);
                return;
            }
            for (pid, _) in left {
                kill9(pid, false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running exporter process.
pub struct Exporter {
    child: ChildGuard,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Keeps the config directory alive as long as the process.
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
    http: Http,
}

/// The HTTP side shared by [`Exporter`] and [`App`]: where the exporter
/// listens and a client without proxies.
pub struct Http {
    pub addr: SocketAddr,
    client: reqwest::Client,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        }
    }
}

/// Scraping a running exporter, in-process or spawned.
#[allow(async_fn_in_trait)]
pub trait Scrape {
    fn http(&self) -> &Http;

    /// The exporter's log so far (what failure messages show).
    fn logs(&self) -> String;

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http().addr, path)
    }

    async fn get(&self, path: &str) -> (u16, String, String) {
        self.get_accept(path, None).await
    }

    /// GET with an optional Accept header: (status, content type, body).
    async fn get_accept(&self, path: &str, accept: Option<&str>) -> (u16, String, String) {
        let send = || {
            let mut req = self.http().client.get(self.url(path));
            if let Some(a) = accept {
                req = req.header("accept", a);
            }
            req.send()
        };
        // A GET is idempotent: one retry when a kept-alive connection was
        // closed under it (what a scraper's next attempt would do too).
        let resp = match send().await {
            Ok(r) => r,
            Err(e) if e.is_request() || e.is_connect() => send().await.expect("exporter answers"),
            Err(e) => panic!("exporter answers: {e}"),
        };
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, resp.text().await.expect("body"))
    }

    async fn post(&self, path: &str) -> (u16, String) {
        let resp = self
            .http()
            .client
            .post(self.url(path))
            .send()
            .await
            .expect("exporter answers");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    async fn metrics(&self) -> Metrics {
        let (status, _, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        Metrics::parse(&body)
    }

    /// Scrape until `cond` holds (or panic after `timeout` with the last scrape and the log).
    async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let start = Instant::now();
        loop {
            let m = self.metrics().await;
            if cond(&m) {
                return m;
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out waiting for {what}\n--- last scrape ---\n{}\n--- log ---\n{}",
                    m.text,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The daemon in-process (zero-to-production's `spawn_app`): built on
/// 127.0.0.1:0 from a config file in a temp dir, served on a task of the
/// test's runtime, shut down when dropped. Its logs are not captured per
/// test (one process); `TEST_LOG=1` prints every in-process daemon's.
pub struct App {
    pub addr: SocketAddr,
    http: Http,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Keeps the config directory alive as long as the daemon.
    _dir: tempfile::TempDir,
}

impl App {
    /// The daemon on `config` (`{dir}` replaced as for [`Exporter::start`]).
    pub async fn spawn(config: &str) -> App {
        App::spawn_in(tempfile::tempdir().expect("tempdir"), config).await
    }

    pub async fn spawn_in(dir: tempfile::TempDir, config: &str) -> App {
        App::spawn_with(dir, config, |_| {}).await
    }

    /// As [`App::spawn_in`], `tweak` adjusting the settings (shard, web config...).
    pub async fn spawn_with(
        dir: tempfile::TempDir,
        config: &str,
        tweak: impl FnOnce(&mut Settings),
    ) -> App {
        init();
        ivanti_exporter::system::raise_fd_limit();
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_writer(std::io::stderr)
                .try_init();
        }
        let config_path = dir.path().join("config.yml");
        let config = config.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(&config_path, config).expect("write config");
        let mut settings = Settings::new(
            "127.0.0.1:0".parse().unwrap(),
            SourceKind::File(config_path),
        );
        tweak(&mut settings);
        let daemon = Daemon::build(settings).await.expect("daemon starts");
        let addr = daemon.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(daemon.run_until(async {
            let _ = rx.await;
        }));
        App {
            addr,
            http: Http::new(addr),
            shutdown: Some(tx),
            _dir: dir,
        }
    }
}

impl Scrape for App {
    fn http(&self) -> &Http {
        &self.http
    }

    fn logs(&self) -> String {
        "(in-process daemon: logs are not captured; TEST_LOG=1 prints them)".into()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// When a tool is missing: fail in CI (`IVANTI_TEST_REQUIRE_TOOLS=1`), skip elsewhere.
pub fn tool_available(name: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("IVANTI_TEST_REQUIRE_TOOLS").is_some() {
            panic!("{name} is required (IVANTI_TEST_REQUIRE_TOOLS is set) but not available");
        }
        eprintln!("SKIPPED: {name} is not installed");
    }
    ok
}

pub fn init() {
    ivanti_exporter::tls::install_crypto_provider();
}

/// Start a fleet of `n` HTTPS appliances with default options.
pub async fn fleet(n: usize) -> Fleet {
    init();
    Fleet::start(FleetOptions {
        appliances: n,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// The fleet's CA written into `dir`; returns its path.
pub fn write_ca(fleet: &Fleet, dir: &Path) -> PathBuf {
    let p = dir.join("fleet-ca.pem");
    std::fs::write(&p, fleet.ca_pem().expect("TLS fleet")).expect("write CA");
    p
}

impl Exporter {
    /// Start the binary with `config` (YAML, written to a temp dir; `{dir}`
    /// in it is replaced by that dir's path).
    pub fn start(config: &str) -> Exporter {
        Exporter::start_with(config, &[])
    }

    pub fn start_with(config: &str, extra: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().expect("tempdir");
        Exporter::start_in(dir, config, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, config: &str, extra: &[&str]) -> Exporter {
        Exporter::start_in_env(dir, config, extra, &[])
    }

    /// [`Exporter::start_in`] with more environment variables.
    pub fn start_in_env(
        dir: tempfile::TempDir,
        config: &str,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> Exporter {
        init();
        let config_path = dir.path().join("config.yml");
        let config = config.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(&config_path, config).expect("write config");
        let mut cmd = Exporter::command();
        cmd.arg("--config.file")
            .arg(&config_path)
            .args(["--log.level", "debug"])
            .args(extra)
            .envs(env.iter().copied());
        Exporter::spawn(&mut cmd, dir, config_path)
    }

    /// The binary in `--demo` mode (a simulated fleet in the process, no
    /// configuration file), with `extra` flags, run in a temp dir.
    pub fn demo(extra: &[&str]) -> Exporter {
        init();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Exporter::command();
        cmd.arg("--demo").args(extra).current_dir(dir.path());
        // Where a configuration would be: demo mode reads none.
        let config_path = dir.path().join("config.yml");
        Exporter::spawn(&mut cmd, dir, config_path)
    }

    /// The binary on 127.0.0.1:0 with JSON logs (the flags a caller adds
    /// come after, and win).
    fn command() -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"));
        cmd.args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
        ]);
        cmd
    }

    /// Start [`Exporter::command`] `cmd`, capture its log, and wait for the
    /// address it says it listens on.
    fn spawn(cmd: &mut Command, dir: tempfile::TempDir, config_path: PathBuf) -> Exporter {
        let mut child = ChildGuard::spawn(
            cmd.env_remove("HTTPS_PROXY")
                .env_remove("HTTP_PROXY")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let stderr = child.child().stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let echo = std::env::var_os("TEST_LOG").is_some();
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if echo {
                        eprintln!("exporter: {line}");
                    }
                    if line.contains("\"listening\"") {
                        if let Some(tx) = tx.take() {
                            let v: serde_json::Value =
                                serde_json::from_str(&line).expect("json log");
                            let _ = tx.send(v["address"].as_str().expect("address").to_owned());
                        }
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("address"),
            Err(_) => {
                drop(child);
                panic!("exporter did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Exporter {
            child,
            addr,
            log,
            _dir: dir,
            config_path,
            http: Http::new(addr),
        }
    }

    /// The exporter's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait for the process to exit, returning its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        self.child.wait_timeout(timeout).and_then(|s| s.code())
    }
}

impl Scrape for Exporter {
    fn http(&self) -> &Http {
        &self.http
    }

    fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// One parsed sample.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed classic-text exposition (a small parser for assertions; the
/// strict checks are promtool and the Python OpenMetrics parser).
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            samples.push(parse_line(line).unwrap_or_else(|| panic!("unparsable line {line:?}")));
        }
        Metrics {
            text: text.to_owned(),
            samples,
        }
    }

    /// Samples of `name` whose labels include every pair of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The single value of `name` with `labels`, if exactly one sample matches.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels).as_slice() {
            [one] => Some(one.value),
            [] => None,
            many => panic!(
                "{} samples of {name} match {labels:?}: {many:?}",
                many.len()
            ),
        }
    }

    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        !self.find(name, labels).is_empty()
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut chars = line[name_end..].chars().peekable();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            match chars.peek()? {
                '}' => {
                    chars.next();
                    break;
                }
                ',' => {
                    chars.next();
                    continue;
                }
                _ => {}
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if chars.next()? != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
        }
    }
    let rest: String = chars.collect();
    let value = match rest.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[test]
fn parses_escaped_labels() {
    let m = Metrics::parse("a{x=\"q\\\"\\\\\\n\",y=\"2\"} 3\nb 1\n");
    assert_eq!(m.get("a", &[("x", "q\"\\\n"), ("y", "2")]), Some(3.0));
    assert_eq!(m.get("b", &[]), Some(1.0));
}

/// An exporter config polling `fleet` every second. `defaults_extra` lines
/// go under `defaults:` (indent 2), `target_extra(i)` under target i (indent 4).
pub fn config_for(
    fleet: &Fleet,
    ca: &Path,
    defaults_extra: &str,
    target_extra: impl Fn(usize) -> String,
) -> String {
    let mut s = format!(
        "global:\n  stale_after: 3\ndefaults:\n  interval: 1s\n  timeout: 900ms\n  tls_config:\n    ca_file: {}\n{}\ntargets:\n",
        ca.display(),
        defaults_extra
    );
    for i in 0..fleet.len() {
        let a = fleet.appliance(i);
        let extra = target_extra(i);
        let has_creds = extra.contains("api_key")
            || extra.contains("realm_auth")
            || extra.contains("basic_auth");
        s.push_str(&format!("  - name: {}\n    url: {}\n", a.name(), a.url()));
        if !has_creds
            && !defaults_extra.contains("api_key")
            && !defaults_extra.contains("realm_auth")
        {
            s.push_str("    api_key: sim-api-key\n");
        }
        s.push_str(&extra);
    }
    s
}

/// Fleet + exporter polling it every second.
pub async fn fleet_and_exporter(
    n: usize,
    defaults_extra: &str,
    target_extra: impl Fn(usize) -> String,
) -> (Fleet, Exporter) {
    let fleet = fleet(n).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = config_for(&fleet, &ca, defaults_extra, target_extra);
    let exporter = Exporter::start_in(dir, &config, &[]);
    (fleet, exporter)
}

/// Fleet + in-process daemon polling it every second.
pub async fn fleet_and_app(
    n: usize,
    defaults_extra: &str,
    target_extra: impl Fn(usize) -> String,
) -> (Fleet, App) {
    let fleet = fleet(n).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = config_for(&fleet, &ca, defaults_extra, target_extra);
    let app = App::spawn_in(dir, &config).await;
    (fleet, app)
}

/// `ivanti_up{target}` is 1.
pub fn up(m: &Metrics, target: &str) -> bool {
    m.get("ivanti_up", &[("target", target)]) == Some(1.0)
}

/// `ivanti_collector_errors_total{target,collector,reason}` (0 when absent).
pub fn errors(m: &Metrics, target: &str, collector: &str, reason: &str) -> f64 {
    m.get(
        "ivanti_collector_errors_total",
        &[
            ("target", target),
            ("collector", collector),
            ("reason", reason),
        ],
    )
    .unwrap_or(0.0)
}

pub const WAIT: Duration = Duration::from_secs(20);

/// Percent-encode a query parameter value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A free loopback port (bound and released; fine for test daemons).
/// A port for a daemon that binds it later (krb5kdc, Prometheus) or that
/// must stay refused. It is taken below the kernel's ephemeral range
/// (`ip_local_port_range`), where nothing that binds port 0 (a simulator,
/// an exporter of a concurrent test) can be given it between this choice
/// and the daemon's bind; checked free on IPv4 loopback when chosen.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let span = low.saturating_sub(10_000).max(2_000);
    let base = low - span;
    // Spread concurrent test processes apart by their pid.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = base + (start.wrapping_add(n.wrapping_mul(13))) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
}

/// An exporter polling `fleet` with realm_auth, the password in a file.
pub fn realm_auth_exporter(fleet: &ivanti_exporter::sim::Fleet, password: &str) -> Exporter {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(fleet, dir.path());
    std::fs::write(dir.path().join("pw"), format!("{password}\n")).unwrap();
    let (ra, _) = realm_auth_yaml();
    let config = config_for(fleet, &ca, "", |_| ra.clone());
    Exporter::start_in(dir, &config, &[])
}

/// The `realm_auth` block for the simulator's admin (password in `{dir}/pw`), and that password.
pub fn realm_auth_yaml() -> (String, String) {
    let (realm, user, password) = ivanti_exporter::sim::FleetOptions::default().admin;
    (
        format!("    realm_auth: {{ realm: \"{realm}\", username: {user}, password_file: {{dir}}/pw }}\n"),
        password,
    )
}

/// Check `cond` every 50 ms until it holds; panic with `what` after
/// `timeout` (generous: a deadline, not a measurement).
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`eventually`] for a test outside a runtime.
pub fn eventually_blocking(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until `appliance` has answered `n` more requests than it had: the
/// exporter has polled it several more times, however loaded the machine.
pub async fn more_requests(appliance: &ivanti_exporter::sim::Appliance, n: u64) {
    let start = appliance.stats().requests;
    eventually(&format!("{n} more requests"), WAIT, || {
        appliance.stats().requests >= start + n
    })
    .await;
}

/// The exporter's JSON log events whose `msg` is `message` and whose
/// `target` field is `target`, in order.
pub fn events(logs: &str, message: &str, target: &str) -> Vec<serde_json::Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["msg"] == message && v["target"] == target)
        .collect()
}

/// When an event was logged.
pub fn logged_at(event: &serde_json::Value) -> std::time::SystemTime {
    let ts = event["time"].as_str().expect("time");
    humantime::parse_rfc3339_weak(ts.trim_end_matches('Z'))
        .unwrap_or_else(|e| panic!("timestamp {ts}: {e}"))
}

/// Each of `events` came at least `wait(i)` after the one before it (`i`
/// counting from 1 for the second event): what a backoff promises, checked
/// on the log's own clock whatever the machine's load.
pub fn assert_spaced(
    events: &[serde_json::Value],
    wait: impl Fn(usize, &serde_json::Value) -> Duration,
) {
    for (i, pair) in events.windows(2).enumerate() {
        let gap = logged_at(&pair[1])
            .duration_since(logged_at(&pair[0]))
            .unwrap_or_default();
        let want = wait(i + 1, &pair[0]);
        // The event is logged a few microseconds after the wait is decided.
        assert!(
            gap + Duration::from_millis(20) >= want,
            "event {} came {gap:?} after the one before, not {want:?}:\n{:#?}",
            i + 1,
            events
        );
    }
}

/// The `retry_in` an event announced (`"5s"`).
pub fn retry_in(event: &serde_json::Value) -> Duration {
    let s = event["retry_in"].as_str().expect("retry_in");
    humantime::parse_duration(s).unwrap_or_else(|e| panic!("retry_in {s}: {e}"))
}

/// Held by the full tier's load and timing tests (thousands of appliances,
/// the soak, the end-to-end alerts, the leftover check's second run) for
/// their whole run: each measures work done on time, so they take turns
/// instead of sharing two cores with each other.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// [`heavy`] for a test outside a runtime.
pub fn heavy_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.blocking_lock()
}

static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The `GET /api/v1/system/system-information` requests appliance `i` of
/// `fleet` has answered: one per poll (the cluster of a stand-alone box is
/// asked only hourly: not applicable).
pub fn poll_requests(fleet: &Fleet, i: usize) -> u64 {
    fleet
        .appliance(i)
        .stats()
        .by_method_path
        .get(&(
            "GET".to_owned(),
            "/api/v1/system/system-information".to_owned(),
        ))
        .copied()
        .unwrap_or(0)
}

/// `ivanti-exporter simulate --appliances n --write-config fleet_yml` plus
/// `extra` flags, in a process of its own; returns once it has written the
/// whole configuration (all `n` targets).
pub async fn simulator(fleet_yml: &Path, n: usize, extra: &[&str]) -> ChildGuard {
    let sim = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
            .args(["simulate", "--appliances", &n.to_string()])
            .args(extra)
            .arg("--write-config")
            .arg(fleet_yml)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let last = format!("name: sim-{n:03}");
    eventually("the config written", WAIT, || {
        std::fs::read_to_string(fleet_yml).is_ok_and(|y| y.contains(&last) && y.ends_with('\n'))
    })
    .await;
    sim
}

/// A test certificate authority (rcgen): a self-signed CA and the leaf
/// certificates it signs, as PEM.
pub struct TestCa(rcgen::CertifiedIssuer<'static, rcgen::KeyPair>);

impl TestCa {
    #[allow(clippy::new_without_default)]
    pub fn new() -> TestCa {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        TestCa(rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap())
    }

    /// The CA certificate.
    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// A certificate for `san` with the extended key usage `usage`
    /// (`ServerAuth`, `ClientAuth`): (certificate, key).
    pub fn leaf(&self, san: &str, usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![san.to_owned()]).unwrap();
        p.extended_key_usages = vec![usage];
        (
            p.signed_by(&key, &self.0).unwrap().pem(),
            key.serialize_pem(),
        )
    }
}

/// A TLS client configuration trusting the CA certificates of `ca_pem`
/// alone, presenting `identity` (certificate, key) when given.
pub fn tls_client_config(
    ca_pem: &str,
    identity: Option<&(String, String)>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in ivanti_exporter::tls::parse_ca_pem(ca_pem.as_bytes()).unwrap() {
        roots.add(c).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    match identity {
        Some((cert, key)) => {
            let (certs, key) =
                ivanti_exporter::tls::parse_client_identity(cert.as_bytes(), key.as_bytes())
                    .unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        }
        None => b.with_no_client_auth(),
    }
}

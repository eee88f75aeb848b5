//! One scheduler for all targets: a task per (target, collector), each on its
//! own interval with a fixed per-collector phase (a hash of the names, so the
//! first polls spread over the interval instead of all starting at once, and
//! the phase survives reloads). A poll that overruns its interval makes the
//! missed ticks count as skipped. After a failure the next poll comes at the
//! target's base interval (so a slow collector is not failed for minutes),
//! then backs off exponentially while failures continue ([`backoff`]), and
//! never sooner than an appliance's `Retry-After`. A poll first takes the target's permit (at
//! most `max_concurrent_requests` in flight per appliance, 1 by default),
//! then a global permit (`max_concurrent_polls`). A poll never runs longer
//! than its interval.
//!
//! [`Scheduler::apply`] diffs a new configuration against the running one:
//! unchanged targets keep their tasks, state and connections.

use crate::client::{ApiClient, ClientCache, PeerCertificate};
use crate::config::{Config, GlobalConfig, TargetConfig};
use crate::error::CollectError;
use crate::exposition::Samples;
use crate::kinds::{Appliance, Transport};
use crate::store::{Inventory, PollOutcome, Store, TargetState};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

struct Running {
    state: Arc<TargetState>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Owns the polling tasks.
pub struct Scheduler {
    store: Arc<Store>,
    clients: ClientCache,
    inner: Mutex<Inner>,
}

struct Inner {
    global: GlobalConfig,
    permits: Arc<Semaphore>,
    running: HashMap<String, Running>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler writing into `store`, with nothing running yet.
    pub fn new(store: Arc<Store>) -> Self {
        Scheduler {
            store,
            clients: ClientCache::new(),
            inner: Mutex::new(Inner {
                global: GlobalConfig::default(),
                permits: Arc::new(Semaphore::new(GlobalConfig::default().max_concurrent_polls)),
                running: HashMap::new(),
            }),
        }
    }

    /// Make the running set match `config`. Must be called inside a tokio runtime.
    /// Fails (changing nothing) when an HTTP client cannot be built.
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        // Build everything that can fail before touching the running set.
        let mut clients = HashMap::new();
        // A target waiting for its TLS files gets its client when they can
        // be read (`kinds::deferred_transport`).
        for t in &config.targets {
            let client = match &t.pending_tls {
                None => {
                    let api = ApiClient::new(&t.client, &self.clients)
                        .map_err(|e| format!("{}: {e}", t.name))?;
                    let certificate = api.peer_certificate();
                    (Arc::new(api) as Arc<dyn Transport>, certificate)
                }
                Some(source) => {
                    let certificate = Arc::<PeerCertificate>::default();
                    let api = crate::kinds::deferred_transport(
                        &t.name,
                        &t.client,
                        source.clone(),
                        certificate.clone(),
                    );
                    (api, certificate)
                }
            };
            clients.insert(t.name.clone(), client);
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let global_changed = inner.global != config.global;
        if global_changed {
            inner.global = config.global.clone();
            inner.permits = Arc::new(Semaphore::new(config.global.max_concurrent_polls));
        }
        let mut old = std::mem::take(&mut inner.running);
        let mut list = Vec::with_capacity(config.targets.len());
        let (mut kept, mut started) = (0, 0);
        for t in &config.targets {
            let reuse = old
                .remove(&t.name)
                .filter(|r| !global_changed && *r.state.config == **t);
            let running = match reuse {
                Some(r) => {
                    kept += 1;
                    r
                }
                None => {
                    started += 1;
                    for warning in t.warnings() {
                        tracing::warn!(target = %t.name, "{warning}");
                    }
                    if let Some(p) = &t.pending {
                        // The file and the OS error; never the content.
                        tracing::warn!(
                            target = %t.name,
                            reason = crate::error::Reason::Credentials.label(),
                            error = %p.problems().join("; "),
                            "credentials unreadable: the target fails until they can be read (again at every poll); the other targets are polled"
                        );
                    }
                    if let Some(p) = &t.pending_tls {
                        tracing::warn!(
                            target = %t.name,
                            reason = crate::error::Reason::Credentials.label(),
                            error = %p.problems().join("; "),
                            "TLS files unreadable: the target fails until they can be read (again at every poll); the other targets are polled"
                        );
                    }
                    let api = clients.remove(&t.name).expect("built above");
                    self.start(t.clone(), api, &inner)
                }
            };
            list.push(running.state.clone());
            inner.running.insert(t.name.clone(), running);
        }
        let stopped = old.len();
        drop(old); // aborts the tasks of removed or changed targets
        self.clients
            .retain(config.targets.iter().map(|t| &t.client));
        self.store.set_inventory(Inventory::new(list));
        tracing::info!(
            targets = config.targets.len(),
            kept,
            started,
            stopped,
            "configuration applied"
        );
        Ok(())
    }

    /// Start a target's tasks with its client and the certificate its
    /// client records.
    fn start(
        &self,
        config: Arc<TargetConfig>,
        (api, certificate): (Arc<dyn Transport>, Arc<PeerCertificate>),
        inner: &Inner,
    ) -> Running {
        let state = Arc::new(TargetState {
            certificate,
            ..TargetState::new(config.clone())
        });
        let appliance = match &config.pending {
            None => config.kind.appliance(config.kind_target(), api),
            Some(source) => {
                crate::kinds::deferred(config.kind, config.kind_target(), api, source.clone())
            }
        };
        let per_target = Arc::new(Semaphore::new(config.client.max_concurrent_requests));
        let tasks = (0..config.collectors.len())
            .map(|idx| {
                let poller = Poller {
                    state: state.clone(),
                    idx,
                    appliance: appliance.clone(),
                    per_target: per_target.clone(),
                    global: inner.permits.clone(),
                    store: self.store.clone(),
                    stale_after: inner.global.stale_after,
                };
                self.store.stats.poll_tasks.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(poller.run())
            })
            .collect();
        Running { state, tasks }
    }

    /// Stop every task.
    pub fn stop(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.running.clear();
    }
}

/// The phase of a collector within its interval: stable for a given target
/// and collector name, spread uniformly over `[0, interval)`.
pub fn phase(target: &str, collector: &str, interval: Duration) -> Duration {
    let mut h = DefaultHasher::new();
    target.hash(&mut h);
    collector.hash(&mut h);
    let nanos = interval.as_nanos().max(1) as u64;
    Duration::from_nanos(h.finish() % nanos)
}

/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Wait after the `failures`-th failure in a row: the base interval,
/// doubling, up to 8 times the base (at most 10 minutes, never less than
/// the collector's own interval). A sick appliance is not hammered; its
/// metrics keep saying it is down.
pub fn backoff(base: Duration, interval: Duration, failures: u32) -> Duration {
    let cap = base
        .saturating_mul(8)
        .min(Duration::from_secs(600))
        .max(interval);
    base.saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(cap)
}

struct Poller {
    state: Arc<TargetState>,
    idx: usize,
    appliance: Arc<dyn Appliance>,
    per_target: Arc<Semaphore>,
    global: Arc<Semaphore>,
    store: Arc<Store>,
    stale_after: u32,
}

impl Drop for Poller {
    fn drop(&mut self) {
        // Runs when the task is aborted (its future dropped) or ends.
        self.store.stats.poll_tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Poller {
    async fn run(self) {
        let cfg = &self.state.config;
        let collector = &cfg.collectors[self.idx];
        let name = collector.spec.name;
        let interval = collector.interval;
        // After a failure, a slow collector (license every 5m) retries at
        // the target's base interval instead of staying failed for minutes.
        let retry = interval.min(cfg.min_interval());
        // The first poll falls within the base interval too, so slow
        // collectors report soon after start.
        let mut next = Instant::now() + phase(&cfg.name, name, retry);
        let mut failures = 0u32;
        loop {
            tokio::time::sleep_until(next).await;
            let result = self.poll_once(name, interval).await;
            let now = Instant::now();
            let mut due = next + interval;
            let mut skipped = 0u64;
            while due <= now {
                due += interval;
                skipped += 1;
            }
            if skipped > 0 {
                self.store
                    .stats
                    .polls_skipped
                    .fetch_add(skipped, Ordering::Relaxed);
            }
            match result {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let mut wait = backoff(retry, interval, failures);
                    if let Some(ra) = e.retry_after() {
                        wait = wait.max(ra.min(MAX_RETRY_AFTER));
                    }
                    due = now + wait;
                }
            }
            next = due;
        }
    }

    /// One poll.
    async fn poll_once(&self, name: &'static str, deadline: Duration) -> Result<(), CollectError> {
        let closed = || CollectError::Timeout("scheduler stopped".into());
        let Ok(_target_permit) = self.per_target.acquire().await else {
            return Err(closed());
        };
        let Ok(_global_permit) = self.global.acquire().await else {
            return Err(closed());
        };
        let stats = &self.store.stats;
        stats.polls_in_flight.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut samples = Samples::new();
        let result = match tokio::time::timeout(
            deadline,
            self.appliance.collect(name, &mut samples),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(CollectError::Timeout(format!(
                "collector did not finish within its interval ({})",
                humantime::format_duration(deadline)
            ))),
        };
        stats.polls_in_flight.fetch_sub(1, Ordering::Relaxed);
        stats.polls.fetch_add(1, Ordering::Relaxed);
        let outcome = PollOutcome {
            result: result.clone(),
            duration: started.elapsed(),
            at: SystemTime::now(),
        };
        let data = if result.is_ok() {
            samples.into_vec()
        } else {
            Vec::new()
        };
        let previous = self.state.record(self.idx, outcome, data, self.stale_after);
        let target = &self.state.config.name;
        match (&result, previous) {
            (Err(e), Some(Err(prev))) if prev == *e => {
                tracing::debug!(target = %target, collector = name, reason = e.kind().label(), error = %e, "poll failed again");
            }
            (Err(e), _) => {
                tracing::warn!(target = %target, collector = name, reason = e.kind().label(), error = %e, "poll failed");
            }
            (Ok(()), Some(Err(_))) => {
                tracing::info!(target = %target, collector = name, "poll succeeded again");
            }
            (Ok(()), _) => {
                tracing::debug!(target = %target, collector = name, "poll succeeded");
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::kinds::BoxFuture;
    use std::sync::atomic::AtomicUsize;

    /// An appliance that takes 3 s per poll, fails `license` (500) and
    /// `cluster` (503 with Retry-After: 45),
    /// and records when each poll started and how many ran at once.
    #[derive(Default)]
    struct Fake {
        running: AtomicUsize,
        max_running: AtomicUsize,
        starts: Mutex<Vec<(&'static str, Duration)>>,
    }

    struct FakeHandle(Arc<Fake>, Instant);

    impl Appliance for FakeHandle {
        fn collect<'a>(
            &'a self,
            collector: &'static str,
            _out: &'a mut Samples,
        ) -> BoxFuture<'a, Result<(), CollectError>> {
            Box::pin(async move {
                let f = &self.0;
                f.starts.lock().unwrap().push((collector, self.1.elapsed()));
                let n = f.running.fetch_add(1, Ordering::SeqCst) + 1;
                f.max_running.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(3)).await;
                f.running.fetch_sub(1, Ordering::SeqCst);
                match collector {
                    "license" => Err(CollectError::Http {
                        status: 500,
                        message: "down".into(),
                        retry_after: None,
                    }),
                    "cluster" => Err(CollectError::Http {
                        status: 503,
                        message: "busy".into(),
                        retry_after: Some(45),
                    }),
                    _ => Ok(()),
                }
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_on_a_paused_clock() {
        let config = Config::from_yaml(
            "targets:\n  - name: vpn-1\n    url: https://vpn-1.example.net\n    interval: 10s\n    timeout: 5s\n    api_key: k\n    collectors: [healthcheck, cluster, system_information, license]\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let target = config.targets[0].clone();
        let state = Arc::new(TargetState::new(target.clone()));
        let fake = Arc::new(Fake::default());
        let store = Arc::new(Store::new());
        let per_target = Arc::new(Semaphore::new(1));
        let global = Arc::new(Semaphore::new(8));
        let t0 = Instant::now();
        for idx in 0..4 {
            let poller = Poller {
                state: state.clone(),
                idx,
                appliance: Arc::new(FakeHandle(fake.clone(), t0)),
                per_target: per_target.clone(),
                global: global.clone(),
                store: store.clone(),
                stale_after: 3,
            };
            tokio::spawn(poller.run());
        }
        tokio::time::sleep(Duration::from_secs(100)).await;
        let starts = fake.starts.lock().unwrap().clone();
        let count = |c: &str| starts.iter().filter(|(n, _)| *n == c).count();
        // One poll at a time per appliance, even with four collectors due.
        assert_eq!(fake.max_running.load(Ordering::SeqCst), 1);
        // 10 s interval over 100 s: about ten polls each (12 s of work per
        // round of 4 x 3 s can push a few ticks; none is lost wholesale).
        let starts_of = |c: &str| -> Vec<Duration> {
            starts
                .iter()
                .filter(|(n, _)| *n == c)
                .map(|(_, t)| *t)
                .collect()
        };
        assert!(
            (7..=11).contains(&count("healthcheck")),
            "healthcheck: {}",
            count("healthcheck")
        );
        // system_information defaults to 5 min, but polls once early.
        assert_eq!(count("system_information"), 1);
        // license (5 min) keeps failing: first retry at the 10 s base
        // interval, then the waits double (10, 20, 40 s ...), not every 10 s.
        let lic = starts_of("license");
        assert!((3..=5).contains(&lic.len()), "license polled at {lic:?}");
        let gaps: Vec<f64> = lic
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        assert!(gaps[0] >= 10.0 && gaps[0] < 20.0, "{gaps:?}");
        for w in gaps.windows(2) {
            assert!(w[1] >= w[0] * 1.5, "backoff does not grow: {gaps:?}");
        }
        // cluster answers 503 with Retry-After: 45: never polled sooner.
        let cl = starts_of("cluster");
        assert!((2..=3).contains(&cl.len()), "cluster polled at {cl:?}");
        for w in cl.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_secs(45), "{cl:?}");
        }
        // Every first poll starts within the first base interval (plus queueing).
        for c in ["healthcheck", "cluster", "system_information", "license"] {
            let first = starts.iter().find(|(n, _)| *n == c).unwrap().1;
            assert!(
                first < Duration::from_secs(10 + 9),
                "{c} first at {first:?}"
            );
        }
        let st = state.collectors[3].status();
        assert_eq!(st.consecutive_failures as usize, lic.len());
        assert_eq!(
            st.errors[crate::error::Reason::Http.index()] as usize,
            count("license")
        );
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let s = Duration::from_secs;
        let waits: Vec<u64> = (1..=6)
            .map(|f| backoff(s(30), s(30), f).as_secs())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 240, 240]);
        // A slow collector retries at the base interval, capped by its own interval.
        let waits: Vec<u64> = (1..=6)
            .map(|f| backoff(s(30), s(300), f).as_secs())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 300, 300]);
        // Never more than 10 minutes unless the collector's interval is longer.
        assert_eq!(backoff(s(120), s(120), 9), s(600));
        assert_eq!(backoff(s(3600), s(3600), 9), s(3600));
    }

    #[test]
    fn phases_spread_and_are_stable() {
        let i = Duration::from_secs(60);
        let a = phase("vpn-1", "cluster", i);
        assert_eq!(a, phase("vpn-1", "cluster", i));
        assert!(a < i);
        let distinct: std::collections::HashSet<_> = (0..100)
            .map(|n| phase(&format!("vpn-{n}"), "cluster", i).as_secs())
            .collect();
        // 100 hashes into 60 one-second buckets: about 49 distinct when uniform.
        assert!(distinct.len() > 40, "phases cluster: {}", distinct.len());
    }
}

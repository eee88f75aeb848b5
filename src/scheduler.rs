//! One scheduler for all targets: a task per (target, collector), each on its
//! own interval with a fixed per-collector phase (a hash of the names, so the
//! first polls spread over the interval instead of all starting at once, and
//! the phase survives reloads). A poll that overruns its interval makes the
//! missed ticks count as skipped; a failed poll of a slow collector is
//! retried at the target's base interval. A poll first takes the target's permit (at
//! most `max_concurrent_requests` in flight per appliance, 1 by default),
//! then a global permit (`max_concurrent_polls`). A poll never runs longer
//! than its interval.
//!
//! [`Scheduler::apply`] diffs a new configuration against the running one:
//! unchanged targets keep their tasks, state and connections.

use crate::client::{ApiClient, ClientCache};
use crate::config::{Config, GlobalConfig, TargetConfig};
use crate::error::CollectError;
use crate::exposition::Samples;
use crate::kinds::Appliance;
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
        for t in &config.targets {
            let api = ApiClient::new(t, &self.clients).map_err(|e| format!("{}: {e}", t.name))?;
            clients.insert(t.name.clone(), api);
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
                    if t.tls.insecure_skip_verify {
                        tracing::warn!(target = %t.name, "tls_config.insecure_skip_verify is set: the appliance's certificate is not verified");
                    }
                    if t.url.scheme() == "http"
                        && !matches!(t.credentials, crate::config::Credentials::None)
                    {
                        tracing::warn!(target = %t.name, "credentials are sent over plain HTTP");
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
        self.clients.retain(&config.targets);
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

    fn start(&self, config: Arc<TargetConfig>, api: ApiClient, inner: &Inner) -> Running {
        let state = Arc::new(TargetState::new(config.clone()));
        let appliance = config.kind.appliance(config.clone(), api);
        let per_target = Arc::new(Semaphore::new(config.max_concurrent_requests));
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

struct Poller {
    state: Arc<TargetState>,
    idx: usize,
    appliance: Arc<dyn Appliance>,
    per_target: Arc<Semaphore>,
    global: Arc<Semaphore>,
    store: Arc<Store>,
    stale_after: u32,
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
        loop {
            tokio::time::sleep_until(next).await;
            let ok = self.poll_once(name, interval).await;
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
            if !ok {
                due = due.min(now + retry);
            }
            next = due;
        }
    }

    /// One poll; true when it succeeded.
    async fn poll_once(&self, name: &'static str, deadline: Duration) -> bool {
        let Ok(_target_permit) = self.per_target.acquire().await else {
            return false;
        };
        let Ok(_global_permit) = self.global.acquire().await else {
            return false;
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
                tracing::debug!(target = %target, collector = name, reason = e.kind(), error = %e, "poll failed again");
            }
            (Err(e), _) => {
                tracing::warn!(target = %target, collector = name, reason = e.kind(), error = %e, "poll failed");
            }
            (Ok(()), Some(Err(_))) => {
                tracing::info!(target = %target, collector = name, "poll succeeded again");
            }
            (Ok(()), _) => {
                tracing::debug!(target = %target, collector = name, "poll succeeded");
            }
        }
        result.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::kinds::BoxFuture;
    use std::sync::atomic::AtomicUsize;

    /// An appliance that takes 3 s per poll, fails the `license` collector,
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
                if collector == "license" {
                    Err(CollectError::Http {
                        status: 500,
                        message: "down".into(),
                    })
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_on_a_paused_clock() {
        let config = Config::from_yaml(
            "targets:\n  - name: vpn-1\n    url: https://vpn-1.example.net\n    interval: 10s\n    timeout: 5s\n    collectors: [healthcheck, cluster, system_information, license]\n",
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
        for c in ["healthcheck", "cluster"] {
            assert!((7..=11).contains(&count(c)), "{c}: {}", count(c));
        }
        // system_information defaults to 5 min, but polls once early.
        assert_eq!(count("system_information"), 1);
        // license (5 min) fails: retried at the 10 s base interval, not in 5 min.
        assert!(
            count("license") >= 5,
            "license retried {} times",
            count("license")
        );
        // Every first poll starts within the first base interval (plus queueing).
        for c in ["healthcheck", "cluster", "system_information", "license"] {
            let first = starts.iter().find(|(n, _)| *n == c).unwrap().1;
            assert!(
                first < Duration::from_secs(10 + 9),
                "{c} first at {first:?}"
            );
        }
        let st = state.collectors[3].status();
        assert!(st.consecutive_failures >= 5);
        assert_eq!(
            st.errors[CollectError::REASONS
                .iter()
                .position(|r| *r == "http")
                .unwrap()] as usize,
            count("license")
        );
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

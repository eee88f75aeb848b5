//! The latest results per target. Pollers write, scrapes read: a poll
//! replaces one collector's immutable data (`Arc<[Series]>`) under a lock
//! held for a pointer swap; a scrape clones those `Arc`s and renders without
//! holding any lock the scheduler waits on.

use crate::client::PeerCertificate;
use crate::config::TargetConfig;
use crate::error::{CollectError, Reason};
use crate::exposition::{push_label, Rendered, Series};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// The outcome of one poll of one collector.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    /// `Ok` or the classified error.
    pub result: Result<(), CollectError>,
    /// Wall time of the poll.
    pub duration: Duration,
    /// When it finished.
    pub at: SystemTime,
}

/// What is known about one collector of one target.
#[derive(Debug, Clone, Default)]
pub struct CollectorStatus {
    /// The latest poll, once there was one (shared: scrapes copy a pointer).
    pub last: Option<Arc<PollOutcome>>,
    /// When a poll last succeeded.
    pub last_success: Option<SystemTime>,
    /// Failed polls since the last success.
    pub consecutive_failures: u32,
    /// Errors so far, per reason (index: [`Reason::index`]).
    pub errors: [u64; Reason::ALL.len()],
    /// Sample lines of the last successful poll; emptied once stale.
    pub data: Arc<Rendered>,
    /// The collector's own poll metrics as sample lines, rendered by the
    /// first scrape after a poll ([`CollectorSlot::view`]).
    poll_lines: Option<Arc<Rendered>>,
}

/// One collector's slot.
#[derive(Debug)]
pub struct CollectorSlot {
    /// Collector name.
    pub name: &'static str,
    /// `collector="<name>"`, ready for rendering.
    pub label: Box<str>,
    status: Mutex<CollectorStatus>,
}

impl CollectorSlot {
    /// A copy of the status (cheap: the data is shared).
    pub fn status(&self) -> CollectorStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A copy of the status and its poll-metric lines, which `render`
    /// makes once per poll (every later scrape reuses them).
    pub fn view(
        &self,
        render: impl FnOnce(&CollectorStatus) -> Rendered,
    ) -> (CollectorStatus, Arc<Rendered>) {
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let lines = match &st.poll_lines {
            Some(l) => l.clone(),
            None => {
                let l = Arc::new(render(&st));
                st.poll_lines = Some(l.clone());
                l
            }
        };
        (st.clone(), lines)
    }
}

/// Everything about one target.
#[derive(Debug)]
pub struct TargetState {
    /// Its configuration.
    pub config: Arc<TargetConfig>,
    /// `target="…",<static labels>`, escaped: the start of every series' labels.
    pub prefix: Box<str>,
    /// One slot per configured collector, in config order.
    pub collectors: Vec<CollectorSlot>,
    /// The certificate the appliance presented (set by its client).
    pub certificate: Arc<PeerCertificate>,
    /// What its syslog stream said (written by [`crate::syslog::receiver`]).
    pub syslog: Arc<crate::syslog::state::TargetSyslog>,
}

impl TargetState {
    /// Fresh state for a target.
    pub fn new(config: Arc<TargetConfig>) -> Self {
        let mut prefix = String::new();
        push_label(&mut prefix, "target", &config.name);
        for (k, v) in &config.labels {
            push_label(&mut prefix, k, v);
        }
        let collectors = config
            .collectors
            .iter()
            .map(|c| CollectorSlot {
                name: c.spec.name,
                label: {
                    let mut l = String::new();
                    push_label(&mut l, "collector", c.spec.name);
                    l.into_boxed_str()
                },
                status: Mutex::new(CollectorStatus::default()),
            })
            .collect();
        TargetState {
            config,
            prefix: prefix.into_boxed_str(),
            collectors,
            certificate: Arc::default(),
            syslog: Arc::default(),
        }
    }

    /// Record a poll. Returns the previous outcome's error text (for
    /// logging state changes only). After `stale_after` failures in a row
    /// the collector's series are dropped.
    pub fn record(
        &self,
        idx: usize,
        outcome: PollOutcome,
        data: Vec<Series>,
        stale_after: u32,
    ) -> Option<Result<(), CollectError>> {
        let slot = self.collectors.get(idx)?;
        // Render outside the lock: scrapes only ever wait for a pointer swap.
        let rendered = outcome
            .result
            .is_ok()
            .then(|| Arc::new(Rendered::new(&self.prefix, &data)));
        drop(data);
        let mut st = slot.status.lock().unwrap_or_else(|p| p.into_inner());
        st.poll_lines = None;
        match &outcome.result {
            Ok(()) => {
                st.consecutive_failures = 0;
                st.last_success = Some(outcome.at);
                st.data = rendered.unwrap_or_default();
            }
            Err(e) => {
                st.consecutive_failures = st.consecutive_failures.saturating_add(1);
                st.errors[e.kind().index()] += 1;
                if st.consecutive_failures >= stale_after && !st.data.is_empty() {
                    st.data = Arc::default();
                }
            }
        }
        st.last.replace(Arc::new(outcome)).map(|o| o.result.clone())
    }
}

/// The targets being polled, in config order, and by name.
#[derive(Debug, Default)]
pub struct Inventory {
    /// In config order.
    pub targets: Vec<Arc<TargetState>>,
    by_name: HashMap<String, usize>,
}

impl Inventory {
    /// Build from a list.
    pub fn new(targets: Vec<Arc<TargetState>>) -> Self {
        let by_name = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.config.name.clone(), i))
            .collect();
        Inventory { targets, by_name }
    }

    /// A target by its configured name.
    pub fn get(&self, name: &str) -> Option<&Arc<TargetState>> {
        self.by_name.get(name).and_then(|&i| self.targets.get(i))
    }
}

/// The exporter's own counters and gauges.
#[derive(Debug, Default)]
pub struct ExporterStats {
    /// Polls running now.
    pub polls_in_flight: AtomicI64,
    /// Polls that could not start on time because the previous one of the
    /// same collector was still running (interval ticks skipped).
    pub polls_skipped: AtomicU64,
    /// Polls done.
    pub polls: AtomicU64,
    /// Polling tasks alive (one per target and collector); a task that
    /// outlives its target after a reload would show up here.
    pub poll_tasks: AtomicI64,
    /// 1 when the last config (re)load succeeded.
    pub reload_ok: AtomicI64,
    /// Unix time of the last successful (re)load.
    pub reload_success_time: AtomicI64,
    /// Reloads attempted and failed.
    pub reload_failures: AtomicU64,
    /// `/metrics` scrapes served.
    pub scrapes: AtomicU64,
    /// Connections that waited for a free slot (`--web.max-connections`).
    pub http_connections_limited: AtomicU64,
    /// The advisory data in force (`ivanti_advisories_*`); set on (re)load.
    pub advisories: std::sync::Mutex<Option<Arc<crate::advisories::Advisories>>>,
    /// The syslog receiver's counters.
    pub syslog: crate::syslog::state::ReceiverStats,
}

impl ExporterStats {
    /// The advisory data of the configuration now in force.
    pub fn set_advisories(&self, a: Arc<crate::advisories::Advisories>) {
        *self.advisories.lock().unwrap_or_else(|p| p.into_inner()) = Some(a);
    }

    /// Note a (re)load.
    pub fn reloaded(&self, ok: bool) {
        self.reload_ok.store(ok as i64, Ordering::Relaxed);
        if ok {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            self.reload_success_time.store(now, Ordering::Relaxed);
        } else {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The store: the current inventory, swapped as a whole on reload.
#[derive(Debug, Default)]
pub struct Store {
    inventory: RwLock<Arc<Inventory>>,
    /// Self metrics.
    pub stats: ExporterStats,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current inventory (a cheap clone).
    pub fn inventory(&self) -> Arc<Inventory> {
        self.inventory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace the inventory.
    pub fn set_inventory(&self, inv: Inventory) {
        *self.inventory.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(inv);
    }
}

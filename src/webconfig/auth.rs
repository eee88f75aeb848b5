//! `basic_auth_users`: the check of `Authorization: Basic ...` and the
//! middleware that asks for it on every endpoint but
//! [`UNAUTHENTICATED`](super::UNAUTHENTICATED).
//!
//! bcrypt is slow on purpose (~70 ms at cost 10): run for every request, a
//! handful of clients sending wrong passwords would keep every core busy.
//! As exporter-toolkit's `web/handler.go` and `web/cache.go`:
//!
//! - results are cached per (user, stored hash, password), wrong ones too,
//!   so a client repeating the same password costs one bcrypt, not one per
//!   request;
//! - at most one bcrypt runs at a time (requests wait for it without holding
//!   a thread), so however many clients guess, one core is left for polling.
//!
//! Unlike the toolkit's cache, the key is not the password: it is an
//! HMAC-SHA256 of the three under a key drawn at start, so no plaintext
//! password stays in memory after its request. Successes and failures are
//! kept apart (100 entries each, a tenth evicted at random when full), so
//! guesses with ever new passwords cannot evict the real user's entry and
//! make Prometheus queue behind them.

use super::{WebConfig, UNAUTHENTICATED};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::seq::IteratorRandom as _;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Entries kept per outcome (the toolkit's `cacheSize`).
const CAPACITY: usize = 100;

/// HMAC-SHA256(process key, user, hash, password): a cache key that does
/// not reveal the password.
type Tag = [u8; 32];

/// The bcrypt cache and the one-at-a-time gate of a [`WebConfig`].
pub struct Verifier {
    key: ring::hmac::Key,
    /// Tags of verified (user, hash, password) triples.
    ok: Mutex<HashSet<Tag>>,
    /// Tags of refused ones.
    refused: Mutex<HashSet<Tag>>,
    /// One bcrypt at a time.
    gate: tokio::sync::Semaphore,
    /// bcrypt verifications run so far.
    runs: AtomicU64,
    /// bcrypt verifications running now, and the most ever at once.
    running: AtomicU64,
    peak: AtomicU64,
}

impl Default for Verifier {
    fn default() -> Verifier {
        let rng = ring::rand::SystemRandom::new();
        // SystemRandom fails only without any OS randomness; then a fixed
        // key still keeps the password out of the key (just not secret).
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"ivanti-exporter"));
        Verifier {
            key,
            ok: Mutex::default(),
            refused: Mutex::default(),
            gate: tokio::sync::Semaphore::new(1),
            runs: AtomicU64::new(0),
            running: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("bcrypt_runs", &self.runs())
            .field("peak", &self.peak())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// bcrypt verifications run so far (cache misses).
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The most bcrypt verifications ever running at once (1, by design).
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn tag(&self, user: &str, hash: &str, password: &str) -> Tag {
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        // Length-prefixed: no two triples give the same input.
        for part in [user, hash, password] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let mut tag = [0; 32];
        tag.copy_from_slice(ctx.sign().as_ref());
        tag
    }

    fn cached(&self, tag: &Tag) -> Option<bool> {
        let lock =
            |m: &Mutex<HashSet<Tag>>| m.lock().unwrap_or_else(|p| p.into_inner()).contains(tag);
        if lock(&self.ok) {
            Some(true)
        } else if lock(&self.refused) {
            Some(false)
        } else {
            None
        }
    }

    fn remember(&self, tag: Tag, ok: bool) {
        let set = if ok { &self.ok } else { &self.refused };
        let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= CAPACITY {
            let evict: Vec<Tag> = set
                .iter()
                .copied()
                .choose_multiple(&mut rand::rng(), CAPACITY / 10);
            for t in &evict {
                set.remove(t);
            }
        }
        set.insert(tag);
    }

    /// Does `password` match `hash`: from the cache, or by one bcrypt run
    /// (waiting for any other to finish first).
    async fn verify(&self, user: &str, hash: &str, password: &str) -> bool {
        let tag = self.tag(user, hash, password);
        if let Some(ok) = self.cached(&tag) {
            return ok;
        }
        let Ok(_permit) = self.gate.acquire().await else {
            return false;
        };
        // Another request may have verified the same triple while this one waited.
        if let Some(ok) = self.cached(&tag) {
            return ok;
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let (hash, password) = (hash.to_owned(), password.to_owned());
        // Off the async workers: bcrypt is CPU work.
        let now = self.running.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.remember(tag, ok);
        ok
    }
}

/// `user:password` from `Authorization: Basic <base64>`.
fn credentials(header: Option<&str>) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = header?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (user, password) = raw.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl WebConfig {
    /// True when `Authorization: Basic ...` matches a configured user (or none are configured).
    pub async fn authorized(&self, header: Option<&str>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some((user, password)) = credentials(header) else {
            return false;
        };
        match self.users.get(&user) {
            Some(hash) => self.verifier.verify(&user, hash.expose(), &password).await,
            // The same work for unknown users as for wrong passwords (no
            // user enumeration by timing); never a success.
            None => {
                let _ = self.verifier.verify(&user, DUMMY_HASH, &password).await;
                false
            }
        }
    }
}

/// bcrypt("x", cost 10), used to equalise timing for unknown users.
const DUMMY_HASH: &str = "$2b$10$3euPcmQFCiblsZeEu5s7p.9OVHgeHWFDk9nhMqZ0m/3pd/lhwZgES";

/// Basic authentication when `basic_auth_users` is set: 401 with a
/// `WWW-Authenticate` challenge unless the request carries a configured
/// user and password.
pub async fn require_auth(
    axum::extract::State(web): axum::extract::State<WebConfig>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if web.users.is_empty() || UNAUTHENTICATED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if web.authorized(header).await {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(
                axum::http::header::WWW_AUTHENTICATE,
                "Basic realm=\"ivanti-exporter\"",
            )],
            "Unauthorized\n",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn basic(s: &str) -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    fn web(user: &str, password: &str) -> WebConfig {
        let mut users = BTreeMap::new();
        users.insert(
            user.to_owned(),
            Secret::new(bcrypt::hash(password, 4).unwrap()),
        );
        WebConfig {
            users: Arc::new(users),
            ..WebConfig::default()
        }
    }

    /// `n` requests at once with `header`: how many were let in.
    async fn at_once(w: &WebConfig, header: &str, n: usize) -> usize {
        let all = (0..n).map(|_| w.authorized(Some(header)));
        futures_util::future::join_all(all)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn each_password_costs_one_bcrypt_and_only_one_runs_at_a_time() {
        let w = web("prom", "s3cret");
        assert_eq!(at_once(&w, &basic("prom:s3cret"), 20).await, 20);
        assert_eq!(w.verifier.runs(), 1, "the right password is verified once");
        assert_eq!(at_once(&w, &basic("prom:wrong"), 20).await, 0);
        assert_eq!(
            w.verifier.runs(),
            2,
            "a repeated wrong one costs one bcrypt too"
        );
        assert_eq!(at_once(&w, &basic("nobody:s3cret"), 5).await, 0);
        assert_eq!(
            w.verifier.runs(),
            3,
            "an unknown user runs the dummy hash once"
        );
        // Distinct guesses at once: each is a bcrypt, never two together.
        let guesses = (0..8).map(|i| basic(&format!("prom:guess-{i}")));
        let w = &w;
        let all = guesses.map(|h| async move { w.authorized(Some(&h)).await });
        let let_in = futures_util::future::join_all(all).await;
        assert!(let_in.iter().all(|ok| !ok));
        assert_eq!(w.verifier.runs(), 11);
        assert_eq!(w.verifier.peak(), 1);
    }

    #[tokio::test]
    async fn guesses_do_not_evict_the_right_password() {
        let w = web("prom", "s3cret");
        assert!(w.authorized(Some(&basic("prom:s3cret"))).await);
        for i in 0..3 * CAPACITY {
            assert!(!w.authorized(Some(&basic(&format!("prom:{i}")))).await);
        }
        let runs = w.verifier.runs();
        assert_eq!(runs, 1 + 3 * CAPACITY as u64);
        assert!(w.authorized(Some(&basic("prom:s3cret"))).await);
        assert_eq!(w.verifier.runs(), runs, "still cached");
        assert!(w.verifier.refused.lock().unwrap().len() <= CAPACITY);
    }

    #[test]
    fn the_cache_key_is_not_the_password_and_is_unambiguous() {
        let v = Verifier::default();
        let t = v.tag("prom", "$2b$04$hash", "s3cret");
        assert_ne!(t, v.tag("prom", "$2b$04$hash", "s3cre"));
        assert_ne!(v.tag("a", "bc", "d"), v.tag("ab", "c", "d"));
        // Another process (another key) gives another tag.
        assert_ne!(t, Verifier::default().tag("prom", "$2b$04$hash", "s3cret"));
        assert!(!t.windows(6).any(|w| w == b"s3cret"));
        assert!(!format!("{v:?}").contains("s3cret"));
    }
}

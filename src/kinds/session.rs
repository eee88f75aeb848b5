//! A login-obtained token shared by a target's collectors: the ICS API key
//! from `realm_auth`, the SPS `session_id` cookie.
//!
//! One login at a time (concurrent callers wait for it), the token reused
//! until the appliance rejects it (the caller calls [`Session::invalidate`]
//! with the generation it used) or it reaches its maximum age, and after a
//! failed login a backoff (5 s doubling to 5 min) during which callers get
//! the login's error instead of a login storm.

use crate::error::CollectError;
use crate::secret::Secret;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// First and longest wait after a failed login.
pub const LOGIN_BACKOFF: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(300));

/// How long to wait after `failures` failed logins in a row (at least 1).
pub fn login_backoff(failures: u32) -> Duration {
    LOGIN_BACKOFF
        .0
        .saturating_mul(1 << failures.saturating_sub(1).min(10))
        .min(LOGIN_BACKOFF.1)
}

#[derive(Debug, Default)]
struct State {
    token: Option<(Secret, u64, Instant)>,
    generation: u64,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<CollectError>,
}

/// A cached login token with its generation.
#[derive(Debug)]
pub struct Session {
    target: String,
    max_age: Option<Duration>,
    state: tokio::sync::Mutex<State>,
    logins: AtomicU64,
}

impl Session {
    /// A session for `target` (log lines); tokens older than `max_age` are
    /// renewed before use.
    pub fn new(target: &str, max_age: Option<Duration>) -> Session {
        Session {
            target: target.to_owned(),
            max_age,
            state: tokio::sync::Mutex::new(State::default()),
            logins: AtomicU64::new(0),
        }
    }

    /// Logins attempted so far.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// The current token and its generation, logging in with `login` when
    /// there is none (or it is too old).
    pub async fn token<F, Fut>(&self, login: F) -> Result<(Secret, u64), CollectError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Secret, CollectError>>,
    {
        let mut st = self.state.lock().await;
        if let Some((token, generation, at)) = &st.token {
            if self.max_age.is_none_or(|m| at.elapsed() < m) {
                return Ok((token.clone(), *generation));
            }
            tracing::debug!(target = %self.target, "session reached its maximum age; logging in again");
            st.token = None;
        }
        if let (Some(at), Some(err)) = (st.retry_at, &st.last_error) {
            if Instant::now() < at {
                return Err(err.clone());
            }
        }
        self.logins.fetch_add(1, Ordering::Relaxed);
        match login().await {
            Ok(token) => {
                st.generation += 1;
                st.token = Some((token.clone(), st.generation, Instant::now()));
                st.failures = 0;
                st.retry_at = None;
                st.last_error = None;
                tracing::info!(target = %self.target, "logged in");
                Ok((token, st.generation))
            }
            Err(e) => {
                st.failures = st.failures.saturating_add(1);
                let wait = login_backoff(st.failures);
                st.retry_at = Some(Instant::now() + wait);
                tracing::warn!(
                    target = %self.target,
                    error = %e,
                    retry_in = %humantime::format_duration(wait),
                    "login failed"
                );
                st.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The appliance rejected the token of `generation`: forget it (unless a
    /// newer one was obtained meanwhile).
    pub async fn invalidate(&self, generation: u64) {
        let mut st = self.state.lock().await;
        if st.token.as_ref().is_some_and(|(_, g, _)| *g == generation) {
            tracing::info!(target = %self.target, "session rejected (401); logging in again");
            st.token = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reuses_renews_and_backs_off() {
        let s = Session::new("t", Some(Duration::from_secs(60)));
        let ok = || async { Ok(Secret::new("tok")) };
        let (_, g1) = s.token(ok).await.unwrap();
        let (_, g2) = s.token(ok).await.unwrap();
        assert_eq!((g1, g2, s.logins()), (1, 1, 1), "reused");
        tokio::time::advance(Duration::from_secs(61)).await;
        let (_, g3) = s.token(ok).await.unwrap();
        assert_eq!((g3, s.logins()), (2, 2), "renewed after max age");
        s.invalidate(1).await; // stale generation: ignored
        assert_eq!(s.token(ok).await.unwrap().1, 2);
        s.invalidate(2).await;
        let fail = || async { Err(CollectError::Auth("no".into())) };
        assert!(s.token(fail).await.is_err());
        // Within the backoff the error is returned without a login.
        assert!(s.token(ok).await.is_err());
        assert_eq!(s.logins(), 3);
        tokio::time::advance(LOGIN_BACKOFF.0).await;
        assert_eq!(s.token(ok).await.unwrap().1, 3);
        assert_eq!(s.logins(), 4);
    }
}

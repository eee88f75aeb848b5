//! Where a request's vendor fixture lives: the convention shared by the
//! simulator (which serves fixtures for API areas it has no model of) and
//! the kinds' fixture transport in tests.
//!
//! Fixtures mirror the API path under `tests/fixtures/<kind>/`:
//!
//! | request | file (most specific first) |
//! |---|---|
//! | `GET /api/v1/system/healthcheck?status=all` | `api/v1/system/healthcheck__status=all.json`, then `api/v1/system/healthcheck.json` |
//! | `GET /api/v1/cluster` with variant `active-passive` | `api/v1/cluster__active-passive.json`, then `api/v1/cluster.json` |
//!
//! A query's pairs keep their order and are joined by `__`; a `/` inside a
//! query value is written `%2F`. A *variant* (`__<name>` with no `=`) is
//! another answer of the same endpoint: a firmware generation, a topology,
//! a hostile shape. A file named only by its path is the vendor guide's own
//! sample, the default answer.

/// The candidate file names for a request (relative to
/// `tests/fixtures/<kind>/`), most specific first: path with query and
/// variant, path with query, path with variant, bare path.
pub fn fixture_candidates(path_and_query: &str, variant: Option<&str>) -> Vec<String> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let base = path.trim_start_matches('/').trim_end_matches('/');
    let query = query
        .filter(|q| !q.is_empty())
        .map(|q| q.replace('/', "%2F").replace('&', "__"));
    let mut out = Vec::with_capacity(4);
    if let Some(q) = &query {
        if let Some(v) = variant {
            out.push(format!("{base}__{q}__{v}.json"));
        }
        out.push(format!("{base}__{q}.json"));
    }
    if let Some(v) = variant {
        out.push(format!("{base}__{v}.json"));
    }
    out.push(format!("{base}.json"));
    out
}

#[cfg(test)]
mod tests {
    use super::fixture_candidates;

    #[test]
    fn a_query_is_more_specific_than_the_bare_path() {
        assert_eq!(
            fixture_candidates("/api/v1/system/healthcheck?status=all", None),
            [
                "api/v1/system/healthcheck__status=all.json",
                "api/v1/system/healthcheck.json"
            ]
        );
    }

    #[test]
    fn variants_and_pairs_keep_their_order() {
        assert_eq!(
            fixture_candidates("/api/v1/system/active-users?number=2&start=1", Some("x")),
            [
                "api/v1/system/active-users__number=2__start=1__x.json",
                "api/v1/system/active-users__number=2__start=1.json",
                "api/v1/system/active-users__x.json",
                "api/v1/system/active-users.json",
            ]
        );
        assert_eq!(
            fixture_candidates("/api/v1/cluster", Some("active-passive")),
            ["api/v1/cluster__active-passive.json", "api/v1/cluster.json"]
        );
    }

    #[test]
    fn a_slash_in_a_value_cannot_leave_the_directory() {
        assert_eq!(
            fixture_candidates("/a?f=../../etc/passwd", None)[0],
            "a__f=..%2F..%2Fetc%2Fpasswd.json"
        );
    }
}

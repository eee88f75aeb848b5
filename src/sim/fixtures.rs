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
//!
//! The fixtures of the kinds `ics`, `sps`, `epmm` and `isec` are compiled
//! into the binary (`build.rs` generates the table; nothing is read from
//! disk at run time): [`embedded`] finds a request's file among them.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/embedded_fixtures.rs"));
}

/// The bytes of the most specific embedded fixture of `kind` (`ics`,
/// `sps`, `epmm`, `isec`) for a request ([`fixture_candidates`]); `None`
/// when there is none.
pub fn embedded(kind: &str, path_and_query: &str, variant: Option<&str>) -> Option<&'static [u8]> {
    let table = generated::EMBEDDED;
    fixture_candidates(path_and_query, variant)
        .iter()
        .find_map(|name| {
            table
                .binary_search_by(|(k, n, _)| (*k, *n).cmp(&(kind, name.as_str())))
                .ok()
        })
        .map(|i| table[i].2)
}

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
    use super::{embedded, fixture_candidates};
    use std::path::Path;

    /// Every `*.json` under `dir`, as paths relative to `dir` with `/`.
    fn files(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                let rel = p.strip_prefix(root).unwrap();
                let parts: Vec<_> = rel.iter().map(|c| c.to_str().unwrap()).collect();
                out.push(parts.join("/"));
            }
        }
    }

    #[test]
    fn every_vendor_fixture_is_embedded_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut n = 0;
        for kind in ["ics", "sps", "epmm", "isec"] {
            let mut rels = Vec::new();
            files(&root.join(kind), &root.join(kind), &mut rels);
            assert!(!rels.is_empty(), "{kind} has fixtures");
            for rel in rels {
                let path = format!("/{}", rel.trim_end_matches(".json"));
                let want = std::fs::read(root.join(kind).join(&rel)).unwrap();
                assert_eq!(embedded(kind, &path, None), Some(&want[..]), "{kind} {rel}");
                n += 1;
            }
        }
        assert_eq!(
            super::generated::EMBEDDED.len(),
            n,
            "nothing else is embedded"
        );
        // Not a kind of appliance: the exporter-toolkit web config is not served.
        assert_eq!(embedded("exporter-toolkit", "/web-config", None), None);
    }

    #[test]
    fn embedded_picks_the_most_specific_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ics/api/v1/system");
        let read = |f: &str| std::fs::read(root.join(f)).unwrap();
        let all = read("healthcheck__status=all.json");
        let strings = read("healthcheck__status=all__22x-strings.json");
        let bare = read("healthcheck.json");
        let hc = |q: &str, v| embedded("ics", &format!("/api/v1/system/healthcheck{q}"), v);
        assert_eq!(hc("?status=all", None), Some(&all[..]));
        assert_eq!(hc("?status=all", Some("22x-strings")), Some(&strings[..]));
        assert_eq!(hc("?status=all", Some("no-such-variant")), Some(&all[..]));
        assert_eq!(hc("?status=nope", None), Some(&bare[..]));
        assert_eq!(hc("", None), Some(&bare[..]));
        // The Security Controls fixtures mirror the console's API paths.
        assert!(embedded("isec", "/st/console/api/v1.0/agents?count=1000", None).is_some());
        assert!(embedded("isec", "/st/console/api/v1.0/configuration/version", None).is_some());
        // Another kind's file, an unknown path, a path that climbs out: none.
        assert_eq!(embedded("sps", "/api/v1/system/healthcheck", None), None);
        assert_eq!(embedded("ics", "/api/v1/system/no-such-area", None), None);
        assert_eq!(
            embedded("ics", "/../ics/api/v1/system/healthcheck", None),
            None
        );
    }

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

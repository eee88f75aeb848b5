//! The landing page (`GET /`, served by [`crate::web`]), built for fleets of 10,000 targets.
//!
//! A summary first (targets by state, by kind, and the failing ones by
//! `reason`), then one row per target (not per collector), failing targets
//! first: down, degraded, pending, up, alphabetical within. A text filter
//! hides rows as one types (inline JavaScript, also read from `#filter=`);
//! `?filter=`, `?state=` and `?limit=` select rows on the server, so the
//! page works without JavaScript too. A healthy row is ~120 bytes: 10,000
//! targets make a page of about 1.3 MB, gzipped by the router when the
//! browser asks (docs/performance.md).
//!
//! The states agree with the metrics: `ivanti_up` is 1 exactly for `up`
//! targets (every collector that has polled succeeded at its latest poll)
//! and 0 for `down` (each one that has polled failed) and `degraded` (some
//! failed); `pending` targets have no `ivanti_up` yet (nothing polled).

use crate::error::{CollectError, Reason};
use crate::store::{Inventory, PollOutcome, TargetState};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A target's state on the page; the order is the page's row order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// Every collector that has polled failed at its latest poll.
    Down,
    /// Some collectors failed at their latest poll, others succeeded.
    Degraded,
    /// No collector has polled yet.
    Pending,
    /// Every collector that has polled succeeded (`ivanti_up` 1).
    Up,
}

impl Health {
    /// Every state, in row order.
    pub const ALL: [Health; 4] = [Health::Down, Health::Degraded, Health::Pending, Health::Up];

    /// The word on the page and in `?state=`.
    pub fn name(self) -> &'static str {
        match self {
            Health::Down => "down",
            Health::Degraded => "degraded",
            Health::Pending => "pending",
            Health::Up => "up",
        }
    }
}

/// The rows asked for: `?filter=<text>` (case-insensitive, in the name,
/// kind, url, state or failures), `?state=down,degraded`, `?limit=<n>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Lowercase text every shown row contains ("" for all).
    pub filter: String,
    /// States shown (empty for all).
    pub states: Vec<Health>,
    /// At most this many rows.
    pub limit: Option<usize>,
}

impl Selection {
    /// From the query string; an unknown state or a bad limit is an error.
    pub fn from_query(q: &HashMap<String, String>) -> Result<Selection, String> {
        let mut sel = Selection {
            filter: q
                .get("filter")
                .map(|f| f.trim().to_lowercase())
                .unwrap_or_default(),
            ..Selection::default()
        };
        for word in q.get("state").into_iter().flat_map(|s| s.split(',')) {
            let word = word.trim();
            if word.is_empty() {
                continue;
            }
            match Health::ALL.iter().find(|h| h.name() == word) {
                Some(h) => sel.states.push(*h),
                None => {
                    return Err(format!(
                        "unknown state {word:?} (known: down, degraded, pending, up)"
                    ))
                }
            }
        }
        if let Some(l) = q.get("limit") {
            let n = l
                .trim()
                .parse()
                .map_err(|_| format!("limit {l:?} is not a number"))?;
            sel.limit = Some(n);
        }
        Ok(sel)
    }

    fn is_all(&self) -> bool {
        self.filter.is_empty() && self.states.is_empty() && self.limit.is_none()
    }
}

/// A failing collector: its name, latest outcome and latest success.
type Failing = (&'static str, Arc<PollOutcome>, Option<SystemTime>);

/// One target as the page shows it.
struct Row<'a> {
    target: &'a TargetState,
    health: Health,
    /// Failing collectors and their latest outcome.
    failing: Vec<Failing>,
    /// The most recent successful poll of any collector.
    last_success: Option<SystemTime>,
    /// The longest of the collectors' latest polls.
    slowest: Option<Duration>,
    /// The appliance answers but reports itself not accessible
    /// (`ivanti_gateway_accessible 0`): what the runbook sends on-call to.
    not_accessible: bool,
}

impl<'a> Row<'a> {
    fn new(target: &'a TargetState) -> Row<'a> {
        let (mut polled, mut failing) = (0, Vec::new());
        let (mut last_success, mut slowest) = (None, None::<Duration>);
        let mut not_accessible = false;
        for slot in &target.collectors {
            let st = slot.status();
            // Only the healthcheck publishes it: no scan of other data.
            not_accessible |= slot.name == "healthcheck" && reports_not_accessible(&st.data);
            last_success = last_success.max(st.last_success);
            let Some(last) = st.last else { continue };
            polled += 1;
            slowest = Some(slowest.map_or(last.duration, |d| d.max(last.duration)));
            if last.result.is_err() {
                failing.push((slot.name, last, st.last_success));
            }
        }
        let health = match (polled, failing.len()) {
            (0, _) => Health::Pending,
            (_, 0) => Health::Up,
            (p, f) if f == p => Health::Down,
            _ => Health::Degraded,
        };
        Row {
            target,
            health,
            failing,
            last_success,
            slowest,
            not_accessible,
        }
    }

    /// The text `?filter=` looks in (the script looks in the same cells).
    fn matches(&self, filter: &str) -> bool {
        if filter.is_empty() {
            return true;
        }
        let c = &self.target.config;
        let mut text = format!(
            "{} {} {} {}",
            c.name,
            c.kind.name(),
            c.client.url.as_str(),
            self.health.name()
        );
        if self.not_accessible {
            text.push_str(" not accessible");
        }
        for (name, o, _) in &self.failing {
            if let Err(e) = &o.result {
                let _ = write!(text, " {name} {} {e}", e.kind());
            }
        }
        text.to_lowercase().contains(filter)
    }
}

/// Counts for the summary.
#[derive(Default)]
struct Summary {
    /// Per kind (in [`crate::kinds::KINDS`] order), targets per [`Health`].
    by_kind: Vec<(&'static str, [usize; 4])>,
    /// Per reason: down targets and degraded targets with a collector failing for it.
    by_reason: BTreeMap<Reason, [usize; 2]>,
}

impl Summary {
    fn new(rows: &[Row<'_>]) -> Summary {
        let mut s = Summary::default();
        for r in rows {
            let kind = r.target.config.kind.name();
            let i = match s.by_kind.iter().position(|(k, _)| *k == kind) {
                Some(i) => i,
                None => {
                    s.by_kind.push((kind, [0; 4]));
                    s.by_kind.len() - 1
                }
            };
            s.by_kind[i].1[r.health as usize] += 1;
            let mut seen = Vec::new();
            for (_, o, _) in &r.failing {
                let Err(e) = &o.result else { continue };
                let reason = e.kind();
                if !seen.contains(&reason) {
                    seen.push(reason);
                    let col = if r.health == Health::Down { 0 } else { 1 };
                    s.by_reason.entry(reason).or_default()[col] += 1;
                }
            }
        }
        let order = |k: &str| crate::kinds::KINDS.iter().position(|x| x.name() == k);
        s.by_kind.sort_by_key(|(k, _)| order(k));
        s
    }

    fn total(&self) -> [usize; 4] {
        let mut t = [0; 4];
        for (_, c) in &self.by_kind {
            for (t, c) in t.iter_mut().zip(c) {
                *t += c;
            }
        }
        t
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em}\
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;white-space:nowrap;vertical-align:top}\
th{background:#eee;position:sticky;top:0}tbody tr:nth-child(even){background:#f7f7f7}\
td.e{white-space:normal;min-width:24em;max-width:60em}.w{overflow-x:auto}\
.down td:nth-child(4){color:#b00;font-weight:bold}.degraded td:nth-child(4){color:#b60;font-weight:bold}\
.pending td:nth-child(4){color:#777}.up td:nth-child(4){color:#070}.n{text-align:right}\
#f{width:30em}.sum{display:inline-table;margin:0 2em 1em 0}";

/// Hides the rows whose first five cells do not contain the filter text;
/// the filter is kept in `#filter=` so the view can be linked.
const SCRIPT: &str = "(function(){var f=document.getElementById('f'),n=document.getElementById('n'),\
rows=document.getElementById('t').tBodies[0].rows,texts=null,total=n.dataset.total;\
function apply(){var q=f.value.trim().toLowerCase(),shown=0,i,j,r;if(!texts){texts=[];\
for(i=0;i<rows.length;i++){r=rows[i];var t='';for(j=0;j<5;j++)t+=r.cells[j].textContent+' ';\
texts.push(t.toLowerCase())}}for(i=0;i<rows.length;i++){var m=!q||texts[i].indexOf(q)>=0;\
rows[i].hidden=!m;if(m)shown++}n.textContent=shown+' of '+total+' targets shown'}\
var h=/[#&]filter=([^&]*)/.exec(location.hash);if(h){f.value=decodeURIComponent(h[1]);apply()}\
f.addEventListener('input',function(){history.replaceState(null,'','#filter='+encodeURIComponent(f.value));apply()})})();";

/// The page for `inv` at `now`. Every link is an absolute path below
/// `base` (the path of `--web.external-url`, "" or "/prefix", never from the
/// request), the Metrics link `base` + `telemetry_path`.
pub fn render(
    inv: &Inventory,
    now: SystemTime,
    base: &str,
    telemetry_path: &str,
    sel: &Selection,
) -> String {
    let base = esc(base);
    let mut rows: Vec<Row<'_>> = inv.targets.iter().map(|t| Row::new(t)).collect();
    rows.sort_by(|a, b| (a.health, &a.target.config.name).cmp(&(b.health, &b.target.config.name)));
    let summary = Summary::new(&rows);
    let mut h = String::with_capacity(256 + rows.len() * 160);
    let _ = writeln!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ivanti-exporter</title><style>{STYLE}</style></head><body>\
         <h1>ivanti-exporter</h1><p><a href=\"{base}{}\">Metrics</a> · <a href=\"{base}/targets\">Targets (http_sd)</a> · \
         <a href=\"{base}/-/healthy\">Health</a> · <a href=\"{base}/-/ready\">Ready</a> · version {}</p>",
        esc(telemetry_path),
        crate::version::VERSION
    );
    write_summary(&mut h, &base, &summary, rows.len());
    let shown: Vec<&Row<'_>> = rows
        .iter()
        .filter(|r| sel.states.is_empty() || sel.states.contains(&r.health))
        .filter(|r| r.matches(&sel.filter))
        .take(sel.limit.unwrap_or(usize::MAX))
        .collect();
    write_controls(&mut h, &base, sel, shown.len(), rows.len());
    h.push_str(
        "<div class=w><table id=t><thead><tr><th>target<th>kind<th>url<th>state<th>failing collectors\
         <th title=\"time since the latest successful poll of any collector\">data age\
         <th title=\"the slowest collector's latest poll\">poll</thead><tbody>\n",
    );
    for r in shown {
        write_row(&mut h, &base, r, now);
    }
    let _ = writeln!(
        h,
        "</tbody></table></div><script>{SCRIPT}</script></body></html>"
    );
    h
}

fn write_summary(h: &mut String, base: &str, s: &Summary, targets: usize) {
    let total = s.total();
    let _ = write!(h, "<p id=states>{targets} targets:");
    for (i, state) in Health::ALL.iter().enumerate() {
        let _ = write!(
            h,
            " <a href=\"{base}/?state={0}\">{1} {0}</a>{2}",
            state.name(),
            total[i],
            if i < 3 { " ·" } else { "" }
        );
    }
    h.push_str(
        "</p>\n<table class=sum><tr><th>kind<th>targets<th>down<th>degraded<th>pending<th>up\n",
    );
    for (kind, c) in &s.by_kind {
        let _ = writeln!(
            h,
            "<tr id=kind-{kind}><td>{kind}<td class=n>{}<td class=n>{}<td class=n>{}<td class=n>{}<td class=n>{}",
            c.iter().sum::<usize>(),
            c[0],
            c[1],
            c[2],
            c[3]
        );
    }
    h.push_str("</table>\n");
    if s.by_reason.is_empty() {
        h.push_str("<p id=reasons>No collector is failing.</p>\n");
        return;
    }
    h.push_str("<table class=sum id=reasons><tr><th>reason<th>down targets<th>degraded targets\n");
    for (reason, c) in &s.by_reason {
        let _ = writeln!(
            h,
            "<tr id=reason-{reason}><td>{reason}<td class=n>{}<td class=n>{}",
            c[0], c[1]
        );
    }
    h.push_str("</table>\n");
}

fn write_controls(h: &mut String, base: &str, sel: &Selection, shown: usize, total: usize) {
    let _ = write!(
        h,
        "<form method=get><p><input id=f name=filter value=\"{}\" placeholder=\"filter: name, kind, url, state, error\">",
        esc(&sel.filter)
    );
    if !sel.states.is_empty() {
        let states: Vec<_> = sel.states.iter().map(|s| s.name()).collect();
        let _ = write!(
            h,
            "<input type=hidden name=state value=\"{}\">",
            states.join(",")
        );
    }
    let _ = write!(
        h,
        " <button>filter</button> <span id=n data-total={total}>{shown} of {total} targets shown</span>"
    );
    if !sel.is_all() {
        let _ = write!(h, " · <a href=\"{base}/\">all targets</a>");
    }
    h.push_str("</p></form>\n");
}

/// Whether a collector's latest data says `ivanti_gateway_accessible 0`.
fn reports_not_accessible(data: &crate::exposition::Rendered) -> bool {
    let name = crate::kinds::ics::healthcheck::GATEWAY_ACCESSIBLE.name;
    data.runs()
        .filter(|(desc, _)| desc.name == name)
        .any(|(_, lines)| lines.lines().any(|l| l.ends_with(" 0")))
}

fn write_row(h: &mut String, base: &str, r: &Row<'_>, now: SystemTime) {
    let c = &r.target.config;
    let name = esc(&c.name);
    let _ = write!(
        h,
        "<tr class={}><td><a href=\"{base}/probe?target={}\">{name}</a><td>{}<td>{}<td>{}{}<td",
        r.health.name(),
        esc(&urlencode(&c.name)),
        c.kind.name(),
        esc(c.client.url.as_str()),
        r.health.name(),
        if r.not_accessible {
            " · <b class=na title=\"ivanti_gateway_accessible 0: the healthcheck answers 5xx\">not accessible</b>"
        } else {
            ""
        }
    );
    if r.failing.is_empty() {
        h.push('>');
    } else {
        h.push_str(" class=e>");
        write_failures(h, &r.failing, r.target.collectors.len(), now);
    }
    let data_age = r
        .last_success
        .map(|t| age(now, t))
        .unwrap_or_else(|| "never".into());
    let _ = writeln!(
        h,
        "<td>{data_age}<td>{}",
        r.slowest.map(seconds).unwrap_or_default()
    );
}

/// The failing collectors; those failing for the same reason since the
/// same last success share a line with the first one's message (the
/// others differ mostly by URL; the log has each): a fleet that is all
/// down stays a page of about 3.5 MB (140 KB gzipped).
fn write_failures(h: &mut String, failing: &[Failing], collectors: usize, now: SystemTime) {
    // (collectors, the first one's error, last success, other messages)
    let mut lines: Vec<(Vec<&'static str>, &CollectError, String, usize)> = Vec::new();
    for (collector, o, ok) in failing {
        let Err(e) = &o.result else { continue };
        let since = match ok {
            Some(t) => format!("ok {} ago", age(now, *t)),
            None => "never ok".into(),
        };
        match lines
            .iter_mut()
            .find(|(_, le, ls, _)| le.kind() == e.kind() && *ls == since)
        {
            Some((names, first, _, others)) => {
                names.push(collector);
                *others += usize::from(*first != e);
            }
            None => lines.push((vec![collector], e, since, 0)),
        }
    }
    for (i, (names, e, since, others)) in lines.iter().enumerate() {
        let names = match names.len() {
            n if n == collectors && n > 1 => "all collectors".to_owned(),
            _ => names.join(", "),
        };
        let _ = write!(
            h,
            "{}<b>{names}</b> [{}] {} ({since})",
            if i > 0 { "<br>" } else { "" },
            e.kind(),
            esc(&e.to_string())
        );
        if *others > 0 {
            let _ = write!(h, " (+{others} similar)");
        }
    }
}

/// `now - t`, human-readable in one unit: "42s", "3m", "5h", "2d".
fn age(now: SystemTime, t: SystemTime) -> String {
    let s = now.duration_since(t).unwrap_or_default().as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A poll's wall time: "0.12s", "1.5s", "12s".
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{s:.2}s")
    } else if s < 10.0 {
        format!("{s:.1}s")
    } else {
        format!("{s:.0}s")
    }
}

/// `&`, `<`, `>`, `"` and `'` as entities (text and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A query-string value, encoded by the `url` crate's form codec.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests;

//! The metric model every collector writes into, and the two text formats
//! `/metrics` speaks.
//!
//! Collectors never format text: they push [`Series`] into [`Samples`]
//! against a static [`Desc`]. Label values are escaped once, when pushed, so
//! rendering a scrape is string concatenation. Both the classic Prometheus
//! text format 0.0.4 and OpenMetrics 1.0 are written here. prometheus-client
//! (0.26: escapes label values, writes both formats) would format every
//! series at every scrape; README "Why the hot path has its own pieces" has
//! the measured difference (`cargo bench --bench hot_paths -- render`).

use std::fmt::Write as _;

/// Gauge or counter: the only two types this exporter publishes
/// (`*_info` metrics are gauges with the value 1, which `promtool` accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A value that goes up and down.
    Gauge,
    /// A monotonically increasing count; its name ends in `_total`.
    Counter,
}

impl MetricType {
    /// The name used in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        }
    }
}

/// A metric family: its name, help, type and the label names of its series,
/// in the order values are passed to [`Samples::push`]. The `target` label and
/// the target's static labels are not listed: they are added to every series.
#[derive(Debug, PartialEq, Eq)]
pub struct Desc {
    /// Full metric name, e.g. `ivanti_cpu_utilization_ratio`; counters end in `_total`.
    pub name: &'static str,
    /// One sentence, no trailing period needed.
    pub help: &'static str,
    /// Gauge or counter.
    pub metric_type: MetricType,
    /// Label names, in push order.
    pub labels: &'static [&'static str],
}

impl Desc {
    /// A gauge descriptor (for `static` items).
    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Desc {
        Desc {
            name,
            help,
            metric_type: MetricType::Gauge,
            labels,
        }
    }

    /// A counter descriptor (for `static` items); `name` must end in `_total`.
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Desc {
        Desc {
            name,
            help,
            metric_type: MetricType::Counter,
            labels,
        }
    }

    /// Name of the family in OpenMetrics: counters drop their `_total`.
    pub fn family_name(&self) -> &'static str {
        match self.metric_type {
            MetricType::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            MetricType::Gauge => self.name,
        }
    }
}

/// One series: its family, its own labels (already escaped and joined as
/// `a="x",b="y"`, without the target's labels) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The family.
    pub desc: &'static Desc,
    /// Escaped, comma-joined label pairs; may be empty.
    pub labels: Box<str>,
    /// The sample value.
    pub value: f64,
}

/// What a collector produces: an ordered list of series.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Samples {
    series: Vec<Series>,
}

impl Samples {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a series. `values` are the label values in the order of `desc.labels`.
    ///
    /// # Panics
    /// In debug builds, when the number of values differs from the number of labels.
    pub fn push(&mut self, desc: &'static Desc, values: &[&str], value: f64) {
        debug_assert_eq!(
            desc.labels.len(),
            values.len(),
            "label values for {}",
            desc.name
        );
        let mut labels = String::new();
        for (name, v) in desc.labels.iter().zip(values) {
            push_label(&mut labels, name, v);
        }
        self.series.push(Series {
            desc,
            labels: labels.into_boxed_str(),
            value,
        });
    }

    /// Add a series whose value is a boolean (1 or 0).
    pub fn push_bool(&mut self, desc: &'static Desc, values: &[&str], value: bool) {
        self.push(desc, values, if value { 1.0 } else { 0.0 });
    }

    /// The series, in push order.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Append all of `other`.
    pub fn extend(&mut self, other: Samples) {
        self.series.extend(other.series);
    }

    /// The value of the first series of the named family whose labels
    /// contain `labels_contain` (the kinds' tests read their samples so).
    #[cfg(test)]
    pub fn value_of(&self, name: &str, labels_contain: &str) -> Option<f64> {
        self.series
            .iter()
            .find(|s| s.desc.name == name && s.labels.contains(labels_contain))
            .map(|s| s.value)
    }

    /// Move the series out.
    pub fn into_vec(self) -> Vec<Series> {
        self.series
    }
}

impl From<Vec<Series>> for Samples {
    fn from(series: Vec<Series>) -> Self {
        Samples { series }
    }
}

/// Append `name="escaped value"` (with a leading comma when `out` is not empty).
pub fn push_label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    escape_label_value(out, value);
    out.push('"');
}

/// Escape a label value for both text formats: `\` `"` and newline.
pub fn escape_label_value(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`
    Text,
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
}

impl Format {
    /// Choose as client_golang's `expfmt.NegotiateIncludingOpenMetrics`
    /// does: the Accept header's media ranges by falling `q` (ties: the more
    /// specific first, then as written), and the first that is
    /// `text/plain` (`version` 0.0.4, 1.0.0 or none) or
    /// `application/openmetrics-text` (`version` 1.0.0, 0.0.1 or none) wins;
    /// nothing matching (`*/*` alone, no header) is the classic text
    /// format. Unlike goautoneg, a range with `q=0` is skipped: RFC 9110
    /// reads it as "not acceptable".
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut ranges: Vec<(f64, u8, Option<Format>)> = accept
            .unwrap_or("")
            .split(',')
            .filter_map(media_range)
            .filter(|(q, _, _)| *q > 0.0)
            .collect();
        // Stable: equal q and specificity keep the order written.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        ranges
            .into_iter()
            .find_map(|(_, _, format)| format)
            .unwrap_or(Format::Text)
    }

    /// The Content-Type header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// One media range of an Accept header: its `q` (1 when absent or
/// unreadable, as goautoneg), its specificity (2 for `type/subtype`, 1 for
/// `type/*`, 0 for `*/*`) and the format it asks for, if one of ours.
fn media_range(part: &str) -> Option<(f64, u8, Option<Format>)> {
    let mut params = part.split(';').map(str::trim);
    let media = params.next()?.to_ascii_lowercase();
    let (kind, sub) = match media.as_str() {
        "" => return None,
        "*" => ("*", "*"),
        m => m.split_once('/')?,
    };
    let (mut q, mut version) = (1.0, None);
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "q" => {
                q = v
                    .parse::<f64>()
                    .ok()
                    .filter(|q| q.is_finite())
                    .unwrap_or(1.0)
            }
            "version" => version = Some(v.to_owned()),
            _ => {}
        }
    }
    let specificity = match (kind, sub) {
        ("*", _) => 0,
        (_, "*") => 1,
        _ => 2,
    };
    let version = version.as_deref();
    let format = match (kind, sub) {
        ("text", "plain") if matches!(version, None | Some("0.0.4" | "1.0.0")) => {
            Some(Format::Text)
        }
        ("application", "openmetrics-text")
            if matches!(version, None | Some("1.0.0" | "0.0.1")) =>
        {
            Some(Format::OpenMetrics)
        }
        _ => None,
    };
    Some((q, specificity, format))
}

/// Writes families to a buffer in one format. Call [`Encoder::family`] once
/// per family, then [`Encoder::series`] for each of its series, then
/// [`Encoder::finish`].
#[derive(Debug)]
pub struct Encoder<'a> {
    out: &'a mut String,
    format: Format,
    current: Option<&'static Desc>,
}

impl<'a> Encoder<'a> {
    /// Start writing into `out`.
    pub fn new(out: &'a mut String, format: Format) -> Self {
        Encoder {
            out,
            format,
            current: None,
        }
    }

    /// Write the `# HELP` / `# TYPE` header of a family.
    pub fn family(&mut self, desc: &'static Desc) {
        self.current = Some(desc);
        let name = match self.format {
            Format::Text => desc.name,
            Format::OpenMetrics => desc.family_name(),
        };
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        for c in desc.help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '"' if self.format == Format::OpenMetrics => self.out.push_str("\\\""),
                c => self.out.push(c),
            }
        }
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(desc.metric_type.as_str());
        self.out.push('\n');
        if self.format == Format::OpenMetrics {
            if let Some(unit) = unit_of(desc) {
                self.out.push_str("# UNIT ");
                self.out.push_str(name);
                self.out.push(' ');
                self.out.push_str(unit);
                self.out.push('\n');
            }
        }
    }

    /// Write one sample line. `prefix` holds labels shared by a target
    /// (escaped, comma-joined), `labels` the series' own.
    pub fn series(&mut self, prefix: &str, labels: &str, value: f64) {
        let desc = self.current.expect("family() before series()");
        write_line(self.out, desc, prefix, labels, value);
    }

    /// Copy sample lines of the current family rendered earlier
    /// ([`Rendered`]): sample lines are the same in both formats.
    pub fn lines(&mut self, text: &str) {
        debug_assert!(self.current.is_some(), "family() before lines()");
        self.out.push_str(text);
    }

    /// Bytes written and not taken yet.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Nothing written since the last [`Encoder::take`].
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Take what was written so far (for streaming it out); writing goes
    /// on into a fresh buffer of `capacity`.
    pub fn take(&mut self, capacity: usize) -> String {
        std::mem::replace(self.out, String::with_capacity(capacity))
    }

    /// End the exposition (`# EOF` for OpenMetrics).
    pub fn finish(self) {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
    }
}

fn unit_of(desc: &Desc) -> Option<&'static str> {
    let name = desc.family_name();
    ["seconds", "bytes", "ratio"]
        .into_iter()
        .find(|unit| name.ends_with(&format!("_{unit}")))
}

/// One sample line: `name{prefix,labels} value`.
fn write_line(out: &mut String, desc: &Desc, prefix: &str, labels: &str, value: f64) {
    out.push_str(desc.name);
    if !prefix.is_empty() || !labels.is_empty() {
        out.push('{');
        out.push_str(prefix);
        if !prefix.is_empty() && !labels.is_empty() {
            out.push(',');
        }
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    out.push('\n');
}

/// A collector's series rendered once, when it is polled: the sample lines
/// of each family run, ready to be copied into every scrape until the next
/// poll. A scrape then costs a copy per run instead of formatting every
/// series again, and the text takes less memory than the series it came
/// from. Lines are the same in both formats; only family headers differ.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rendered {
    text: Box<str>,
    runs: Box<[(&'static Desc, usize)]>,
}

impl Rendered {
    /// Render `series` with every line's labels starting with `prefix`.
    /// Consecutive series of the same family form one run.
    pub fn new(prefix: &str, series: &[Series]) -> Self {
        let mut text = String::with_capacity(series.len() * (prefix.len() + 64));
        let mut runs: Vec<(&'static Desc, usize)> = Vec::new();
        for s in series {
            if runs.last().is_none_or(|(d, _)| !std::ptr::eq(*d, s.desc)) {
                if let Some(last) = runs.last_mut() {
                    last.1 = text.len();
                }
                runs.push((s.desc, 0));
            }
            write_line(&mut text, s.desc, prefix, &s.labels, s.value);
        }
        if let Some(last) = runs.last_mut() {
            last.1 = text.len();
        }
        Rendered {
            text: text.into_boxed_str(),
            runs: runs.into_boxed_slice(),
        }
    }

    /// The runs in order: family and its sample lines.
    pub fn runs(&self) -> impl Iterator<Item = (&'static Desc, &str)> + '_ {
        let mut start = 0;
        self.runs.iter().map(move |&(desc, end)| {
            let lines = &self.text[start..end];
            start = end;
            (desc, lines)
        })
    }

    /// Bytes of sample lines.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// No series.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// Format a value the way both parsers accept: integers without a fraction,
/// `NaN`, `+Inf`, `-Inf`.
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static G: Desc = Desc::gauge("test_value_ratio", "A \"quoted\" help\\ line", &["realm"]);
    static C: Desc = Desc::counter("test_errors_total", "Errors", &["reason"]);

    #[test]
    fn escapes_hostile_label_values() {
        let mut s = Samples::new();
        s.push(&G, &["a\"b\\c\nd ü"], 0.5);
        assert_eq!(&*s.series()[0].labels, r#"realm="a\"b\\c\nd ü""#);
    }

    #[test]
    fn text_and_openmetrics_differ_where_the_specs_do() {
        let mut s = Samples::new();
        s.push(&C, &["timeout"], 3.0);
        let render = |format| {
            let mut out = String::new();
            let mut e = Encoder::new(&mut out, format);
            e.family(&C);
            e.series("target=\"a\"", &s.series()[0].labels, 3.0);
            e.family(&G);
            e.series("", "", f64::NAN);
            e.finish();
            out
        };
        assert_eq!(
            render(Format::Text),
            "# HELP test_errors_total Errors\n# TYPE test_errors_total counter\n\
             test_errors_total{target=\"a\",reason=\"timeout\"} 3\n\
             # HELP test_value_ratio A \"quoted\" help\\\\ line\n# TYPE test_value_ratio gauge\n\
             test_value_ratio NaN\n"
        );
        assert_eq!(
            render(Format::OpenMetrics),
            "# HELP test_errors Errors\n# TYPE test_errors counter\n\
             test_errors_total{target=\"a\",reason=\"timeout\"} 3\n\
             # HELP test_value_ratio A \\\"quoted\\\" help\\\\ line\n# TYPE test_value_ratio gauge\n# UNIT test_value_ratio ratio\n\
             test_value_ratio NaN\n# EOF\n"
        );
    }

    /// The Accept headers Prometheus sends, from prometheus/prometheus
    /// `scrape/scrape.go` `acceptHeader()`: each of `scrape_protocols` with
    /// `q=0.<n>` falling from `len(ScrapeProtocolsHeaders) + 1`, then `*/*`.
    /// Prometheus 2.x (2.49 to 2.55, default protocols
    /// OpenMetricsText1.0.0, OpenMetricsText0.0.1, PrometheusText0.0.4):
    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    /// Prometheus 3.x, default protocols (PrometheusText1.0.0 added, escaping
    /// on the 1.0.0 formats), as `TestAcceptHeader` in `scrape/scrape_test.go`:
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    /// Prometheus 3.x with `scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]`.
    const PROMETHEUS_3_TEXT_FIRST: &str =
        "text/plain;version=0.0.4;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,*/*;q=0.4";
    /// Prometheus 2.x with `scrape_protocols: [PrometheusText0.0.4]`.
    const PROMETHEUS_2_TEXT_ONLY: &str = "text/plain;version=0.0.4;q=0.5,*/*;q=0.4";

    #[test]
    fn negotiates_like_client_golang() {
        assert_eq!(Format::negotiate(Some(PROMETHEUS_2)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some(PROMETHEUS_3)), Format::OpenMetrics);
        // scrape_protocols that prefer the classic text format are honoured.
        assert_eq!(
            Format::negotiate(Some(PROMETHEUS_3_TEXT_FIRST)),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some(PROMETHEUS_2_TEXT_ONLY)),
            Format::Text
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        // Order as written does not matter, q does; no q is q=1.
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.2, application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.1,text/*;q=0.5")),
            Format::OpenMetrics,
            "text/* is not text/plain"
        );
        // Equal q: as written.
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.5,application/openmetrics-text;q=0.5")),
            Format::Text
        );
        // Versions we do not write are passed over.
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=2.0.0,text/plain;q=0.1"
            )),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some(
                "Application/OpenMetrics-Text; Version=1.0.0; Q=0.9, text/plain; q=0.8"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; q=0")),
            Format::Text
        );
        // Garbage is no format, never a panic.
        for junk in [
            "",
            ",,,",
            ";;q=",
            "a/b;q=abc",
            "/;=",
            "application/openmetrics-text;q=NaN",
        ] {
            let _ = Format::negotiate(Some(junk));
        }
    }

    #[test]
    fn values() {
        let mut out = String::new();
        for v in [1.0, 0.25, -3.0, f64::INFINITY, 1e20] {
            write_value(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "1 0.25 -3 +Inf 100000000000000000000 ");
    }
}

//! Logging set-up: `--log.level` and `--log.format=logfmt|json`, on stderr,
//! like Prometheus' own exporters. Both formats carry the same keys, and
//! they are Prometheus' (its `log/slog` handlers through `promslog`):
//! `time` (RFC 3339, milliseconds, UTC), `level` (`DEBUG`, `INFO`, `WARN`,
//! `ERROR`), `source` (`file.rs:line`), `msg`, then the event's fields.
//! Values are quoted and control characters escaped, so text from an
//! appliance cannot forge log lines or ANSI codes.

use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `time=… level=INFO source=file.rs:12 msg="…" key=value`
    Logfmt,
    /// One JSON object per line, with the same keys.
    Json,
}

/// Log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Everything, including each successful poll and each request to an appliance.
    Debug,
    /// State changes and failures.
    Info,
    /// Failures only.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    fn filter(self) -> tracing_subscriber::filter::LevelFilter {
        use tracing_subscriber::filter::LevelFilter;
        match self {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// Install the global subscriber. Only this crate's events are shown at
/// debug; dependencies are capped at warn.
pub fn init(level: LogLevel, format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = subscriber(level, format, std::io::stderr).try_init();
}

/// The subscriber [`init`] installs, writing to `writer`.
fn subscriber<W>(level: LogLevel, format: LogFormat, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = Targets::new()
        .with_target("ivanti_exporter", level.filter())
        .with_default(level.filter().min(LevelFilter::WARN));
    tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .event_format(Prometheus { format })
            .with_ansi(false)
            .with_writer(writer),
    )
}

/// The event formatter: Prometheus' keys, in logfmt or JSON.
#[derive(Debug, Clone, Copy)]
struct Prometheus {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for Prometheus
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        let file = meta.file().unwrap_or("unknown");
        let file = file.rsplit(['/', '\\']).next().unwrap_or(file);
        let source = format!("{file}:{}", meta.line().unwrap_or(0));
        let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let mut v = Fields::default();
        event.record(&mut v);
        let head = [
            ("time", serde_json::Value::from(time)),
            ("level", level.into()),
            ("source", source.into()),
            ("msg", v.msg.unwrap_or_default().into()),
        ];
        let all = head.into_iter().chain(v.fields);
        match self.format {
            LogFormat::Logfmt => {
                for (i, (key, value)) in all.enumerate() {
                    if i > 0 {
                        w.write_char(' ')?;
                    }
                    w.write_str(key)?;
                    w.write_char('=')?;
                    match value {
                        serde_json::Value::String(s) => write_value(&mut w, &s)?,
                        other => write!(w, "{other}")?,
                    }
                }
            }
            LogFormat::Json => {
                // Written key by key: in this order, as Prometheus does.
                w.write_char('{')?;
                for (i, (key, value)) in all.enumerate() {
                    if i > 0 {
                        w.write_char(',')?;
                    }
                    write!(w, "{}:{value}", serde_json::Value::from(key))?;
                }
                w.write_char('}')?;
            }
        }
        writeln!(w)
    }
}

/// An event's message and fields, numbers and booleans kept as such (JSON
/// numbers; bare in logfmt). A field named like one of the four keys is
/// written as `field_<name>`, so a line never carries a key twice.
#[derive(Default)]
struct Fields {
    msg: Option<String>,
    fields: Vec<(&'static str, serde_json::Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: serde_json::Value) {
        let name = match field.name() {
            "message" => {
                self.msg = Some(match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                });
                return;
            }
            "time" => "field_time",
            "level" => "field_level",
            "source" => "field_source",
            "msg" => "field_msg",
            name => name,
        };
        self.fields.push((name, value));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities are not JSON numbers: written as text.
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| value.to_string().into(), serde_json::Value::Number);
        self.push(field, v);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}").into());
    }
}

/// Write a logfmt value: bare when safe, otherwise quoted with escapes.
fn write_value(w: &mut impl fmt::Write, v: &str) -> fmt::Result {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if bare {
        return w.write_str(v);
    }
    w.write_char('"')?;
    for c in v.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            c if c.is_control() => write!(w, "\\u{{{:x}}}", c as u32)?,
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::{subscriber, LogFormat, LogLevel};
    use std::sync::{Arc, Mutex};

    /// One event, as `format` writes it: its line, and the line of the
    /// source it was logged from.
    fn logged(format: LogFormat) -> (String, u32) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let writer = move || Sink(sink.clone());
        let line =
            tracing::subscriber::with_default(subscriber(LogLevel::Info, format, writer), || {
                let line = line!() + 1;
                tracing::info!(
                    kept = 1,
                    address = "127.0.0.1:9959",
                    level = "x",
                    "configuration applied"
                );
                line
            });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        (text, line)
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// `time` is RFC 3339 in UTC with milliseconds, as Prometheus writes it.
    fn assert_time(t: &str) {
        assert!(humantime::parse_rfc3339(t).is_ok(), "{t}");
        let (_, fraction) = t.split_once('.').unwrap();
        assert_eq!(fraction.len(), 4, "{t}: milliseconds and Z");
        assert!(fraction.ends_with('Z'), "{t}");
    }

    /// logfmt: Prometheus' keys first (`time`, `level`, `source`, `msg`),
    /// then the event's fields; a field named like one of them is renamed.
    #[test]
    fn logfmt_lines_carry_prometheus_keys() {
        let (text, line) = logged(LogFormat::Logfmt);
        let text = text.strip_suffix('\n').unwrap();
        assert!(!text.contains('\n'), "one line: {text}");
        let (time, rest) = text
            .strip_prefix("time=")
            .and_then(|t| t.split_once(' '))
            .unwrap();
        assert_time(time);
        assert_eq!(
            rest,
            format!(
                "level=INFO source=logging.rs:{line} msg=\"configuration applied\" \
                 kept=1 address=127.0.0.1:9959 field_level=x"
            )
        );
    }

    /// JSON: the same keys, in the same order, numbers as numbers.
    #[test]
    fn json_lines_carry_the_same_keys() {
        let (text, line) = logged(LogFormat::Json);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("{\"time\":\""), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let o = v.as_object().unwrap();
        assert_time(o["time"].as_str().unwrap());
        let mut rest = o.clone();
        rest.remove("time");
        assert_eq!(
            serde_json::Value::Object(rest),
            serde_json::json!({
                "level": "INFO",
                "source": format!("logging.rs:{line}"),
                "msg": "configuration applied",
                "kept": 1,
                "address": "127.0.0.1:9959",
                "field_level": "x",
            })
        );
        let keys: Vec<_> = text
            .split(['{', ','])
            .filter_map(|p| p.split_once("\":").map(|(k, _)| k.trim_start_matches('"')))
            .collect();
        assert_eq!(
            keys,
            [
                "time",
                "level",
                "source",
                "msg",
                "kept",
                "address",
                "field_level"
            ]
        );
    }

    #[test]
    fn values_are_quoted_and_escaped() {
        let mut s = String::new();
        super::write_value(&mut s, "plain").unwrap();
        s.push(' ');
        super::write_value(&mut s, "a \"b\"\n\x1b[31m").unwrap();
        assert_eq!(s, "plain \"a \\\"b\\\"\\n\\u{1b}[31m\"");
    }
}

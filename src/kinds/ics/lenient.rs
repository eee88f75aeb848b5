//! Deserializers that accept what real firmware sends: numbers or numeric
//! strings, `true`/`"YES"`/`1` booleans, `null`s, and lists that arrive as a
//! single object, as `{}`, `""` or not at all (XML-to-JSON artefacts).

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A number, a numeric string (`"8"`, `" 8.5 "`) or null/missing/garbage → `None`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(value_f64(&Value::deserialize(d)?))
}

/// The number in a JSON value, if it holds one.
pub fn value_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A boolean: `true`, `"YES"`, `"yes"`, `"true"`, `1`, `"1"` (and the negatives).
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(value_bool(&Value::deserialize(d)?))
}

/// The boolean in a JSON value, if it holds one.
pub fn value_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" | "on" | "enabled" => Some(true),
            "no" | "false" | "0" | "off" | "disabled" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A string; numbers become their text; null/missing/objects → `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// A list that may be a JSON array, a single object, or absent/`{}`/`""`/null.
/// Elements that do not decode are skipped rather than failing the whole list.
pub fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        Value::Object(map) if map.is_empty() => Vec::new(),
        v @ Value::Object(_) => serde_json::from_value(v).ok().into_iter().collect(),
        _ => Vec::new(),
    })
}

/// The first `result.errors[].message` of an ICS error body, shortened to 200 characters.
pub fn api_error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        result: Option<ResultObj>,
    }
    #[derive(Deserialize)]
    struct ResultObj {
        #[serde(default, deserialize_with = "one_or_many")]
        errors: Vec<Msg>,
    }
    #[derive(Deserialize)]
    struct Msg {
        #[serde(default, deserialize_with = "opt_string")]
        message: Option<String>,
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    let msg = b.result?.errors.into_iter().find_map(|m| m.message)?;
    Some(msg.chars().take(200).collect())
}

/// Ignore whatever is there (for fields we only need to tolerate).
pub type Ignored = IgnoredAny;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "opt_f64")]
        n: Option<f64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "one_or_many")]
        l: Vec<u32>,
    }

    #[test]
    fn accepts_firmware_variants() {
        let t: T = serde_json::from_str(r#"{"n":" 8 ","b":"YES","l":[1,"x",3]}"#).unwrap();
        assert_eq!((t.n, t.b, t.l), (Some(8.0), Some(true), vec![1, 3]));
        let t: T = serde_json::from_str(r#"{"n":null,"b":"NO","l":{},"extra":1}"#).unwrap();
        assert_eq!((t.n, t.b, t.l), (None, Some(false), vec![]));
        let t: T = serde_json::from_str(r#"{"n":"n/a","l":""}"#).unwrap();
        assert_eq!((t.n, t.b, t.l), (None, None, vec![]));
    }

    #[test]
    fn error_message() {
        let b = br#"{"result": {"errors": [{"message": "Invalid credentials"}]}}"#;
        assert_eq!(api_error_message(b).as_deref(), Some("Invalid credentials"));
        assert_eq!(api_error_message(b"<html>"), None);
        assert_eq!(api_error_message(b"{}"), None);
    }
}

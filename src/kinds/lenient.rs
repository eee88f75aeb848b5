//! Reading numbers and booleans the way appliances write them: numbers or
//! numeric strings (`"42"`, `"7 %"`), `true`/`"YES"`/`1` booleans. Shared
//! by every kind; Connect Secure's serde helpers are in `ics::lenient`.

use serde_json::Value;

/// The number in a JSON value, if it holds one.
pub fn value_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s
            .trim()
            .trim_end_matches('%')
            .trim_end()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite()),
        _ => None,
    }
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

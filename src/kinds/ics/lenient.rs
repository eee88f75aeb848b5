//! Deserializers that accept what real firmware sends: numbers or numeric
//! strings, `true`/`"YES"`/`1` booleans, `null`s, and lists that arrive as a
//! single object, as `{}`, `""` or not at all (XML-to-JSON artefacts).

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

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
/// Streams (no intermediate `serde_json::Value`); array elements that are not
/// objects are skipped, so `T` should be a struct of lenient fields.
pub fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(OneOrMany(PhantomData))
}

struct OneOrMany<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrMany<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list, a single object, or nothing")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<ObjectOrSkip<T>>()? {
            if let Some(t) = item.0 {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
        let first = ObjectOrSkip::<T>::from_map(map)?;
        Ok(first.0.into_iter().collect())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
}

/// An object decoded as `T` (an empty object counts as nothing), anything else skipped.
struct ObjectOrSkip<T>(Option<T>);

impl<'de, T: Deserialize<'de>> ObjectOrSkip<T> {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let peekable = map;
        T::deserialize(de::value::MapAccessDeserializer::new(peekable))
            .map(|t| ObjectOrSkip(Some(t)))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOrSkip<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ObjectOrSkip<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ObjectOrSkip::from_map(map)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ObjectOrSkip(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ObjectOrSkip(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ObjectOrSkip(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ObjectOrSkip(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ObjectOrSkip(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ObjectOrSkip(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ObjectOrSkip(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ObjectOrSkip(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A string borrowed from the body where possible; numbers and booleans
/// become text; null, objects and arrays become `None`. Never fails.
pub fn lenient_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            while s.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
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

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        #[serde(default, deserialize_with = "opt_f64")]
        v: Option<f64>,
    }

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "opt_f64")]
        n: Option<f64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "one_or_many")]
        l: Vec<Item>,
    }

    fn vs(t: &T) -> Vec<Option<f64>> {
        t.l.iter().map(|i| i.v).collect()
    }

    #[test]
    fn accepts_firmware_variants() {
        let t: T = serde_json::from_str(r#"{"n":" 8 ","b":"YES","l":[{"v":1},"x",[2],{"v":"3"}]}"#)
            .unwrap();
        assert_eq!(
            (t.n, t.b, vs(&t)),
            (Some(8.0), Some(true), vec![Some(1.0), Some(3.0)])
        );
        let t: T = serde_json::from_str(r#"{"n":null,"b":"NO","l":{"v":2},"extra":1}"#).unwrap();
        assert_eq!((t.n, t.b, vs(&t)), (None, Some(false), vec![Some(2.0)]));
        let t: T = serde_json::from_str(r#"{"n":"n/a","l":""}"#).unwrap();
        assert_eq!((t.n, t.b, vs(&t)), (None, None, vec![]));
        let t: T = serde_json::from_str(r#"{"l":null}"#).unwrap();
        assert!(t.l.is_empty());
    }

    #[test]
    fn lenient_strings_borrow_and_never_fail() {
        #[derive(Deserialize)]
        struct S<'a> {
            #[serde(borrow, deserialize_with = "lenient_str")]
            a: Option<Cow<'a, str>>,
            #[serde(borrow, deserialize_with = "lenient_str")]
            b: Option<Cow<'a, str>>,
            #[serde(borrow, deserialize_with = "lenient_str")]
            c: Option<Cow<'a, str>>,
        }
        let s: S<'_> = serde_json::from_str(r#"{"a":"x","b":12,"c":{"deep":[1]}}"#).unwrap();
        assert!(matches!(s.a, Some(Cow::Borrowed("x"))));
        assert_eq!(s.b.as_deref(), Some("12"));
        assert_eq!(s.c, None);
    }

    #[test]
    fn error_message() {
        let b = br#"{"result": {"errors": [{"message": "Invalid credentials"}]}}"#;
        assert_eq!(api_error_message(b).as_deref(), Some("Invalid credentials"));
        assert_eq!(api_error_message(b"<html>"), None);
        assert_eq!(api_error_message(b"{}"), None);
    }
}

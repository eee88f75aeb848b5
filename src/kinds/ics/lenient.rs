//! Connect Secure's deserializers: they accept what real firmware sends: numbers or numeric
//! strings, `true`/`"YES"`/`1` booleans, `null`s, and lists that arrive as a
//! single object, as `{}`, `""` or not at all (XML-to-JSON artefacts).

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

pub use crate::kinds::lenient::{value_bool, value_f64};

/// Visitor methods that turn every scalar (and null) into `$nothing`.
macro_rules! nothing_for_scalars {
    ($nothing:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($nothing)
        }
    };
}

/// A number, a numeric string (`"8"`, `" 8.5 "`, `"8%"`) or null/missing/garbage → `None`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(value_f64(&Value::deserialize(d)?))
}

/// A boolean: `true`, `"YES"`, `"yes"`, `"true"`, `1`, `"1"` (and the negatives).
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(value_bool(&Value::deserialize(d)?))
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

    nothing_for_scalars!(Vec::new());
}

/// An object decoded as `T` (an empty object gives `T` with its defaults:
/// callers drop such items), anything else skipped.
struct ObjectOrSkip<T>(Option<T>);

impl<'de, T: Deserialize<'de>> ObjectOrSkip<T> {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| ObjectOrSkip(Some(t)))
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
            nothing_for_scalars!(ObjectOrSkip(None));
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A wrapper object (`{"feature": [...]}`, `{"client-info": {...}}`) that
/// firmware also sends as `""`, `[]`, a number or null when it is empty (an
/// XML-to-JSON artefact): an object decodes as `T`, anything else is `None`.
pub fn opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object, or nothing")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        nothing_for_scalars!(None);
    }
    d.deserialize_any(V(PhantomData))
}

/// Like [`opt_object`], for a wrapper whose list may also arrive unwrapped:
/// `{"active-user-record": [...]}` or directly `[...]`. An array is read
/// with [`one_or_many`] and turned into `T` with `From`.
pub fn object_or_list<'de, D, T, I>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + From<Vec<I>>,
    I: Deserialize<'de>,
{
    struct V<T, I>(PhantomData<(T, I)>);
    impl<'de, T, I> Visitor<'de> for V<T, I>
    where
        T: Deserialize<'de> + From<Vec<I>>,
        I: Deserialize<'de>,
    {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object, a list, or nothing")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
            let items: Vec<I> = one_or_many(de::value::SeqAccessDeserializer::new(seq))?;
            Ok(Some(T::from(items)))
        }
        nothing_for_scalars!(None);
    }
    d.deserialize_any(V(PhantomData))
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

/// Helpers shared by the tests of the area files.
#[cfg(test)]
pub(crate) mod testing {
    use crate::exposition::{write_value, Samples};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// The series as `name{labels} value` lines, in push order.
    pub fn lines(s: &Samples) -> Vec<String> {
        s.series()
            .iter()
            .map(|x| {
                let mut l = String::from(x.desc.name);
                if !x.labels.is_empty() {
                    l.push('{');
                    l.push_str(&x.labels);
                    l.push('}');
                }
                l.push(' ');
                write_value(&mut l, x.value);
                l
            })
            .collect()
    }

    /// Keys and strings firmware is known to send, so that arbitrary JSON
    /// often hits the fields the parsers look at.
    const WORDS: &[&str] = &[
        "active-users",
        "active-user-records",
        "active-user-record",
        "total-matched-record-number",
        "total-returned-record-number",
        "is-last-record",
        "user-login-permission",
        "session-id",
        "authentication-realm",
        "login-node",
        "network-connect-transport-mode",
        "members",
        "name",
        "mode",
        "status-code",
        "enabled",
        "external-vip-ipv4",
        "external-vip-owner",
        "leased-license-counts",
        "features",
        "feature",
        "clients",
        "client-info",
        "leased-count",
        "total-count",
        "named-users",
        "pcs",
        "pps",
        "system-information",
        "host-name",
        "machine-id",
        "CPU-UTILIZATION",
        "CPU-UTILIZATION4",
        "USER-COUNT",
        "MAX-LICENSED-USERS-REACHED",
        "SBR-AVAILABLE",
        "result",
        "errors",
        "message",
        "YES",
        "NO",
        "-1",
        " 8 ",
        "0x1b004",
        "1b004",
        "",
    ];

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(WORDS).prop_map(str::to_owned),
            1 => ".{0,8}",
        ]
    }

    /// Arbitrary JSON, biased towards the vocabulary of the ICS API.
    pub fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            word().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((word(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }
}

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
    fn numbers_and_booleans_in_every_spelling() {
        #[derive(Deserialize)]
        struct N {
            #[serde(default, deserialize_with = "opt_f64")]
            n: Option<f64>,
        }
        #[derive(Deserialize)]
        struct B {
            #[serde(default, deserialize_with = "opt_bool")]
            b: Option<bool>,
        }
        #[derive(Deserialize)]
        struct S {
            #[serde(default, deserialize_with = "opt_string")]
            s: Option<String>,
        }
        let n = |j: &str| serde_json::from_str::<N>(j).unwrap().n;
        let b = |j: &str| serde_json::from_str::<B>(j).unwrap().b;
        let s = |j: &str| serde_json::from_str::<S>(j).unwrap().s;
        for (j, want) in [
            (r#"{"n":8}"#, Some(8.0)),
            (r#"{"n":"8"}"#, Some(8.0)),
            (r#"{"n":" 8 "}"#, Some(8.0)),
            (r#"{"n":8.5}"#, Some(8.5)),
            (r#"{"n":"8.5"}"#, Some(8.5)),
            (r#"{"n":"12 %"}"#, Some(12.0)),
            (r#"{"n":"-1"}"#, Some(-1.0)),
            (r#"{"n":"NaN"}"#, None),
            (r#"{"n":"inf"}"#, None),
            (r#"{"n":""}"#, None),
            (r#"{"n":null}"#, None),
            (r#"{"n":[8]}"#, None),
            (r#"{}"#, None),
        ] {
            assert_eq!(n(j), want, "{j}");
        }
        for (j, want) in [
            (r#"{"b":true}"#, Some(true)),
            (r#"{"b":"YES"}"#, Some(true)),
            (r#"{"b":"Yes"}"#, Some(true)),
            (r#"{"b":"TRUE"}"#, Some(true)),
            (r#"{"b":1}"#, Some(true)),
            (r#"{"b":"1"}"#, Some(true)),
            (r#"{"b":false}"#, Some(false)),
            (r#"{"b":"no"}"#, Some(false)),
            (r#"{"b":"False"}"#, Some(false)),
            (r#"{"b":0}"#, Some(false)),
            (r#"{"b":"maybe"}"#, None),
            (r#"{"b":null}"#, None),
            (r#"{}"#, None),
        ] {
            assert_eq!(b(j), want, "{j}");
        }
        assert_eq!(s(r#"{"s":"x"}"#).as_deref(), Some("x"));
        assert_eq!(s(r#"{"s":12345}"#).as_deref(), Some("12345"));
        assert_eq!(s(r#"{"s":null}"#), None);
        assert_eq!(s(r#"{"s":{}}"#), None);
    }

    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct Wrapper {
        #[serde(default, deserialize_with = "one_or_many")]
        item: Vec<Item>,
    }

    impl From<Vec<Item>> for Wrapper {
        fn from(item: Vec<Item>) -> Self {
            Wrapper { item }
        }
    }

    #[test]
    fn wrapper_objects_that_arrive_empty_or_unwrapped() {
        #[derive(Deserialize)]
        struct O {
            #[serde(default, deserialize_with = "opt_object")]
            w: Option<Wrapper>,
        }
        #[derive(Deserialize)]
        struct L {
            #[serde(default, deserialize_with = "object_or_list")]
            w: Option<Wrapper>,
        }
        let o = |j: &str| serde_json::from_str::<O>(j).unwrap().w;
        let l = |j: &str| serde_json::from_str::<L>(j).unwrap().w;
        let items = |v: &[f64]| Wrapper {
            item: v.iter().map(|x| Item { v: Some(*x) }).collect(),
        };
        assert_eq!(o(r#"{"w":{"item":[{"v":1}]}}"#), Some(items(&[1.0])));
        assert_eq!(o(r#"{"w":{"item":{"v":"2"}}}"#), Some(items(&[2.0])));
        assert_eq!(o(r#"{"w":{}}"#), Some(Wrapper::default()));
        for empty in [r#""""#, "null", "[]", "[{\"v\":1}]", "0", "true"] {
            assert_eq!(o(&format!(r#"{{"w":{empty}}}"#)), None, "{empty}");
        }
        assert_eq!(o("{}"), None);
        assert_eq!(
            l(r#"{"w":[{"v":1},"x",{"v":2}]}"#),
            Some(items(&[1.0, 2.0]))
        );
        assert_eq!(l(r#"{"w":{"item":[{"v":3}]}}"#), Some(items(&[3.0])));
        assert_eq!(l(r#"{"w":""}"#), None);
        // Malformed JSON is still an error, not an empty list.
        assert!(serde_json::from_str::<L>(r#"{"w":[{"v":1}"#).is_err());
    }

    #[test]
    fn error_message() {
        let b = br#"{"result": {"errors": [{"message": "Invalid credentials"}]}}"#;
        assert_eq!(api_error_message(b).as_deref(), Some("Invalid credentials"));
        let single = br#"{"result": {"errors": {"message": 404}}}"#;
        assert_eq!(api_error_message(single).as_deref(), Some("404"));
        let skip_null = br#"{"result": {"errors": [{"message": null}, {"message": "second"}]}}"#;
        assert_eq!(api_error_message(skip_null).as_deref(), Some("second"));
        let long = format!(
            r#"{{"result": {{"errors": [{{"message": "{}"}}]}}}}"#,
            "é".repeat(300)
        );
        assert_eq!(
            api_error_message(long.as_bytes()),
            Some("é".repeat(200)),
            "200 characters, cut on a character boundary"
        );
        assert_eq!(api_error_message(b"<html>"), None);
        assert_eq!(api_error_message(b"{}"), None);
        assert_eq!(
            api_error_message(br#"{"result": {"info": [{"message": "ok"}]}}"#),
            None
        );
        assert_eq!(api_error_message(br#"{"result": "x"}"#), None);
    }

    proptest::proptest! {
        #[test]
        fn error_message_never_panics(v in testing::arb_json()) {
            let _ = api_error_message(v.to_string().as_bytes());
            let wrapped = serde_json::json!({"result": {"errors": [v]}}).to_string();
            let _ = api_error_message(wrapped.as_bytes());
        }

        #[test]
        fn lenient_fields_never_fail_on_valid_json(v in testing::arb_json()) {
            let body = serde_json::json!({"n": v, "b": v, "l": v}).to_string();
            let t: Result<T, _> = serde_json::from_str(&body);
            proptest::prop_assert!(t.is_ok(), "{body}");
        }
    }
}

//! One pass over a token's claims that fills both the registered claims the validator reads and
//! the application's own claims type.
//!
//! The application's `Deserialize` drives the pass through a deserializer that watches the
//! top-level object go by: the value of every claim the validator reads is parsed once into a
//! small [`Plain`] value, read from there into [`Registered`] and replayed from there to the
//! application's type; every other value goes straight from the payload to the application's
//! type. The payload is parsed once.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{
    BorrowedStrDeserializer, F64Deserializer, I64Deserializer, SeqDeserializer, StrDeserializer,
    StringDeserializer, U64Deserializer,
};
use serde::de::{
    self, Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, Error as _,
    MapAccess, SeqAccess, Visitor,
};

use crate::jwt::claims::{ClaimsSeed, CowStr, Field, FieldSeed, Registered, strings};

/// Deserializes `payload` into the registered claims and `C` in one pass.
///
/// An error says only that this pass failed: the caller repeats the work the two-pass way to
/// tell which claim is at fault, so that errors stay exactly what they were.
pub(crate) fn decode<'p, C: DeserializeOwned>(
    payload: &'p str,
    seed: &ClaimsSeed<'_>,
) -> Result<(Registered<'p>, C), serde_json::Error> {
    let mut claims = Registered::default();
    let mut failed = false;
    let mut json = serde_json::Deserializer::from_str(payload);
    let custom = C::deserialize(Tee {
        inner: &mut json,
        watch: Watch {
            seed,
            claims: &mut claims,
            failed: &mut failed,
        },
    });
    // A registered claim that did not read is a failure whatever `C` made of the error: a type
    // that skips values it cannot read must not make a malformed or duplicate claim pass.
    if failed {
        return Err(serde_json::Error::custom("a registered claim is malformed"));
    }
    let custom = custom?;
    json.end()?;
    // `C` may swallow its own read errors (`Value::deserialize(d).ok()`); the pass then goes on
    // from inside the unreadable value, and keys nested in it could be read as top-level claims.
    // A payload that is not one valid JSON object fails here whatever `C` made of it.
    serde_json::from_str::<de::IgnoredAny>(payload)?;
    if claims.exp.is_none() {
        // Every valid token has `exp`, so the claims object went by unseen: `C` never read it as
        // a map (a unit type, `IgnoredAny`, serde_json's `RawValue`…). Read it now.
        let mut json = serde_json::Deserializer::from_str(payload);
        claims = (*seed).deserialize(&mut json)?;
        json.end()?;
    }
    Ok((claims, custom))
}

/// Where the watching deserializer puts what it sees.
struct Watch<'w, 'c, 'de> {
    seed: &'w ClaimsSeed<'c>,
    claims: &'w mut Registered<'de>,
    /// Set when a registered claim failed to read, even if `C` went on.
    failed: &'w mut bool,
}

/// A deserializer that forwards everything to `inner` and watches the first map it is asked for.
struct Tee<'w, 'c, 'de, D> {
    inner: D,
    watch: Watch<'w, 'c, 'de>,
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method($($arg,)* TeeVisitor { inner: visitor, watch: self.watch })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Tee<'_, '_, 'de, D> {
    type Error = D::Error;

    forward! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The application's visitor, with the top-level map (or the value inside an `Option` or a
/// newtype around the claims) watched.
struct TeeVisitor<'w, 'c, 'de, V> {
    inner: V,
    watch: Watch<'w, 'c, 'de>,
}

macro_rules! pass {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TeeVisitor<'_, '_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    pass! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Tee {
            inner,
            watch: self.watch,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Tee {
            inner,
            watch: self.watch,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(TeeMap {
            inner: map,
            watch: self.watch,
            pending: None,
        })
    }
}

/// The claims object: keys pass through; values of claims the validator reads are captured raw,
/// read into [`Registered`] and replayed to the application's type.
struct TeeMap<'w, 'c, 'de, A> {
    inner: A,
    watch: Watch<'w, 'c, 'de>,
    /// The claim whose value comes next, when it is one the validator reads.
    pending: Option<Field>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TeeMap<'_, '_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(CowStr(key)) = self.inner.next_key::<CowStr<'de>>()? else {
            return Ok(None);
        };
        self.pending = self.watch.seed.field(&key);
        match key {
            Cow::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)),
            Cow::Owned(key) => seed.deserialize(StringDeserializer::new(key)),
        }
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let Some(field) = self.pending.take() else {
            return self.inner.next_value_seed(seed);
        };
        let read = self.inner.next_value::<Plain<'de>>().and_then(|value| {
            value.replay(FieldSeed {
                field,
                claims: self.watch.claims,
            })?;
            Ok(value)
        });
        match read {
            Ok(value) => value.replay(seed),
            Err(error) => {
                *self.watch.failed = true;
                Err(error)
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// The value of a registered claim, parsed once: a string, a number or an array of strings.
/// Anything else is no valid registered claim, and fails the pass (the two-pass way then names
/// the fault).
enum Plain<'de> {
    Str(Cow<'de, str>),
    I64(i64),
    U64(u64),
    F64(f64),
    Strs(Vec<Cow<'de, str>>),
}

impl<'de> Plain<'de> {
    /// Deserializes `seed` from this value, as it would have been from the JSON.
    fn replay<S: DeserializeSeed<'de>, E: de::Error>(&self, seed: S) -> Result<S::Value, E> {
        match self {
            Self::Str(Cow::Borrowed(s)) => seed.deserialize(BorrowedStrDeserializer::new(s)),
            Self::Str(Cow::Owned(s)) => seed.deserialize(StrDeserializer::new(s)),
            Self::I64(n) => seed.deserialize(I64Deserializer::new(*n)),
            Self::U64(n) => seed.deserialize(U64Deserializer::new(*n)),
            Self::F64(n) => seed.deserialize(F64Deserializer::new(*n)),
            // The sequence deserializer checks that every item was read.
            Self::Strs(items) => {
                seed.deserialize(SeqDeserializer::new(items.iter().map(|item| match item {
                    Cow::Borrowed(s) => PlainStr::Borrowed(s),
                    Cow::Owned(s) => PlainStr::Owned(s),
                })))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Plain<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Plain<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Plain::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Plain::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Plain::I64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Plain::U64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Plain::F64(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                strings(seq).map(Plain::Strs)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// An array item of [`Plain::Strs`], replayed borrowed when it was borrowed.
enum PlainStr<'a, 'de> {
    Borrowed(&'de str),
    Owned(&'a str),
}

impl<'a, 'de, E: de::Error> de::IntoDeserializer<'de, E> for PlainStr<'a, 'de> {
    type Deserializer = PlainStrDeserializer<'a, 'de, E>;

    fn into_deserializer(self) -> Self::Deserializer {
        PlainStrDeserializer(self, std::marker::PhantomData)
    }
}

struct PlainStrDeserializer<'a, 'de, E>(PlainStr<'a, 'de>, std::marker::PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for PlainStrDeserializer<'_, 'de, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.0 {
            PlainStr::Borrowed(s) => visitor.visit_borrowed_str(s),
            PlainStr::Owned(s) => visitor.visit_str(s),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde::Deserialize;

    const SEED: ClaimsSeed<'static> = ClaimsSeed {
        scope_claim: None,
        tenant_claim: "tenant_id",
    };

    const PAYLOAD: &str = r#"{"sub":"u1","exp":1900000000,"org":{"id":7,"sub":"nested"},"aud":["a","b"],"scope":"x y","tenant_id":"tn","tags":["t"]}"#;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Org {
        id: u32,
        sub: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct App {
        sub: String,
        exp: u64,
        org: Org,
        tags: Vec<String>,
    }

    #[test]
    fn one_pass_fills_both_and_matches_two_passes() {
        let (claims, app) = decode::<App>(PAYLOAD, &SEED).unwrap();
        let alone: App = serde_json::from_str(PAYLOAD).unwrap();
        let registered = SEED
            .deserialize(&mut serde_json::Deserializer::from_str(PAYLOAD))
            .unwrap();
        assert_eq!(app, alone);
        assert_eq!(claims.sub.as_deref(), registered.sub.as_deref());
        assert_eq!(claims.sub.as_deref(), Some("u1"), "not the nested sub");
        assert_eq!(claims.exp, Some(1_900_000_000));
        assert_eq!(claims.aud.unwrap().iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(claims.scope.unwrap().iter().collect::<Vec<_>>(), ["x y"]);
        assert_eq!(claims.tenants.unwrap().iter().collect::<Vec<_>>(), ["tn"]);
    }

    #[test]
    fn types_that_never_read_the_map_still_get_the_registered_claims() {
        let (claims, _) = decode::<de::IgnoredAny>(PAYLOAD, &SEED).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("u1"));
        let (claims, value) = decode::<serde_json::Value>(PAYLOAD, &SEED).unwrap();
        assert_eq!(claims.exp, Some(1_900_000_000));
        assert_eq!(value["org"]["sub"], "nested");
        #[derive(Deserialize)]
        struct Wrapped(#[allow(dead_code)] App);
        let (claims, _) = decode::<Option<Wrapped>>(PAYLOAD, &SEED).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("u1"));
    }

    /// A claims type that keeps what it can read and skips the rest, errors included.
    struct Lenient;

    impl<'de> Deserialize<'de> for Lenient {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Lenient;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient, A::Error> {
                    while map.next_key::<String>()?.is_some() {
                        let _ = map.next_value::<serde_json::Value>();
                    }
                    Ok(Lenient)
                }
            }
            d.deserialize_map(V)
        }
    }

    #[test]
    fn a_claims_type_that_swallows_errors_cannot_hide_a_bad_registered_claim() {
        for payload in [
            r#"{"sub":"u","exp":4000000000,"exp":1}"#,
            r#"{"sub":"u","exp":4000000000,"nbf":"later"}"#,
            r#"{"sub":"u","exp":4000000000,"nbf":true}"#,
            r#"{"sub":"u","exp":4000000000,"aud":5}"#,
            r#"{"sub":"u","exp":4000000000,"nbf":4000000000,"nbf":1}"#,
        ] {
            assert!(decode::<Lenient>(payload, &SEED).is_err(), "{payload}");
            assert!(
                decode::<serde_json::Value>(payload, &SEED).is_err(),
                "{payload}"
            );
        }
        assert!(decode::<Lenient>(PAYLOAD, &SEED).is_ok());
    }

    #[test]
    fn a_raw_json_claims_type_still_gets_the_registered_claims() {
        let (claims, raw) = decode::<Box<serde_json::value::RawValue>>(PAYLOAD, &SEED).unwrap();
        assert_eq!(raw.get(), PAYLOAD);
        assert_eq!(claims.sub.as_deref(), Some("u1"));
        assert_eq!(claims.exp, Some(1_900_000_000));
    }

    #[test]
    fn escaped_keys_are_the_claims_they_spell() {
        let escaped = r#"{"s\u0075b":"u1","exp":1900000000}"#;
        let (claims, _) = decode::<serde_json::Value>(escaped, &SEED).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("u1"));
        let twice = r#"{"sub":"a","s\u0075b":"b","exp":1900000000}"#;
        assert!(decode::<serde_json::Value>(twice, &SEED).is_err());
    }

    #[test]
    fn a_duplicate_or_mistyped_registered_claim_fails_the_pass() {
        let duplicate = r#"{"sub":"a","exp":1,"sub":"b"}"#;
        assert!(decode::<serde_json::Value>(duplicate, &SEED).is_err());
        let mistyped = r#"{"sub":"a","exp":"tomorrow"}"#;
        assert!(decode::<serde_json::Value>(mistyped, &SEED).is_err());
        assert!(decode::<serde_json::Value>(r#"{"sub":"a"} x"#, &SEED).is_err());
    }
}

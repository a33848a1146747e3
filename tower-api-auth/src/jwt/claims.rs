//! Reading the registered claims (and the configured scope and tenant claims) in one pass, borrowing
//! strings from the payload and skipping everything else.

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, Deserialize as _, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};

/// A string borrowed from the payload when it has no escapes.
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> de::Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = CowStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V(std::marker::PhantomData))
    }
}

impl std::ops::Deref for CowStr<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// A claim that is a string or an array of strings (`aud`, `scp`, tenant claims).
pub(crate) enum OneOrMany<'de> {
    One(Cow<'de, str>),
    Many(Vec<Cow<'de, str>>),
}

impl<'de> OneOrMany<'de> {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Self::One(s) => (Some(&**s), &[][..]),
            Self::Many(v) => (None, &v[..]),
        };
        one.into_iter().chain(many.iter().map(|s| &**s))
    }
}

impl<'de> de::Deserialize<'de> for OneOrMany<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                strings(seq).map(OneOrMany::Many)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The items of an array of strings, borrowed where they have no escapes.
fn strings<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<Cow<'de, str>>, A::Error> {
    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(16));
    while let Some(CowStr(item)) = seq.next_element()? {
        items.push(item);
    }
    Ok(items)
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional; truncated to whole seconds.
struct NumericDate(i64);

impl<'de> de::Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(NumericDate(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("date out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.is_finite() && v.abs() < 1e15 {
                    Ok(NumericDate(v.floor() as i64))
                } else {
                    Err(E::custom("date out of range"))
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The claims the validator reads. Strings borrow from the payload buffer.
#[derive(Default)]
pub(crate) struct Registered<'de> {
    pub(crate) exp: Option<i64>,
    pub(crate) nbf: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) iss: Option<Cow<'de, str>>,
    pub(crate) sub: Option<Cow<'de, str>>,
    pub(crate) aud: Option<OneOrMany<'de>>,
    pub(crate) jti: Option<Cow<'de, str>>,
    pub(crate) sid: Option<Cow<'de, str>>,
    /// RFC 9068 §2.2: the OAuth client the token was issued to.
    pub(crate) client_id: Option<Cow<'de, str>>,
    /// The API key the token was exchanged for (this crate's issuer writes it).
    pub(crate) api_key_id: Option<Cow<'de, str>>,
    /// From the configured scope claim, or `scope`.
    pub(crate) scope: Option<OneOrMany<'de>>,
    /// From `scp`, when no scope claim is configured.
    pub(crate) scp: Option<OneOrMany<'de>>,
    pub(crate) tenants: Option<OneOrMany<'de>>,
}

/// Deserializes [`Registered`] with the configured claim names.
#[derive(Clone, Copy)]
pub(crate) struct ClaimsSeed<'c> {
    /// `None` reads `scope` (space-delimited) and then `scp` (array).
    pub(crate) scope_claim: Option<&'c str>,
    pub(crate) tenant_claim: &'c str,
    /// The principal, scopes and tenants are mapped from the payload's JSON elsewhere: read none
    /// of them here.
    pub(crate) mapped: bool,
}

fn set<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), E> {
    if slot.is_some() {
        // Two values for one claim: which one a consumer reads is parser-dependent, so refuse.
        return Err(E::custom(format_args!("duplicate claim {name}")));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = Registered<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// A claim the validator reads.
#[derive(Clone, Copy)]
enum Field {
    Scope,
    Scp,
    Tenants,
    Exp,
    Nbf,
    Iat,
    Iss,
    Sub,
    Jti,
    Sid,
    Aud,
    ClientId,
    ApiKeyId,
}

impl ClaimsSeed<'_> {
    /// Reads the claims of `payload`, which must be one JSON object and nothing after it
    /// (RFC 7519 §7.2).
    pub(crate) fn parse<'p>(self, payload: &'p str) -> Result<Registered<'p>, serde_json::Error> {
        let mut json = serde_json::Deserializer::from_str(payload);
        let claims = self.deserialize(&mut json)?;
        json.end()?;
        Ok(claims)
    }

    /// Which claim `key` is, with the configured scope and tenant claim names; `None` for a claim
    /// the validator does not read.
    fn field(&self, key: &str) -> Option<Field> {
        if self.mapped {
            return self.registered(key);
        }
        if Some(key) == self.scope_claim || (self.scope_claim.is_none() && key == "scope") {
            return Some(Field::Scope);
        }
        if self.scope_claim.is_none() && key == "scp" {
            return Some(Field::Scp);
        }
        if key == self.tenant_claim {
            return Some(Field::Tenants);
        }
        self.registered(key)
    }

    /// Which registered claim `key` is.
    fn registered(&self, key: &str) -> Option<Field> {
        Some(match key {
            "exp" => Field::Exp,
            "nbf" => Field::Nbf,
            "iat" => Field::Iat,
            "iss" => Field::Iss,
            "sub" => Field::Sub,
            "jti" => Field::Jti,
            "sid" => Field::Sid,
            "aud" => Field::Aud,
            "client_id" => Field::ClientId,
            "api_key_id" => Field::ApiKeyId,
            _ => return None,
        })
    }
}

/// Reads one claim's value into its slot of [`Registered`] (a second value is an error).
struct FieldSeed<'r, 'de> {
    field: Field,
    claims: &'r mut Registered<'de>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let c = self.claims;
        match self.field {
            Field::Scope => set(&mut c.scope, OneOrMany::deserialize(d)?, "scope"),
            Field::Scp => set(&mut c.scp, OneOrMany::deserialize(d)?, "scp"),
            Field::Tenants => set(&mut c.tenants, OneOrMany::deserialize(d)?, "tenant"),
            Field::Exp => set(&mut c.exp, NumericDate::deserialize(d)?.0, "exp"),
            Field::Nbf => set(&mut c.nbf, NumericDate::deserialize(d)?.0, "nbf"),
            Field::Iat => set(&mut c.iat, NumericDate::deserialize(d)?.0, "iat"),
            Field::Iss => set(&mut c.iss, CowStr::deserialize(d)?.0, "iss"),
            Field::Sub => set(&mut c.sub, CowStr::deserialize(d)?.0, "sub"),
            Field::Jti => set(&mut c.jti, CowStr::deserialize(d)?.0, "jti"),
            Field::Sid => set(&mut c.sid, CowStr::deserialize(d)?.0, "sid"),
            Field::Aud => set(&mut c.aud, OneOrMany::deserialize(d)?, "aud"),
            Field::ClientId => set(&mut c.client_id, CowStr::deserialize(d)?.0, "client_id"),
            Field::ApiKeyId => set(&mut c.api_key_id, CowStr::deserialize(d)?.0, "api_key_id"),
        }
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = Registered<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut claims = Registered::default();
        while let Some(CowStr(key)) = map.next_key()? {
            match self.field(&key) {
                Some(field) => map.next_value_seed(FieldSeed {
                    field,
                    claims: &mut claims,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Registered<'_>, serde_json::Error> {
        let seed = ClaimsSeed {
            scope_claim: None,
            tenant_claim: "tenant_id",
            mapped: false,
        };
        seed.deserialize(&mut serde_json::Deserializer::from_str(json))
    }

    #[test]
    fn reads_registered_claims_and_borrows() {
        let c = parse(r#"{"sub":"u1","exp":10.9,"aud":["a","b"],"scope":"x y","tenant_id":"tn","other":{"deep":[1]}}"#).unwrap();
        assert!(matches!(c.sub, Some(Cow::Borrowed("u1"))));
        assert_eq!(c.exp, Some(10));
        assert_eq!(c.aud.unwrap().iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(c.scope.unwrap().iter().collect::<Vec<_>>(), ["x y"]);
        assert_eq!(c.tenants.unwrap().iter().collect::<Vec<_>>(), ["tn"]);
    }

    #[test]
    fn duplicate_and_mistyped_claims_are_errors() {
        assert!(parse(r#"{"sub":"a","sub":"b"}"#).is_err());
        assert!(parse(r#"{"exp":"tomorrow"}"#).is_err());
        assert!(parse(r#"{"exp":1e300}"#).is_err());
        assert!(parse(r#"{"aud":[1]}"#).is_err());
        assert!(parse(r#"[]"#).is_err());
    }

    #[test]
    fn escaped_strings_are_owned() {
        let c = parse(r#"{"sub":"a\"b"}"#).unwrap();
        assert_eq!(c.sub.as_deref(), Some("a\"b"));
    }
}

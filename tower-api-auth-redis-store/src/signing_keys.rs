//! [`SigningKeyStore`] on Redis: one hash, a field per key, inserted with `HSETNX`.

use serde_json::{Value, json};
use tower_api_auth::Algorithm;
use tower_api_auth::store::{PrivateKey, SigningKeyStore, StoreError, StoredSigningKey};

use crate::RedisStore;
use crate::error::{call, invalid};

/// A stored key as the hash field's JSON value. The private key is bytes (sealed unless the app
/// chose plaintext), written as a JSON array of numbers: no text encoding to get wrong.
fn encode(key: &StoredSigningKey) -> Result<String, StoreError> {
    let value = json!({
        "alg": key.algorithm_name(),
        "sealed": key.private_key.is_sealed(),
        "private": key.private_key.as_bytes(),
        "jwk": &*key.public_jwk,
        "created_at": key.created_at,
        "signs_from": key.signs_from,
        "signs_until": key.signs_until,
    });
    serde_json::to_string(&value).map_err(|_| invalid("signing key insert", "does not serialize"))
}

fn decode(kid: &str, json: &[u8]) -> Result<StoredSigningKey, StoreError> {
    let malformed = || invalid("signing key load", "a stored signing key is malformed");
    let value: Value = serde_json::from_slice(json).map_err(|_| malformed())?;
    let algorithm: Algorithm = value["alg"]
        .as_str()
        .and_then(|alg| alg.parse().ok())
        .ok_or_else(malformed)?;
    let bytes: Vec<u8> =
        serde_json::from_value(value["private"].clone()).map_err(|_| malformed())?;
    let private_key = if value["sealed"].as_bool().ok_or_else(malformed)? {
        PrivateKey::Sealed(bytes)
    } else {
        PrivateKey::Plaintext(bytes)
    };
    let time = |name: &str| value[name].as_u64().ok_or_else(malformed);
    Ok(StoredSigningKey::new(
        kid,
        algorithm,
        private_key,
        value["jwk"].as_str().ok_or_else(malformed)?,
    )
    .with_times(
        time("created_at")?,
        time("signs_from")?,
        time("signs_until")?,
    ))
}

impl SigningKeyStore for RedisStore {
    async fn load(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let mut connection = self.connection();
        let fields: Vec<(String, Vec<u8>)> = call(
            "signing key load",
            ::redis::cmd("HGETALL")
                .arg(self.keys.signing_keys())
                .query_async(&mut connection),
        )
        .await?;
        fields.iter().map(|(kid, json)| decode(kid, json)).collect()
    }

    async fn insert(&self, key: StoredSigningKey) -> Result<bool, StoreError> {
        let json = encode(&key)?;
        let mut connection = self.connection();
        call(
            "signing key insert",
            ::redis::cmd("HSETNX")
                .arg(self.keys.signing_keys())
                .arg(&*key.kid)
                .arg(json)
                .query_async(&mut connection),
        )
        .await
    }

    async fn delete(&self, kid: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let removed: u64 = call(
            "signing key delete",
            ::redis::cmd("HDEL")
                .arg(self.keys.signing_keys())
                .arg(kid)
                .query_async(&mut connection),
        )
        .await?;
        Ok(removed > 0)
    }
}

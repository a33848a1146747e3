//! The names of the keys and the channel, all under one prefix.
//!
//! Every key carries a hash tag (`{…}`) so that each script touches keys of one cluster slot.

/// The key names of one [`RedisStore`](super::RedisStore).
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: std::sync::Arc<str>,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:{s:<session id>}`: one session's hash.
    #[cfg_attr(not(feature = "issuer"), allow(dead_code))]
    pub(crate) fn session(&self, session_id: &str) -> String {
        format!("{}:{{s:{session_id}}}", self.prefix)
    }

    /// `<prefix>:{slot:<slot>}`: the id of the session that last started in the slot.
    #[cfg_attr(not(feature = "issuer"), allow(dead_code))]
    pub(crate) fn slot(&self, slot: &str) -> String {
        format!("{}:{{slot:{slot}}}", self.prefix)
    }

    /// `<prefix>:{u:<subject>}`: the ids of a subject's sessions, scored by when they started.
    #[cfg_attr(not(feature = "issuer"), allow(dead_code))]
    pub(crate) fn subject(&self, subject: &str) -> String {
        format!("{}:{{u:{subject}}}", self.prefix)
    }

    /// `<prefix>:{c:<hex of the code's hash>}`: one authorization code's hash.
    #[cfg(feature = "issuer")]
    pub(crate) fn code(&self, hash: &tower_api_auth::store::CodeHash) -> String {
        format!("{}:{{c:{}}}", self.prefix, hash.to_hex())
    }

    /// `<prefix>:{rev}:sessions`: session revocations, scored by `until`.
    pub(crate) fn revoked_sessions(&self) -> String {
        format!("{}:{{rev}}:sessions", self.prefix)
    }

    /// `<prefix>:{rev}:tokens`: token revocations, scored by `until`.
    pub(crate) fn revoked_tokens(&self) -> String {
        format!("{}:{{rev}}:tokens", self.prefix)
    }

    /// `<prefix>:{rev}:key_epoch`: how many key events were announced (in the revocations' slot,
    /// so that the script that bumps it announces from the same node as they do).
    pub(crate) fn key_epoch(&self) -> String {
        format!("{}:{{rev}}:key_epoch", self.prefix)
    }

    /// `<prefix>:{rl:<key>}`: one rate-limit bucket. The hash tag is the whole key's text (whose
    /// braces are percent-encoded), so each bucket is one slot of its own.
    #[cfg(feature = "rate-limit")]
    pub(crate) fn rate_limit(&self, key: &tower_api_auth::rate_limit::LimitKey) -> String {
        format!("{}:{{rl:{key}}}", self.prefix)
    }

    /// `<prefix>:{sk}`: the issuer's signing keys, a hash of kid → key (JSON).
    #[cfg(feature = "issuer")]
    pub(crate) fn signing_keys(&self) -> String {
        format!("{}:{{sk}}", self.prefix)
    }

    /// `<prefix>:feed`: the pub/sub channel of the revocation feed.
    pub(crate) fn channel(&self) -> String {
        format!("{}:feed", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn every_key_is_prefixed_and_hash_tagged() {
        let keys = Keys::new("app");
        assert_eq!(keys.session("ses_1"), "app:{s:ses_1}");
        assert_eq!(keys.slot("user_1/phone"), "app:{slot:user_1/phone}");
        assert_eq!(keys.subject("user_1"), "app:{u:user_1}");
        assert_eq!(keys.revoked_sessions(), "app:{rev}:sessions");
        assert_eq!(keys.revoked_tokens(), "app:{rev}:tokens");
        assert_eq!(keys.key_epoch(), "app:{rev}:key_epoch");
        assert_eq!(keys.channel(), "app:feed");
        #[cfg(feature = "issuer")]
        assert_eq!(keys.signing_keys(), "app:{sk}");
    }

    #[cfg(feature = "issuer")]
    #[test]
    fn a_code_is_keyed_by_its_hash_in_hex_in_a_tag_of_its_own() {
        let hash = tower_api_auth::store::CodeHash::from_bytes([0xab; 32]);
        assert_eq!(
            Keys::new("app").code(&hash),
            format!("app:{{c:{}}}", "ab".repeat(32))
        );
    }

    #[cfg(feature = "rate-limit")]
    #[test]
    fn a_rate_limit_key_is_one_hash_tag_whatever_its_parts_hold() {
        use std::sync::Arc;
        use tower_api_auth::rate_limit::{KeyPart, LimitKey};
        let key = LimitKey::new(
            "hourly",
            [
                KeyPart::Principal(Arc::from("a}b{c")),
                KeyPart::ApiKey(Arc::from("k_1")),
            ],
        );
        let name = Keys::new("app").rate_limit(&key);
        assert_eq!(name, "app:{rl:hourly|p=a%7Db%7Bc|k=k_1}");
        // Redis hashes what lies between the first `{` and the next `}`: the whole key text.
        let tag = &name[name.find('{').unwrap() + 1..name.find('}').unwrap()];
        assert_eq!(tag, "rl:hourly|p=a%7Db%7Bc|k=k_1");
    }
}

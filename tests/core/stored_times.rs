//! The records stores keep (sessions, API keys) read back only with their times as whole unix
//! seconds: a time of another JSON type (a string, a fraction, a negative number, `null` where
//! one is required) is an error the store reports, never a record without that time (issue 20:
//! the class of a claim of the wrong type read as absent). The Redis store keeps these records
//! as this JSON; the SQL stores as integer columns.

use serde_json::{Value, json};
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, KeyRecord};

/// Every value a time must not be read from.
fn wrong_times(required: bool) -> Vec<Value> {
    let mut wrong = vec![
        json!("1800000000"),
        json!(1_800_000_000.5),
        json!(-1),
        json!(true),
        json!([1_800_000_000u64]),
    ];
    if required {
        wrong.push(Value::Null);
    }
    wrong
}

/// `record` as JSON reads back; with `field` set to any wrong time, it does not.
fn assert_times_are_typed<T>(record: &T, fields: &[(&str, bool)])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_value(record).unwrap();
    assert_eq!(&serde_json::from_value::<T>(json.clone()).unwrap(), record);
    for &(field, required) in fields {
        assert!(json.get(field).is_some(), "{field} is stored");
        for wrong in wrong_times(required) {
            let mut broken = json.clone();
            broken[field] = wrong.clone();
            assert!(
                serde_json::from_value::<T>(broken).is_err(),
                "{field} = {wrong} was read"
            );
        }
    }
}

#[cfg(feature = "issuer")]
#[test]
fn a_session_with_a_time_of_the_wrong_type_is_not_read() {
    use tower_api_auth::scope::Scopes;
    use tower_api_auth::store::Session;
    let session = Session::new(
        "ses_1",
        "user_1",
        Scopes::parse("read").unwrap(),
        1_700_000_000,
        1_800_000_000,
    )
    .with_idle_timeout(Some(3600));
    assert_times_are_typed(
        &session,
        &[
            ("created_at", true),
            ("expires_at", true),
            ("idle_timeout", false),
        ],
    );
}

#[test]
fn an_api_key_record_with_a_time_of_the_wrong_type_is_not_read() {
    let mut record: KeyRecord = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .record()
        .clone();
    record.expires_at = Some(1_800_000_000);
    record.created_at = Some(1_700_000_000);
    record.last_used_at = Some(1_750_000_000);
    assert_times_are_typed(
        &record,
        &[
            ("expires_at", false),
            ("created_at", false),
            ("last_used_at", false),
        ],
    );
}

//! How values are written to columns: times as signed 64-bit integers, lists and maps as JSON text,
//! hashes as bytes. The readers are in [`row`](super::row).

use serde::Serialize;
use serde::de::DeserializeOwned;

use tower_api_auth::store::StoreError;

/// A unix time (or a count) as a column's `BIGINT`: anything past `i64::MAX` is stored as
/// `i64::MAX`, which means "never" and reads back as `u64::MAX`.
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// [`int`] of an optional value.
pub(crate) fn opt_int(value: Option<u64>) -> Option<i64> {
    value.map(int)
}

/// A column's integer back as unsigned: `i64::MAX` is `u64::MAX`; a negative value is corrupt.
pub(crate) fn from_int(column: &str, value: i64) -> Result<u64, StoreError> {
    match value {
        i64::MAX => Ok(u64::MAX),
        value => u64::try_from(value)
            .map_err(|_| StoreError::new(format!("column {column} holds a negative number"))),
    }
}

/// A list or map as JSON text.
pub(crate) fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("lists and string maps always serialize")
}

/// JSON text back; the error names the column, never the text.
pub(crate) fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|_| StoreError::new(format!("column {column} does not hold valid JSON")))
}

/// A 32-byte hash column back as an array.
pub(crate) fn hash_bytes(column: &str, bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::new(format!("column {column} does not hold 32 bytes")))
}

//! Reading columns, once for both databases: [`Columns`] is the little each database's row type
//! has to offer; the readers of whole rows (in `keys`, `sessions`, …) are written against it.

use std::sync::Arc;

use crate::value::{from_int, from_json, hash_bytes};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::StoreError;

/// The column reads the readers need; implemented by `PgRow` and `SqliteRow`.
pub(crate) trait Columns {
    /// An integer column that may be `NULL`.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A text column that may be `NULL`.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A binary column that may be `NULL`.
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// A boolean column.
    fn flag(&self, column: &str) -> Result<bool, StoreError>;

    /// A `NOT NULL` text column.
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?.ok_or_else(|| null(column))
    }

    /// A `NOT NULL` binary column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes(column)?.ok_or_else(|| null(column))
    }

    /// A time (or count) that may be `NULL`.
    fn opt_time(&self, column: &str) -> Result<Option<u64>, StoreError> {
        self.opt_int(column)?
            .map(|value| from_int(column, value))
            .transpose()
    }

    /// A `NOT NULL` time (or count).
    fn time(&self, column: &str) -> Result<u64, StoreError> {
        self.opt_time(column)?.ok_or_else(|| null(column))
    }

    /// A text column that may be `NULL`, shared.
    fn opt_shared(&self, column: &str) -> Result<Option<Arc<str>>, StoreError> {
        Ok(self.opt_text(column)?.map(Arc::from))
    }

    /// A space-separated scope list.
    fn scopes(&self, column: &str) -> Result<Scopes, StoreError> {
        Scopes::parse(&self.text(column)?)
            .map_err(|_| StoreError::new(format!("column {column} does not hold valid scopes")))
    }

    /// A JSON column.
    fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> Result<T, StoreError> {
        from_json(column, &self.text(column)?)
    }

    /// A 32-byte hash.
    fn hash(&self, column: &str) -> Result<[u8; 32], StoreError> {
        hash_bytes(column, &self.bytes(column)?)
    }
}

fn null(column: &str) -> StoreError {
    StoreError::new(format!("column {column} is NULL"))
}

/// Implements [`Columns`] for a database's row type.
macro_rules! columns_for {
    ($row:ty) => {
        impl $crate::row::Columns for $row {
            fn opt_int(
                &self,
                column: &str,
            ) -> Result<Option<i64>, ::tower_api_auth::store::StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::error::db_error)
            }
            fn opt_text(
                &self,
                column: &str,
            ) -> Result<Option<String>, ::tower_api_auth::store::StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::error::db_error)
            }
            fn opt_bytes(
                &self,
                column: &str,
            ) -> Result<Option<Vec<u8>>, ::tower_api_auth::store::StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::error::db_error)
            }
            fn flag(&self, column: &str) -> Result<bool, ::tower_api_auth::store::StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::error::db_error)
            }
        }
    };
}
pub(crate) use columns_for;

//! sqlx errors as [`StoreError`]s whose text names what failed and never a value: no hash, no key,
//! no connection string (a URL may hold a password).

use tower_api_auth::store::StoreError;

/// A database failure, described without the values involved.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    StoreError::new(describe(&error))
}

/// A failure to build a pool from a URL; the URL itself is left out of the text.
pub(crate) fn config_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Configuration(_) => StoreError::new("invalid database URL"),
        other => db_error(other),
    }
}

/// Whether `error` is a unique-constraint violation (a duplicate id).
pub(crate) fn is_duplicate(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|database| database.is_unique_violation())
}

fn describe(error: &sqlx::Error) -> String {
    match error {
        // The server's message names the constraint or the statement's problem; its detail, which
        // can quote a row's values, is left out.
        sqlx::Error::Database(database) => match database.code() {
            Some(code) => format!("database error {code}: {}", database.message()),
            None => format!("database error: {}", database.message()),
        },
        sqlx::Error::Io(io) => format!("database connection failed: {io}"),
        sqlx::Error::Tls(_) => "database TLS failed".to_owned(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".to_owned(),
        sqlx::Error::PoolClosed => "the database pool is closed".to_owned(),
        sqlx::Error::Configuration(_) => "invalid database configuration".to_owned(),
        sqlx::Error::ColumnDecode { index, .. } => format!("column {index} could not be read"),
        sqlx::Error::ColumnNotFound(column) => format!("column {column} is missing"),
        sqlx::Error::Encode(_) => "a value could not be encoded".to_owned(),
        sqlx::Error::Decode(_) => "a value could not be decoded".to_owned(),
        sqlx::Error::Migrate(migrate) => format!("migration failed: {migrate}"),
        other => format!("database failed: {}", kind(other)),
    }
}

fn kind(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Protocol(_) => "protocol error",
        sqlx::Error::RowNotFound => "no row",
        sqlx::Error::WorkerCrashed => "the connection's worker crashed",
        _ => "unexpected error",
    }
}

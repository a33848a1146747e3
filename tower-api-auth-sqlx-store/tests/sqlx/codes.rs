//! What the authorization-code grant needs of the SQL stores beyond the contract: a database made
//! by the previous schema upgrades and keeps its clients; a code's hash is never saved twice (a
//! spent code never becomes unspent); two instances on one database share their codes.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::migrate::{Migration, MigrationType};
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{
    AuthorizationCode, ClientRecord, ClientStore, CodeHash, CodeStore, Redemption,
};
use tower_api_auth_sqlx_store::{PgStore, SqliteStore};
use tower_api_auth_tests::now;
use tower_api_auth_tests::servers::{postgres_database, sqlite_url};

/// The migrations of the schema before the authorization-code grant, as `(version, name, sql)`.
const PREVIOUS_POSTGRES: [(i64, &str, &str); 2] = [
    (
        20261201000001,
        "tower api auth",
        include_str!("../../migrations/postgres/20261201000001_tower_api_auth.sql"),
    ),
    (
        20261202000001,
        "sessions by subject",
        include_str!("../../migrations/postgres/20261202000001_sessions_by_subject.sql"),
    ),
];
const PREVIOUS_SQLITE: [(i64, &str, &str); 2] = [
    (
        20261201000001,
        "tower api auth",
        include_str!("../../migrations/sqlite/20261201000001_tower_api_auth.sql"),
    ),
    (
        20261202000001,
        "sessions by subject",
        include_str!("../../migrations/sqlite/20261202000001_sessions_by_subject.sql"),
    ),
];

/// The statements that build the previous schema on a fresh database, and record it as an
/// earlier version of the crate did (same table, same checksums).
fn previous_schema(migrations: &[(i64, &'static str, &'static str)], bytes: &str) -> Vec<String> {
    let mut statements = vec![format!(
        "CREATE TABLE auth_schema_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, checksum {bytes} NOT NULL, applied_at BIGINT NOT NULL)"
    )];
    for &(version, name, sql) in migrations {
        statements.push(sql.to_owned());
        let checksum = Migration::new(
            version,
            Cow::Borrowed(name),
            MigrationType::Simple,
            sqlx::SqlSafeStr::into_sql_str(sql),
            false,
        )
        .checksum;
        let hex: String = checksum.iter().map(|b| format!("{b:02x}")).collect();
        let literal = if bytes == "BYTEA" {
            format!("'\\x{hex}'::bytea")
        } else {
            format!("X'{hex}'")
        };
        statements.push(format!(
            "INSERT INTO auth_schema_migrations VALUES ({version}, '{name}', {literal}, 0)"
        ));
    }
    // A confidential client registered by the previous version.
    let hash: String = ApiKeyHasher::default()
        .hash("s3cret")
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hash = if bytes == "BYTEA" {
        format!("'\\x{hash}'::bytea")
    } else {
        format!("X'{hash}'")
    };
    statements.push(format!(
        "INSERT INTO auth_clients (client_id, secret_hash, scopes, tenants) \
         VALUES ('client_old', {hash}, 'read', '[\"tn_a\"]')"
    ));
    statements
}

/// The client of [`previous_schema`] reads back whole after the upgrade, and the upgraded table
/// takes public clients and redirect URIs.
async fn upgraded_keeps_its_client<S: ClientStore>(store: &S) {
    let old = store.client("client_old").await.unwrap().expect("kept");
    assert!(
        old.secret_hash
            .is_some_and(|hash| hash.matches(&ApiKeyHasher::default().hash("s3cret"))),
        "its secret is kept: {old:?}"
    );
    assert_eq!(old.scopes, Scopes::parse("read").unwrap());
    assert_eq!(old.tenants.len(), 1);
    assert!(
        old.redirect_uris.is_empty(),
        "no redirect URI until one is registered"
    );
}

#[tokio::test]
async fn a_postgres_database_of_the_previous_schema_upgrades_and_keeps_its_clients() {
    let store = PgStore::connect(&postgres_database().await).await.unwrap();
    for statement in previous_schema(&PREVIOUS_POSTGRES, "BYTEA") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(store.pool())
            .await
            .expect("the previous schema");
    }
    store.migrate().await.expect("the upgrade");
    upgraded_keeps_its_client(&store).await;
    let spa = ClientRecord::public("spa", Scopes::parse("read").unwrap())
        .with_redirect_uris(["https://spa.example.com/cb"]);
    store.register_client(spa).await.expect("a public client");
    assert!(store.client("spa").await.unwrap().unwrap().is_public());
    store.migrate().await.expect("migrating again");
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_schema_upgrades_and_keeps_its_clients() {
    let store = SqliteStore::connect(&sqlite_url()).await.unwrap();
    for statement in previous_schema(&PREVIOUS_SQLITE, "BLOB") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(store.pool())
            .await
            .expect("the previous schema");
    }
    store
        .migrate()
        .await
        .expect("the upgrade (the table is rebuilt)");
    upgraded_keeps_its_client(&store).await;
    let spa = ClientRecord::public("spa", Scopes::parse("read").unwrap())
        .with_redirect_uris(["https://spa.example.com/cb"]);
    store.register_client(spa).await.expect("a public client");
    assert!(store.client("spa").await.unwrap().unwrap().is_public());
    store.migrate().await.expect("migrating again");
}

fn code(t: u64) -> AuthorizationCode {
    AuthorizationCode::new(
        "spa",
        "user_1",
        Scopes::parse("read").unwrap(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        t,
        t + 60,
    )
}

/// A second save under a taken hash is refused, and the spent code stays spent: overwriting it
/// would make a replayed code redeemable again.
async fn a_taken_hash_is_refused<S: CodeStore>(store: S) {
    let hash = CodeHash::from_bytes([9; 32]);
    store.save(hash, code(now())).await.unwrap();
    assert!(matches!(
        store.redeem(&hash, "ses_1").await.unwrap(),
        Redemption::First(_)
    ));
    let error = store.save(hash, code(now())).await.expect_err("taken");
    assert!(!error.to_string().contains(&hash.to_hex()), "{error}");
    assert!(matches!(
        store.redeem(&hash, "ses_2").await.unwrap(),
        Redemption::Replayed { session_id, .. } if &*session_id == "ses_1"
    ));
}

#[tokio::test]
async fn a_taken_code_hash_is_refused_and_the_code_stays_spent() {
    let postgres = crate::postgres().await;
    a_taken_hash_is_refused(postgres).await;
    a_taken_hash_is_refused(crate::sqlite().await).await;
}

/// Instance `a` saves a code; `b`, another pool on the same database, redeems it first; a replay
/// at `a` is told `b`'s session.
async fn two_instances_share_codes<S: CodeStore>(a: S, b: S) {
    let hash = CodeHash::from_bytes([4; 32]);
    let issued = code(now());
    a.save(hash, issued.clone()).await.unwrap();
    assert_eq!(
        b.redeem(&hash, "ses_at_b").await.unwrap(),
        Redemption::First(issued.clone())
    );
    assert_eq!(
        a.redeem(&hash, "ses_at_a").await.unwrap(),
        Redemption::Replayed {
            code: issued,
            session_id: Arc::from("ses_at_b"),
        }
    );
}

#[tokio::test]
async fn two_instances_share_codes_through_postgres() {
    let url = postgres_database().await;
    let a = PgStore::connect(&url).await.unwrap();
    a.migrate().await.unwrap();
    let b = PgStore::connect(&url).await.unwrap();
    two_instances_share_codes(a, b).await;
}

#[tokio::test]
async fn two_instances_share_codes_through_sqlite() {
    let file = sqlite_url();
    let a = SqliteStore::connect(&file).await.unwrap();
    a.migrate().await.unwrap();
    let b = SqliteStore::connect(&file).await.unwrap();
    two_instances_share_codes(a, b).await;
}

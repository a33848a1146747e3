//! The SQL stores against real servers: a PostgreSQL store cut off mid-run fails fast and recovers
//! by itself without losing a session; no table holds a plaintext secret; migrations run twice.

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::time::{Duration, Instant};

use sqlx::Row as _;
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher};
use tower_api_auth::clock::ManualClock;
use tower_api_auth::fleet::RevocationFeed;
use tower_api_auth::issuer::{GrantErrorKind, SigningKey, TokenIssuer, TokenService};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::KeyStore;
use tower_api_auth::store::{ClientRecord, ClientStore, RefreshStore};
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription};
use tower_api_auth::store::{RevocationCheck, RevocationStore};
use tower_api_auth::{Algorithm, KeyProvider, Tenant};
use tower_api_auth_sqlx_store::{PgStore, SqliteStore};

use common::PAST;
use common::contract::{ClientRegistry, next_event};

use crate::Registered;
use common::servers::{Proxy, postgres_database, sqlite_url};

/// How long a call may take to fail while its database is down.
const FAIL_FAST: Duration = Duration::from_secs(6);

/// A token service on `store`'s sessions, API keys and clients, on a manual clock, with a reuse
/// interval (so that rotations store a sealed successor too).
fn service<S>(store: S) -> TokenService
where
    S: RefreshStore + KeyProvider + ClientStore + Clone,
{
    let signing =
        SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    TokenService::new(
        TokenIssuer::new(signing, "https://auth.example.test"),
        store.clone(),
    )
    .api_keys(store.clone())
    .clients(store)
    .reuse_interval(Duration::from_secs(30))
    .clock(ManualClock::at(PAST))
}

/// A new API key for tenant `tn_a`, stored in `store`; its plaintext.
async fn api_key(store: &impl KeyStore) -> String {
    let (plaintext, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .with_record(|record| {
            record
                .with_tenants([Tenant::new("tn_a").unwrap()])
                .with_scopes(Scopes::parse("reports:read").unwrap())
        })
        .into_parts();
    store.create(record).await.expect("create the key");
    plaintext
}

/// `host:port` of a `postgres://` URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").expect("a URL").1;
    let host = rest.split('/').next().expect("a host");
    host.rsplit_once('@').map_or(host, |(_, host)| host)
}

/// Runs `call` and asserts it fails, within [`FAIL_FAST`].
async fn fails_fast<T: std::fmt::Debug, E: std::fmt::Display>(
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) {
    let started = Instant::now();
    let result = tokio::time::timeout(FAIL_FAST * 2, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung while the database was down"));
    let took = started.elapsed();
    match result {
        Ok(value) => panic!("{what} succeeded while the database was down: {value:?}"),
        Err(error) => {
            assert!(took < FAIL_FAST, "{what} took {took:?} to fail");
            let text = error.to_string();
            assert!(
                !text.contains("postgres://"),
                "{what}: the URL leaked: {text}"
            );
        }
    }
}

#[tokio::test]
async fn postgres_down_fails_fast_and_recovers_without_losing_sessions() {
    let url = postgres_database().await;
    let proxy = Proxy::start(authority(&url)).await;
    let store = PgStore::connect(&proxy.url_through(&url))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let tokens = service(store.clone());
    let key = api_key(&store).await;
    let login = tokens
        .login(Login::api_key(&key).tenant("tn_a"))
        .await
        .expect("login");
    let refresh_token = login.refresh_token.expect("a refresh token");
    let session_id = login.session_id.expect("a session");
    let mut subscription = store.subscribe().await.expect("subscribe");

    proxy.cut();
    let key_id = ApiKeyFormat::default()
        .parse(&key)
        .unwrap()
        .key_id()
        .to_owned();
    let store_ref = &store;
    let event = FeedEvent::session("ses_x", u64::MAX);
    tokio::join!(
        fails_fast("load", store.load(&session_id)),
        fails_fast("lookup", store.lookup(&key_id).resolve()),
        fails_fast("publish", store.publish(&event)),
        fails_fast("client", store_ref.client("client_x")),
        fails_fast("subscription", subscription.next()),
        fails_fast("refresh", async {
            let result = tokens.refresh(&refresh_token, None).await;
            if let Err(error) = &result {
                assert_eq!(error.kind(), GrantErrorKind::Unavailable);
            }
            result.map(|_| ())
        }),
    );

    proxy.restore();
    // The same store, not rebuilt: the pool reconnects by itself, and the session started before
    // the outage refreshes with the token it had (the failed refresh changed nothing).
    let refreshed = tokens
        .refresh(&refresh_token, None)
        .await
        .expect("refresh after the outage");
    assert_eq!(refreshed.session_id.as_deref(), Some(session_id.as_str()));
    assert!(
        store
            .lookup(&key_id)
            .resolve()
            .await
            .expect("lookup")
            .is_some()
    );
    let mut subscription = store.subscribe().await.expect("subscribe again");
    store
        .publish(&FeedEvent::session("ses_y", u64::MAX))
        .await
        .expect("publish");
    assert_eq!(
        next_event(&mut subscription).await,
        FeedEvent::session("ses_y", u64::MAX)
    );
}

/// The plaintexts the stores were given, and the parts of them that are secret.
struct Secrets(Vec<String>);

impl Secrets {
    /// Creates a key, starts and rotates a session and registers a client through `store`; the
    /// secrets involved.
    async fn write<S>(store: &S) -> Self
    where
        S: RefreshStore + KeyStore + ClientStore + Clone,
        Registered<S>: ClientRegistry,
    {
        let tokens = service(store.clone());
        let key = api_key(store).await;
        let login = tokens
            .login(Login::api_key(&key).tenant("tn_a"))
            .await
            .expect("login");
        let first = login.refresh_token.expect("a refresh token");
        let second = tokens
            .refresh(&first, None)
            .await
            .expect("refresh")
            .refresh_token
            .unwrap();

        let secret = ApiKeyFormat::default().generate_plaintext();
        let hash = ApiKeyHasher::default().hash(&secret);
        let client = ClientRecord::new("client_1", hash, Scopes::parse("read").unwrap());
        Registered(store.clone())
            .add(client)
            .await
            .expect("register the client");
        tokens
            .client_credentials("client_1", &secret, None)
            .await
            .expect("the client works");

        let mut secrets = Vec::new();
        for plaintext in [&key, &first, &second, &secret] {
            secrets.push(plaintext.clone());
            // The secret part alone (after the last `_`); of a refresh token, its generation's
            // secret and its session key (the part that names the session without being its id).
            let parts: Vec<&str> = plaintext.split('_').collect();
            secrets.push(parts[parts.len() - 1].to_owned());
            if plaintext.starts_with("rt_") {
                secrets.push(parts[2].to_owned());
            }
        }
        Self(secrets)
    }

    /// Asserts that no dumped row holds a secret, as text or hex.
    fn assert_absent(&self, rows: &[String]) {
        assert!(rows.len() >= 4, "the dump found the rows: {rows:?}");
        for secret in &self.0 {
            let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
            for row in rows {
                assert!(
                    !row.contains(secret.as_str()),
                    "a secret is stored in {row}"
                );
                assert!(
                    !row.to_lowercase().contains(&hex),
                    "a secret is stored as bytes in {row}"
                );
            }
        }
    }
}

/// Every row of every table of `store`, as JSON text (`bytea` as hex).
async fn postgres_rows(store: &PgStore) -> Vec<String> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert!(tables.len() >= 6, "{tables:?}");
    let mut rows = Vec::new();
    for table in tables {
        let query = format!("SELECT row_to_json(t)::text FROM {table} t");
        rows.extend(
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(query))
                .fetch_all(store.pool())
                .await
                .unwrap(),
        );
    }
    rows
}

/// Every row of every table of `store`, each column as SQL text: text quoted, blobs as X'…' hex.
async fn sqlite_rows(store: &SqliteStore) -> Vec<String> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert!(tables.len() >= 7, "{tables:?}");
    let mut rows = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}')"
        )))
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| format!("quote(\"{}\")", row.get::<String, _>(0)))
        .collect();
        let query = format!("SELECT {} FROM \"{table}\"", columns.join(" || ',' || "));
        rows.extend(
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(query))
                .fetch_all(store.pool())
                .await
                .unwrap(),
        );
    }
    rows
}

#[tokio::test]
async fn no_table_holds_a_plaintext() {
    let postgres = PgStore::connect(&postgres_database().await).await.unwrap();
    let sqlite = SqliteStore::connect(&sqlite_url()).await.unwrap();
    postgres.migrate().await.unwrap();
    sqlite.migrate().await.unwrap();
    Secrets::write(&postgres)
        .await
        .assert_absent(&postgres_rows(&postgres).await);
    Secrets::write(&sqlite)
        .await
        .assert_absent(&sqlite_rows(&sqlite).await);
}

#[tokio::test]
async fn migrating_twice_is_fine() {
    let postgres = PgStore::connect(&postgres_database().await).await.unwrap();
    let sqlite = SqliteStore::connect(&sqlite_url()).await.unwrap();
    postgres.migrate().await.expect("first migration");
    sqlite.migrate().await.expect("first migration");
    let key = api_key(&postgres).await;
    api_key(&sqlite).await;
    postgres.migrate().await.expect("second migration");
    sqlite.migrate().await.expect("second migration");
    let key_id = ApiKeyFormat::default()
        .parse(&key)
        .unwrap()
        .key_id()
        .to_owned();
    assert!(
        postgres.lookup(&key_id).resolve().await.unwrap().is_some(),
        "data kept"
    );
}

#[tokio::test]
async fn debug_shows_no_connection_string() {
    let url = postgres_database().await;
    let store = PgStore::connect(&url).await.unwrap();
    let shown = format!("{store:?}");
    assert!(
        !shown.contains(&url) && !shown.contains("postgres://"),
        "{shown}"
    );
    assert!(shown.contains(PgStore::DEFAULT_CHANNEL), "{shown}");
    let path = sqlite_url();
    let shown = format!("{:?}", SqliteStore::connect(&path).await.unwrap());
    assert!(!shown.contains("taa_test"), "{shown}");
}

#[tokio::test]
async fn a_bad_url_names_no_secret() {
    let error = PgStore::connect("postgres://user:hunter2@127.0.0.1:5432/db?sslmode=bogus")
        .await
        .expect_err("a bad URL");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

/// Two instances of a fleet, each with its own revocation feed on a clone of `store`: a session
/// revoked through one is refused by the other once the store announced it.
async fn fleet_of_two(store: impl FeedStore + Clone) {
    let a = RevocationFeed::builder(store.clone()).start();
    let b = RevocationFeed::builder(store).start();
    a.synced().await;
    b.synced().await;
    a.revoke_session("ses_fleet", u64::MAX)
        .await
        .expect("revoke");
    assert!(a.is_revoked(Some("ses_fleet"), None, PAST).unwrap());
    tokio::time::timeout(Duration::from_secs(10), async {
        while !b.is_revoked(Some("ses_fleet"), None, PAST).unwrap() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the other instance learns of the revocation");
}

#[tokio::test]
async fn a_fleet_shares_revocations_through_postgres() {
    let store = PgStore::connect(&postgres_database().await).await.unwrap();
    store.migrate().await.unwrap();
    fleet_of_two(store).await;
}

#[tokio::test]
async fn a_fleet_shares_revocations_through_sqlite() {
    let store = SqliteStore::connect(&sqlite_url()).await.unwrap();
    store.migrate().await.unwrap();
    fleet_of_two(store.poll_interval(Duration::from_millis(20))).await;
}

#[tokio::test]
async fn sqlite_snapshot_prunes_the_feed_log_but_keeps_revocations() {
    let store = SqliteStore::connect(&sqlite_url()).await.unwrap();
    store.migrate().await.unwrap();
    let now = common::now();
    store
        .publish(&FeedEvent::session("ses_1", u64::MAX))
        .await
        .unwrap();
    store.publish(&FeedEvent::key("k1apple")).await.unwrap();
    let logged = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM auth_feed_log")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    store.snapshot(now + 60).await.unwrap();
    assert_eq!(logged().await, 2, "kept for ten minutes");
    // Eleven minutes on, by the snapshot's clock: the log is pruned, the revocation is not.
    let in_force = store.snapshot(now + 660).await.unwrap();
    assert_eq!(logged().await, 0);
    assert_eq!(in_force, [FeedEvent::session("ses_1", u64::MAX)]);
    // A subscription still starts after the last sequence number ever used.
    let mut subscription = store.subscribe().await.unwrap();
    store.publish(&FeedEvent::key("k2next")).await.unwrap();
    assert_eq!(
        next_event(&mut subscription).await,
        FeedEvent::key("k2next")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_migrating_at_once_take_turns() {
    let url = postgres_database().await;
    let file = sqlite_url();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let postgres = PgStore::connect(&url).await.unwrap();
        let sqlite = SqliteStore::connect(&file).await.unwrap();
        tasks.push(tokio::spawn(async move { postgres.migrate().await }));
        tasks.push(tokio::spawn(async move { sqlite.migrate().await }));
    }
    for task in tasks {
        task.await.unwrap().expect("every instance migrates");
    }
    api_key(&PgStore::connect(&url).await.unwrap()).await;
    api_key(&SqliteStore::connect(&file).await.unwrap()).await;
}

#[tokio::test]
async fn the_apps_own_sqlx_migrations_keep_working_beside_the_stores() {
    let dir = std::env::temp_dir().join(common::servers::unique_name("taa_app_migrations"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0001_app_things.sql"),
        "CREATE TABLE app_things (id BIGINT);",
    )
    .unwrap();
    let app = tower_api_auth_sqlx_store::sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .unwrap();

    let postgres = PgStore::connect(&postgres_database().await).await.unwrap();
    app.run(postgres.pool())
        .await
        .expect("the app migrates first");
    postgres.migrate().await.expect("then the store");
    app.run(postgres.pool())
        .await
        .expect("and the app again, with the store's tables beside");
    let sqlite = SqliteStore::connect(&sqlite_url()).await.unwrap();
    sqlite.migrate().await.expect("the store migrates first");
    app.run(sqlite.pool())
        .await
        .expect("then the app, which knows nothing of the store's");
    sqlite.migrate().await.expect("and the store again");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn client_secrets_are_checked_with_the_stores_peppered_hasher() {
    let peppered = ApiKeyHasher::with_pepper(b"a-server-side-pepper-for-client-secrets");
    let postgres = PgStore::connect(&postgres_database().await)
        .await
        .unwrap()
        .client_hasher(peppered.clone());
    postgres.migrate().await.unwrap();
    let sqlite = SqliteStore::connect(&sqlite_url())
        .await
        .unwrap()
        .client_hasher(peppered.clone());
    sqlite.migrate().await.unwrap();
    let record = |hasher: &ApiKeyHasher| {
        ClientRecord::new(
            "billing",
            hasher.hash("s3cret"),
            Scopes::parse("billing:read").unwrap(),
        )
    };
    postgres.register_client(record(&peppered)).await.unwrap();
    sqlite.register_client(record(&peppered)).await.unwrap();
    for tokens in [service(postgres), service(sqlite)] {
        assert!(
            tokens
                .client_credentials("billing", "s3cret", None)
                .await
                .is_ok()
        );
        let wrong = tokens
            .client_credentials("billing", "nope", None)
            .await
            .unwrap_err();
        assert_eq!(wrong.code(), "invalid_client");
    }
    // A store left on the default hasher does not accept the peppered hash: the pepper matters.
    let plain = PgStore::connect(&postgres_database().await).await.unwrap();
    plain.migrate().await.unwrap();
    plain.register_client(record(&peppered)).await.unwrap();
    let tokens = service(plain);
    assert_eq!(
        tokens
            .client_credentials("billing", "s3cret", None)
            .await
            .unwrap_err()
            .code(),
        "invalid_client"
    );
}

#[tokio::test]
async fn signing_keys_follow_the_store_contract_on_both_databases() {
    common::signing_keys::store_contract(crate::postgres().await).await;
    common::signing_keys::store_contract(crate::sqlite().await).await;
}

#[tokio::test]
async fn two_key_rings_on_one_postgres_database_rotate_at_once_and_agree() {
    let url = postgres_database().await;
    let a = PgStore::connect(&url).await.expect("connect");
    a.migrate().await.expect("migrate");
    let b = PgStore::connect(&url).await.expect("connect");
    common::signing_keys::two_instances_agree(a, b).await;
}

#[tokio::test]
async fn two_key_rings_on_one_sqlite_file_rotate_at_once_and_agree() {
    let url = sqlite_url();
    let a = SqliteStore::connect(&url).await.expect("connect");
    a.migrate().await.expect("migrate");
    let b = SqliteStore::connect(&url).await.expect("connect");
    common::signing_keys::two_instances_agree(a, b).await;
}

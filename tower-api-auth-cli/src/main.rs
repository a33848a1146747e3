//! `tower-api-auth`: manage the API keys of a fleet in its PostgreSQL or SQLite database.
//!
//! ```text
//! export DATABASE_URL=postgres://app@db/app      # or sqlite://keys.db
//! tower-api-auth keys create --owner user_42 --tenant tn_acme --scope "reports:read"
//! tower-api-auth keys list --tenant tn_acme
//! tower-api-auth keys roll k1ABCDEFGHIJ --grace 24h
//! tower-api-auth keys revoke k1ABCDEFGHIJ
//! ```
//!
//! Every change is announced on the fleet's revocation feed (the database's own, or Redis with
//! `--redis-url`/`REDIS_URL`), so running instances drop cached answers about the key at once.
//! The schema is migrated on connect. Installed with `cargo install tower-api-auth-cli`.

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tower_api_auth::Tenant;
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, CreatedKey, KeyManager, KeySpec};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::FeedStore;
use tower_api_auth::store::{KeyFilter, KeyInfo, KeyStore, KeyUpdate};
use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_sqlx_store::{PgStore, SqliteStore};

#[derive(Parser)]
#[command(
    name = "tower-api-auth",
    version,
    about = "Manage tower-api-auth API keys in PostgreSQL or SQLite"
)]
struct Cli {
    /// The database: postgres://… or sqlite://…
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The Redis of the fleet's revocation feed, if the fleet follows Redis rather than the
    /// database: changes are announced there.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The key prefix of the Redis feed.
    #[arg(long, default_value = "tower-api-auth")]
    redis_prefix: String,
    /// The API-key prefix (the app's `api_keys.prefix`).
    #[arg(long, default_value = "sk_live")]
    prefix: String,
    /// The name of an environment variable holding the hashing pepper, if the app uses one.
    #[arg(long)]
    pepper_env: Option<String>,
    /// Answer in JSON, one object per line.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates or updates the schema, then exits.
    Migrate,
    /// API keys.
    #[command(subcommand)]
    Keys(Keys),
}

#[derive(Subcommand)]
enum Keys {
    /// Creates a key and prints it, once.
    Create(Create),
    /// Lists keys (never their hashes).
    List {
        /// Only keys of this tenant.
        #[arg(long, value_parser = parse_tenant)]
        tenant: Option<Tenant>,
        /// Only keys of this owner.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Shows one key.
    Show {
        /// The key id.
        key_id: String,
    },
    /// Makes a new key with the same grants; the old one keeps working for the grace period.
    Roll {
        /// The key id.
        key_id: String,
        /// How long the old key keeps working (e.g. 0s, 1h, 7d).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        grace: Duration,
    },
    /// Revokes a key for good.
    Revoke {
        /// The key id.
        key_id: String,
    },
    /// Changes a key's grants or labels.
    Update(Update),
}

#[derive(Args)]
struct Create {
    /// Who acts with the key.
    #[arg(long)]
    owner: Option<String>,
    /// A human-readable name.
    #[arg(long, default_value = "")]
    name: String,
    /// A tenant the key may act for (repeat for several).
    #[arg(long = "tenant", value_parser = parse_tenant)]
    tenants: Vec<Tenant>,
    /// The scopes, space-separated.
    #[arg(long, default_value = "", value_parser = parse_scopes)]
    scope: Scopes,
    /// The key stops working after this long (e.g. 90d).
    #[arg(long, value_parser = humantime::parse_duration)]
    expires_in: Option<Duration>,
    /// A label, `name=value` (repeat for several).
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
}

#[derive(Args)]
struct Update {
    /// The key id.
    key_id: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// New scopes, space-separated.
    #[arg(long, value_parser = parse_scopes)]
    scope: Option<Scopes>,
    /// New tenants (repeat for several).
    #[arg(long = "tenant", value_parser = parse_tenant)]
    tenants: Vec<Tenant>,
    /// A new expiry, from now (e.g. 30d).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "no_expiry")]
    expires_in: Option<Duration>,
    /// Removes the expiry.
    #[arg(long)]
    no_expiry: bool,
    /// Switches the key off.
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// Switches the key on again.
    #[arg(long)]
    enable: bool,
}

/// `println!` that stops quietly when stdout is closed, as by `tower-api-auth keys create | head -n1`:
/// `println!` would panic on the broken pipe, after the key was already stored.
macro_rules! say {
    ($($arg:tt)*) => {
        write_line(format_args!($($arg)*))
    };
}

fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if let Err(error) = writeln!(std::io::stdout().lock(), "{line}") {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: could not write the answer: {error}");
        std::process::exit(1);
    }
}

fn parse_tenant(id: &str) -> Result<Tenant, String> {
    Tenant::new(id).map_err(|e| e.to_string())
}

fn parse_scopes(list: &str) -> Result<Scopes, String> {
    Scopes::parse(list).map_err(|e| e.to_string())
}

fn parse_label(label: &str) -> Result<(String, String), String> {
    label
        .split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| "a label is name=value".to_owned())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// The store behind `--database-url`, migrated.
enum Database {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

async fn connect(url: &str) -> Result<Database, Box<dyn Error>> {
    let database = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Database::Postgres(PgStore::connect(url).await?)
    } else if url.starts_with("sqlite:") {
        Database::Sqlite(SqliteStore::connect(url).await?)
    } else {
        return Err("--database-url must start with postgres://, postgresql:// or sqlite:".into());
    };
    match &database {
        Database::Postgres(store) => store.migrate().await?,
        Database::Sqlite(store) => store.migrate().await?,
    }
    Ok(database)
}

/// A key manager on `store`, announcing on Redis when the fleet follows Redis, else on the
/// store's own feed.
fn manager<S: KeyStore + FeedStore + Clone>(
    store: S,
    redis: Option<RedisStore>,
    format: ApiKeyFormat,
    hasher: ApiKeyHasher,
) -> KeyManager {
    let manager = KeyManager::new(store.clone()).format(format).hasher(hasher);
    match redis {
        Some(redis) => manager.announce(redis),
        None => manager.announce(store),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn Error>> {
    let database = connect(&cli.database_url).await?;
    let Command::Keys(command) = cli.command else {
        say!("schema up to date");
        return Ok(ExitCode::SUCCESS);
    };
    let format = ApiKeyFormat::new(&cli.prefix)?;
    let hasher = match &cli.pepper_env {
        Some(var) => {
            let pepper = std::env::var(var).map_err(|_| format!("{var} is not set"))?;
            ApiKeyHasher::with_pepper(pepper.as_bytes())
        }
        None => ApiKeyHasher::default(),
    };
    let redis = match &cli.redis_url {
        Some(url) => Some(RedisStore::connect(url).await?.prefix(&cli.redis_prefix)),
        None => None,
    };
    let keys = match database {
        Database::Postgres(store) => manager(store, redis, format, hasher),
        Database::Sqlite(store) => manager(store, redis, format, hasher),
    };
    let out = Output { json: cli.json };
    match command {
        Keys::Create(create) => {
            let mut spec = KeySpec::default()
                .name(create.name)
                .tenants(create.tenants)
                .scopes(create.scope);
            if let Some(owner) = create.owner {
                spec = spec.owner(owner);
            }
            if let Some(expires_in) = create.expires_in {
                spec = spec.expires_at(now().saturating_add(expires_in.as_secs()));
            }
            for (name, value) in create.labels {
                spec = spec.metadata(name, value);
            }
            out.created(&keys.create(spec).await?);
        }
        Keys::List { tenant, owner } => {
            let mut filter = KeyFilter::default();
            if let Some(tenant) = tenant {
                filter = filter.tenant(tenant);
            }
            if let Some(owner) = owner {
                filter = filter.owner(owner);
            }
            for info in keys.list(&filter).await? {
                out.info(&info);
            }
        }
        Keys::Show { key_id } => match keys.get(&key_id).await? {
            Some(info) => out.info(&info),
            None => return Ok(not_found(&key_id)),
        },
        Keys::Roll { key_id, grace } => match keys.roll(&key_id, grace).await? {
            Some(created) => out.created(&created),
            None => return Ok(not_found(&key_id)),
        },
        Keys::Revoke { key_id } => {
            if !keys.revoke(&key_id).await? {
                return Ok(not_found(&key_id));
            }
            eprintln!("revoked {key_id}");
        }
        Keys::Update(update) => {
            let mut change = KeyUpdate::default();
            if let Some(name) = update.name {
                change = change.name(name);
            }
            if let Some(scopes) = update.scope {
                change = change.scopes(scopes);
            }
            if !update.tenants.is_empty() {
                change = change.tenants(update.tenants);
            }
            if let Some(expires_in) = update.expires_in {
                change = change.expires_at(Some(now().saturating_add(expires_in.as_secs())));
            }
            if update.no_expiry {
                change = change.expires_at(None);
            }
            if update.disable || update.enable {
                change = change.disabled(update.disable);
            }
            match keys.update(&update.key_id, &change).await? {
                Some(info) => out.info(&info),
                None => return Ok(not_found(&update.key_id)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn not_found(key_id: &str) -> ExitCode {
    eprintln!("error: no API key has the id {key_id} (or it is revoked, for a roll)");
    ExitCode::from(2)
}

struct Output {
    json: bool,
}

impl Output {
    fn created(&self, created: &CreatedKey) {
        if self.json {
            say!("{}", serde_json::to_string(created).expect("serializes"));
            return;
        }
        eprintln!("Store this key now: it is shown once and kept nowhere.");
        say!("{}", created.key);
        self.info(&created.info);
    }

    fn info(&self, info: &KeyInfo) {
        if self.json {
            say!("{}", serde_json::to_string(info).expect("serializes"));
            return;
        }
        let state = match (info.revoked, info.disabled, info.expires_at) {
            (true, _, _) => "revoked".to_owned(),
            (_, true, _) => "disabled".to_owned(),
            (_, _, Some(at)) if at <= now() => "expired".to_owned(),
            (_, _, Some(at)) => format!("expires {}", rfc3339(at)),
            _ => "active".to_owned(),
        };
        let tenants: Vec<&str> = info.tenants.iter().map(Tenant::as_str).collect();
        let labels: BTreeMap<_, _> = info.metadata.iter().collect();
        say!(
            "{}  owner={} name={:?} tenants={} scopes={:?} {state} last_used={} labels={labels:?}",
            info.key_id,
            info.owner.as_deref().unwrap_or("-"),
            info.name,
            if tenants.is_empty() {
                "-".to_owned()
            } else {
                tenants.join(",")
            },
            info.scopes.as_str(),
            info.last_used_at
                .map_or_else(|| "never".to_owned(), rfc3339),
        );
    }
}

/// `unix` as RFC 3339, or the plain number where RFC 3339 has no year for it (after 9999: a
/// store's "never").
fn rfc3339(unix: u64) -> String {
    const YEAR_10000: u64 = 253_402_300_800;
    match std::time::UNIX_EPOCH.checked_add(Duration::from_secs(unix)) {
        Some(time) if unix < YEAR_10000 => humantime::format_rfc3339_seconds(time).to_string(),
        _ => format!("{unix} (unix seconds)"),
    }
}

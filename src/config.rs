//! Settings: the options of `serve` (clap-derived, each also read from the environment), their
//! defaults, and one validated `Settings` passed down explicitly; no globals. The command-line
//! grammar of the other commands lives with their handlers in `cli/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, FromArgMatches, ValueEnum};
use ipnet::IpNet;

use crate::domain::bucket::Rate;
use crate::domain::client_ip::ForwardedHeader;
use crate::domain::secret::{DEFAULT_SECRET_PREFIX, SecretPrefix};
use crate::outbound::Reach;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/latchkey.db";

/// Default access-token lifetime: of `serve`, and the one `signing-keys rotate` assumes the
/// servers use.
pub const DEFAULT_TOKEN_TTL: &str = "600s";

/// Default extra time a retired signing key stays published beyond the token TTL (`serve`,
/// `signing-keys rotate`). A minute covers the other nodes' key refresh (1 s), clock skew
/// between nodes and verifiers (NTP keeps it well under a second), and `exp` being a whole
/// second.
pub const DEFAULT_ROTATION_LEEWAY: &str = "60s";

/// Default `max-age` of the JWKS (`serve`, `signing-keys rotate`): how long verifiers may cache
/// it, and so how long a staged signing key is published before it signs (plus the leeway, for
/// the other nodes' key refresh and clock skew). Five minutes: a rotation to another algorithm
/// takes six, and a verifier refetches the key set every five at most.
pub const DEFAULT_JWKS_MAX_AGE: &str = "300s";

/// `--secret-prefix`: of `serve`, and of the commands that create or roll keys (`keys create`,
/// `keys roll`, `org bootstrap`) and `secret-pattern`, so that the command line issues and
/// describes the same secrets as the servers. One definition, flattened into each.
#[derive(Debug, Clone, Args)]
pub struct SecretPrefixArg {
    /// Prefix of new secrets: 2 to 16 characters of [a-z0-9_], a letter first, `_` last (e.g.
    /// acme_). Secrets issued under an earlier prefix keep working; register the new one with
    /// secret scanners (`latchkey secret-pattern`).
    #[arg(long, env = "LATCHKEY_SECRET_PREFIX", default_value = DEFAULT_SECRET_PREFIX, value_parser = SecretPrefix::parse)]
    pub secret_prefix: SecretPrefix,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Issuer URL (`iss` of tokens, base of discovery URLs). Default: http://<listen address>.
    #[arg(long, env = "LATCHKEY_ISSUER")]
    pub issuer: Option<String>,
    /// Audiences tokens may be issued for (repeat, or comma-separate): the first is the `aud`
    /// of a token requested without `resource`, the others (absolute URIs) are asked for with
    /// RFC 8707 `resource`. Default: the issuer.
    #[arg(long = "audience", env = "LATCHKEY_AUDIENCE", value_delimiter = ',')]
    pub audiences: Vec<String>,
    /// Access-token lifetime, e.g. 600s, 10m, 1h.
    #[arg(long, env = "LATCHKEY_TOKEN_TTL", default_value = DEFAULT_TOKEN_TTL, value_parser = parse_duration)]
    pub token_ttl: Duration,
    #[command(flatten)]
    pub prefix: SecretPrefixArg,
    /// Peers whose forwarding header (--forwarded-header) is believed (repeat, or
    /// comma-separate).
    #[arg(
        long = "trusted-proxy",
        env = "LATCHKEY_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpNet>,
    /// The one header that names the client behind a trusted proxy: the one your proxies append
    /// to. The other is ignored, since proxies pass it through as the client wrote it.
    #[arg(
        long,
        env = "LATCHKEY_FORWARDED_HEADER",
        value_enum,
        ignore_case = true,
        default_value_t = ForwardedHeader::XForwardedFor
    )]
    pub forwarded_header: ForwardedHeader,
    /// Failed client authentications allowed at once per source address and per key id before
    /// `429` (0 turns throttling off).
    #[arg(long, env = "LATCHKEY_AUTH_FAILURE_BURST", default_value_t = 20)]
    pub auth_failure_burst: u32,
    /// How many of those failures are forgiven per minute.
    #[arg(long, env = "LATCHKEY_AUTH_FAILURES_PER_MINUTE", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_failures_per_minute: u32,
    /// Database connections in the pool.
    #[arg(long, env = "LATCHKEY_DB_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before failing with 503.
    #[arg(long, env = "LATCHKEY_DB_CONNECT_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub db_connect_timeout: Duration,
    /// PostgreSQL statement timeout.
    #[arg(long, env = "LATCHKEY_DB_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub db_statement_timeout: Duration,
    /// How often each node re-reads the signing keys (rotations made by other nodes).
    #[arg(long, env = "LATCHKEY_KEY_REFRESH", default_value = "1s", value_parser = parse_duration)]
    pub key_refresh: Duration,
    /// How long a retired signing key stays published beyond the token TTL (other nodes'
    /// refresh, clock skew).
    #[arg(long, env = "LATCHKEY_ROTATION_LEEWAY", default_value = DEFAULT_ROTATION_LEEWAY, value_parser = parse_duration)]
    pub rotation_leeway: Duration,
    /// `Cache-Control: max-age` of the JWKS; a signing key staged by a rotation to another
    /// algorithm is published this long (plus the rotation leeway) before it signs.
    #[arg(long, env = "LATCHKEY_JWKS_MAX_AGE", default_value = DEFAULT_JWKS_MAX_AGE, value_parser = parse_duration)]
    pub jwks_max_age: Duration,
    /// Usage metering (per-key and org-wide counts); `off` only to measure what it costs.
    #[arg(long, env = "LATCHKEY_USAGE_METERING", default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub usage_metering: bool,
    /// How often usage counters are written to the database.
    #[arg(long, env = "LATCHKEY_USAGE_FLUSH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub usage_flush_interval: Duration,
    /// Hourly usage rows older than this are rolled up into daily rows.
    #[arg(long, env = "LATCHKEY_USAGE_HOURLY_RETENTION", default_value = "35d", value_parser = parse_duration)]
    pub usage_hourly_retention: Duration,
    /// Daily usage rows older than this are deleted.
    #[arg(long, env = "LATCHKEY_USAGE_DAILY_RETENTION", default_value = "400d", value_parser = parse_duration)]
    pub usage_daily_retention: Duration,
    /// HTTP worker threads. Default: one per CPU.
    #[arg(long, env = "LATCHKEY_WORKERS")]
    pub workers: Option<usize>,
    /// Timeout of each fetch of a client's jwks_uri or a federated issuer's keys.
    #[arg(long, env = "LATCHKEY_FETCH_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub fetch_timeout: Duration,
    /// Fetch plain http:// JWKS and issuer URLs. For tests and closed networks only: an
    /// attacker on the path could then substitute a client's keys.
    #[arg(long, env = "LATCHKEY_ALLOW_HTTP_ISSUERS", action = clap::ArgAction::Set, default_value_t = false, default_missing_value = "true", num_args = 0..=1, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_http_issuers: bool,
    /// Fetch JWKS and issuer URLs on loopback, private and link-local addresses. For tests and
    /// closed networks only: otherwise a key's jwks_uri could probe the internal network.
    #[arg(long, env = "LATCHKEY_ALLOW_PRIVATE_ISSUERS", action = clap::ArgAction::Set, default_value_t = false, default_missing_value = "true", num_args = 0..=1, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_issuers: bool,
    /// Deliver webhooks to plain http:// URLs. For tests and closed networks only: anyone on
    /// the path reads the events.
    #[arg(long, env = "LATCHKEY_WEBHOOK_ALLOW_HTTP", action = clap::ArgAction::Set, default_value_t = false, default_missing_value = "true", num_args = 0..=1, value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_http: bool,
    /// Deliver webhooks to loopback, private and link-local addresses. For tests and closed
    /// networks only: otherwise a webhook could reach the internal network.
    #[arg(long, env = "LATCHKEY_WEBHOOK_ALLOW_PRIVATE", action = clap::ArgAction::Set, default_value_t = false, default_missing_value = "true", num_args = 0..=1, value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// How long a webhook delivery is retried (with exponential backoff) before it fails.
    #[arg(long, env = "LATCHKEY_WEBHOOK_RETRY_FOR", default_value = "24h", value_parser = parse_duration)]
    pub webhook_retry_for: Duration,
    /// When keys are warned of their expiry (`key.expiring`): before `expires_at` by each of
    /// these, e.g. 30d,7d,1d (d, h, m or s); empty for no warnings.
    #[arg(long, env = "LATCHKEY_EXPIRY_WARNINGS", default_value = "30d,7d,1d", value_parser = crate::domain::webhook::parse_expiry_warnings)]
    pub expiry_warnings: crate::domain::webhook::ExpiryWarnings,
    /// GitHub's secret-scanning public keys, a file in the format of
    /// https://api.github.com/meta/public_keys/secret_scanning: enables
    /// `POST /v1/secret-scanning/github`.
    #[arg(long, env = "LATCHKEY_GITHUB_SCANNING_KEYS")]
    pub github_scanning_keys: Option<PathBuf>,
}

impl ServeArgs {
    /// What `latchkey serve` with no arguments parses to, environment ignored: the `#[arg]`
    /// attributes above are the one source of every default, and this is how code other than
    /// the command line (`Settings::local`) reads them.
    pub fn defaults() -> Self {
        let command = without_env(ServeArgs::augment_args(clap::Command::new("serve")));
        let parsed = command
            .try_get_matches_from(["serve"])
            .and_then(|matches| ServeArgs::from_arg_matches(&matches));
        match parsed {
            Ok(defaults) => defaults,
            // No input reaches this: the defaults are literals of this file, all parsed by the
            // unit tests, so a failure here is a bug in them and not an error to handle.
            Err(e) => panic!("the defaults of `serve` do not parse: {e}"),
        }
    }
}

/// `command` with the environment variables of its arguments (and its subcommands') ignored,
/// so that parsing it gives the defaults whatever `LATCHKEY_*` variables are set.
pub(crate) fn without_env(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| arg.env(None::<&str>))
        .mut_subcommands(without_env)
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub keys_dir: PathBuf,
    /// Base64 master key from the environment; `None` = use `keys_dir/master.key`.
    pub master_key: Option<String>,
    /// `None` = derived from the bound address.
    pub issuer: Option<String>,
    /// Empty = the issuer alone.
    pub audiences: Vec<String>,
    pub token_ttl: Duration,
    /// The prefix of new secrets (`--secret-prefix`); secrets with any other well-formed
    /// prefix, issued before it changed, still authenticate.
    pub secret_prefix: SecretPrefix,
    pub trusted_proxies: Vec<IpNet>,
    /// Which header names the client when the peer is a trusted proxy.
    pub forwarded_header: ForwardedHeader,
    /// Throttling of failed client authentication (per address and per key id).
    pub auth_throttle: Rate,
    /// Most addresses, and most key ids, the throttle tracks at once (its memory bound).
    pub auth_throttle_capacity: usize,
    pub db_pool_size: u32,
    pub db_connect_timeout: Duration,
    pub db_statement_timeout: Duration,
    pub key_refresh: Duration,
    /// Extra time a retired signing key stays published beyond `token_ttl`.
    pub rotation_leeway: Duration,
    /// The JWKS `max-age`, and with the leeway how long a staged signing key is published
    /// before it signs.
    pub jwks_max_age: Duration,
    pub usage_metering: bool,
    pub usage_flush_interval: Duration,
    pub usage_hourly_retention: Duration,
    pub usage_daily_retention: Duration,
    pub workers: Option<usize>,
    /// What fetches of user-given URLs may reach beyond public https.
    pub reach: Reach,
    pub fetch_timeout: Duration,
    /// Webhook delivery and expiry warnings.
    pub webhooks: crate::service::webhooks::WebhookSettings,
    /// The key file of GitHub's secret scanning, if the endpoint is on.
    pub github_scanning_keys: Option<PathBuf>,
}

/// `Settings::local`'s database pool: smaller than `serve`'s, see there.
const LOCAL_DB_POOL_SIZE: u32 = 4;
/// `Settings::local`'s HTTP workers: fixed instead of one per CPU, see there.
const LOCAL_WORKERS: usize = 2;

impl Settings {
    /// `serve`'s defaults ([`ServeArgs::defaults`]) for a database and keys folder: what
    /// embedding applications and tests start from. They differ from `latchkey serve` with no
    /// arguments in these settings only, on purpose (`local_settings_are_the_serve_defaults`
    /// fails on any other difference):
    /// - `listen`: port 0 on `serve`'s default address, so every server gets a free port (tests
    ///   run many at once; `Application::port` says which).
    /// - `database_url`, `keys_dir`: the caller's, so each test has its own database and keys.
    /// - `master_key`: `None`, because nothing here reads the environment (the defaults are
    ///   parsed without it too): a test must not pick up an operator's `LATCHKEY_*` variables,
    ///   least of all the master key.
    /// - `db_pool_size` 4 and `workers` 2, not 8 and one per CPU: a test binary runs dozens of
    ///   servers side by side, each with its own pool (on PostgreSQL, connections to one shared
    ///   server) and its own worker threads, which one per CPU multiplies on a large CI machine.
    ///   `tests/api/ops.rs` reads the pool size back from `/metrics`.
    pub fn local(database_url: impl Into<String>, keys_dir: impl Into<PathBuf>) -> Self {
        let serve = ServeArgs::defaults();
        Settings {
            listen: SocketAddr::new(serve.listen.ip(), 0),
            db_pool_size: LOCAL_DB_POOL_SIZE,
            workers: Some(LOCAL_WORKERS),
            ..Settings::from_serve_args(database_url.into(), keys_dir.into(), None, &serve)
        }
    }

    /// `serve`'s settings: its arguments, the global database URL and keys folder, and the
    /// master key from the environment.
    pub fn from_serve(database_url: String, keys_dir: PathBuf, serve: &ServeArgs) -> Self {
        Settings::from_serve_args(database_url, keys_dir, master_key_from_env(), serve)
    }

    /// The one mapping from parsed arguments to settings, shared by `from_serve` and `local`.
    fn from_serve_args(
        database_url: String,
        keys_dir: PathBuf,
        master_key: Option<String>,
        serve: &ServeArgs,
    ) -> Self {
        Settings {
            listen: serve.listen,
            database_url,
            keys_dir,
            master_key,
            issuer: serve.issuer.clone(),
            audiences: serve.audiences.clone(),
            token_ttl: serve.token_ttl,
            secret_prefix: serve.prefix.secret_prefix.clone(),
            trusted_proxies: serve.trusted_proxies.clone(),
            forwarded_header: serve.forwarded_header,
            auth_throttle: Rate {
                burst: serve.auth_failure_burst,
                per_sec: f64::from(serve.auth_failures_per_minute) / 60.0,
            },
            auth_throttle_capacity: crate::service::authority::throttle::DEFAULT_CAPACITY,
            db_pool_size: serve.db_pool_size,
            db_connect_timeout: serve.db_connect_timeout,
            db_statement_timeout: serve.db_statement_timeout,
            key_refresh: serve.key_refresh,
            usage_metering: serve.usage_metering,
            usage_flush_interval: serve.usage_flush_interval,
            usage_hourly_retention: serve.usage_hourly_retention,
            usage_daily_retention: serve.usage_daily_retention,
            rotation_leeway: serve.rotation_leeway,
            jwks_max_age: serve.jwks_max_age,
            workers: serve.workers,
            reach: Reach {
                http: serve.allow_http_issuers,
                private: serve.allow_private_issuers,
            },
            fetch_timeout: serve.fetch_timeout,
            webhooks: crate::service::webhooks::WebhookSettings {
                reach: Reach {
                    http: serve.webhook_allow_http,
                    private: serve.webhook_allow_private,
                },
                retry: crate::domain::webhook::RetrySchedule {
                    give_up_after: serve.webhook_retry_for,
                    ..Default::default()
                },
                expiry_warnings: serve.expiry_warnings.clone(),
                ..Default::default()
            },
            github_scanning_keys: serve.github_scanning_keys.clone(),
        }
    }
}

/// `--forwarded-header` values are the header names, matched without regard to case.
impl ValueEnum for ForwardedHeader {
    fn value_variants<'a>() -> &'a [Self] {
        &ForwardedHeader::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            ForwardedHeader::XForwardedFor => {
                "what nginx, HAProxy, Envoy and load balancers append"
            }
            ForwardedHeader::Forwarded => "RFC 7239, for proxies that append `for=` to it",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

/// Read from the environment only: a key on the command line would show in `ps`.
pub fn master_key_from_env() -> Option<String> {
    std::env::var("LATCHKEY_MASTER_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// `600`, `600s`, `10m`, `1h`, `35d`: whole seconds, minutes, hours or days, at least one
/// second and at most ten years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 600s, 10m or 1h"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .filter(|s| (1..=86_400 * 3650).contains(s))
    .ok_or_else(|| {
        format!("{text:?} is not a duration between 1s and 3650 days like 600s, 10m, 1h or 35d")
    })?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_minutes_hours() {
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("600s").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "0s", "10x", "s", "-1", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

//! Command line and environment: one validated `Settings` passed down explicitly; no globals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::domain::bucket::Rate;
use crate::domain::client_ip::ForwardedHeader;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/latchkey.db";

/// Default access-token lifetime: of `serve`, and the one `signing-keys rotate` assumes the
/// servers use.
const DEFAULT_TOKEN_TTL: &str = "600s";

/// Default extra time a retired signing key stays published beyond the token TTL (`serve`,
/// `signing-keys rotate`). A minute covers the other nodes' key refresh (1 s), clock skew
/// between nodes and verifiers (NTP keeps it well under a second), and `exp` being a whole
/// second.
const DEFAULT_ROTATION_LEEWAY: &str = "60s";

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "API keys that are also OAuth 2.0 clients"
)]
pub struct Cli {
    /// sqlite://PATH (created on demand) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Folder holding master.key, which seals signing private keys at rest.
    /// LATCHKEY_MASTER_KEY (base64, 32 bytes) overrides the file so several nodes can share one.
    #[arg(long, env = "LATCHKEY_KEYS_DIR", default_value = "keys", global = true)]
    pub keys_dir: PathBuf,
    /// Log format on stderr.
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve the API (bootstraps org `default` on an empty database).
    Serve(ServeArgs),
    /// Run pending database migrations and exit.
    Migrate,
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// API keys of an organization.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Usage of an organization, or of one key.
    Usage {
        #[arg(long)]
        org: String,
        /// One key instead of the whole organization.
        #[arg(long)]
        key: Option<String>,
        /// RFC 3339 start (default: 24 hours, or 30 days for --granularity day, before --to).
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339 end (default: now).
        #[arg(long)]
        to: Option<String>,
        /// hour (default) or day.
        #[arg(long)]
        granularity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The audit trail of an organization, newest first.
    Audit {
        #[arg(long)]
        org: String,
        /// Only this action, e.g. key.revoked.
        #[arg(long)]
        action: Option<String>,
        /// Only events about this key id or kid.
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Signing keys of an organization: list them, rotate to a new one.
    #[command(subcommand)]
    SigningKeys(SigningKeysCommand),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Issuer URL (`iss` of tokens, base of discovery URLs). Default: http://<listen address>.
    #[arg(long, env = "LATCHKEY_ISSUER")]
    pub issuer: Option<String>,
    /// Audience (`aud`) of access tokens. Default: the issuer.
    #[arg(long, env = "LATCHKEY_AUDIENCE")]
    pub audience: Option<String>,
    /// Access-token lifetime, e.g. 600s, 10m, 1h.
    #[arg(long, env = "LATCHKEY_TOKEN_TTL", default_value = DEFAULT_TOKEN_TTL, value_parser = parse_duration)]
    pub token_ttl: Duration,
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
fn without_env(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| arg.env(None::<&str>))
        .mut_subcommands(without_env)
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (not yet bootstrapped).
    Create {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Provision the org's signing key and first admin key (`*:*`); prints the secret once.
    Bootstrap {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// List organizations.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints its secret once.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// ACTION:FILTER, e.g. read:projects/** (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Allowed client network, e.g. 10.0.0.0/8 (repeat; none = allow all).
        #[arg(long = "cidr")]
        cidrs: Vec<String>,
        /// RFC 3339 expiry, e.g. 2030-01-01T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
        /// Validate and show warnings without creating.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// List keys, newest first.
    List {
        #[arg(long)]
        org: String,
        /// active (default), expired, revoked or all.
        #[arg(long)]
        status: Option<String>,
        /// Case-insensitive substring of the name.
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one key.
    Show {
        #[arg(long)]
        org: String,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a key; scope and CIDR changes apply to the very next request.
    Update {
        #[arg(long)]
        org: String,
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Replaces all scopes (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Replaces the allow-list (repeat for several).
        #[arg(long = "cidr", conflicts_with = "allow_all_ips")]
        cidrs: Vec<String>,
        /// Remove the allow-list (allow every address).
        #[arg(long)]
        allow_all_ips: bool,
        #[arg(long, conflicts_with = "no_expiry")]
        expires_at: Option<String>,
        /// Remove the expiry.
        #[arg(long)]
        no_expiry: bool,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Give a key a new secret (same id); the old one keeps working for the grace period.
    Roll {
        #[arg(long)]
        org: String,
        id: String,
        /// Seconds the previous secret keeps working (0 to 604800).
        #[arg(long, default_value_t = 0)]
        grace_seconds: i64,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key, permanently.
    Revoke {
        #[arg(long)]
        org: String,
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SigningKeysCommand {
    /// List the org's signing keys, newest first (public halves only).
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a new key current; the old one stays published until token TTL + leeway has passed.
    Rotate {
        #[arg(long)]
        org: String,
        /// Algorithm of the new key. Default: that of the current key.
        #[arg(long, value_parser = ["EdDSA", "RS256", "ES256"])]
        alg: Option<String>,
        /// The access-token lifetime the servers use (`serve --token-ttl`).
        #[arg(long, env = "LATCHKEY_TOKEN_TTL", default_value = DEFAULT_TOKEN_TTL, value_parser = parse_duration)]
        token_ttl: Duration,
        /// Extra time the old key stays published beyond the token TTL.
        #[arg(long, env = "LATCHKEY_ROTATION_LEEWAY", default_value = DEFAULT_ROTATION_LEEWAY, value_parser = parse_duration)]
        rotation_leeway: Duration,
        #[arg(long)]
        json: bool,
    },
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
    pub audience: Option<String>,
    pub token_ttl: Duration,
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
    pub usage_metering: bool,
    pub usage_flush_interval: Duration,
    pub usage_hourly_retention: Duration,
    pub usage_daily_retention: Duration,
    pub workers: Option<usize>,
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

    pub fn from_cli(cli: &Cli, serve: &ServeArgs) -> Self {
        Settings::from_serve_args(
            cli.database_url.clone(),
            cli.keys_dir.clone(),
            master_key_from_env(),
            serve,
        )
    }

    /// The one mapping from parsed arguments to settings, shared by `from_cli` and `local`.
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
            audience: serve.audience.clone(),
            token_ttl: serve.token_ttl,
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
            workers: serve.workers,
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

    fn serve_settings(args: &[&str]) -> Result<Settings, clap::Error> {
        let cli = Cli::try_parse_from(["latchkey", "serve"].iter().chain(args))?;
        match &cli.command {
            Command::Serve(serve) => Ok(Settings::from_cli(&cli, serve)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_forwarded_header_defaults_to_x_forwarded_for_and_names_one_header() {
        // LATCHKEY_FORWARDED_HEADER would override the default; CI does not set it.
        if std::env::var_os("LATCHKEY_FORWARDED_HEADER").is_none() {
            let s = serve_settings(&[]).unwrap();
            assert_eq!(s.forwarded_header, ForwardedHeader::XForwardedFor);
        }
        for (arg, header) in [
            ("forwarded", ForwardedHeader::Forwarded),
            ("Forwarded", ForwardedHeader::Forwarded),
            ("x-forwarded-for", ForwardedHeader::XForwardedFor),
            ("X-Forwarded-For", ForwardedHeader::XForwardedFor),
        ] {
            let s = serve_settings(&["--forwarded-header", arg]).unwrap();
            assert_eq!(s.forwarded_header, header, "{arg}");
        }
        for bad in ["x-real-ip", "both", ""] {
            let e = serve_settings(&["--forwarded-header", bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue, "{bad}");
        }
    }

    /// `latchkey ARGS…` as parsed with no environment, as `ServeArgs::defaults` parses.
    fn parse_without_env(args: &[&str]) -> Cli {
        use clap::CommandFactory;
        let matches = without_env(Cli::command())
            .try_get_matches_from(args)
            .unwrap();
        Cli::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn local_settings_are_the_serve_defaults() {
        let cli = parse_without_env(&["latchkey", "serve"]);
        let Command::Serve(args) = &cli.command else {
            panic!("{:?}", cli.command)
        };
        let serve = Settings::from_cli(&cli, args);
        let local = Settings::local("sqlite://elsewhere.db", "elsewhere");

        // The settings `local` sets on purpose (see its doc), as it sets them…
        assert_eq!(local.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(local.database_url, "sqlite://elsewhere.db");
        assert_eq!(local.keys_dir, PathBuf::from("elsewhere"));
        assert_eq!(local.master_key, None);
        assert_eq!((local.db_pool_size, local.workers), (4, Some(2)));
        // …and every other setting, including any added later, exactly as `serve`'s.
        let expected = Settings {
            listen: local.listen,
            database_url: local.database_url.clone(),
            keys_dir: local.keys_dir.clone(),
            master_key: local.master_key.clone(),
            db_pool_size: local.db_pool_size,
            workers: local.workers,
            ..serve
        };
        assert_eq!(local, expected);
    }

    #[test]
    fn shared_defaults_agree_across_commands_and_the_store() {
        let serve = ServeArgs::defaults();
        let cli = parse_without_env(&["latchkey", "signing-keys", "rotate", "--org", "acme"]);
        let Command::SigningKeys(SigningKeysCommand::Rotate {
            token_ttl,
            rotation_leeway,
            ..
        }) = cli.command
        else {
            panic!("{:?}", cli.command)
        };
        assert_eq!(
            (token_ttl, rotation_leeway),
            (serve.token_ttl, serve.rotation_leeway)
        );
        // The store's own defaults (for tools that open a pool without settings) follow `serve`.
        let pool = crate::store::PoolOptions::default();
        assert_eq!(
            (pool.max_size, pool.connect_timeout, pool.statement_timeout),
            (
                serve.db_pool_size,
                serve.db_connect_timeout,
                serve.db_statement_timeout
            )
        );
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

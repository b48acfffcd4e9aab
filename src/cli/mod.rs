//! Command-line adapters: parse arguments, call a service directly on the database, print.

pub mod federation;
pub mod keys;
pub mod limits;
pub mod org;
pub mod public_keys;
pub mod reports;
pub mod secret_pattern;
pub mod serve;
pub mod signing_keys;
pub mod webhooks;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{DEFAULT_DATABASE_URL, ServeArgs};
use crate::crypto::MasterKey;
use crate::store::{self, DbConnection};

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
    Org(org::OrgCommand),
    /// API keys of an organization.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
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
        /// Rank web-console session keys among the busiest keys too (JSON `top_keys`).
        #[arg(long)]
        include_sessions: bool,
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
    SigningKeys(signing_keys::SigningKeysCommand),
    /// Print the regex of this deployment's secrets for secret scanners (GitHub custom
    /// patterns, gitleaks, trufflehog).
    SecretPattern(secret_pattern::SecretPatternArgs),
    /// Manage an org's lifecycle webhooks (list, create, enable, delete, deliveries, test,
    /// retry).
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
}

/// Runs one command. Errors come back as one clear message for stderr.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => serve::run(&cli, args),
        Command::Migrate => {
            open(&cli)?;
            println!("database is up to date");
            Ok(())
        }
        Command::Org(cmd) => org::run(&cli, cmd),
        Command::Keys(cmd) => keys::run(&cli, cmd),
        Command::Usage { .. } | Command::Audit { .. } => reports::run(&cli),
        Command::SigningKeys(cmd) => signing_keys::run(&cli, cmd),
        Command::SecretPattern(args) => secret_pattern::run(args),
        Command::Webhooks(cmd) => webhooks::run(&cli, cmd),
    }
}

/// One migrated connection for a short-lived command.
pub(crate) fn open(cli: &Cli) -> anyhow::Result<DbConnection> {
    let mut conn = store::connect_one(&cli.database_url)?;
    store::migrate_conn(&mut conn)?;
    Ok(conn)
}

pub(crate) fn master_key(cli: &Cli) -> anyhow::Result<MasterKey> {
    Ok(MasterKey::resolve(
        crate::config::master_key_from_env().as_deref(),
        &cli.keys_dir,
    )?)
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// How the command line maps to `serve`'s settings (here, where the grammar is).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::SocketAddr;

    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::config::{Settings, without_env};
    use crate::domain::client_ip::ForwardedHeader;

    fn serve_settings(args: &[&str]) -> Result<Settings, clap::Error> {
        let cli = Cli::try_parse_from(["latchkey", "serve"].iter().chain(args))?;
        match &cli.command {
            Command::Serve(serve) => Ok(Settings::from_serve(
                cli.database_url.clone(),
                cli.keys_dir.clone(),
                serve,
            )),
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
        let serve = Settings::from_serve(cli.database_url.clone(), cli.keys_dir.clone(), args);
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
        let Command::SigningKeys(signing_keys::SigningKeysCommand::Rotate {
            token_ttl,
            rotation_leeway,
            jwks_max_age,
            ..
        }) = cli.command
        else {
            panic!("{:?}", cli.command)
        };
        assert_eq!(
            (token_ttl, rotation_leeway, jwks_max_age),
            (serve.token_ttl, serve.rotation_leeway, serve.jwks_max_age)
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

    /// The prefix each command that issues or describes secrets was given.
    fn secret_prefix_of(cli: &Cli) -> &crate::domain::secret::SecretPrefix {
        match &cli.command {
            Command::Serve(args) => &args.prefix.secret_prefix,
            Command::Keys(keys::KeysCommand::Create { prefix, .. })
            | Command::Keys(keys::KeysCommand::Roll { prefix, .. })
            | Command::Org(org::OrgCommand::Bootstrap { prefix, .. }) => &prefix.secret_prefix,
            Command::SecretPattern(args) => &args.prefix.secret_prefix,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_commands_that_issue_secrets_take_the_prefix_serve_takes() {
        let commands: [&[&str]; 5] = [
            &["latchkey", "serve"],
            &[
                "latchkey", "keys", "create", "--org", "a", "--name", "n", "--scope", "read",
            ],
            &[
                "latchkey",
                "keys",
                "roll",
                "--org",
                "a",
                "key_0123456789abcdef",
            ],
            &["latchkey", "org", "bootstrap", "a"],
            &["latchkey", "secret-pattern"],
        ];
        let serve = ServeArgs::defaults().prefix.secret_prefix;
        assert_eq!(serve.as_str(), "lk_");
        for args in commands {
            assert_eq!(
                secret_prefix_of(&parse_without_env(args)),
                &serve,
                "{args:?}"
            );
            let given = [args, &["--secret-prefix", "acme_"]].concat();
            assert_eq!(
                secret_prefix_of(&parse_without_env(&given)).as_str(),
                "acme_"
            );
            for bad in ["Acme_", "acme", "_acme_", "a", "abcdefghijklmnop_"] {
                let given = [args, &["--secret-prefix", bad]].concat();
                let e = Cli::try_parse_from(given).unwrap_err();
                assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
                assert!(e.to_string().contains("a secret prefix is 2 to 16"), "{e}");
            }
        }
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

//! `latchkey signing-keys list|rotate --org SLUG`, straight on the database. Running servers pick
//! a rotation made here up on their next key refresh (`serve --key-refresh`, 1 s by default).

use chrono::{DateTime, Utc};
use serde_json::json;

use std::time::Duration;

use clap::Subcommand;

use super::Cli;
use crate::config::{DEFAULT_ROTATION_LEEWAY, DEFAULT_TOKEN_TTL, parse_duration};
use crate::service::signing_keys::{self as svc, SigningKeyView};
use crate::service::{now, orgs};

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

pub fn run(cli: &Cli, cmd: &SigningKeysCommand) -> anyhow::Result<()> {
    let mut conn = super::open(cli)?;
    let org_slug = match cmd {
        SigningKeysCommand::List { org, .. } | SigningKeysCommand::Rotate { org, .. } => org,
    };
    let org = orgs::find_bootstrapped(&mut conn, org_slug)?;
    match cmd {
        SigningKeysCommand::List { json, .. } => {
            let keys = svc::list(&mut conn, &org.id, now())?;
            if *json {
                return super::print_json(&json!({ "signing_keys": keys }));
            }
            println!(
                "{:<44} {:<6} {:<12} {:<21} {:<21} UNPUBLISH_AT",
                "KID", "ALG", "STATUS", "CREATED_AT", "RETIRED_AT"
            );
            for k in &keys {
                print_row(k);
            }
            Ok(())
        }
        SigningKeysCommand::Rotate {
            alg,
            token_ttl,
            rotation_leeway,
            json,
            ..
        } => {
            let master = super::master_key(cli)?;
            let window = svc::publish_window(*token_ttl, *rotation_leeway);
            let rotated = svc::rotate(
                &mut conn,
                &master,
                &crate::service::actor::Actor::cli(&org.id),
                alg.as_deref(),
                window,
                now(),
            )?;
            if *json {
                return super::print_json(&rotated);
            }
            println!(
                "Rotated the signing key of `{}`: {} ({}) signs from now on.",
                org.slug, rotated.signing_key.kid, rotated.signing_key.alg
            );
            println!(
                "The previous key {} ({}) stays in the JWKS until {} (token TTL + leeway).",
                rotated.retired.kid,
                rotated.retired.alg,
                time(rotated.retired.unpublish_at)
            );
            println!("Running servers switch to the new key within their key-refresh interval.");
            Ok(())
        }
    }
}

fn print_row(k: &SigningKeyView) {
    println!(
        "{:<44} {:<6} {:<12} {:<21} {:<21} {}",
        k.kid,
        k.alg,
        k.status.as_str(),
        time(Some(k.created_at)),
        time(k.retired_at),
        time(k.unpublish_at)
    );
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

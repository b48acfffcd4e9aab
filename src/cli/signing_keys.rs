//! `latchkey signing-keys list|rotate --org SLUG`, straight on the database. Running servers pick
//! a promotion made here up on their next key refresh (`serve --key-refresh`, 1 s by default), and
//! a staged key long before it activates.

use chrono::{DateTime, Utc};
use serde_json::json;

use std::time::Duration;

use clap::Subcommand;

use super::Cli;
use crate::config::{
    DEFAULT_JWKS_MAX_AGE, DEFAULT_ROTATION_LEEWAY, DEFAULT_TOKEN_TTL, parse_duration,
};
use crate::service::signing_keys::{
    self as svc, RotateOutcome, RotateRequest, RotationWindows, SigningKeyView,
};
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
    /// Promote the next key (or stage one of another --alg, or replace the current key at once
    /// with --immediate); the old one stays published until token TTL + leeway has passed.
    Rotate {
        #[arg(long)]
        org: String,
        /// Algorithm to sign with. Default or the next key's: promote the next key now. Another:
        /// publish a next key of it now, signing from --jwks-max-age + leeway later.
        #[arg(long, value_parser = ["EdDSA", "RS256", "ES256"])]
        alg: Option<String>,
        /// A fresh key signs at once (a compromised key; caching verifiers may refuse its
        /// tokens until their JWKS copy expires).
        #[arg(long)]
        immediate: bool,
        /// The access-token lifetime the servers use (`serve --token-ttl`).
        #[arg(long, env = "LATCHKEY_TOKEN_TTL", default_value = DEFAULT_TOKEN_TTL, value_parser = parse_duration)]
        token_ttl: Duration,
        /// Extra time the old key stays published beyond the token TTL.
        #[arg(long, env = "LATCHKEY_ROTATION_LEEWAY", default_value = DEFAULT_ROTATION_LEEWAY, value_parser = parse_duration)]
        rotation_leeway: Duration,
        /// The JWKS max-age the servers use (`serve --jwks-max-age`).
        #[arg(long, env = "LATCHKEY_JWKS_MAX_AGE", default_value = DEFAULT_JWKS_MAX_AGE, value_parser = parse_duration)]
        jwks_max_age: Duration,
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
                "{:<44} {:<6} {:<12} {:<21} {:<21} {:<21} UNPUBLISH_AT",
                "KID", "ALG", "STATUS", "CREATED_AT", "ACTIVATES_AT", "RETIRED_AT"
            );
            for k in &keys {
                print_row(k);
            }
            Ok(())
        }
        SigningKeysCommand::Rotate {
            alg,
            immediate,
            token_ttl,
            rotation_leeway,
            jwks_max_age,
            json,
            ..
        } => {
            let master = super::master_key(cli)?;
            let windows = RotationWindows::new(*token_ttl, *rotation_leeway, *jwks_max_age);
            let request = RotateRequest {
                alg: alg.clone(),
                immediate: *immediate,
            };
            let outcome = svc::rotate(
                &mut conn,
                &master,
                &crate::service::actor::Actor::cli(&org.id),
                &request,
                windows,
                &now,
            )?;
            if *json {
                return super::print_json(&outcome);
            }
            print_outcome(&org.slug, &outcome);
            Ok(())
        }
    }
}

fn print_outcome(slug: &str, outcome: &RotateOutcome) {
    match outcome {
        RotateOutcome::Rotated(r) => {
            println!(
                "Rotated the signing key of `{slug}`: {} ({}) signs from now on.",
                r.signing_key.kid, r.signing_key.alg
            );
            println!(
                "The previous key {} ({}) stays in the JWKS until {} (token TTL + leeway).",
                r.retired.kid,
                r.retired.alg,
                time(r.retired.unpublish_at)
            );
            println!("Next key, published now: {} ({}).", r.next.kid, r.next.alg);
            for w in &r.warnings {
                println!("Warning: {}.", w.message);
            }
            println!("Running servers switch to the new key within their key-refresh interval.");
        }
        RotateOutcome::Staged(s) => {
            println!(
                "Staged a signing key of `{slug}`: {} ({}) is published now and signs from {}.",
                s.next.kid,
                s.next.alg,
                time(s.next.activates_at)
            );
            println!("Until then the current key signs; every server switches at that time.");
        }
    }
}

fn print_row(k: &SigningKeyView) {
    println!(
        "{:<44} {:<6} {:<12} {:<21} {:<21} {:<21} {}",
        k.kid,
        k.alg,
        k.status.as_str(),
        time(Some(k.created_at)),
        time(k.activates_at),
        time(k.retired_at),
        time(k.unpublish_at)
    );
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

//! `latchkey signing-keys list|rotate --org SLUG`, straight on the database. Running servers pick
//! a rotation made here up on their next key refresh (`serve --key-refresh`, 1 s by default).

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::{Cli, SigningKeysCommand};
use crate::service::signing_keys::{self as svc, SigningKeyView};
use crate::service::{now, orgs};

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

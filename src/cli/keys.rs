//! `latchkey keys create|list|show|update|roll|revoke|quota --org SLUG`: the operator acts with
//! the org's full authority (`*:*`), straight on the database.

use std::path::PathBuf;

use serde_json::{Value, json};

use clap::Subcommand;

use super::Cli;
use super::federation::{self, FederationChanges, NewFederation};
use super::limits::{self, LimitChanges, NewLimits};
use super::public_keys;
use crate::config::SecretPrefixArg;
use crate::domain::Warning;
use crate::domain::key::{KeyDraft, KeyPatch};
use crate::service::actor::Actor;
use crate::service::keys::{self as svc, CreditChange, KeyView, ListParams};
use crate::service::{ServiceError, now, orgs};

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
        /// A metadata member, KEY=VALUE (the value a string; repeat for several).
        #[arg(long = "metadata", value_parser = metadata_pair)]
        metadata: Vec<(String, String)>,
        #[command(flatten)]
        limits: NewLimits,
        /// A public key for private_key_jwt client authentication (RFC 7523): a PEM public key
        /// (Ed25519, P-256 or RSA) or a JWK file; its kid is the file's or the key's RFC 7638
        /// thumbprint (repeat for several, at most 5).
        #[arg(long = "public-key", value_name = "FILE.pem|FILE.jwk")]
        public_keys: Vec<PathBuf>,
        #[command(flatten)]
        federation: NewFederation,
        /// Create the key without a secret: it authenticates only with a client assertion
        /// (signed by the private key of one of its --public-key or --jwks-uri keys, or a
        /// --federated workload's token).
        #[arg(long)]
        no_secret: bool,
        /// Validate and show warnings without creating.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        prefix: SecretPrefixArg,
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
        /// standard (default), console_session or all: web-console sessions are hidden unless
        /// asked for.
        #[arg(long)]
        kind: Option<String>,
        /// Only the console sessions this key started.
        #[arg(long)]
        parent_key_id: Option<String>,
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
        /// Replaces the metadata with these members, KEY=VALUE (repeat for several).
        #[arg(long = "metadata", value_parser = metadata_pair, conflicts_with = "clear_metadata")]
        metadata: Vec<(String, String)>,
        /// Remove every metadata member.
        #[arg(long)]
        clear_metadata: bool,
        #[command(flatten)]
        limits: LimitChanges,
        /// Replaces every public key for private_key_jwt: a PEM public key or a JWK file
        /// (repeat for several, at most 5).
        #[arg(
            long = "public-key",
            value_name = "FILE.pem|FILE.jwk",
            conflicts_with = "no_public_keys"
        )]
        public_keys: Vec<PathBuf>,
        /// Remove every public key (not from a key without a secret: it would have no credential).
        #[arg(long)]
        no_public_keys: bool,
        #[command(flatten)]
        federation: FederationChanges,
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
        #[command(flatten)]
        prefix: SecretPrefixArg,
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
    /// A key's quota credits: add to them or set them.
    #[command(subcommand)]
    Quota(QuotaCommand),
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Add credits to what the key has left (a top-up); prints the credits left.
    Add {
        #[arg(long)]
        org: String,
        id: String,
        /// Credits to add (what is left is capped at the largest quota).
        #[arg(value_parser = credits())]
        credits: u64,
        #[arg(long)]
        json: bool,
    },
    /// Set the credits the key has left; prints them.
    Set {
        #[arg(long)]
        org: String,
        id: String,
        /// Credits left from now on; credits nodes hold from before are void.
        #[arg(value_parser = credits())]
        credits: u64,
        #[arg(long)]
        json: bool,
    },
}

/// CREDITS of `keys quota add|set`, in the API's range: the service leaves checking it to its
/// callers (`POST /v1/keys/{id}/quota` checks it too).
fn credits() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(..=crate::domain::limits::MAX_CREDITS)
}

pub fn run(cli: &Cli, cmd: &KeysCommand) -> anyhow::Result<()> {
    let mut conn = super::open(cli)?;
    let conn = &mut conn;
    let org_slug = match cmd {
        KeysCommand::Create { org, .. }
        | KeysCommand::List { org, .. }
        | KeysCommand::Show { org, .. }
        | KeysCommand::Update { org, .. }
        | KeysCommand::Roll { org, .. }
        | KeysCommand::Revoke { org, .. }
        | KeysCommand::Quota(QuotaCommand::Add { org, .. } | QuotaCommand::Set { org, .. }) => org,
    };
    let org = orgs::find_bootstrapped(conn, org_slug)?;
    let actor = Actor::cli(&org.id);
    match cmd {
        KeysCommand::Create {
            name,
            scopes,
            cidrs,
            expires_at,
            metadata,
            limits,
            public_keys: key_files,
            federation,
            no_secret,
            dry_run,
            prefix,
            json,
            ..
        } => {
            let jwks = public_keys::read_all(key_files)?;
            let draft = KeyDraft {
                name: Some(name.clone()),
                scopes: Some(scopes.iter().map(|s| Value::String(s.clone())).collect()),
                allowed_cidrs: Some(cidrs.clone()),
                expires_at: expires_at.clone(),
                metadata: (!metadata.is_empty()).then(|| metadata_object(metadata)),
                rate_limits: limits.rate_limits(),
                quota: limits.quota(),
                public_keys: (!jwks.is_empty()).then_some(Value::Array(jwks)),
                jwks_uri: federation.jwks_uri(),
                federated_credentials: federation.federated_credentials(),
                secret: no_secret.then_some(Value::Bool(false)),
            };
            let created = svc::create(conn, &actor, &draft, *dry_run, &prefix.secret_prefix, now())
                .map_err(|e| public_keys::name_the_files(e, key_files))?;
            let secret = created.secret.as_ref().map(|s| s.expose().to_owned());
            if *json {
                return super::print_json(
                    &json!({"key": created.key, "secret": secret, "warnings": created.warnings}),
                );
            }
            print_warnings(&created.warnings);
            if *dry_run {
                println!("Dry run: the key is valid and was not created.");
                return Ok(());
            }
            print_key(&created.key);
            match secret {
                Some(secret) => {
                    println!("secret:     {secret}");
                    println!("Store the secret now: it is shown only once.");
                }
                None => println!(
                    "The key has no secret: it authenticates with private_key_jwt, an assertion signed by the private key of one of its public keys."
                ),
            }
            Ok(())
        }
        KeysCommand::List {
            status,
            kind,
            parent_key_id,
            search,
            limit,
            cursor,
            json,
            ..
        } => {
            let params = ListParams {
                status: status.clone(),
                kind: kind.clone(),
                parent_key_id: parent_key_id.clone(),
                search: search.clone(),
                limit: limit.clone(),
                cursor: cursor.clone(),
            };
            let page = svc::list(conn, &org.id, &params, now())?;
            if *json {
                return super::print_json(&page);
            }
            println!(
                "{:<28} {:<24} {:<8} {:<30} {:<30} {:<12} {:<25} AUTH",
                "ID", "NAME", "STATUS", "SCOPES", "LIMITS", "QUOTA", "EXPIRES"
            );
            for k in &page.keys {
                println!(
                    "{:<28} {:<24} {:<8} {:<30} {:<30} {:<12} {:<25} {}",
                    k.id,
                    truncate(&k.name, 24),
                    k.status.as_str(),
                    truncate(&scopes_text(k), 30),
                    truncate(&limits::rate_limits_text(&k.attributes.rate_limits), 30),
                    k.attributes
                        .quota
                        .as_ref()
                        .map_or_else(|| "unlimited".to_owned(), limits::credits_text),
                    k.expires_at
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "never".into()),
                    auth_text(k),
                );
            }
            if let Some(c) = page.next_cursor {
                println!("More keys: --cursor {c}");
            }
            Ok(())
        }
        KeysCommand::Show { id, json, .. } => {
            let key = svc::get(conn, &org.id, id, now())?;
            if *json {
                super::print_json(&key)
            } else {
                print_key(&key);
                Ok(())
            }
        }
        KeysCommand::Update {
            id,
            name,
            scopes,
            cidrs,
            allow_all_ips,
            expires_at,
            no_expiry,
            metadata,
            clear_metadata,
            limits,
            public_keys: key_files,
            no_public_keys,
            federation,
            dry_run,
            json,
            ..
        } => {
            let jwks = public_keys::read_all(key_files)?;
            let patch = KeyPatch {
                name: name.clone(),
                scopes: (!scopes.is_empty())
                    .then(|| scopes.iter().map(|s| Value::String(s.clone())).collect()),
                allowed_cidrs: if *allow_all_ips {
                    Some(None)
                } else {
                    (!cidrs.is_empty()).then(|| Some(cidrs.clone()))
                },
                expires_at: if *no_expiry {
                    Some(None)
                } else {
                    expires_at.clone().map(Some)
                },
                metadata: if *clear_metadata {
                    Some(None)
                } else {
                    (!metadata.is_empty()).then(|| Some(metadata_object(metadata)))
                },
                rate_limits: limits.rate_limits(),
                quota: limits.quota(),
                public_keys: if *no_public_keys {
                    Some(None)
                } else {
                    (!jwks.is_empty()).then_some(Some(Value::Array(jwks)))
                },
                jwks_uri: federation.jwks_uri(),
                federated_credentials: federation.federated_credentials(),
            };
            if patch.name.is_none()
                && patch.scopes.is_none()
                && patch.allowed_cidrs.is_none()
                && patch.expires_at.is_none()
                && patch.metadata.is_none()
                && patch.rate_limits.is_none()
                && patch.quota.is_none()
                && patch.public_keys.is_none()
                && patch.jwks_uri.is_none()
                && patch.federated_credentials.is_none()
            {
                anyhow::bail!(
                    "nothing to change: give --name, --scope, --cidr, --allow-all-ips, --expires-at, --no-expiry, --metadata, --clear-metadata, --rate-limit, --no-rate-limits, --quota, --refill, --no-refill, --no-quota, --public-key, --no-public-keys, --jwks-uri, --no-jwks-uri, --federated or --no-federated"
                );
            }
            let updated = svc::update(conn, &actor, id, &patch, *dry_run, now())
                .map_err(|e| public_keys::name_the_files(e, key_files))?;
            if *json {
                return super::print_json(
                    &json!({"key": updated.key, "warnings": updated.warnings}),
                );
            }
            print_warnings(&updated.warnings);
            print_key(&updated.key);
            print_ended_sessions(&updated.ended_sessions);
            if *dry_run {
                println!("Dry run: nothing was changed.");
            }
            Ok(())
        }
        KeysCommand::Roll {
            id,
            grace_seconds,
            prefix,
            json,
            ..
        } => {
            let grace = Some(*grace_seconds);
            let rolled = svc::roll(conn, &actor, id, grace, &prefix.secret_prefix, now())
                .map_err(|e| match e {
                    ServiceError::NoSecret(_) => anyhow::anyhow!(
                        "key {id} has no secret to roll: it authenticates with private_key_jwt; replace its public keys with `latchkey keys update --org {org_slug} {id} --public-key FILE`"
                    ),
                    other => other.into(),
                })?;
            if *json {
                return super::print_json(
                    &json!({"key": rolled.key, "secret": rolled.secret.expose()}),
                );
            }
            print_key(&rolled.key);
            println!("secret:     {}", rolled.secret.expose());
            match rolled.key.previous_secret_expires_at {
                Some(t) => println!(
                    "The previous secret keeps working until {}.",
                    t.to_rfc3339()
                ),
                None => println!("The previous secret no longer works."),
            }
            print_ended_sessions(&rolled.ended_sessions);
            println!("Store the secret now: it is shown only once.");
            Ok(())
        }
        KeysCommand::Revoke { id, json, .. } => {
            let revoked = svc::revoke(conn, &actor, id, now())?;
            if *json {
                super::print_json(&revoked.key)
            } else {
                print_key(&revoked.key);
                print_ended_sessions(&revoked.ended_sessions);
                Ok(())
            }
        }
        KeysCommand::Quota(cmd) => change_credits(conn, &actor, org_slug, cmd),
    }
}

fn change_credits(
    conn: &mut crate::store::DbConnection,
    actor: &Actor,
    org_slug: &str,
    cmd: &QuotaCommand,
) -> anyhow::Result<()> {
    let (id, change, json) = match cmd {
        QuotaCommand::Add {
            id, credits, json, ..
        } => (id, CreditChange::Add(*credits), *json),
        QuotaCommand::Set {
            id, credits, json, ..
        } => (id, CreditChange::Set(*credits), *json),
    };
    let remaining = svc::change_credits(conn, actor, id, change, now())
        .map_err(|e| without_quota_in_cli_terms(e, org_slug, id))?;
    if json {
        return super::print_json(&json!({ "remaining": remaining }));
    }
    println!("{remaining} credits left");
    Ok(())
}

/// The service tells a key without a quota to get one through the API; here, the command
/// that gives it one.
fn without_quota_in_cli_terms(e: ServiceError, org_slug: &str, id: &str) -> anyhow::Error {
    match e {
        ServiceError::NoQuota(_) => {
            anyhow::anyhow!(
                "key {id} has no quota: give it one first with `latchkey keys update --org {org_slug} {id} --quota CREDITS --no-refill` (or --refill AMOUNT/INTERVAL)"
            )
        }
        other => other.into(),
    }
}

fn scopes_text(k: &KeyView) -> String {
    k.scopes
        .iter()
        .map(|s| format!("{}:{}", s.action, s.resource))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the key authenticates, for the list (its last column, never cut): `secret`, then
/// `private_key_jwt KID…` (with `jwks` for a `jwks_uri`), then `federated ISSUER…` (without
/// the scheme), joined
/// by ` + `.
fn auth_text(k: &KeyView) -> String {
    let a = &k.attributes;
    let mut ways = Vec::new();
    if a.secret {
        ways.push("secret".to_owned());
    }
    let mut kids: Vec<&str> = a.public_keys.iter().map(|p| p.kid.as_str()).collect();
    if a.jwks_uri.is_some() {
        kids.push("jwks");
    }
    if !kids.is_empty() {
        ways.push(format!("private_key_jwt {}", kids.join(" ")));
    }
    let mut issuers: Vec<&str> = a
        .federated_credentials
        .iter()
        .map(|c| {
            c.issuer
                .split_once("://")
                .map_or(c.issuer.as_str(), |(_, rest)| rest)
        })
        .collect();
    issuers.dedup();
    if !issuers.is_empty() {
        ways.push(format!("federated {}", issuers.join(" ")));
    }
    ways.join(" + ")
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

/// Console sessions a change ended with their parent (`keys::sessions::end_with_parent`).
fn print_ended_sessions(ids: &[String]) {
    if !ids.is_empty() {
        println!("Ended its console sessions: {}", ids.join(" "));
    }
}

fn print_key(k: &KeyView) {
    println!("id:         {}", k.id);
    println!("name:       {}", k.name);
    println!("status:     {}", k.status.as_str());
    if let Some(parent) = &k.parent_key_id {
        println!("kind:       {} of {parent}", k.kind.as_str());
    }
    println!("scopes:     {}", scopes_text(k));
    println!(
        "allowed:    {}",
        if k.allowed_cidrs.is_empty() {
            "any address".to_owned()
        } else {
            k.allowed_cidrs.join(" ")
        }
    );
    println!(
        "expires:    {}",
        k.expires_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "never".into())
    );
    println!("created:    {}", k.created_at.to_rfc3339());
    if let Some(r) = k.revoked_at {
        println!("revoked:    {}", r.to_rfc3339());
    }
    if k.attributes.secret {
        println!("hint:       {}", k.secret_hint);
    } else {
        println!("secret:     none (private_key_jwt only)");
    }
    for key in &k.attributes.public_keys {
        println!("public key: {}", public_keys::describe(key));
    }
    if let Some(uri) = &k.attributes.jwks_uri {
        println!("jwks_uri: {uri}");
    }
    for credential in &k.attributes.federated_credentials {
        println!("federated: {}", federation::describe(credential));
    }
    println!(
        "rate limits: {}",
        limits::rate_limits_text(&k.attributes.rate_limits)
    );
    println!(
        "quota:      {}",
        limits::quota_text(k.attributes.quota.as_ref())
    );
    for (name, value) in &k.attributes.metadata {
        match value {
            Value::String(text) => println!("metadata:   {name}={text}"),
            other => println!("metadata:   {name}={other}"),
        }
    }
}

/// `--metadata KEY=VALUE`: a member whose value is the string after the first `=`.
fn metadata_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn metadata_object(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
    )
}

fn print_warnings(warnings: &[Warning]) {
    for w in warnings {
        eprintln!("warning: {}: {}", w.field, w.message);
    }
}

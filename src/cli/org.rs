//! `latchkey org create|bootstrap|list`.

use serde_json::json;

use clap::Subcommand;

use super::Cli;
use crate::config::SecretPrefixArg;
use crate::service::{self, now};
use crate::store::orgs::Org;

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
        #[command(flatten)]
        prefix: SecretPrefixArg,
        #[arg(long)]
        json: bool,
    },
    /// List organizations.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, cmd: &OrgCommand) -> anyhow::Result<()> {
    let mut conn = super::open(cli)?;
    match cmd {
        OrgCommand::Create { slug, json } => {
            let org = service::orgs::create(&mut conn, slug, now())?;
            if *json {
                super::print_json(&org_json(&org))
            } else {
                println!(
                    "Created organization `{}` ({}). Bootstrap it with `latchkey org bootstrap {}`.",
                    org.slug, org.id, org.slug
                );
                Ok(())
            }
        }
        OrgCommand::Bootstrap { slug, prefix, json } => {
            let master = super::master_key(cli)?;
            let prefix = &prefix.secret_prefix;
            let b = service::orgs::bootstrap(&mut conn, &master, slug, prefix, now())?;
            if *json {
                super::print_json(&json!({
                    "org": {"id": b.org.id, "slug": b.org.slug},
                    "key": b.key,
                    "secret": b.secret.expose(),
                }))
            } else {
                println!(
                    "Bootstrapped organization `{}` ({}); signing key {}.",
                    b.org.slug, b.org.id, b.kid
                );
                println!("Admin API key id:     {}", b.key.id);
                println!("Admin API key secret: {}", b.secret.expose());
                println!("Store the secret now: it is shown only once.");
                Ok(())
            }
        }
        OrgCommand::List { json } => {
            let orgs = service::orgs::list(&mut conn)?;
            if *json {
                super::print_json(&orgs.iter().map(org_json).collect::<Vec<_>>())
            } else {
                println!("{:<24} {:<28} {:<22} BOOTSTRAPPED", "SLUG", "ID", "CREATED");
                for o in &orgs {
                    println!(
                        "{:<24} {:<28} {:<22} {}",
                        o.slug,
                        o.id,
                        o.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        o.bootstrapped_at
                            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                            .unwrap_or_else(|| "no".into())
                    );
                }
                Ok(())
            }
        }
    }
}

fn org_json(o: &Org) -> serde_json::Value {
    json!({"id": o.id, "slug": o.slug, "created_at": o.created_at, "bootstrapped_at": o.bootstrapped_at})
}

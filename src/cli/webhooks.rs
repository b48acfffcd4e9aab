//! `latchkey webhooks …`: an org's lifecycle webhooks, straight on the database; running servers
//! deliver what is queued here (a test event, a retry) on their next look, within a second.

use clap::Subcommand;
use serde_json::json;

use super::Cli;
use crate::domain::webhook::{WebhookDraft, WebhookPatch};
use crate::outbound::Reach;
use crate::service::actor::Actor;
use crate::service::webhooks::{self as svc, DeliveryParams, WebhookView};
use crate::service::{now, orgs};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the org's webhooks.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a webhook; prints its signing secret (whsec_…) once.
    Create {
        #[arg(long)]
        org: String,
        /// An https URL of a public address.
        #[arg(long)]
        url: String,
        /// Event types, comma-separated (e.g. key.revoked,key.expiring).
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        reach: ReachArgs,
        #[arg(long)]
        json: bool,
    },
    /// Turn a webhook on (forgetting its failure streak) or off.
    Enable {
        #[arg(long)]
        org: String,
        id: String,
        /// `false` disables it.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        enabled: bool,
    },
    /// Delete a webhook and its delivery log.
    Delete {
        #[arg(long)]
        org: String,
        id: String,
    },
    /// A webhook's latest deliveries.
    Deliveries {
        #[arg(long)]
        org: String,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Queue a webhook.test event for the webhook.
    Test {
        #[arg(long)]
        org: String,
        id: String,
    },
    /// Send a delivery again now (same webhook-id).
    Retry {
        #[arg(long)]
        org: String,
        id: String,
        delivery: String,
    },
}

/// The servers' `--webhook-allow-http` / `--webhook-allow-private`, for the URL check.
#[derive(Debug, Clone, clap::Args)]
pub struct ReachArgs {
    #[arg(long, env = "LATCHKEY_WEBHOOK_ALLOW_HTTP")]
    webhook_allow_http: bool,
    #[arg(long, env = "LATCHKEY_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
}

pub fn run(cli: &Cli, cmd: &WebhooksCommand) -> anyhow::Result<()> {
    let mut conn = super::open(cli)?;
    let slug = match cmd {
        WebhooksCommand::List { org, .. }
        | WebhooksCommand::Create { org, .. }
        | WebhooksCommand::Enable { org, .. }
        | WebhooksCommand::Delete { org, .. }
        | WebhooksCommand::Deliveries { org, .. }
        | WebhooksCommand::Test { org, .. }
        | WebhooksCommand::Retry { org, .. } => org,
    };
    let org = orgs::find_bootstrapped(&mut conn, slug)?;
    let actor = Actor::cli(&org.id);
    match cmd {
        WebhooksCommand::List { json, .. } => {
            let hooks = svc::list(&mut conn, &org.id)?;
            if *json {
                return super::print_json(&json!({ "webhooks": hooks }));
            }
            println!("{:<26} {:<9} {:<40} EVENTS", "ID", "STATUS", "URL");
            for h in &hooks {
                print_row(h);
            }
            Ok(())
        }
        WebhooksCommand::Create {
            url,
            events,
            description,
            reach,
            json,
            ..
        } => {
            let master = super::master_key(cli)?;
            let reach = Reach {
                http: reach.webhook_allow_http,
                private: reach.webhook_allow_private,
            };
            let draft = WebhookDraft {
                url: url.clone(),
                events: events.clone(),
                description: description.clone(),
            };
            let created = svc::create(&mut conn, &master, reach, &actor, &draft, now())?;
            if *json {
                return super::print_json(
                    &json!({"webhook": created.webhook, "secret": created.secret.expose()}),
                );
            }
            print_row(&created.webhook);
            println!("signing secret (shown once): {}", created.secret.expose());
            Ok(())
        }
        WebhooksCommand::Enable { id, enabled, .. } => {
            let patch = WebhookPatch {
                enabled: Some(*enabled),
                ..Default::default()
            };
            let hook = svc::update(&mut conn, Reach::default(), &actor, id, &patch, now())?;
            print_row(&hook);
            Ok(())
        }
        WebhooksCommand::Delete { id, .. } => {
            svc::delete(&mut conn, &actor, id, now())?;
            println!("deleted {id}");
            Ok(())
        }
        WebhooksCommand::Deliveries { id, json, .. } => {
            let page = svc::deliveries(&mut conn, &org.id, id, &DeliveryParams::default())?;
            if *json {
                return super::print_json(&page);
            }
            println!(
                "{:<10} {:<22} {:<10} {:>8} {:>6}  EVENT_ID",
                "ID", "EVENT", "STATE", "ATTEMPTS", "STATUS"
            );
            for d in &page.deliveries {
                println!(
                    "{:<10} {:<22} {:<10} {:>8} {:>6}  {}",
                    d.id,
                    d.event,
                    d.state,
                    d.attempts,
                    d.last_status.map(|s| s.to_string()).unwrap_or_default(),
                    d.event_id
                );
            }
            Ok(())
        }
        WebhooksCommand::Test { id, .. } => {
            let d = svc::test(&mut conn, &actor, id, now())?;
            println!("queued {} ({})", d.id, d.event_id);
            Ok(())
        }
        WebhooksCommand::Retry { id, delivery, .. } => {
            let d = svc::retry(&mut conn, &actor, id, delivery, now())?;
            println!("queued {} ({})", d.id, d.event_id);
            Ok(())
        }
    }
}

fn print_row(h: &WebhookView) {
    println!(
        "{:<26} {:<9} {:<40} {}",
        h.id,
        h.status,
        h.url,
        h.events.join(",")
    );
}

//! `latchkey usage` and `latchkey audit`: read-only reports of an organization.

use super::{Cli, Command};
use crate::service::audit::{self, AuditParams};
use crate::service::usage::{self, UsageParams};
use crate::service::{now, orgs};

pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let mut conn = super::open(cli)?;
    match &cli.command {
        Command::Usage {
            org,
            key,
            from,
            to,
            granularity,
            include_sessions,
            json,
        } => {
            let org = orgs::find(&mut conn, org)?;
            let params = UsageParams {
                from: from.clone(),
                to: to.clone(),
                granularity: granularity.clone(),
            };
            let report = match key {
                Some(k) => usage::key_usage(&mut conn, &org.id, k, &params, now())?,
                None => {
                    let ranking = usage::RankingParams {
                        include_sessions: Some(include_sessions.to_string()),
                    };
                    usage::org_usage(&mut conn, &org.id, &params, &ranking, now())?
                }
            };
            if *json {
                return super::print_json(&report);
            }
            println!(
                "{:<22} {:>10} {:>10} {:>8}",
                "BUCKET (UTC)", "TOKENS", "REQUESTS", "DENIED"
            );
            for b in report
                .buckets
                .iter()
                .filter(|b| b.tokens_issued + b.requests + b.denied > 0)
            {
                println!(
                    "{:<22} {:>10} {:>10} {:>8}",
                    b.start.format("%Y-%m-%d %H:%M"),
                    b.tokens_issued,
                    b.requests,
                    b.denied
                );
            }
            let t = &report.totals;
            println!(
                "{:<22} {:>10} {:>10} {:>8}",
                "TOTAL", t.tokens_issued, t.requests, t.denied
            );
            let reasons: Vec<String> = t
                .denied_by_reason
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            if !reasons.is_empty() {
                println!("denied by reason: {}", reasons.join(", "));
            }
            match report.last_used_at {
                Some(at) => println!(
                    "last used: {} from {}",
                    at.to_rfc3339(),
                    report.last_used_ip.as_deref().unwrap_or("?")
                ),
                None => println!("last used: never"),
            }
            Ok(())
        }
        Command::Audit {
            org,
            action,
            target,
            limit,
            cursor,
            json,
        } => {
            let org = orgs::find(&mut conn, org)?;
            let params = AuditParams {
                action: action.clone(),
                target: target.clone(),
                limit: limit.clone(),
                cursor: cursor.clone(),
            };
            let page = audit::list(&mut conn, &org.id, &params)?;
            if *json {
                return super::print_json(&page);
            }
            println!(
                "{:<22} {:<20} {:<26} {:<28} DETAILS",
                "AT (UTC)", "ACTION", "ACTOR", "TARGET"
            );
            for e in &page.events {
                let actor = match e.actor_via {
                    Some(via) => format!("{} via {via}", e.actor),
                    None => e.actor.clone(),
                };
                println!(
                    "{:<22} {:<20} {:<26} {:<28} {}",
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    e.action,
                    actor,
                    e.target,
                    e.details
                );
            }
            if let Some(c) = page.next_cursor {
                println!("More events: --cursor {c}");
            }
            Ok(())
        }
        _ => anyhow::bail!("not a report command"),
    }
}

//! Command-line adapters: parse arguments, call a service directly on the database, print.

pub mod keys;
pub mod org;
pub mod reports;
pub mod serve;
pub mod signing_keys;

use crate::config::{Cli, Command};
use crate::crypto::MasterKey;
use crate::store::{self, DbConnection};

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

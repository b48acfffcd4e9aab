//! `latchkey serve`.

use std::io::Write;

use super::Cli;
use crate::config::{ServeArgs, Settings};
use crate::startup::Application;

pub fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::from_serve(cli.database_url.clone(), cli.keys_dir.clone(), args);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        if let Some(b) = &app.bootstrapped {
            // Printed once, to stdout, never logged: this is the only time the secret exists
            // outside the caller's hands.
            // A closed stdout (a supervisor that discards it) must not stop the server, so write
            // errors are ignored rather than panicking as `println!` would.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "Bootstrapped organization `{}` ({}).",
                b.org.slug, b.org.id
            );
            let _ = writeln!(out, "Admin API key id:     {}", b.key.id);
            let _ = writeln!(out, "Admin API key secret: {}", b.secret.expose());
            let _ = writeln!(out, "Store the secret now: it is shown only once.");
            let _ = out.flush();
        }
        tracing::info!(port = app.port(), issuer = app.issuer(), "listening");
        app.run_until_stopped().await?;
        Ok(())
    })
}

//! `latchkey serve`.

use crate::config::{Cli, ServeArgs, Settings};
use crate::startup::Application;

pub fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::from_cli(cli, args);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        if let Some(b) = &app.bootstrapped {
            // Printed once, to stdout, never logged: this is the only time the secret exists
            // outside the caller's hands.
            println!("Bootstrapped organization `{}` ({}).", b.org.slug, b.org.id);
            println!("Admin API key id:     {}", b.key.id);
            println!("Admin API key secret: {}", b.secret.expose());
            println!("Store the secret now: it is shown only once.");
        }
        tracing::info!(port = app.port(), issuer = app.issuer(), "listening");
        app.run_until_stopped().await?;
        Ok(())
    })
}

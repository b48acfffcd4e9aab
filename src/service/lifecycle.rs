//! The two background jobs of lifecycle events, on every node: the webhook sender, which
//! delivers the outbox (`webhooks::sender`), and the expiry warnings (`keys::expiry`). Both run
//! on `WebhookSettings::clock`.

use std::sync::Arc;

use super::webhooks::WebhookSettings;
use super::webhooks::sender::Sender;
use crate::background::{self, Job};
use crate::crypto::MasterKey;
use crate::domain::webhook::ExpiryWarnings;
use crate::service::ServiceResult;
use crate::service::clock::Clock;
use crate::store::{Pool, StoreError};

pub struct Lifecycle {
    sender: Sender,
    pool: Pool,
    warnings: ExpiryWarnings,
    clock: Clock,
}

impl Lifecycle {
    /// Starts both jobs; they run while the returned `Arc` lives (`background` rule 1).
    pub fn start(
        pool: Pool,
        master: MasterKey,
        settings: &WebhookSettings,
    ) -> anyhow::Result<Arc<Lifecycle>> {
        let lifecycle = Arc::new(Lifecycle {
            sender: Sender::new(pool.clone(), master, settings)?,
            pool,
            warnings: settings.expiry_warnings.clone(),
            clock: settings.clock.clone(),
        });
        background::spawn(
            Job::every(
                "webhook-sender",
                settings.poll,
                "webhook deliveries wait for the next run",
            ),
            &lifecycle,
            {
                let runtime = Sender::runtime()?;
                move |l: &Lifecycle, _| l.sender.run(&runtime).map(|_| ())
            },
        );
        background::spawn(
            Job::every(
                "expiry-warnings",
                settings.expiry_scan,
                "expiry warnings wait for the next run",
            )
            .first_after(settings.poll),
            &lifecycle,
            |l: &Lifecycle, _| l.warn_of_expiry().map(|_| ()),
        );
        Ok(lifecycle)
    }

    /// Produces the expiry warnings due now; how many this node produced.
    pub fn warn_of_expiry(&self) -> ServiceResult<usize> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        super::keys::expiry::produce(&mut conn, &self.warnings, self.clock.now())
    }
}

//! Earlier-slot alerts (issue 14): a patient asks to hear when a place opens earlier in an
//! agenda for one motive. A cancellation or a move in a watched agenda leaves a freed place
//! (written by the store in the same transaction); a worker on each node claims freed places
//! (lease; SKIP LOCKED on PostgreSQL) and offers each to the first subscriber in subscription
//! order whose wish it matches: an exclusive hold plus the offer's messages, in one
//! transaction. When that hold lapses unconfirmed, the place is due again and goes to the next
//! subscriber; confirming is booking the hold, which consumes the subscription.

use super::{AppError, AppResult, Caller, Scheduling};
use careslot_core::Core;
use careslot_domain::{AgendaId, MotiveId, ReservationId};
use careslot_store::{FreedPlace, Role, SlotAlert, SlotOffer, StoreError};
use jiff::{SignedDuration, Timestamp};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How long an offered place is kept, how often the worker looks, and its lease.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub offer_ttl: SignedDuration,
    pub poll: Duration,
    pub lease: SignedDuration,
    /// Run the offer worker in this process.
    pub worker: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            offer_ttl: SignedDuration::from_mins(15),
            poll: Duration::from_secs(1),
            lease: SignedDuration::from_mins(1),
            worker: true,
        }
    }
}

/// Alerts a patient may keep at once.
const MAX_ALERTS: usize = 20;

/// An alert as its patient sees it, with the offer it currently holds (if any).
#[derive(Debug, Clone)]
pub struct AlertView {
    pub alert: SlotAlert,
    pub motive_id: MotiveId,
    pub offers: Vec<SlotOffer>,
    /// The agenda's zone: instants are shown in it.
    pub tz: jiff::tz::TimeZone,
}

const TABLE: &str = "slot_alerts";
const COLUMN: &str = "motive";

impl Scheduling {
    /// Subscribes the caller (a patient) to earlier places of `motive_id` in `agenda_id`,
    /// optionally only for places starting before the local date `before` (`YYYY-MM-DD`).
    pub async fn subscribe_alert(
        &self,
        caller: &Caller,
        agenda_id: &str,
        motive_id: &str,
        before: Option<&str>,
    ) -> AppResult<AlertView> {
        Core::require_role(caller, Role::Patient)?;
        let view = self.view(&AgendaId(agenda_id.to_owned())).await?;
        let motive = view
            .motives
            .iter()
            .find(|m| m.id.as_str() == motive_id && m.policy.bookable_online)
            .ok_or(AppError::NotFound("motive"))?
            .id
            .clone();
        let before = match before {
            None => None,
            Some(d) => {
                let date: jiff::civil::Date = d.parse().map_err(|_| {
                    careslot_domain::DomainError::new("before", "must be a date, YYYY-MM-DD")
                })?;
                let at = date
                    .to_zoned(view.tz.clone())
                    .map_err(|_| {
                        careslot_domain::DomainError::new("before", "must be a date, YYYY-MM-DD")
                    })?
                    .timestamp();
                if at <= self.now() {
                    return Err(careslot_domain::DomainError::new(
                        "before",
                        "must be a date in the future",
                    )
                    .into());
                }
                Some(at)
            }
        };
        let existing = self.store.slot_alerts_of(&caller.id).await?;
        if existing.len() >= MAX_ALERTS {
            return Err(AppError::Conflict(
                "too-many-alerts",
                format!("at most {MAX_ALERTS} alerts at once"),
            ));
        }
        let key = self.agenda_key(&view.agenda).await?;
        let id = ReservationId::new().to_string();
        let alert = SlotAlert {
            motive_ct: self
                .protect
                .seal(&key, motive.as_str().as_bytes(), TABLE, COLUMN, &id),
            id,
            account_id: caller.id.clone(),
            agenda_id: view.agenda.id.clone(),
            before,
            created_at: self.now(),
        };
        self.store.create_slot_alert(&alert).await?;
        Ok(AlertView {
            alert,
            motive_id: motive,
            offers: vec![],
            tz: view.tz.clone(),
        })
    }

    /// The motive an alert is for (sealed under its agenda's key).
    async fn alert_motive(&self, alert: &SlotAlert) -> AppResult<(MotiveId, jiff::tz::TimeZone)> {
        let view = self.view(&alert.agenda_id).await?;
        let key = self.agenda_key(&view.agenda).await?;
        let raw = self
            .protect
            .open(&key, &alert.motive_ct, TABLE, COLUMN, &alert.id)
            .map_err(|_| AppError::Store(StoreError::Internal("alert motive".into())))?;
        let motive = String::from_utf8(raw)
            .map(MotiveId)
            .map_err(|_| AppError::Store(StoreError::Internal("alert motive".into())))?;
        Ok((motive, view.tz.clone()))
    }

    /// The caller's alerts in subscription order, with their live offers.
    pub async fn alerts_of(&self, caller: &Caller) -> AppResult<Vec<AlertView>> {
        Core::require_role(caller, Role::Patient)?;
        let offers = self.store.slot_offers_of(&caller.id, self.now()).await?;
        let mut out = vec![];
        for alert in self.store.slot_alerts_of(&caller.id).await? {
            let (motive_id, tz) = self.alert_motive(&alert).await?;
            let offers = offers
                .iter()
                .filter(|o| o.alert_id == alert.id)
                .cloned()
                .collect();
            out.push(AlertView {
                alert,
                motive_id,
                offers,
                tz,
            });
        }
        Ok(out)
    }

    /// Unsubscribes; 404 when the alert is not the caller's.
    pub async fn delete_alert(&self, caller: &Caller, id: &str) -> AppResult<()> {
        Core::require_role(caller, Role::Patient)?;
        if self.store.delete_slot_alert(&caller.id, id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("alert"))
        }
    }

    /// Starts this node's offer worker; it stops with the service.
    pub fn spawn_alert_worker(self: &Arc<Self>) {
        if !self.alerts.worker {
            return;
        }
        let me: Weak<Scheduling> = Arc::downgrade(self);
        let poll = self.alerts.poll;
        tokio::spawn(async move {
            loop {
                let Some(app) = me.upgrade() else { return };
                let worked = app.offer_next_place().await;
                drop(app);
                if !worked {
                    tokio::time::sleep(poll).await;
                }
            }
        });
    }

    /// Claims one due freed place and offers it; whether there was one.
    async fn offer_next_place(&self) -> bool {
        let now = self.now();
        let place = match self.store.claim_freed_place(now, self.alerts.lease).await {
            Ok(Some(p)) => p,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "freed places: claim failed; will retry");
                return false;
            }
        };
        if let Err(e) = self.offer_place(&place, now).await {
            // The lease brings the place back.
            tracing::warn!(place = %place.id, error = %e, "freed place not offered; will retry");
        }
        true
    }

    async fn offer_place(&self, place: &FreedPlace, now: Timestamp) -> AppResult<()> {
        if place.start <= now {
            self.store.drop_freed_place(&place.id).await?;
            return Ok(());
        }
        let view = self.view(&place.agenda_id).await?;
        let valid_minutes = u32::try_from(self.alerts.offer_ttl.as_secs() / 60).unwrap_or(15);
        let until = now
            .checked_add(self.alerts.offer_ttl)
            .map_err(|_| AppError::BadRequest("offer expiry out of range".into()))?;
        let candidates = self.store.slot_alert_candidates(place).await?;
        for alert in candidates {
            let motive = match self.alert_motive(&alert).await {
                Ok((m, _)) => m,
                Err(e) => {
                    tracing::warn!(alert = %alert.id, error = %e, "alert skipped");
                    continue;
                }
            };
            // The motive must still be bookable online and fit in the freed place.
            let Some(m) = view
                .motives
                .iter()
                .find(|m| m.id == motive && m.policy.bookable_online)
            else {
                continue;
            };
            let end = place
                .start
                .checked_add(SignedDuration::from_mins(i64::from(m.duration.get())))
                .map_err(|_| AppError::BadRequest("offer end out of range".into()))?;
            if end > place.end {
                continue;
            }
            let mut hold = self
                .sealed_request(&alert.account_id, &view, motive, place.start, None)
                .await?;
            hold.now = now;
            hold.hold_until = Some(until);
            let outbox = self
                .offer_outbox(
                    &view,
                    &alert.account_id,
                    &hold.id,
                    place.start,
                    end,
                    valid_minutes,
                )
                .await?;
            match self
                .store
                .offer_freed_place(place, &alert.id, &hold, &outbox)
                .await
            {
                Ok(()) => {
                    self.agendas.invalidate(&place.agenda_id);
                    self.wake_outbox(&outbox);
                    return Ok(());
                }
                // Taken meanwhile, or the place is gone: nothing to offer.
                Err(StoreError::Conflict(_)) | Err(StoreError::NotFound) => break,
                Err(e) => return Err(e.into()),
            }
        }
        self.store.drop_freed_place(&place.id).await?;
        Ok(())
    }
}

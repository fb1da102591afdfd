//! Who may book a vaccination now: the campaign phases an operator opens (everyone, from an
//! age, or declared priority groups), plus "chronodoses": slots starting within the next
//! 24–48 hours, which the operator can open to everyone so that no dose is wasted.

use super::{AppError, AppResult, Caller, Vaccination};
use careslot_core::protection::subject_key_name;
use careslot_domain::vaccine::{age_on, parse_group};
use careslot_domain::*;
use jiff::civil::Date;
use jiff::Timestamp;

/// The setting holding the chronodose window in hours (0: closed).
pub const CHRONODOSE_SETTING: &str = "vaccination.chronodose_hours";

pub struct NewPhase {
    pub name: String,
    pub everyone: bool,
    pub min_age: Option<i64>,
    pub priority_groups: Vec<String>,
}

/// The rules in force right now.
#[derive(Debug, Clone)]
pub struct Eligibility {
    pub open: Vec<Phase>,
    /// Slots starting within this many hours are open to everyone (0: off).
    pub chronodose_hours: u32,
}

impl Eligibility {
    /// A sentence a person understands, saying who may book now.
    pub fn describe(&self) -> String {
        if self.open.iter().any(|p| p.everyone) {
            return "vaccination is open to everyone".into();
        }
        let mut who: Vec<String> = Vec::new();
        for p in &self.open {
            if let Some(a) = p.min_age {
                who.push(format!("people aged {a} and over"));
            }
            for g in &p.priority_groups {
                who.push(format!("people who declare the group \"{g}\""));
            }
        }
        who.dedup();
        let chrono = if self.chronodose_hours > 0 {
            format!(
                "; slots starting within the next {} hours are open to everyone",
                self.chronodose_hours
            )
        } else {
            String::new()
        };
        if who.is_empty() {
            format!("vaccination is not open to new bookings at the moment{chrono}")
        } else {
            format!(
                "vaccination is currently open to {}{chrono}",
                who.join(", ")
            )
        }
    }
}

impl Vaccination {
    /// The rules in force, as read at most a couple of seconds ago.
    pub async fn eligibility(&self) -> AppResult<Eligibility> {
        Ok((*self.eligibility.get(|| self.read_eligibility()).await?).clone())
    }

    async fn read_eligibility(&self) -> AppResult<Eligibility> {
        let open = self
            .store
            .phases()
            .await?
            .into_iter()
            .filter(Phase::is_open)
            .collect();
        let chronodose_hours = self
            .store
            .setting(CHRONODOSE_SETTING)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Eligibility {
            open,
            chronodose_hours,
        })
    }

    /// Refuses, with a reason, a patient no open phase admits — unless the first dose starts
    /// inside the chronodose window.
    pub async fn check_eligible(
        &self,
        caller: &Caller,
        declared_birth_date: Option<&str>,
        declared_groups: &[String],
        starts: &[Timestamp],
        today: Date,
    ) -> AppResult<()> {
        let rules = self.eligibility().await?;
        let mut groups = Vec::with_capacity(declared_groups.len());
        for g in declared_groups {
            groups.push(parse_group(g)?);
        }
        if rules.open.iter().any(|p| p.everyone) {
            return Ok(());
        }
        if rules.chronodose_hours > 0 {
            let limit = Timestamp::now()
                .checked_add(jiff::SignedDuration::from_hours(i64::from(
                    rules.chronodose_hours,
                )))
                .map_err(|_| AppError::BadRequest("time out of range".into()))?;
            // A last-minute first dose; the second follows weeks later, as in 2021.
            if starts.first().is_some_and(|s| *s <= limit) {
                return Ok(());
            }
        }
        let birth = match declared_birth_date {
            Some(d) => Some(careslot_core::time::parse_date("birth_date", d)?),
            None => self.birth_date_of(caller).await?,
        };
        let age = birth.and_then(|b| age_on(b, today));
        if rules.open.iter().any(|p| p.admits(age, &groups)) {
            return Ok(());
        }
        let mut reason = rules.describe();
        if birth.is_none() && rules.open.iter().any(|p| p.min_age.is_some()) {
            reason.push_str(" (give your birth date so that your age can be checked)");
        }
        Err(AppError::Rule(format!("you cannot book yet: {reason}")))
    }

    async fn birth_date_of(&self, caller: &Caller) -> AppResult<Option<Date>> {
        let Some(r) = self.store.account(&caller.id).await? else {
            return Err(AppError::Unauthenticated);
        };
        let Some(ct) = r.birth_date_ct.as_deref() else {
            return Ok(None);
        };
        let key = self
            .protect
            .data_key(&subject_key_name(&r.id), &r.wrapped_key)
            .await?;
        let text = self
            .protect
            .open_string(&key, ct, "accounts", "birth_date", r.id.as_str())?;
        self.audit(caller, &[(caller.id.clone(), "vaccination.eligibility")])
            .await?;
        Ok(text.parse().ok())
    }

    /// Opens a phase; it applies to the next booking.
    pub async fn open_phase(&self, p: NewPhase) -> AppResult<Phase> {
        let name = p.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(DomainError::new("name", "must be 1 to 200 characters").into());
        }
        let min_age = p
            .min_age
            .map(|a| u32::try_from(a).ok().filter(|a| *a <= 130))
            .map(|a| a.ok_or_else(|| DomainError::new("min_age", "must be between 0 and 130")))
            .transpose()?;
        let mut groups = Vec::new();
        for g in &p.priority_groups {
            let g = parse_group(g)?;
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        if !p.everyone && min_age.is_none() && groups.is_empty() {
            return Err(DomainError::new(
                "body",
                "a phase admits everyone, or from a min_age, or priority_groups",
            )
            .into());
        }
        let phase = Phase {
            id: ReservationId::new().to_string(),
            name: name.to_owned(),
            everyone: p.everyone,
            min_age,
            priority_groups: groups,
            opened_at: Timestamp::now(),
            closed_at: None,
        };
        self.store.open_phase(&phase).await?;
        self.eligibility.forget();
        Ok(phase)
    }

    pub async fn close_phase(&self, id: &str) -> AppResult<()> {
        let closed = self.store.close_phase(id, Timestamp::now()).await?;
        self.eligibility.forget();
        if closed {
            Ok(())
        } else {
            Err(AppError::NotFound("phase"))
        }
    }

    /// Opens (24–48 hours) or closes (0) last-minute slots to everyone.
    pub async fn set_chronodoses(&self, hours: i64) -> AppResult<u32> {
        let hours = match hours {
            0 => 0,
            24..=48 => hours as u32,
            _ => {
                return Err(
                    DomainError::new("hours", "must be 0 (closed) or between 24 and 48").into(),
                )
            }
        };
        self.store
            .put_setting(CHRONODOSE_SETTING, &hours.to_string())
            .await?;
        self.eligibility.forget();
        Ok(hours)
    }
}

//! Payment on the pages: the fee of a teleconsultation on the booking page, the payment's
//! state on both sides' appointment pages, and the practice's cancellation (which releases
//! an authorised payment).

use crate::services::{AppError, Appointment};
use crate::web::context::{Ctx, Failure, Form, PageResult};
use crate::web::i18n::Lang;
use axum::extract::Path;
use careslot_domain::{AgendaId, MotiveId};
use careslot_store::PaymentStatus;

/// `25,00 €` (French, German, Italian) or `€25.00` (English).
pub fn format_amount(lang: Lang, cents: i64, currency: &str) -> String {
    let units = cents / 100;
    let rest = cents % 100;
    let symbol = if currency == "EUR" { "€" } else { currency };
    match lang {
        Lang::En => format!("{symbol}{units}.{rest:02}"),
        _ => format!("{units},{rest:02}\u{a0}{symbol}"),
    }
}

fn status_key(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Pending => "payment.pending",
        PaymentStatus::Authorised => "payment.authorised",
        PaymentStatus::Captured => "payment.captured",
        PaymentStatus::Released => "payment.released",
        PaymentStatus::Failed => "payment.failed",
        PaymentStatus::AtPractice => "payment.at_practice",
    }
}

/// "Payment: 25,00 € · authorised, charged after the consultation", for teleconsultations
/// that have a payment.
pub async fn payment_line(ctx: &Ctx, a: &Appointment) -> Result<Option<String>, Failure> {
    let view = ctx.ok(ctx.app.view(&a.row.agenda_id).await)?;
    if !view
        .motive(&a.motive_id)
        .is_some_and(|m| m.policy.teleconsultation)
    {
        return Ok(None);
    }
    let Some(p) = ctx.ok(ctx.app.payment_of(&a.row.id).await)? else {
        return Ok(None);
    };
    Ok(Some(ctx.tf(
        "payment.line",
        &[
            (
                "amount",
                &format_amount(ctx.lang, p.amount_cents, &p.currency),
            ),
            ("status", ctx.t(status_key(p.status))),
        ],
    )))
}

/// What the booking page says about the fee: the sentence, and whether a card is taken
/// online (the form then carries a `payment_method` field for Stripe.js to fill).
pub async fn fee_notice(
    ctx: &Ctx,
    agenda: &str,
    motive: &str,
) -> Result<Option<(String, bool)>, Failure> {
    let agenda = AgendaId(agenda.to_owned());
    let view = ctx.ok(ctx.app.view(&agenda).await)?;
    let motive = MotiveId(motive.to_owned());
    if !view
        .motive(&motive)
        .is_some_and(|m| m.policy.teleconsultation)
    {
        return Ok(None);
    }
    let fees = ctx.ok(ctx.app.motive_fees(&agenda).await)?;
    let Some(fee) = fees.get(&motive) else {
        return Ok(None);
    };
    let online = ctx.app.payments.provider().online();
    let amount = format_amount(ctx.lang, fee.amount_cents, &fee.currency);
    let key = if online {
        "payment.fee_online"
    } else {
        "payment.fee_at_practice"
    };
    Ok(Some((ctx.tf(key, &[("amount", &amount)]), online)))
}

/// The practice cancels an appointment from its page.
pub async fn practice_cancel(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let back = format!("/pro/appointments/{id}");
    match ctx.app.practice_cancel(&caller, &id).await {
        Ok(_) => Ok(ctx.redirect_with(&back, "flash.practice_cancelled")),
        Err(AppError::Conflict(..))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => {
            Ok(ctx.redirect_with(&back, "flash.cannot_cancel"))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

//! The booking flow: a slot is held at once (for a guest too), then the visitor signs in or
//! signs up inline, chooses who the appointment is for, and confirms. The hold's countdown
//! is shown; if the slot went meanwhile, the practitioner's page offers the next ones.

use super::account::{code_page, code_step, start_instant_signup, CodeStep, PendingCode};
use super::queue::QueuePass;
use crate::services::{AppError, Appointment, BookingDetails, BookingInput, Holder, Relative};
use crate::web::context::{clear_cookie, set_cookie, Ctx, Form, PageResult, HOLD_COOKIE};
use crate::web::view::Summary;
use askama::Template;
use axum::extract::Path;
use careslot_store::{ReservationStatus, Role};

#[derive(Template)]
#[template(path = "book.html")]
struct ReviewPage<'a> {
    ctx: &'a Ctx,
    s: Summary,
    guest: bool,
    relatives: Vec<Relative>,
    error: Option<&'static str>,
    /// Sign-up values sent back after an error (never the password).
    email: String,
    name: String,
    /// The teleconsultation's fee, and whether the card is taken online.
    fee: Option<(String, bool)>,
}

/// Where to send someone whose slot went: the same week of the same motive.
fn alternatives(agenda: &str, motive: &str, date: &str) -> String {
    format!("/p/{agenda}?motive={motive}&week={date}")
}

/// The practitioner's page saying "this time was just taken" above its times, scrolled there.
pub(crate) fn taken(alternatives: &str) -> String {
    format!("{alternatives}&taken=1#taken")
}

fn start_date(start: &str) -> String {
    start.get(..10).unwrap_or("").to_owned()
}

pub async fn hold(mut ctx: Ctx, _: QueuePass, form: Form) -> PageResult {
    let (agenda, motive, start) = (
        form.text("agenda_id"),
        form.text("motive_id"),
        form.text("start"),
    );
    // One hold per browser: a new choice releases the previous one.
    if let Some(previous) = ctx.last_hold.clone() {
        let holder = match (&ctx.user, &ctx.guest) {
            (Some(u), _) if u.is_patient() => Some(Holder::Patient(&u.caller)),
            (None, Some(g)) => Some(Holder::Guest(g.as_str())),
            _ => None,
        };
        if let Some(h) = holder {
            let _ = ctx.app.release_hold(h, &previous).await;
        }
    }
    let result = match &ctx.user {
        Some(u) if u.is_patient() => {
            ctx.app
                .hold(Holder::Patient(&u.caller), agenda, motive, start)
                .await
        }
        // A practice's staff books from the agenda's phone-booking page.
        Some(_) => {
            let q = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            return Ok(ctx.redirect(&format!(
                "/pro/agenda/book?agenda={}&motive={}&start={}",
                q(agenda),
                q(motive),
                q(start)
            )));
        }
        None => {
            let guest = ctx.guest_id();
            ctx.app
                .hold(Holder::Guest(&guest), agenda, motive, start)
                .await
        }
    };
    match result {
        Ok(a) => {
            ctx.add_cookie(set_cookie(HOLD_COOKIE, a.row.id.as_str(), Some(3600)));
            Ok(ctx.redirect(&format!("/book/{}", a.row.id)))
        }
        // The page says so right above the next times, and opens there (on a phone the
        // practitioner's header and motives would push them a screen below a message at
        // the top).
        Err(AppError::Conflict(..))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => {
            Ok(ctx.redirect(&taken(&alternatives(agenda, motive, &start_date(start)))))
        }
        Err(AppError::Rule(_)) => Ok(ctx.redirect_with(
            &alternatives(agenda, motive, &start_date(start)),
            "flash.new_patients_only",
        )),
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The hold behind `/book/{id}` for this visitor, if still theirs.
async fn this_hold(ctx: &Ctx, hold_id: &str) -> Result<Appointment, AppError> {
    match (&ctx.user, &ctx.guest) {
        (Some(u), _) if u.is_patient() => ctx.app.own_reservation(&u.caller, hold_id).await,
        (Some(_), _) => Err(AppError::Forbidden("patients only")),
        (None, Some(g)) => ctx.app.guest_hold(g, hold_id).await,
        (None, None) => Err(AppError::NotFound("hold")),
    }
}

async fn render_review(
    ctx: &mut Ctx,
    hold_id: &str,
    error: Option<&'static str>,
    email: String,
    name: String,
) -> PageResult {
    let a = match this_hold(ctx, hold_id).await {
        Ok(a) => a,
        Err(AppError::NotFound(_)) => return render_lapsed(ctx, hold_id).await,
        Err(e) => return Err(ctx.fail(e)),
    };
    match a.row.status {
        ReservationStatus::Booked => return Ok(ctx.redirect(&format!("/appointments/{hold_id}"))),
        ReservationStatus::Held if a.row.expires_at.is_some_and(|e| e > jiff::Timestamp::now()) => {
        }
        _ => return render_lapsed(ctx, hold_id).await,
    }
    let (guest, relatives) = match &ctx.user {
        Some(u) => (false, ctx.ok(ctx.app.relatives(&u.caller).await)?),
        None => (true, Vec::new()),
    };
    let s = ctx.ok(ctx.summary(&a, &relatives).await)?;
    let fee = super::payments::fee_notice(ctx, &s.agenda_id, &s.motive_id).await?;
    let ctx = &*ctx;
    Ok(ctx.page(&ReviewPage {
        ctx,
        fee,
        s,
        guest,
        relatives,
        error,
        email,
        name,
    }))
}

#[derive(Template)]
#[template(path = "book_lapsed.html")]
struct LapsedPage<'a> {
    ctx: &'a Ctx,
    s: Summary,
    /// The motive's next days with a free time, from its first one.
    days: Vec<crate::web::view::DayColumn>,
    strip_label: String,
    /// The practitioner's page on the week of the next free time.
    all_times: String,
}

/// A hold that lapsed: no Confirm any more, but the same practitioner's next times for the
/// same motive (a new hold in one click) instead of the home page. Someone else's or an
/// unknown hold still goes home.
async fn render_lapsed(ctx: &mut Ctx, hold_id: &str) -> PageResult {
    let mut found = None;
    if let Some(u) = ctx.user.as_ref().filter(|u| u.is_patient()) {
        found = ctx
            .app
            .lapsed_hold(Holder::Patient(&u.caller), hold_id)
            .await
            .ok();
    }
    // Signed in after the hold lapsed: it is still the guest's.
    if let (None, Some(g)) = (&found, &ctx.guest) {
        found = ctx.app.lapsed_hold(Holder::Guest(g), hold_id).await.ok();
    }
    let Some(a) = found else {
        return Ok(ctx.redirect_with("/", "flash.hold_expired"));
    };
    ctx.add_cookie(clear_cookie(HOLD_COOKIE));
    let s = ctx.ok(ctx.summary(&a, &[]).await)?;
    let v = ctx.ok(ctx.app.view(&a.row.agenda_id).await)?;
    let now = jiff::Timestamp::now();
    let (days, from) = match v
        .motive(&a.motive_id)
        .and_then(|m| Some((m, v.next_slot_of(m, now)?)))
    {
        Some((m, next)) => {
            let from = next.start.to_zoned(v.tz.clone()).date();
            let end = from.checked_add(jiff::Span::new().days(2)).unwrap_or(from);
            let slots = v.slots(m, from, end, now);
            // A few per day, so the offer stays close to the message on a phone; "+N"
            // opens the practitioner's week from that day, with all its times.
            let mut days = crate::web::view::day_columns(ctx.lang, &slots, &v.tz, from, 3, 6);
            for d in days.iter_mut().filter(|d| d.more > 0) {
                d.more_href = alternatives(a.row.agenda_id.as_str(), a.motive_id.as_str(), &d.date);
                d.more_label = ctx.lang.tf("search.more_times", &[("day", &d.label)]);
            }
            (days, from.to_string())
        }
        None => (Vec::new(), s.date.clone()),
    };
    let all_times = alternatives(&s.agenda_id, &s.motive_id, &from);
    let ctx = &*ctx;
    Ok(ctx.page(&LapsedPage {
        ctx,
        strip_label: s.practitioner.clone(),
        s,
        days,
        all_times,
    }))
}

pub async fn review(mut ctx: Ctx, Path(hold_id): Path<String>) -> PageResult {
    render_review(&mut ctx, &hold_id, None, String::new(), String::new()).await
}

/// Once signed in: the guest's hold becomes the patient's, and the flow goes on.
async fn claim_and_continue(
    mut ctx: Ctx,
    hold_id: &str,
    caller: crate::services::Caller,
) -> PageResult {
    if let Some(guest) = ctx.guest.clone() {
        match ctx.app.claim_guest_hold(&caller, &guest, hold_id).await {
            Ok(_) => {}
            Err(AppError::Rule(_)) => return Ok(ctx.redirect_with("/", "flash.new_patients_only")),
            // Lapsed meanwhile: the booking page says so and offers the next times.
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(ctx.fail(e)),
        }
    }
    Ok(ctx.redirect(&format!("/book/{hold_id}")))
}

pub async fn sign_in(mut ctx: Ctx, Path(hold_id): Path<String>, form: Form) -> PageResult {
    let device = ctx.device.clone();
    match ctx
        .app
        .sign_in(
            form.text("email"),
            form.get("password").unwrap_or(""),
            ctx.client,
            device.as_deref(),
        )
        .await
    {
        Ok(s) if s.identity.role == Role::Patient && s.mfa_pending => {
            // The code first; the booking page takes the hold over afterwards.
            ctx.start_pending(&s.token);
            let next = format!("/book/{hold_id}");
            let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Ok(ctx.redirect(&format!("/signin/code?next={next}")))
        }
        Ok(crate::services::SignedIn {
            token, identity, ..
        }) if identity.role == Role::Patient => {
            let caller = crate::services::Caller {
                id: identity.id,
                role: identity.role,
                second_factor: false,
            };
            ctx.start_session(&token, ctx.app.config.session_ttl.as_secs());
            claim_and_continue(ctx, &hold_id, caller).await
        }
        Ok(_) => {
            render_review(
                &mut ctx,
                &hold_id,
                Some("booking.patients_only"),
                form.text("email").into(),
                String::new(),
            )
            .await
        }
        Err(AppError::BadCredentials) => {
            render_review(
                &mut ctx,
                &hold_id,
                Some("signin.failed"),
                form.text("email").into(),
                String::new(),
            )
            .await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The instant sign-up: the code page whatever the address (the hold stays the guest's).
pub async fn sign_up(mut ctx: Ctx, Path(hold_id): Path<String>, form: Form) -> PageResult {
    match start_instant_signup(&mut ctx, &form, Role::Patient).await? {
        Ok(ticket) => {
            let pending = PendingCode::new(&ctx, ticket, form.text("email"), signin_href(&hold_id));
            code_page(&ctx, &pending, &code_action(&hold_id), &[], None)
        }
        Err(key) => {
            let (email, name) = (form.text("email").into(), form.text("name").into());
            render_review(&mut ctx, &hold_id, Some(key), email, name).await
        }
    }
}

fn code_action(hold_id: &str) -> String {
    format!("/book/{hold_id}/signup/code")
}

/// The booking page's sign-in form, the hold kept.
fn signin_href(hold_id: &str) -> String {
    format!("/book/{hold_id}#in-h")
}

/// The code of the instant sign-up: signed in, the guest's hold becomes the patient's.
pub async fn sign_up_code(mut ctx: Ctx, Path(hold_id): Path<String>, form: Form) -> PageResult {
    match code_step(&mut ctx, &form).await? {
        CodeStep::SignedIn(caller) => claim_and_continue(ctx, &hold_id, caller).await,
        CodeStep::Again { error, resent } => {
            let mut pending = PendingCode::from_form(&ctx, &form, signin_href(&hold_id));
            pending.resent = resent;
            code_page(&ctx, &pending, &code_action(&hold_id), &[], error)
        }
    }
}

pub async fn confirm(
    mut ctx: Ctx,
    _: QueuePass,
    Path(hold_id): Path<String>,
    form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let mut relative_id = form.text("for").to_owned();
    if relative_id == "new" {
        match ctx
            .app
            .add_relative(
                &caller,
                form.text("relative_name"),
                form.opt("relative_birth_date"),
            )
            .await
        {
            Ok(r) => relative_id = r.id.to_string(),
            Err(AppError::Invalid(_)) => {
                return render_review(
                    &mut ctx,
                    &hold_id,
                    Some("booking.bad_relative"),
                    String::new(),
                    String::new(),
                )
                .await
            }
            Err(e) => return Err(ctx.fail(e)),
        }
    }
    // The hold id is the idempotency key: a double submit books once and shows the result.
    let key = format!("web-hold:{hold_id}");
    let body = format!("{hold_id}\0{relative_id}\0{}", form.text("note"));
    let booked = ctx
        .app
        .book_with_payment(
            &caller,
            BookingInput::FromHold {
                hold_id: hold_id.clone(),
            },
            BookingDetails {
                note: form.opt("note"),
                relative_id: Some(relative_id.as_str()).filter(|r| !r.is_empty()),
            },
            Some((key.as_str(), body.as_bytes())),
            // Filled by Stripe.js when the installation takes cards online (README).
            form.opt("payment_method"),
        )
        .await;
    match booked {
        Ok(a) => {
            ctx.add_cookie(clear_cookie(HOLD_COOKIE));
            Ok(ctx.redirect(&format!("/appointments/{}?booked=1", a.row.id)))
        }
        Err(AppError::Invalid(d)) if d.field == "payment_method" => {
            render_review(
                &mut ctx,
                &hold_id,
                Some("booking.card_required"),
                String::new(),
                String::new(),
            )
            .await
        }
        Err(AppError::Payment(crate::services::PaymentFailure::Provider(
            careslot_scheduling::payments::PaymentError::Declined(_)
            | careslot_scheduling::payments::PaymentError::ActionRequired,
        ))) => {
            // The hold is kept: another card can be tried until it expires.
            render_review(
                &mut ctx,
                &hold_id,
                Some("booking.card_declined"),
                String::new(),
                String::new(),
            )
            .await
        }
        Err(AppError::Invalid(_)) => {
            render_review(
                &mut ctx,
                &hold_id,
                Some("booking.bad_note"),
                String::new(),
                String::new(),
            )
            .await
        }
        Err(AppError::NotFound(_))
        | Err(AppError::Conflict(..))
        | Err(AppError::Store(careslot_store::StoreError::HoldExpired))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => {
            // The hold lapsed: its page says so and offers the practitioner's next times.
            Ok(ctx.redirect(&format!("/book/{hold_id}")))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn release(mut ctx: Ctx, Path(hold_id): Path<String>, _form: Form) -> PageResult {
    let target = match this_hold(&ctx, &hold_id).await {
        Ok(a) => {
            let s = ctx.ok(ctx.summary(&a, &[]).await)?;
            let holder = match (&ctx.user, &ctx.guest) {
                (Some(u), _) => Holder::Patient(&u.caller),
                (None, Some(g)) => Holder::Guest(g.as_str()),
                (None, None) => return Ok(ctx.redirect("/")),
            };
            ctx.ok(ctx.app.release_hold(holder, &hold_id).await)?;
            alternatives(&s.agenda_id, &s.motive_id, &s.date)
        }
        Err(_) => "/".to_owned(),
    };
    ctx.add_cookie(clear_cookie(HOLD_COOKIE));
    Ok(ctx.redirect(&target))
}

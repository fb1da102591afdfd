//! The desk's notification list (issue 14, part C): recent cancellations and moves by
//! patients, and the practitioner's choice to also receive them by email.

use crate::web::context::{Ctx, Form, PageResult};
use askama::Template;

pub struct NoticeRow {
    pub cancelled: bool,
    pub patient: Option<String>,
    pub when: String,
    pub previous: Option<String>,
    pub at: String,
    pub link: String,
}

#[derive(Template)]
#[template(path = "notices.html")]
struct NoticesPage<'a> {
    ctx: &'a Ctx,
    rows: Vec<NoticeRow>,
    email_on: bool,
    can_change: bool,
}

fn local(t: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

pub async fn page(ctx: Ctx) -> PageResult {
    let caller = ctx.caller()?.clone();
    let notices = ctx.ok(ctx.app.desk_notices(&caller).await)?;
    let email_on = ctx.ok(ctx.app.practice_email_on_changes(&caller).await)?;
    let rows = notices
        .iter()
        .map(|n| NoticeRow {
            cancelled: n.is_cancellation(),
            patient: n.patient_name.clone(),
            when: local(n.notice.start, &n.tz),
            previous: n.notice.previous_start.map(|p| local(p, &n.tz)),
            at: local(n.notice.created_at, &n.tz),
            link: format!("/pro/appointments/{}", n.notice.reservation_id),
        })
        .collect();
    Ok(ctx.page(&NoticesPage {
        ctx: &ctx,
        rows,
        email_on,
        can_change: caller.role == careslot_store::Role::Practitioner,
    }))
}

pub async fn set_email(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let on = form.checked("email_on");
    ctx.ok(ctx.app.set_practice_email_on_changes(&caller, on).await)?;
    Ok(ctx.redirect_with("/pro/notifications", "flash.saved"))
}

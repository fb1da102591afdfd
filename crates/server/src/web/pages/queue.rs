//! The waiting room's page: while the room is active, the booking actions send the visitor
//! here (`/queue?next=<the page they came from>`). The page keeps their ticket in a cookie,
//! shows their place and the estimated wait, updates itself (a small script polling
//! `/api/v1/queue/status`, or a refresh without JavaScript) and sends them back to `next`
//! once admitted.

use crate::web::context::{cookie, safe_path, Ctx, PageResult, Query};
use crate::App;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use careslot_scheduling::api::queue::ticket_cookie;
use careslot_scheduling::waiting_room::{
    now_ms, poll_after_ms, Standing, StatusError, TICKET_COOKIE,
};
use serde::Deserialize;

/// Longest `next` kept (anything longer goes back to the home page).
const MAX_NEXT: usize = 1024;

/// Where to go after the queue: a path of ours, never the queue itself; else home.
pub fn next_path(next: &str) -> &str {
    let ok = next.len() <= MAX_NEXT
        && safe_path(next) == next
        && next != "/queue"
        && !next.starts_with("/queue?")
        && !next.starts_with("/queue/");
    if ok {
        next
    } else {
        "/"
    }
}

/// The page a form was sent from, when it is one of ours (the `Referer` of a same-origin
/// request: pages are served with `Referrer-Policy: same-origin`).
fn came_from(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("https://")
        .or_else(|| referer.strip_prefix("http://"))?;
    let slash = rest.find('/')?;
    let (origin_host, path) = rest.split_at(slash);
    if !origin_host.eq_ignore_ascii_case(host) {
        return None;
    }
    Some(path.split('#').next().unwrap_or(path))
}

/// The queue page for someone who should come back to `next`.
pub fn queue_url(next: &str) -> String {
    let next: String = form_urlencoded::byte_serialize(next_path(next).as_bytes()).collect();
    format!("/queue?next={next}")
}

/// Guards the pages' booking actions: passes when the waiting room is inactive or the
/// visitor's ticket is admitted; otherwise sends them to the queue, to come back to the page
/// they were on.
pub struct QueuePass;

impl FromRequestParts<App> for QueuePass {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        match app
            .waiting_room
            .admit(cookie(&parts.headers, TICKET_COOKIE), now_ms())
        {
            Ok(()) => Ok(QueuePass),
            Err(_) => {
                let to = queue_url(came_from(&parts.headers).unwrap_or("/"));
                let location =
                    HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/queue"));
                Err((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
            }
        }
    }
}

#[derive(Deserialize)]
pub struct QueueParams {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage<'a> {
    ctx: &'a Ctx,
    position: u64,
    eta: String,
    /// Before the opening: when it opens, in words.
    opens: Option<String>,
    /// First poll of the script.
    poll_ms: u64,
    /// Refresh period without JavaScript.
    refresh_s: u64,
}

fn eta_label(ctx: &Ctx, eta_ms: i64) -> String {
    if eta_ms < 60_000 {
        ctx.t("queue.eta_soon").to_owned()
    } else {
        let min = (eta_ms + 59_999) / 60_000;
        ctx.tf("queue.eta_minutes", &[("min", &min.to_string())])
    }
}

pub async fn page(mut ctx: Ctx, headers: HeaderMap, Query(p): Query<QueueParams>) -> PageResult {
    let next = next_path(p.next.as_deref().unwrap_or("/")).to_owned();
    let app = ctx.app.clone();
    let room = &app.waiting_room;
    let now = now_ms();
    let presented = cookie(&headers, TICKET_COOKIE);
    let pass = match presented {
        Some(t) => match room.status(t, now).await {
            Ok(pass) => Some(pass),
            Err(StatusError::Invalid(_)) => None,
            Err(StatusError::Store(e)) => return Err(ctx.fail(e.into())),
        },
        None => None,
    };
    let pass = match pass {
        Some(pass) => pass,
        None => ctx.ok(room.issue(now).await.map_err(Into::into))?,
    };
    match pass.standing {
        Standing::Open | Standing::Expired => Ok(ctx.redirect(&next)),
        Standing::Admitted { .. } => {
            if pass.renewed {
                ctx.add_cookie(ticket_cookie(&pass.ticket));
            }
            Ok(ctx.redirect_with(&next, "flash.queue_admitted"))
        }
        Standing::Waiting {
            position,
            eta_ms,
            opens_at_ms,
        } => {
            if pass.renewed {
                ctx.add_cookie(ticket_cookie(&pass.ticket));
            }
            let poll_ms = poll_after_ms(&pass.standing, now);
            let opens = opens_at_ms.map(|at| {
                let min = ((at - now).max(0) + 59_999) / 60_000;
                ctx.tf("queue.opens_in", &[("min", &min.to_string())])
            });
            let eta = eta_label(&ctx, eta_ms);
            Ok(ctx.page(&QueuePage {
                ctx: &ctx,
                position,
                eta,
                opens,
                poll_ms,
                refresh_s: (poll_ms / 1000).clamp(2, 30),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path() {
        assert_eq!(
            next_path("/p/abc?motive=m&week=2021-07-12"),
            "/p/abc?motive=m&week=2021-07-12"
        );
        assert_eq!(next_path("https://evil.example/"), "/");
        assert_eq!(next_path("//evil.example/"), "/");
        assert_eq!(next_path("/\\evil.example/"), "/");
        assert_eq!(next_path("/queue?next=/queue"), "/");
        assert_eq!(next_path("/a\nb"), "/");
        assert_eq!(next_path(""), "/");
        assert_eq!(
            queue_url("/p/a?x=1&y=2"),
            "/queue?next=%2Fp%2Fa%3Fx%3D1%26y%3D2"
        );
    }

    #[test]
    fn the_page_a_form_came_from_must_be_ours() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(
            header::REFERER,
            HeaderValue::from_static("http://127.0.0.1:8080/p/abc?week=1#slots"),
        );
        assert_eq!(came_from(&h), Some("/p/abc?week=1"));
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://elsewhere.example/p/abc"),
        );
        assert_eq!(came_from(&h), None);
    }
}

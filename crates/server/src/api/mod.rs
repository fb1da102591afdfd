//! The JSON API v1 (contract: shared/api-v1.md) and its OpenAPI document.

mod doc_errors;
mod erasure;
pub mod ops;
mod patient_merge;

use careslot_consultation::api::{documents, prescriptions, video};
use careslot_identity::api::{
    accounts, dead_letters, me, operators, organisations, security, team,
};
use careslot_scheduling::api::{
    agenda_feed, alerts, bulk_publish, calendar, care_series, credentials, desk, directory,
    patient, payments, practitioner, public, queue, reminders, webhooks,
};
use careslot_vaccination::api::{operator, vaccination};

use crate::App;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use careslot_core::error::ApiError;
use doc_errors::ErrorResponses;
use queue::QueueDoc;
use std::future::Future;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Largest JSON body accepted; bigger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "careslot API", version = "1.0.0", description = "Public API v1 of careslot, the open-source medical appointment platform."),
    paths(
        public::healthz, ops::readyz, ops::metrics, public::specialties, public::search, public::agenda, public::slots,
        accounts::create_account, accounts::create_session, accounts::delete_current_session, accounts::me, erasure::erase_me, accounts::access_log,
        accounts::request_password_reset, accounts::confirm_password_reset,
        me::settings, me::patch_me, me::confirm_email, me::resend_email_verification, me::request_email_change,
        me::change_password, me::request_phone_code, me::confirm_phone_code,
        practitioner::put_profile, practitioner::get_profile, practitioner::create_place, practitioner::put_place_access, practitioner::create_agenda,
        practitioner::create_motive, practitioner::create_rule, practitioner::create_absence, practitioner::agenda_appointments,
        // Issue 18 point 3: visit statuses.
        practitioner::put_visit_status,
        // Issue 18 points 1 and 8: merging duplicates; the grid's move and resize.
        patient_merge::merge, desk::move_appointment, desk::set_length,
        desk::edit_motive, desk::delete_rule, desk::delete_absence,
        team::list, team::invite, team::remove,
        // Issue 18 point 4: group practices.
        organisations::list, organisations::create, organisations::rename, organisations::members,
        organisations::invite, organisations::join, organisations::set_rights,
        organisations::remove_member, organisations::leave, organisations::remove_assistant,
        patient::create_hold, patient::book, patient::list, patient::cancel, patient::move_appointment,
        bulk_publish::manifest, bulk_publish::locations, bulk_publish::schedules, bulk_publish::slots,
        vaccination::book, vaccination::hold, vaccination::second_dose_slots, vaccination::protocols, vaccination::set_stock, vaccination::set_stock_policy,
        operator::eligibility, operator::open_phase, operator::close_phase, operator::chronodoses, operator::add_protocol,
        operator::totals, operator::export, vaccination::days, vaccination::set_lines,
        video::session, video::socket,
        payments::put_fee, payments::delete_fee, payments::practice_cancel, payments::stripe_webhook,
        documents::upload, documents::list, documents::download, documents::delete,
        prescriptions::issue, prescriptions::list, prescriptions::pdf, prescriptions::signing_keys,
        prescriptions::verify, prescriptions::dispense,
        // Issue 14 (reminders on a clock, earlier-slot alerts).
        reminders::get_reminders, reminders::put_reminders,
        alerts::create_alert, alerts::list_alerts, alerts::delete_alert,
        // issue 14 part C: dead letters
        dead_letters::list, dead_letters::retry, dead_letters::retry_all,
        // Issue 15: two-factor authentication, sessions, re-authentication.
        security::second_factor, security::list_sessions, security::delete_session, security::reauthenticate,
        security::mfa_status, security::mfa_enrol, security::mfa_confirm, security::mfa_recovery_codes, security::mfa_remove,
        // issue 15 point 6: practitioner verification
        credentials::get_identifier, credentials::put_identifier, credentials::review_queue,
        credentials::credential_detail, credentials::verify, credentials::reject, credentials::revoke,
        // issue 15 point 5: operator accounts
        operators::create, operators::list, operators::set_roles, operators::disable, operators::actions,
        // issue 18 point 1: the practice's patient directory and phone bookings
        directory::search, directory::file, directory::put_note, directory::book,
        // issue 18 point 5: recurring care
        care_series::book, care_series::get, care_series::cancel, care_series::move_series,
        // issue 19: iCalendar
        calendar::appointment_ics, calendar::get_feed, calendar::revoke_feed, calendar::feed,
        // issue 18 point 6: agenda feeds
        agenda_feed::get_feed, agenda_feed::make_feed, agenda_feed::change_feed, agenda_feed::revoke_feed, agenda_feed::feed,
        // issue 19: webhooks
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
    ),
    components(schemas(careslot_core::error::Problem, careslot_scheduling::api::dto::SlotFormat)),
    modifiers(&BearerAuth, &QueueDoc, &ErrorResponses),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Where things are, for API clients.
async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": "careslot",
        "version": env!("CARGO_PKG_VERSION"),
        "api": "/api/v1",
        "openapi": "/api/v1/openapi.json",
        "health": "/healthz",
        "ready": "/readyz",
        "metrics": "/metrics",
        "fhir": "/fhir/metadata",
        "try": "/api/v1/search?specialty=general-practitioner&lat=48.8566&lon=2.3522&radius_km=10"
    }))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not accept this method",
    )
}

pub fn router(app: App) -> Router {
    let csp = crate::web::map::content_security_policy(&app.map);
    let csp = axum::http::HeaderValue::from_str(&csp)
        .unwrap_or(axum::http::HeaderValue::from_static("default-src 'self'"));
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/queue/tickets", post(queue::issue))
        .route("/queue/status", get(queue::status))
        .route(
            "/operator/waiting-room",
            get(queue::room_state).put(queue::configure),
        )
        .route("/specialties", get(public::specialties))
        .route("/search", get(public::search))
        .route("/accounts", post(accounts::create_account))
        .route(
            "/sessions",
            post(accounts::create_session).get(security::list_sessions),
        )
        .route("/password-resets", post(accounts::request_password_reset))
        .route(
            "/password-resets/confirm",
            post(accounts::confirm_password_reset),
        )
        .route(
            "/sessions/current",
            axum::routing::delete(accounts::delete_current_session),
        )
        .route("/sessions/current/mfa", post(security::second_factor))
        .route(
            "/sessions/current/reauthenticate",
            post(security::reauthenticate),
        )
        .route(
            "/sessions/{id}",
            axum::routing::delete(security::delete_session),
        )
        .route(
            "/me/mfa",
            get(security::mfa_status)
                .post(security::mfa_enrol)
                .delete(security::mfa_remove),
        )
        .route("/me/mfa/confirm", post(security::mfa_confirm))
        .route("/me/mfa/recovery-codes", post(security::mfa_recovery_codes))
        .route(
            "/me",
            get(accounts::me)
                .delete(erasure::erase_me)
                .patch(me::patch_me),
        )
        .route("/me/access-log", get(accounts::access_log))
        // The account page (issue 14).
        .route("/me/settings", get(me::settings))
        .route(
            "/me/email-verification",
            post(me::resend_email_verification),
        )
        .route("/me/email-change", post(me::request_email_change))
        .route("/me/password", post(me::change_password))
        .route("/me/phone-verification", post(me::request_phone_code))
        .route(
            "/me/phone-verification/confirm",
            post(me::confirm_phone_code),
        )
        .route("/email-verifications/confirm", post(me::confirm_email))
        .route(
            "/me/alerts",
            get(alerts::list_alerts).post(alerts::create_alert),
        )
        .route(
            "/me/alerts/{id}",
            axum::routing::delete(alerts::delete_alert),
        )
        .route(
            "/practitioner/profile",
            get(practitioner::get_profile).put(practitioner::put_profile),
        )
        .route(
            "/practitioner/reminders",
            get(reminders::get_reminders).put(reminders::put_reminders),
        )
        .route("/practitioner/patients", get(directory::search))
        .route("/practitioner/patients/{id}", get(directory::file))
        .route(
            "/practitioner/patients/{id}/merge",
            post(patient_merge::merge),
        )
        .route(
            "/practitioner/patients/{id}/note",
            axum::routing::put(directory::put_note),
        )
        .route("/practitioner/appointments", post(directory::book))
        .route("/places", post(practitioner::create_place))
        .route(
            "/places/{place_id}/access",
            axum::routing::put(practitioner::put_place_access),
        )
        .route("/agendas", post(practitioner::create_agenda))
        .route("/agendas/{agenda_id}", get(public::agenda))
        .route(
            "/agendas/{agenda_id}/motives",
            post(practitioner::create_motive),
        )
        .route(
            "/agendas/{agenda_id}/motives/{motive_id}",
            axum::routing::put(desk::edit_motive),
        )
        .route(
            "/agendas/{agenda_id}/opening-rules/{rule_id}",
            axum::routing::delete(desk::delete_rule),
        )
        .route(
            "/agendas/{agenda_id}/absences/{absence_id}",
            axum::routing::delete(desk::delete_absence),
        )
        .route(
            "/agendas/{agenda_id}/opening-rules",
            post(practitioner::create_rule),
        )
        .route(
            "/agendas/{agenda_id}/absences",
            post(practitioner::create_absence),
        )
        .route(
            "/agendas/{agenda_id}/appointments",
            get(practitioner::agenda_appointments),
        )
        .route("/agendas/{agenda_id}/slots", get(public::slots))
        .route("/agendas/{agenda_id}/series", post(care_series::book))
        .route(
            "/series/{id}",
            get(care_series::get).delete(care_series::cancel),
        )
        .route("/series/{id}/move", post(care_series::move_series))
        .route("/holds", post(patient::create_hold))
        .route("/appointments", get(patient::list).post(patient::book))
        .route("/appointments/{id}/cancel", post(patient::cancel))
        .route(
            "/appointments/{id}/status",
            axum::routing::put(practitioner::put_visit_status),
        )
        .route("/appointments/{id}/move", post(patient::move_appointment))
        .route("/vaccination/$bulk-publish", get(bulk_publish::manifest))
        .route(
            "/vaccination/bulk/locations.ndjson",
            get(bulk_publish::locations),
        )
        .route(
            "/vaccination/bulk/schedules.ndjson",
            get(bulk_publish::schedules),
        )
        .route("/vaccination/bulk/slots.ndjson", get(bulk_publish::slots))
        .route("/vaccination/bookings", post(vaccination::book))
        .route("/vaccination/holds", post(vaccination::hold))
        .route(
            "/vaccination/second-dose-slots",
            get(vaccination::second_dose_slots),
        )
        .route("/vaccination/protocols", get(vaccination::protocols))
        .route("/vaccination/eligibility", get(operator::eligibility))
        .route("/operator/vaccination/phases", post(operator::open_phase))
        .route(
            "/operator/vaccination/phases/{id}/close",
            post(operator::close_phase),
        )
        .route(
            "/operator/vaccination/chronodoses",
            axum::routing::put(operator::chronodoses),
        )
        .route(
            "/operator/vaccination/protocols",
            post(operator::add_protocol),
        )
        .route("/operator/vaccination/totals", get(operator::totals))
        .route(
            "/operator/vaccination/appointments.csv",
            get(operator::export),
        )
        .route(
            "/agendas/{agenda_id}/vaccination/days",
            get(vaccination::days),
        )
        .route(
            "/agendas/{agenda_id}/lines",
            axum::routing::put(vaccination::set_lines),
        )
        .route(
            "/agendas/{agenda_id}/stock",
            axum::routing::put(vaccination::set_stock),
        )
        .route(
            "/agendas/{agenda_id}/stock-policy",
            axum::routing::put(vaccination::set_stock_policy),
        );
    // --- video ---
    let api = api
        .route("/appointments/{id}/video-session", post(video::session))
        .route("/appointments/{id}/video-session/ws", get(video::socket));
    let api = api
        .route(
            "/agendas/{agenda_id}/motives/{motive_id}/fee",
            axum::routing::put(payments::put_fee).delete(payments::delete_fee),
        )
        .route(
            "/practice/appointments/{id}/cancel",
            post(payments::practice_cancel),
        )
        .route("/practice/team", get(team::list))
        .route("/practice/team/invitations", post(team::invite))
        .route("/practice/team/{id}", axum::routing::delete(team::remove))
        .route(
            "/practice/organisations",
            get(organisations::list).post(organisations::create),
        )
        .route("/practice/organisations/join", post(organisations::join))
        .route(
            "/practice/organisations/{id}",
            axum::routing::put(organisations::rename),
        )
        .route(
            "/practice/organisations/{id}/members",
            get(organisations::members),
        )
        .route(
            "/practice/organisations/{id}/invitations",
            post(organisations::invite),
        )
        .route(
            "/practice/organisations/{id}/assistants/{assistant_id}/agendas",
            axum::routing::put(organisations::set_rights),
        )
        .route(
            "/practice/organisations/{id}/members/{practitioner_id}",
            axum::routing::delete(organisations::remove_member),
        )
        .route(
            "/practice/organisations/{id}/leave",
            post(organisations::leave),
        )
        .route(
            "/practice/organisations/{id}/assistants/{assistant_id}",
            axum::routing::delete(organisations::remove_assistant),
        )
        .route(
            "/practice/appointments/{id}/move",
            post(desk::move_appointment),
        )
        .route(
            "/practice/appointments/{id}/length",
            axum::routing::put(desk::set_length),
        )
        .route(
            "/payments/stripe/webhook",
            // Stripe's events outgrow the API's usual 64 KiB in rare cases.
            post(payments::stripe_webhook).layer(DefaultBodyLimit::max(256 * 1024)),
        );
    let api = api.merge(documents::routes(&app.consultation));
    let api = api
        .route(
            "/appointments/{id}/prescriptions",
            get(prescriptions::list).post(prescriptions::issue),
        )
        .route(
            "/appointments/{id}/prescriptions/{rx_id}/pdf",
            get(prescriptions::pdf),
        )
        .route(
            "/practitioners/{id}/signing-keys",
            get(prescriptions::signing_keys),
        )
        .route("/prescriptions/{id}/verify", post(prescriptions::verify))
        .route(
            "/prescriptions/{id}/dispense",
            post(prescriptions::dispense),
        );
    // --- dead letters (issue 14 part C) ---
    let api = api
        .route("/operator/outbox/dead", get(dead_letters::list))
        .route("/operator/outbox/dead/retry", post(dead_letters::retry_all))
        .route("/operator/outbox/{id}/retry", post(dead_letters::retry));
    // --- practitioner verification (issue 15 point 6) ---
    let api = api
        .route(
            "/practitioner/identifier",
            get(credentials::get_identifier).put(credentials::put_identifier),
        )
        .route("/operator/practitioners", get(credentials::review_queue))
        .route(
            "/operator/practitioners/{id}/credential",
            get(credentials::credential_detail),
        )
        .route(
            "/operator/practitioners/{id}/verify",
            post(credentials::verify),
        )
        .route(
            "/operator/practitioners/{id}/reject",
            post(credentials::reject),
        )
        .route(
            "/operator/practitioners/{id}/revoke",
            post(credentials::revoke),
        );
    // --- iCalendar (issue 19) ---
    let api = api
        .route("/appointments/{id}/ics", get(calendar::appointment_ics))
        .route(
            "/me/calendar-feed",
            get(calendar::get_feed).delete(calendar::revoke_feed),
        )
        .route("/calendar-feeds/{token}", get(calendar::feed))
        .route(
            "/agendas/{agenda_id}/feed",
            get(agenda_feed::get_feed)
                .post(agenda_feed::make_feed)
                .patch(agenda_feed::change_feed)
                .delete(agenda_feed::revoke_feed),
        )
        .route("/agenda-feeds/{token}", get(agenda_feed::feed))
        .route(
            "/practitioner/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/practitioner/webhooks/{id}",
            axum::routing::delete(webhooks::delete),
        )
        .route(
            "/practitioner/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        );
    // --- operator accounts (issue 15 point 5) ---
    let api = api
        .route("/operators", get(operators::list).post(operators::create))
        .route("/operators/{id}", axum::routing::delete(operators::disable))
        .route(
            "/operators/{id}/roles",
            axum::routing::put(operators::set_roles),
        )
        .route("/operator/actions", get(operators::actions));
    let api = api
        .route("/", get(index))
        .layer(axum::middleware::from_fn(no_store_unless_public));
    let router = Router::new()
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/api/v1", api)
        // FHIR R4 scheduling API: its own contract (CapabilityStatement at /fhir/metadata),
        // not part of the OpenAPI document.
        .nest(
            careslot_scheduling::fhir::BASE_PATH,
            careslot_scheduling::fhir::router(),
        )
        .merge(crate::web::router())
        .merge(crate::web::documents_router(&app))
        .merge(crate::web::photos_router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::web::context::html_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(http_span))
        // Outside the trace layer: its spans are children of the request's, which carries
        // the request id.
        .layer(axum::middleware::from_fn_with_state(
            app.core.clone(),
            ops::observe,
        ))
        .with_state(app);
    crate::web::security_headers(router, csp)
}

/// The trace layer's span (debug level): the method and the route pattern, never the path,
/// which may carry a secret (a calendar feed's token, an invitation link).
fn http_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("unmatched");
    tracing::debug_span!("http", method = %req.method(), route = %route)
}

/// Whether an API path (below `/api/v1`) only ever answers public data: the directory,
/// slots, the bulk-publishing feeds, protocols and eligibility, signing keys, the OpenAPI
/// document and the index. Every other answer may carry personal data.
fn is_public(method: &axum::http::Method, path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return false;
    }
    matches!(
        segments.as_slice(),
        [""] | ["openapi.json"]
            | ["specialties"]
            | ["search"]
            | ["agendas", _]
            | ["agendas", _, "slots"]
            | ["vaccination", "$bulk-publish"]
            | ["vaccination", "bulk", _]
            | ["vaccination", "protocols"]
            | ["vaccination", "eligibility"]
            | ["practitioners", _, "signing-keys"]
    )
}

/// `Cache-Control: no-store` on every API answer that may carry personal data (all but the
/// public ones), unless the handler chose its own.
async fn no_store_unless_public(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let public = is_public(req.method(), req.uri().path());
    let mut resp = next.run(req).await;
    if !public {
        resp.headers_mut()
            .entry(axum::http::header::CACHE_CONTROL)
            .or_insert(axum::http::HeaderValue::from_static("no-store"));
    }
    resp
}

/// Serves until `shutdown` resolves, then drains in-flight requests. Each request knows its
/// peer's address (`ConnectInfo`), which throttling counts per client.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    use super::is_public;
    use axum::http::Method;

    #[test]
    fn personal_answers_are_not_public() {
        for p in [
            "/api/v1/search",
            "/search",
            "/agendas/a1/slots",
            "/openapi.json",
            "/",
        ] {
            assert!(is_public(&Method::GET, p), "{p}");
        }
        for p in [
            "/me",
            "/appointments",
            "/sessions",
            "/agendas/a1/appointments",
            "/queue/status",
        ] {
            assert!(!is_public(&Method::GET, p), "{p}");
        }
        assert!(!is_public(&Method::POST, "/search"));
    }
}

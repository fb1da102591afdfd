//! The web app: server-rendered pages (askama) over the same application services as the
//! JSON API, with a little progressive JavaScript. Everything is served by careslot itself:
//! no fonts or scripts from elsewhere; only the map's tiles come from the configured
//! tile server.

mod assets;
pub mod context;
mod flash;
pub mod map;
pub use careslot_core::i18n;
mod pages;
mod view;

use crate::App;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

pub fn router() -> Router<App> {
    use pages::*;
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(home::search))
        .route("/lang/{code}", get(home::switch_language))
        .route("/p/{agenda_id}", get(practitioner::page))
        .route("/p/{agenda_id}/photo/{file}", get(photos::serve))
        .route("/book/hold", post(booking::hold))
        .route("/book/{hold_id}", get(booking::review))
        .route("/book/{hold_id}/signin", post(booking::sign_in))
        .route("/book/{hold_id}/signup", post(booking::sign_up))
        .route("/book/{hold_id}/signup/code", post(booking::sign_up_code))
        .route("/book/{hold_id}/confirm", post(booking::confirm))
        .route("/book/{hold_id}/release", post(booking::release))
        .route("/signin", get(account::signin_page).post(account::sign_in))
        .route("/signin/verification", post(account::resend_verification))
        .route("/signup", get(account::signup_page).post(account::sign_up))
        .route(
            "/password-reset",
            get(account::password_reset_page).post(account::password_reset),
        )
        .route(
            "/password-reset/request",
            post(account::request_password_reset),
        )
        .route(
            "/signin/code",
            get(security::code_page).post(security::submit_code),
        )
        .route("/account/security", get(security::page))
        .route("/account/security/mfa", post(security::enrol))
        .route("/account/security/mfa/confirm", post(security::confirm))
        .route(
            "/account/security/mfa/recovery-codes",
            post(security::renew_codes),
        )
        .route("/account/security/mfa/remove", post(security::remove))
        .route("/account/sessions/{id}/revoke", post(security::revoke))
        .route("/signout", post(account::sign_out))
        .route("/account", get(account::account))
        .route("/account/relatives", post(account::add_relative))
        .route(
            "/account/relatives/{id}/delete",
            post(account::remove_relative),
        )
        .route("/account/delete", post(account::erase))
        // The account page's forms and the email link (issue 14).
        .route("/account/contact", post(profile::save_contact))
        .route("/account/preferences", post(profile::save_preferences))
        .route(
            "/account/email-verification",
            post(profile::resend_verification),
        )
        .route("/account/email", post(profile::change_email))
        .route("/account/phone-code", post(profile::send_code))
        .route("/account/phone-code/confirm", post(profile::confirm_code))
        .route("/account/password", post(profile::change_password))
        .route(
            "/email-verification",
            get(profile::verify_page).post(profile::verify),
        )
        .route("/account/alerts", post(account::add_alert))
        .route("/account/alerts/{id}/delete", post(account::remove_alert))
        .route("/appointments", get(appointments::list))
        .route("/appointments/{id}", get(appointments::detail))
        .route("/appointments/{id}/calendar.ics", get(appointments::ics))
        .route(
            "/appointments/{id}/cancel",
            get(appointments::cancel_page).post(appointments::cancel),
        )
        .route(
            "/appointments/{id}/move",
            get(appointments::move_page).post(appointments::move_to),
        )
        .route("/pro", get(onboarding::landing))
        .route(
            "/pro/signup",
            get(onboarding::signup_page).post(onboarding::sign_up),
        )
        .route(
            "/pro/onboarding/profile",
            get(onboarding::profile_page).post(onboarding::save_profile),
        )
        .route(
            "/pro/onboarding/place",
            get(onboarding::place_page).post(onboarding::save_place),
        )
        .route(
            "/pro/onboarding/motives",
            get(onboarding::motives_page).post(onboarding::save_motives),
        )
        .route(
            "/pro/onboarding/hours",
            get(onboarding::hours_page).post(onboarding::save_hours),
        )
        .route("/pro/agenda", get(desk::agenda))
        .route("/pro/agenda/book", get(desk::book_page).post(desk::book))
        .route("/pro/appointments/{id}", get(desk::appointment))
        .route("/pro/appointments/{id}/no-show", post(desk::no_show))
        .route("/pro/appointments/{id}/status", post(desk::set_status))
        .route(
            "/pro/appointments/{id}/cancel",
            post(payments::practice_cancel),
        )
        .route(
            "/pro/appointments/{id}/cancel-following",
            post(series::cancel_following),
        )
        .route(
            "/pro/appointments/{id}/move-following",
            post(series::move_following),
        )
        .route("/pro/patients", get(directory::page))
        .route("/pro/patients/{id}", get(desk::patient))
        .route("/pro/patients/{id}/note", post(directory::save_note))
        .route(
            "/pro/patients/{id}/merge",
            get(patient_merge::page).post(patient_merge::merge),
        )
        .route("/pro/settings", get(settings::page))
        .route("/pro/settings/motives", post(settings::add_motive))
        .route("/pro/settings/motives/{id}", post(settings::edit_motive))
        .route("/pro/settings/hours", post(settings::add_hours))
        .route(
            "/pro/settings/hours/{id}/delete",
            post(settings::delete_hours),
        )
        .route("/pro/settings/reminders", post(settings::set_reminders))
        .route("/pro/settings/feed", post(settings::make_feed))
        .route("/pro/settings/feed/rotate", post(settings::rotate_feed))
        .route("/pro/settings/feed/names", post(settings::feed_names))
        .route("/pro/settings/feed/revoke", post(settings::revoke_feed))
        .route("/pro/settings/absences", post(settings::add_absence))
        .route(
            "/pro/settings/absences/{id}/delete",
            post(settings::delete_absence),
        )
        .route("/pro/organisation", get(organisation::page))
        .route("/pro/organisations", post(organisation::create))
        .route(
            "/pro/organisation/join",
            get(organisation::join_page).post(organisation::join),
        )
        .route("/pro/organisation/{id}/name", post(organisation::rename))
        .route(
            "/pro/organisation/{id}/invite-colleague",
            post(organisation::invite_colleague),
        )
        .route(
            "/pro/organisation/{id}/invite-assistant",
            post(organisation::invite_assistant),
        )
        .route(
            "/pro/organisation/{id}/assistants/{assistant}/rights",
            post(organisation::set_rights),
        )
        .route(
            "/pro/organisation/{id}/assistants/{assistant}/remove",
            post(organisation::remove_assistant),
        )
        .route(
            "/pro/organisation/{id}/members/{member}/remove",
            post(organisation::remove_member),
        )
        .route("/pro/team", get(team::page))
        .route("/pro/team/invite", post(team::invite))
        .route("/pro/team/{id}/remove", post(team::remove))
        .route("/invite/{token}", get(team::accept_page).post(team::accept))
        .route("/vaccination/second-dose", get(vaccination::second_dose))
        .route("/vaccination/book", post(vaccination::book))
        .route("/vaccination/review", get(vaccination::review))
        .route(
            "/vaccination/review/signin",
            post(vaccination::review_sign_in),
        )
        .route(
            "/vaccination/review/signup",
            post(vaccination::review_sign_up),
        )
        .route(
            "/vaccination/review/signup/code",
            post(vaccination::review_sign_up_code),
        )
        .route(
            "/pro/stock",
            get(vaccination::stock_page).post(vaccination::set_stock),
        )
        .route("/pro/stock/week", post(vaccination::set_stock_week))
        .route("/pro/stock/policy", post(vaccination::set_stock_policy))
        .route("/pro/lines", post(vaccination::set_lines))
        .route("/operator", get(operator::page))
        .route("/operator/phases", post(operator::open_phase))
        .route("/operator/phases/{id}/close", post(operator::close_phase))
        .route("/operator/chronodoses", post(operator::chronodoses))
        .route("/operator/protocols", post(operator::add_protocol))
        .route("/operator/appointments.csv", get(operator::export))
        // --- issue 14 part C: dead letters, desk notices, demo mailbox ---
        .route(
            "/operator/outbox/{id}/retry",
            post(operator::retry_dead_letter),
        )
        .route(
            "/operator/outbox/retry-all",
            post(operator::retry_all_dead_letters),
        )
        // --- issue 15 point 6: practitioner verification ---
        .route(
            "/pro/verification",
            get(verification::page).post(verification::declare),
        )
        .route("/operator/practitioners", get(verification::queue))
        .route(
            "/operator/practitioners/{id}/{decision}",
            post(verification::decide),
        )
        .route("/pro/notifications", get(notices::page))
        .route("/pro/notifications/email", post(notices::set_email))
        .route("/demo/mailbox", get(mailbox::list))
        .route("/demo/mailbox/{id}", get(mailbox::show))
        .route("/queue", get(queue::page))
        // --- video ---
        .route("/appointments/{id}/video", get(video::patient))
        .route("/appointments/{id}/video/session", post(video::session))
        .route("/pro/appointments/{id}/video", get(video::practice))
        .route("/pro/appointments/{id}/video/end", post(video::end))
        .route(
            "/pro/appointments/{id}/prescriptions",
            post(prescriptions::issue),
        )
        .route(
            "/pro/appointments/{id}/prescriptions/{rx_id}/pdf",
            get(prescriptions::pdf),
        )
        .route(
            "/appointments/{id}/prescriptions/{rx_id}/pdf",
            get(prescriptions::pdf),
        )
        .route(
            "/rx/{id}",
            get(prescriptions::verify_page).post(prescriptions::verify),
        )
        .route("/rx/{id}/dispense", post(prescriptions::dispense))
        // --- issue 18 point 2: the desk's time grid ---
        .route("/pro/grid", get(grid::page))
        .route(
            "/pro/grid/move/{id}",
            get(grid::move_page).post(grid::move_to),
        )
        .route(
            "/pro/grid/resize/{id}",
            get(grid::resize_page).post(grid::resize_to),
        )
        .route("/pro/profile/photo/delete", post(photos::remove))
        .route("/static/{file}", get(assets::serve))
        .route("/static/leaflet/{file}", get(assets::leaflet))
        .route("/static/leaflet/images/{file}", get(assets::leaflet_image))
}

/// The documents of an appointment, for both sides; uploads get a body limit that fits the
/// configured file size.
pub fn documents_router(app: &App) -> Router<App> {
    use pages::documents;
    Router::new()
        .route("/appointments/{id}/documents", post(documents::upload))
        .route(
            "/appointments/{id}/documents/{doc_id}",
            get(documents::download),
        )
        .route(
            "/appointments/{id}/documents/{doc_id}/delete",
            post(documents::delete),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            app.consultation.documents.body_limit(),
        ))
}

/// The photo upload of the profile page, with a body limit that fits a photo.
pub fn photos_router() -> Router<App> {
    Router::new()
        .route("/pro/profile/photo", post(pages::photos::upload))
        .layer(axum::extract::DefaultBodyLimit::max(
            pages::photos::BODY_LIMIT,
        ))
}

/// Security headers on every response (pages, assets and API alike).
/// `csp` is [`map::content_security_policy`]'s.
pub fn security_headers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    csp: HeaderValue,
) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("geolocation=(self), camera=(), microphone=(), payment=()"),
        ))
}

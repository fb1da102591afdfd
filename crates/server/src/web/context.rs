//! What every page request carries: language, signed-in account (session cookie), the CSRF
//! token, a guest id for holds made before signing in, and a one-shot flash message. Cookies
//! are `HttpOnly; Secure; SameSite=Lax` (browsers treat http://localhost as secure).

use super::i18n::Lang;
use crate::services::{App, AppError, AppResult, Caller};
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use careslot_store::Role;
use rand::RngCore;
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "careslot_session";
pub const CSRF_COOKIE: &str = "careslot_csrf";
pub const LANG_COOKIE: &str = "careslot_lang";
pub const GUEST_COOKIE: &str = "careslot_guest";
pub const FLASH_COOKIE: &str = "careslot_flash";
/// The last hold made from this browser: a new hold releases it (one hold at a time).
pub const HOLD_COOKIE: &str = "careslot_hold";
/// A sign-in that has the password and waits for its second factor (a pending session's
/// token, good for nothing else; lives as long as the pending session, 10 minutes).
pub const PENDING_COOKIE: &str = "careslot_pending";

/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 32 * 1024;

pub use careslot_core::cookies::{clear_cookie, cookie, set_cookie};

pub fn random_token(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The visitor's language: their choice (cookie), else `Accept-Language`, else French.
fn lang_of(h: &HeaderMap) -> Lang {
    cookie(h, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_else(|| {
            h.get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
                .unwrap_or_default()
        })
}

/// The signed-in account as the pages need it.
#[derive(Debug, Clone)]
pub struct User {
    pub caller: Caller,
    /// Staff of a vaccination centre: the menu offers the dose stock (no one else has one).
    pub vaccination_centre: bool,
}

impl User {
    pub fn is_patient(&self) -> bool {
        self.caller.role == Role::Patient
    }
    pub fn is_staff(&self) -> bool {
        matches!(self.caller.role, Role::Practitioner | Role::Assistant)
    }
    pub fn is_practitioner(&self) -> bool {
        self.caller.role == Role::Practitioner
    }
    pub fn is_operator(&self) -> bool {
        self.caller.role == Role::Operator
    }
}

/// Per-request page context (an extractor).
pub struct Ctx {
    pub app: App,
    pub lang: Lang,
    pub user: Option<User>,
    pub csrf: String,
    pub guest: Option<String>,
    pub flash: Option<&'static str>,
    /// Path and query of this request, for "come back here" links.
    pub here: String,
    /// `scheme://host` as the browser sees this server, for absolute links when no
    /// `--public-url` is set.
    pub origin: String,
    pub last_hold: Option<String>,
    /// The client's address (behind trusted proxies), for throttling.
    pub client: std::net::IpAddr,
    /// The browser's User-Agent, recorded with a new session.
    pub device: Option<String>,
    /// A pending sign-in's token (waiting for its second factor).
    pub pending_token: Option<String>,
    /// The session cookie's token when it is valid (to delete the session on sign-out).
    session_token: Option<String>,
    set_cookies: Vec<String>,
}

impl FromRequestParts<App> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let h = &parts.headers;
        let mut set_cookies = Vec::new();
        let lang = lang_of(h);
        let csrf = match cookie(h, CSRF_COOKIE).filter(|c| c.len() >= 32) {
            Some(c) => c.to_owned(),
            None => {
                let c = random_token(32);
                set_cookies.push(set_cookie(CSRF_COOKIE, &c, None));
                c
            }
        };
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let client = app.accounts.client_ip(h, peer);
        let mut session_token = None;
        let user = match cookie(h, SESSION_COOKIE) {
            Some(token) => match app.authenticate(token).await {
                Ok(caller) => {
                    session_token = Some(token.to_owned());
                    let vaccination_centre =
                        matches!(caller.role, Role::Practitioner | Role::Assistant)
                            && app.practice_of(&caller).await.is_ok_and(|p| {
                                p.specialty == careslot_domain::Specialty::VaccinationCenter
                            });
                    Some(User {
                        caller,
                        vaccination_centre,
                    })
                }
                Err(AppError::Unauthenticated) => {
                    set_cookies.push(clear_cookie(SESSION_COOKIE));
                    None
                }
                Err(e) => return Err(render_error(lang, &e)),
            },
            None => None,
        };
        let flash = cookie(h, FLASH_COOKIE).and_then(super::flash::lookup);
        if cookie(h, FLASH_COOKIE).is_some() {
            set_cookies.push(clear_cookie(FLASH_COOKIE));
        }
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        Ok(Ctx {
            app: app.clone(),
            lang,
            user,
            csrf,
            guest: cookie(h, GUEST_COOKIE)
                .filter(|g| crate::services::is_valid_guest_id(g))
                .map(str::to_owned),
            flash,
            here,
            origin: careslot_scheduling::api::bulk_publish::base_url(h),
            last_hold: cookie(h, HOLD_COOKIE).map(str::to_owned),
            client,
            device: h
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            pending_token: cookie(h, PENDING_COOKIE)
                .filter(|t| !t.is_empty() && t.len() <= 128)
                .map(str::to_owned),
            session_token,
            set_cookies,
        })
    }
}

/// A failed page request: rendered as a page in the visitor's language.
pub struct Failure {
    lang: Lang,
    err: AppError,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        render_error(self.lang, &self.err)
    }
}

pub type PageResult = Result<Response, Failure>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    lang: Lang,
    title: &'static str,
    detail: &'static str,
}

fn render_error(lang: Lang, err: &AppError) -> Response {
    let (status, title, detail) = match err {
        AppError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            "error.not_found",
            "error.not_found.detail",
        ),
        AppError::Unauthenticated | AppError::BadCredentials => (
            StatusCode::UNAUTHORIZED,
            "error.signin",
            "error.signin.detail",
        ),
        // Only a stale form (CSRF) is cured by reloading; anyone else is refused for who
        // they are, and told so.
        AppError::Forbidden("csrf") => (
            StatusCode::FORBIDDEN,
            "error.forbidden",
            "error.forbidden.detail",
        ),
        AppError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "error.forbidden",
            "error.forbidden.role_detail",
        ),
        AppError::NotVerified => (
            StatusCode::FORBIDDEN,
            "credential.not_verified",
            "credential.not_verified.detail",
        ),
        AppError::KeyService => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error.unavailable",
            "error.unavailable.detail",
        ),
        AppError::MfaRequired => {
            // Led to the set-up (or to sign in again with the code).
            return (
                StatusCode::SEE_OTHER,
                [(
                    header::LOCATION,
                    HeaderValue::from_static("/account/security?required=1"),
                )],
            )
                .into_response();
        }
        AppError::BadCode => (
            StatusCode::UNAUTHORIZED,
            "error.bad_code",
            "error.bad_code.detail",
        ),
        AppError::ReauthRequired => (StatusCode::FORBIDDEN, "error.reauth", "error.reauth.detail"),
        AppError::TooManyAttempts { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "error.too_many_attempts",
            "error.too_many_attempts.detail",
        ),
        AppError::Busy { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error.busy",
            "error.busy.detail",
        ),
        AppError::Invalid(_)
        | AppError::BadRequest(_)
        | AppError::TooLarge(_)
        | AppError::UnsupportedType(_) => (
            StatusCode::BAD_REQUEST,
            "error.invalid",
            "error.invalid.detail",
        ),
        AppError::Conflict(..) | AppError::Rule(_) => (
            StatusCode::CONFLICT,
            "error.conflict",
            "error.conflict.detail",
        ),
        AppError::Store(careslot_store::StoreError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error.unavailable",
            "error.unavailable.detail",
        ),
        AppError::Store(careslot_store::StoreError::Conflict(_)) => (
            StatusCode::CONFLICT,
            "error.conflict",
            "error.conflict.detail",
        ),
        AppError::Store(careslot_store::StoreError::NotFound) => (
            StatusCode::NOT_FOUND,
            "error.not_found",
            "error.not_found.detail",
        ),
        AppError::Payment(crate::services::PaymentFailure::Provider(
            careslot_scheduling::payments::PaymentError::Declined(_)
            | careslot_scheduling::payments::PaymentError::ActionRequired,
        )) => (
            StatusCode::PAYMENT_REQUIRED,
            "error.payment",
            "error.payment.detail",
        ),
        AppError::Payment(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error.unavailable",
            "error.unavailable.detail",
        ),
        AppError::Store(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "error.internal",
            "error.internal.detail",
        ),
    };
    if status.is_server_error() {
        tracing::error!(error = %err, "page failed");
    }
    let page = ErrorPage {
        lang,
        title: lang.t(title),
        detail: lang.t(detail),
    };
    let mut resp = html_response(page.render());
    *resp.status_mut() = status;
    if let AppError::TooManyAttempts { retry_after_s } | AppError::Busy { retry_after_s } = err {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(careslot_core::error::RETRY_AFTER_SECONDS),
        );
    }
    resp
}

/// Paths whose errors stay machine-readable: the API keeps problem+json, probes and metrics
/// their plain text, assets their bare status.
fn is_machine_path(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path == "/fhir"
        || path.starts_with("/fhir/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
        || path.starts_with("/static/")
}

/// Web answers that are not pages yet (the router's fallback, an extractor's rejection, a
/// template failure, 503 from the load shedder) become a page in the visitor's language with
/// a way home, so a patient never lands on raw problem+json. The status is kept.
pub async fn html_errors(req: Request, next: axum::middleware::Next) -> Response {
    if is_machine_path(req.uri().path()) {
        return next.run(req).await;
    }
    let lang = lang_of(req.headers());
    let resp = next.run(req).await;
    let status = resp.status();
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let (title, detail) = match status {
        _ if is_html => return resp,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
            ("error.not_found", "error.not_found.detail")
        }
        StatusCode::GONE => ("error.gone", "error.gone.detail"),
        StatusCode::SERVICE_UNAVAILABLE => ("error.unavailable", "error.unavailable.detail"),
        s if s.is_server_error() => ("error.internal", "error.internal.detail"),
        _ => return resp,
    };
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    let page = ErrorPage {
        lang,
        title: lang.t(title),
        detail: lang.t(detail),
    };
    let mut page = html_response(page.render());
    *page.status_mut() = status;
    if let Some(v) = retry_after {
        page.headers_mut().insert(header::RETRY_AFTER, v);
    }
    page
}

pub fn html_response(rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

impl Ctx {
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    pub fn tf(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.lang.tf(key, args)
    }

    pub fn langs(&self) -> [Lang; 4] {
        Lang::ALL
    }

    pub fn is_lang(&self, l: &Lang) -> bool {
        *l == self.lang
    }

    pub fn here_encoded(&self) -> String {
        form_urlencoded::byte_serialize(self.here.as_bytes()).collect()
    }

    pub fn fail(&self, err: AppError) -> Failure {
        Failure {
            lang: self.lang,
            err,
        }
    }

    /// `r?` for page handlers: failures become a page in the visitor's language.
    pub fn ok<T>(&self, r: AppResult<T>) -> Result<T, Failure> {
        r.map_err(|e| self.fail(e))
    }

    pub fn caller(&self) -> Result<&Caller, Failure> {
        self.user
            .as_ref()
            .map(|u| &u.caller)
            .ok_or_else(|| self.fail(AppError::Unauthenticated))
    }

    pub fn add_cookie(&mut self, c: String) {
        self.set_cookies.push(c);
    }

    fn with_cookies(&self, mut resp: Response) -> Response {
        for c in &self.set_cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }

    pub fn page(&self, t: &impl Template) -> Response {
        self.with_cookies(html_response(t.render()))
    }

    /// A 303 to a path of ours (never to another site).
    pub fn redirect(&self, to: &str) -> Response {
        let to = safe_path(to);
        let resp = (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
            )],
        )
            .into_response();
        self.with_cookies(resp)
    }

    /// Redirects with a message shown once on the next page (`key` from [`super::flash`]).
    pub fn redirect_with(&mut self, to: &str, flash_key: &str) -> Response {
        self.set_cookies
            .push(set_cookie(FLASH_COOKIE, flash_key, Some(60)));
        self.redirect(to)
    }

    /// The session cookie's token, when signed in (a password change keeps this session).
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// Signs in: a new session cookie (the token is the API's bearer token).
    pub fn start_session(&mut self, token: &str, ttl_s: i64) {
        self.set_cookies
            .push(set_cookie(SESSION_COOKIE, token, Some(ttl_s)));
        // A new CSRF token with the new session.
        let csrf = random_token(32);
        self.set_cookies.push(set_cookie(CSRF_COOKIE, &csrf, None));
        self.csrf = csrf;
    }

    /// A sign-in that waits for its second factor: the pending token in its own cookie.
    pub fn start_pending(&mut self, token: &str) {
        self.set_cookies.push(set_cookie(
            PENDING_COOKIE,
            token,
            Some(careslot_identity::mfa::PENDING_LIFE.as_secs()),
        ));
    }

    /// The second factor was given: the pending token becomes the session cookie.
    pub fn finish_pending(&mut self, token: &str, ttl_s: i64) {
        self.set_cookies.push(clear_cookie(PENDING_COOKIE));
        self.pending_token = None;
        self.start_session(token, ttl_s);
    }

    /// Signs out: deletes the session server-side (the token stops working everywhere,
    /// also as a bearer token) and clears the cookies.
    pub async fn sign_out(&mut self) -> Result<(), Failure> {
        if let Some(token) = self.session_token.take() {
            let done = self.app.sign_out(&token).await;
            self.ok(done)?;
        }
        self.end_session();
        Ok(())
    }

    pub fn end_session(&mut self) {
        self.set_cookies.push(clear_cookie(SESSION_COOKIE));
        self.set_cookies.push(clear_cookie(HOLD_COOKIE));
    }

    /// This browser's guest id, created on first use.
    pub fn guest_id(&mut self) -> String {
        match &self.guest {
            Some(g) => g.clone(),
            None => {
                let g = random_token(24);
                self.set_cookies
                    .push(set_cookie(GUEST_COOKIE, &g, Some(24 * 3600)));
                self.guest = Some(g.clone());
                g
            }
        }
    }
}

/// Only local absolute paths: `/x` but not `//host` or `/\host`.
/// This server's origin as the browser sees it (`http://host:port`), for links a person
/// passes on by hand (invitation links): the `Host` header when it is a plain host name,
/// https only when a proxy says so.
pub fn origin(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

pub fn safe_path(to: &str) -> &str {
    let ok = to.starts_with('/')
        && !to.starts_with("//")
        && !to.starts_with("/\\")
        && !to.chars().any(|c| c.is_control());
    if ok {
        to
    } else {
        "/"
    }
}

/// A submitted form, accepted only with the CSRF token of this browser and not from another
/// site. Fields are kept as sent; handlers read them by name.
pub struct Form {
    fields: Vec<(String, String)>,
}

impl FromRequest<App> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let lang = lang_of(&parts.headers);
        let forbidden = || render_error(lang, &AppError::Forbidden("csrf"));
        if parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site")
        {
            return Err(forbidden());
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| render_error(lang, &AppError::BadRequest("form too large".into())))?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let sent = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let expected = cookie(&parts.headers, CSRF_COOKIE).unwrap_or("");
        let _ = app;
        if expected.len() < 32 || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(forbidden());
        }
        Ok(Form { fields })
    }
}

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field, trimmed; "" when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map(str::trim).unwrap_or("")
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every field as sent, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.fields
    }
}

/// Query parameters of a page; a malformed or missing one gives the error page in the
/// visitor's language (not a plain-text 400).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(Query)
            .map_err(|_| {
                render_error(
                    lang_of(&parts.headers),
                    &AppError::BadRequest("query".into()),
                )
            })
    }
}

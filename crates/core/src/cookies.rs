//! Cookies as careslot sets them (`HttpOnly; Secure; SameSite=Lax`; browsers treat
//! http://localhost as secure) and reads them back: shared by the pages and the queue API.

use axum::http::header::{self, HeaderMap};

fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.trim(), v.trim()))
        })
}

pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookies(headers)
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

pub fn set_cookie(name: &str, value: &str, max_age_s: Option<i64>) -> String {
    let age = max_age_s
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax{age}")
}

pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", Some(0))
}

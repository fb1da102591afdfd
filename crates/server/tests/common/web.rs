//! A browser of the web pages for tests: keeps its cookies by hand, follows no redirect,
//! sends the CSRF token with every form (moved here from front_door.rs to be shared).

use super::TestServer;
use reqwest::header;

/// A browser of the web pages: keeps its cookies by hand, sends the CSRF token.
pub struct WebClient<'a> {
    srv: &'a TestServer,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl<'a> WebClient<'a> {
    pub async fn new(srv: &'a TestServer) -> WebClient<'a> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut web = WebClient {
            srv,
            client,
            cookies: Vec::new(),
        };
        let resp = web.get("/signin").await;
        web.absorb(&resp);
        assert!(web.cookie("careslot_csrf").is_some());
        web
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn absorb(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let Some((name, rest)) = v.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("").to_owned();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !v.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value));
            }
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.srv.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("get")
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.cookie("careslot_csrf").unwrap_or_default();
        let mut body = form_body(fields);
        if !body.is_empty() {
            body.push('&');
        }
        body.push_str(&form_body(&[("csrf", &csrf)]));
        self.client
            .post(format!("{}{path}", self.srv.base))
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT_LANGUAGE, "en")
            .body(body)
            .send()
            .await
            .expect("post")
    }
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                k,
                v.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

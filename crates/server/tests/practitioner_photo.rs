//! A practitioner's photo and public facts from the profile page (issue 17 point 2), over
//! real HTTP on SQLite and PostgreSQL: an upload is resized to two JPEG squares served at
//! versioned, cacheable addresses (ETag, 304), shown on the public page and the search
//! card; garbage, oversize files and decompression bombs are refused with a message (never
//! a 500); a new photo retires the old address; removal; the facts and access fields.

mod common;

use common::{start, Backend, TestServer};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::multipart::{Form, Part};
use reqwest::{header, StatusCode};
use std::io::Cursor;

/// Long enough for the page's CSRF check (at least 32 characters).
const CSRF: &str = "photo-test-csrf-token-0123456789abcdef";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn cookies(token: &str) -> String {
    format!("careslot_session={token}; careslot_csrf={CSRF}")
}

fn encoded(w: u32, h: u32, colour: [u8; 3], format: ImageFormat) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb(colour)));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format)
        .expect("encode");
    out
}

/// Posts the profile page's photo form; returns the status and `Location`.
async fn upload(
    srv: &TestServer,
    token: &str,
    csrf: &str,
    content: Vec<u8>,
) -> (StatusCode, String) {
    let part = Part::bytes(content)
        .file_name("me.png")
        .mime_str("image/png")
        .expect("mime");
    let resp = client()
        .post(format!("{}/pro/profile/photo", srv.base))
        .header(header::COOKIE, cookies(token))
        .header(header::ACCEPT_LANGUAGE, "en")
        .multipart(Form::new().text("csrf", csrf.to_owned()).part("file", part))
        .send()
        .await
        .expect("upload");
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (resp.status(), location)
}

async fn page(srv: &TestServer, token: Option<&str>, path: &str) -> (StatusCode, String) {
    let mut req = client()
        .get(format!("{}{path}", srv.base))
        .header(header::ACCEPT_LANGUAGE, "en");
    if let Some(t) = token {
        req = req.header(header::COOKIE, cookies(t));
    }
    let resp = req.send().await.expect("get");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

/// The photo address in `html` for this agenda (`/p/{agenda}/photo/{hash}.jpg`).
fn photo_src(html: &str, agenda: &str) -> Option<String> {
    let start = html.find(&format!("/p/{agenda}/photo/"))?;
    let end = start + html[start..].find(".jpg")? + 4;
    Some(html[start..end].to_owned())
}

async fn photo_uploads_and_facts(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Camille Photo", 30, 1).await;
    let token = p.token.as_str();
    let agenda = p.agenda_id.as_str();

    // No photo yet: the public page has none, the profile page offers the upload form.
    let (s, html) = page(&srv, None, &format!("/p/{agenda}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("class=\"photo"), "{html}");
    let (s, html) = page(&srv, Some(token), "/pro/onboarding/profile").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("action=\"/pro/profile/photo\""), "{html}");
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");

    // A wide PNG: cropped and resized to two JPEG squares.
    let (s, to) = upload(
        &srv,
        token,
        CSRF,
        encoded(900, 500, [200, 40, 40], ImageFormat::Png),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(to, "/pro/onboarding/profile?photo=saved#photo");
    let (_, html) = page(&srv, Some(token), "/pro/onboarding/profile?photo=saved").await;
    assert!(html.contains("Photo saved."), "{html}");
    let large = photo_src(&html, agenda).expect("the profile page shows the photo");
    let small = large.replace(".jpg", "-small.jpg");

    let resp = client()
        .get(format!("{}{large}", srv.base))
        .send()
        .await
        .expect("photo");
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "image/jpeg");
    assert!(h[header::CACHE_CONTROL]
        .to_str()
        .unwrap_or("")
        .contains("immutable"));
    assert!(
        h.get(header::SET_COOKIE).is_none(),
        "a public image sets no cookie"
    );
    let etag = h[header::ETAG].to_str().expect("etag").to_owned();
    let body = resp.bytes().await.expect("bytes");
    let img = image::load_from_memory_with_format(&body, ImageFormat::Jpeg).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (400, 400));
    // The colour survives the re-encoding (no stretching of the crop either: one colour).
    let px = img.to_rgb8().get_pixel(200, 200).0;
    assert!(px[0] > 150 && px[1] < 90 && px[2] < 90, "{px:?}");

    let resp = client()
        .get(format!("{}{large}", srv.base))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(resp.headers()[header::ETAG].to_str().unwrap_or(""), etag);

    let resp = client()
        .get(format!("{}{small}", srv.base))
        .send()
        .await
        .expect("small");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_ne!(resp.headers()[header::ETAG].to_str().unwrap_or(""), etag);
    let img = image::load_from_memory(&resp.bytes().await.expect("bytes")).expect("image");
    assert_eq!((img.width(), img.height()), (96, 96));

    // Shown on the public page and on the search card, with what it shows as alt text.
    let (_, html) = page(&srv, None, &format!("/p/{agenda}")).await;
    assert!(html.contains(&format!("src=\"{large}\"")), "{html}");
    assert!(html.contains("alt=\"Photo of Dr Camille Photo\""), "{html}");
    let (_, html) = page(&srv, None, "/search?q=&lat=48.8556&lon=2.3590").await;
    assert!(html.contains(&format!("src=\"{small}\"")), "{html}");
    assert!(html.contains("data-lat=\"48.8556\""), "{html}");

    // Not an image, a broken one, a bomb, too big, nothing: a message, the photo kept.
    let mut broken = encoded(64, 64, [1, 2, 3], ImageFormat::Png);
    broken.truncate(broken.len() / 2);
    for (content, outcome) in [
        (b"%PDF-1.7 not a photo".to_vec(), "wrong-type"),
        (broken, "wrong-type"),
        (encoded(12_000, 2, [9, 9, 9], ImageFormat::Png), "too-large"),
        (vec![0x89; 5 * 1024 * 1024 + 1], "too-large"),
        (Vec::new(), "missing"),
    ] {
        let (s, to) = upload(&srv, token, CSRF, content).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{outcome}");
        assert_eq!(to, format!("/pro/onboarding/profile?photo={outcome}#photo"));
    }
    let (_, html) = page(
        &srv,
        Some(token),
        "/pro/onboarding/profile?photo=wrong-type",
    )
    .await;
    assert!(
        html.contains("This file is not a readable JPEG, PNG or WebP image."),
        "{html}"
    );
    let (_, html) = page(&srv, Some(token), "/pro/onboarding/profile?photo=too-large").await;
    assert!(html.contains("larger than 5 MB"), "{html}");
    assert_eq!(photo_src(&html, agenda).as_deref(), Some(large.as_str()));

    // Without the form's CSRF token: refused, nothing changes.
    let (s, _) = upload(
        &srv,
        token,
        "wrong-token-wrong-token-wrong-token",
        encoded(50, 50, [0, 0, 0], ImageFormat::Png),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A new photo (WebP) gets a new address; the old one is gone.
    let (s, _) = upload(
        &srv,
        token,
        CSRF,
        encoded(300, 600, [20, 20, 220], ImageFormat::WebP),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page(&srv, Some(token), "/pro/onboarding/profile").await;
    let newer = photo_src(&html, agenda).expect("new photo");
    assert_ne!(newer, large);
    let (s, _) = page(&srv, None, &large).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = page(&srv, None, &newer).await;
    assert_eq!(s, StatusCode::OK);

    // Removal.
    let resp = client()
        .post(format!("{}/pro/profile/photo/delete", srv.base))
        .header(header::COOKIE, cookies(token))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={CSRF}"))
        .send()
        .await
        .expect("remove");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (s, _) = page(&srv, None, &newer).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, html) = page(&srv, None, &format!("/p/{agenda}")).await;
    assert!(!html.contains("class=\"photo"), "{html}");

    // The facts and the access from the same profile form reach the public page.
    let fields = [
        ("name", "Dr Camille Photo"),
        ("specialty", "general-practitioner"),
        ("languages", "fr"),
        ("languages", "it"),
        ("bio", "Médecine générale."),
        ("fee_sector", "sector-2"),
        ("access_present", "1"),
        ("wheelchair_access", "1"),
        ("access_details", "Lift at the back of the courtyard"),
        ("csrf", CSRF),
    ];
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        body.append_pair(k, v);
    }
    let resp = client()
        .post(format!("{}/pro/onboarding/profile", srv.base))
        .header(header::COOKIE, cookies(token))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.finish())
        .send()
        .await
        .expect("profile");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/pro/onboarding/profile");
    let (_, html) = page(&srv, None, &format!("/p/{agenda}")).await;
    assert!(html.contains("Sector 2"), "{html}");
    assert!(html.contains("Not taking new patients"), "{html}");
    assert!(html.contains("Wheelchair accessible"), "{html}");
    assert!(html.contains("Lift at the back of the courtyard"), "{html}");
    let (_, html) = page(&srv, Some(token), "/pro/onboarding/profile").await;
    assert!(html.contains("value=\"sector-2\" selected"), "{html}");
    assert!(
        !html.contains(
            "id=\"accepts_new_patients\" name=\"accepts_new_patients\" value=\"1\" checked"
        ),
        "{html}"
    );

    // A bad sector is said on the form, not a 500.
    let resp = client()
        .post(format!("{}/pro/onboarding/profile", srv.base))
        .header(header::COOKIE, cookies(token))
        .header(header::ACCEPT_LANGUAGE, "en")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "name=Dr+Camille+Photo&specialty=general-practitioner&fee_sector=sector-9&csrf={CSRF}"
        ))
        .send()
        .await
        .expect("profile");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .text()
        .await
        .unwrap_or_default()
        .contains("Choose a fee sector from the list."));
    srv.stop().await;
}

/// The map's tiles are allowed by the pages' policy, and nothing else from elsewhere.
async fn csp_allows_the_tiles(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let resp = client()
        .get(format!("{}/search?q=", srv.base))
        .send()
        .await
        .expect("search");
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        csp.contains("img-src 'self' data: https://tile.openstreetmap.org;"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self';"), "{csp}");
    for path in [
        "/static/leaflet/leaflet.js",
        "/static/leaflet/leaflet.css",
        "/static/leaflet/images/marker-icon.png",
        "/static/map.js",
    ] {
        let (s, _) = page(&srv, None, path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    srv.stop().await;
}

on_both_backends!(photo_uploads_and_facts, csp_allows_the_tiles);

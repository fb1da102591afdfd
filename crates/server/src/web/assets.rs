//! Static assets, embedded in the binary so that `careslot serve` is the whole product.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "queue.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/queue.js"),
    ),
    (
        "video.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/video.js"),
    ),
    (
        "rx.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/rx.js"),
    ),
    (
        "grid.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/grid.css"),
    ),
    (
        "grid.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/grid.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                // Pages link assets with a version query (`?v=`): safe to cache for a day.
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

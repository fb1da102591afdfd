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
        "map.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/map.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

/// Leaflet 1.9.4, vendored unmodified (see `static/leaflet/VENDOR.md`); its stylesheet
/// finds its images at `images/` beside it.
const LEAFLET: &[(&str, &str, &[u8])] = &[
    (
        "leaflet.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/leaflet/leaflet.js"),
    ),
    (
        "leaflet.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/leaflet/leaflet.css"),
    ),
];

const LEAFLET_IMAGES: &[(&str, &str, &[u8])] = &[
    (
        "layers.png",
        "image/png",
        include_bytes!("../../static/leaflet/images/layers.png"),
    ),
    (
        "layers-2x.png",
        "image/png",
        include_bytes!("../../static/leaflet/images/layers-2x.png"),
    ),
    (
        "marker-icon.png",
        "image/png",
        include_bytes!("../../static/leaflet/images/marker-icon.png"),
    ),
    (
        "marker-icon-2x.png",
        "image/png",
        include_bytes!("../../static/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "marker-shadow.png",
        "image/png",
        include_bytes!("../../static/leaflet/images/marker-shadow.png"),
    ),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    from(FILES, &file)
}

pub async fn leaflet(Path(file): Path<String>) -> Response {
    from(LEAFLET, &file)
}

pub async fn leaflet_image(Path(file): Path<String>) -> Response {
    from(LEAFLET_IMAGES, &file)
}

fn from(files: &[(&str, &'static str, &'static [u8])], file: &str) -> Response {
    match files.iter().find(|(name, _, _)| *name == file) {
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

//! Serialised public answers (slot lists) with a strong validator: `ETag` on every answer,
//! `304 Not Modified` when the client's `If-None-Match` names it (issue 20, point 3).
//!
//! The tag is a digest of the bytes, not of a node's cache generation, so every node behind
//! a load balancer gives the same tag for the same answer, and a tag never outlives its
//! content (an answer that changes with time alone gets a new tag too).
//!
//! A client that accepts gzip gets the answer compressed, once per cached answer (the first
//! such request pays for it, later ones and 304s reuse it), under its own tag: a strong
//! validator names one representation (RFC 9110, 8.8.3).

use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::sync::{Arc, OnceLock};

/// Answers smaller than this go uncompressed: gzip's header and the CPU are not worth it.
const GZIP_FROM: usize = 1024;

/// An answer's JSON bytes and their tag.
#[derive(Clone, Debug)]
pub struct Answer {
    pub body: bytes::Bytes,
    pub etag: HeaderValue,
    /// The gzip representation and its tag, made on first demand and shared by the clones
    /// of the cached answer (`None`: compression failed; the plain bytes are served).
    gzip: Arc<OnceLock<Option<(bytes::Bytes, HeaderValue)>>>,
}

/// Whether `Accept-Encoding` takes gzip (a `q=0` refuses it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT_ENCODING).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let coding = parts.next().unwrap_or_default();
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
            })
        })
    })
}

fn gzip(body: &[u8], etag: &HeaderValue) -> Option<(bytes::Bytes, HeaderValue)> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body).ok()?;
    let packed = enc.finish().ok()?;
    let tag = etag.to_str().ok()?.trim_end_matches('"').to_owned() + "-gzip\"";
    Some((
        bytes::Bytes::from(packed),
        HeaderValue::from_str(&tag).ok()?,
    ))
}

impl Answer {
    pub fn new(body: bytes::Bytes) -> Self {
        // XXH3's 128 bits: a strong validator (a tag only needs to differ when the content
        // does; nobody gains by forging one), quoted as RFC 9110 requires. SHA-256 here
        // was 8 % of the server's CPU in a rush (answers of tens of KB, one per booking).
        let tag = format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(&body));
        let etag = HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\""));
        Self {
            body,
            etag,
            gzip: Arc::default(),
        }
    }

    /// The gzip representation, when worth it and the client takes it.
    fn gzipped(&self, headers: &HeaderMap) -> Option<&(bytes::Bytes, HeaderValue)> {
        if self.body.len() < GZIP_FROM || !accepts_gzip(headers) {
            return None;
        }
        self.gzip
            .get_or_init(|| gzip(&self.body, &self.etag))
            .as_ref()
    }

    /// The answer to a request with `headers`: 304 without a body when its `If-None-Match`
    /// names this tag (or is `*`), else 200 with the JSON. Both say `no-cache`: a client or
    /// cache may keep the answer but must ask again (cheaply, with the tag) before reusing it.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let cache = HeaderValue::from_static("no-cache");
        let vary = HeaderValue::from_static("accept-encoding");
        let packed = self.gzipped(headers);
        let etag = packed.map_or(&self.etag, |(_, tag)| tag);
        // Either representation's tag says the client holds this content.
        let known = headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .any(|v| names(v, &self.etag) || packed.is_some_and(|(_, tag)| names(v, tag)));
        if known {
            return (
                StatusCode::NOT_MODIFIED,
                [(ETAG, etag.clone()), (CACHE_CONTROL, cache), (VARY, vary)],
            )
                .into_response();
        }
        let json = HeaderValue::from_static("application/json");
        match packed {
            Some((body, tag)) => (
                [
                    (CONTENT_TYPE, json),
                    (CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                    (ETAG, tag.clone()),
                    (CACHE_CONTROL, cache),
                    (VARY, vary),
                ],
                body.clone(),
            )
                .into_response(),
            None => (
                [
                    (CONTENT_TYPE, json),
                    (ETAG, self.etag.clone()),
                    (CACHE_CONTROL, cache),
                    (VARY, vary),
                ],
                self.body.clone(),
            )
                .into_response(),
        }
    }
}

/// Whether an `If-None-Match` value names `etag`: `*`, or a comma-separated list of tags
/// compared weakly (a `W/` prefix is ignored, as RFC 9110 section 13.1.2 says).
fn names(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    fn request(if_none_match: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = if_none_match {
            h.insert(IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[tokio::test]
    async fn tags_follow_the_bytes_and_match_as_rfc_9110_says() {
        let a = Answer::new(bytes::Bytes::from_static(b"{\"slots\":[]}"));
        let same = Answer::new(bytes::Bytes::from_static(b"{\"slots\":[]}"));
        let other = Answer::new(bytes::Bytes::from_static(b"{\"slots\":[1]}"));
        assert_eq!(a.etag, same.etag);
        assert_ne!(a.etag, other.etag);
        let tag = a.etag.to_str().unwrap().to_owned();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);

        let full = a.respond(&request(None));
        assert_eq!(full.status(), StatusCode::OK);
        assert_eq!(full.headers()[ETAG], a.etag);
        assert_eq!(full.headers()[CACHE_CONTROL], "no-cache");
        assert_eq!(
            to_bytes(full.into_body(), 1 << 20).await.unwrap(),
            a.body.clone()
        );

        for matching in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            let r = a.respond(&request(Some(&matching)));
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{matching}");
            assert_eq!(r.headers()[ETAG], a.etag);
            assert!(to_bytes(r.into_body(), 1 << 20).await.unwrap().is_empty());
        }
        let stale = a.respond(&request(Some(other.etag.to_str().unwrap())));
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn gzip_for_clients_that_take_it_under_its_own_tag() {
        let json = format!("{{\"slots\":[{}]}}", "{\"remaining\":1},".repeat(200));
        let a = Answer::new(bytes::Bytes::from(json.clone()));
        let mut h = request(None);
        h.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("br;q=1.0, gzip;q=0.8"),
        );
        let r = a.respond(&h);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[VARY], "accept-encoding");
        let tag = r.headers()[ETAG].clone();
        assert_ne!(tag, a.etag);
        let packed = to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(packed.len() * 4 < json.len());
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, json);
        // Either tag is known: 304 with the gzip representation's.
        for held in [tag.clone(), a.etag.clone()] {
            let mut again = h.clone();
            again.insert(IF_NONE_MATCH, held);
            let r = a.respond(&again);
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(r.headers()[ETAG], tag);
        }
        // Refused, absent, or a small answer: plain.
        for refusing in ["gzip;q=0", "identity", "br"] {
            let mut no = request(None);
            no.insert(ACCEPT_ENCODING, HeaderValue::from_static(refusing));
            let r = a.respond(&no);
            assert!(r.headers().get(CONTENT_ENCODING).is_none(), "{refusing}");
            assert_eq!(r.headers()[ETAG], a.etag);
        }
        let small = Answer::new(bytes::Bytes::from_static(b"{\"slots\":[]}"));
        assert!(small.respond(&h).headers().get(CONTENT_ENCODING).is_none());
    }
}

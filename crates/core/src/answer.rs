//! Serialised public answers (slot lists) with a strong validator: `ETag` on every answer,
//! `304 Not Modified` when the client's `If-None-Match` names it (issue 20, point 3).
//!
//! The tag is a digest of the bytes, not of a node's cache generation, so every node behind
//! a load balancer gives the same tag for the same answer, and a tag never outlives its
//! content (an answer that changes with time alone gets a new tag too).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// An answer's JSON bytes and their tag.
#[derive(Clone, Debug)]
pub struct Answer {
    pub body: bytes::Bytes,
    pub etag: HeaderValue,
}

impl Answer {
    pub fn new(body: bytes::Bytes) -> Self {
        let digest = Sha256::digest(&body);
        // 128 bits of the digest: a strong validator, quoted as RFC 9110 requires.
        let tag = format!("\"{}\"", hex::encode(&digest[..16]));
        let etag = HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\""));
        Self { body, etag }
    }

    /// The answer to a request with `headers`: 304 without a body when its `If-None-Match`
    /// names this tag (or is `*`), else 200 with the JSON. Both say `no-cache`: a client or
    /// cache may keep the answer but must ask again (cheaply, with the tag) before reusing it.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let cache = HeaderValue::from_static("no-cache");
        if headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .any(|v| names(v, &self.etag))
        {
            return (
                StatusCode::NOT_MODIFIED,
                [(ETAG, self.etag.clone()), (CACHE_CONTROL, cache)],
            )
                .into_response();
        }
        (
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (ETAG, self.etag.clone()),
                (CACHE_CONTROL, cache),
            ],
            self.body.clone(),
        )
            .into_response()
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
}

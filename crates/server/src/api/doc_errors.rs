//! Error answers in the OpenAPI document, applied to every operation at once so that a new
//! endpoint cannot forget them: refusals are `application/problem+json` (what the server
//! really sends), and every operation that reaches the store documents the 503 with
//! `Retry-After` that a database or network failure gives, with the other answers the
//! extractors and the front door give any operation (unreadable input, authentication,
//! throttling).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Ref, Type};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, RefOr};
use utoipa::Modify;

const PROBLEM_JSON: &str = "application/problem+json";
/// Answers that never touch the store.
const STORELESS: &[&str] = &["/healthz", "/metrics"];

pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (status, name, description) in SHARED {
            let answer = if *status == "429" || *status == "503" {
                with_retry_after(problem(description))
            } else {
                problem(description)
            };
            components
                .responses
                .insert((*name).into(), RefOr::T(answer.build()));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let path_params = path.contains('{');
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for (index, op) in ops.into_iter().enumerate() {
                let Some(op) = op else { continue };
                let post = index == 2;
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = op.request_body.is_some();
                let has_params = path_params
                    || op.parameters.as_ref().is_some_and(|p| !p.is_empty())
                    || has_body;
                for (status, answer) in op.responses.responses.iter_mut() {
                    let refusal = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(answer)) = (refusal, answer) {
                        if let Some(body) = answer.content.shift_remove("application/json") {
                            answer.content.insert(PROBLEM_JSON.into(), body);
                        }
                    }
                }
                if STORELESS.contains(&path.as_str()) {
                    continue;
                }
                let wanted = [
                    ("400", has_params),
                    ("401", secured),
                    ("403", secured),
                    ("404", path_params),
                    ("413", has_body),
                    ("415", has_body),
                    ("422", has_params),
                    ("429", secured || post),
                    ("503", true),
                ];
                for (status, want) in wanted {
                    if !want {
                        continue;
                    }
                    let name = SHARED
                        .iter()
                        .find(|(s, _, _)| *s == status)
                        .map(|(_, name, _)| *name)
                        .unwrap_or("Unavailable");
                    op.responses
                        .responses
                        .entry(status.into())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
                }
            }
        }
    }
}

/// The answers every operation may give for the same reasons, documented once.
const SHARED: &[(&str, &str, &str)] = &[
    ("400", "BadRequest", "A parameter or the body could not be read (problem type `bad-request`)."),
    ("401", "Unauthorized", "No valid bearer token (problem types `unauthenticated`, `bad-credentials`)."),
    ("403", "Forbidden", "The token's account may not do this (problem type `forbidden`)."),
    ("404", "NotFound", "No such resource visible to the caller (problem type `not-found`)."),
    ("413", "PayloadTooLarge", "The body is larger than the API accepts (problem type `too-large`)."),
    ("415", "UnsupportedMediaType", "The body is not of the documented media type (problem type `unsupported-media-type`)."),
    ("422", "Unprocessable", "A field is invalid; `detail` names it (problem type `invalid-field`)."),
    ("429", "TooManyRequests", "Too many attempts or the waiting room is full; retry after the given delay (problem types `too-many-attempts`, `authentication-busy`, `queue-required`)."),
    ("503", "Unavailable", "The database, the key service or the network failed; nothing was lost. Retry after the given delay, with the same Idempotency-Key for writes (problem types `unavailable`, `retry-with-same-key`)."),
];

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    )
}

fn with_retry_after(answer: ResponseBuilder) -> ResponseBuilder {
    answer.header(
        "Retry-After",
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer))
            .description(Some("seconds to wait before retrying"))
            .build(),
    )
}

//! Error answers in the OpenAPI document, applied to every operation at once so that a new
//! endpoint cannot forget them: refusals are `application/problem+json` (what the server
//! really sends), and every operation that reaches the store documents the 503 with
//! `Retry-After` that a database or network failure gives.

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
        components
            .responses
            .insert("Unavailable".into(), RefOr::T(unavailable()));
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for (status, answer) in op.responses.responses.iter_mut() {
                    let refusal = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(answer)) = (refusal, answer) {
                        if let Some(body) = answer.content.shift_remove("application/json") {
                            answer.content.insert(PROBLEM_JSON.into(), body);
                        }
                    }
                }
                if !STORELESS.contains(&path.as_str()) {
                    op.responses
                        .responses
                        .entry("503".into())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unavailable")));
                }
            }
        }
    }
}

fn unavailable() -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(
            "The database, the key service or the network failed; nothing was lost. Retry after \
             the given delay, with the same Idempotency-Key for writes (problem type \
             `unavailable` or `retry-with-same-key`).",
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("seconds to wait before retrying"))
                .build(),
        )
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

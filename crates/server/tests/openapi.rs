//! The OpenAPI document is one integrators can generate clients from: it validates against
//! the OpenAPI 3.1 schema (python's `openapi-spec-validator`, the reference validator),
//! operationIds are unique, refusals are documented as problem+json, and every operation
//! that reaches the store documents its 503.

mod common;

use common::{start, Backend};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const HINT: &str = "the OpenAPI test needs python3 with openapi-spec-validator: \
                    run scripts/install-test-deps (or pip install openapi-spec-validator)";

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths").iter() {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("responses").is_some() {
                ops.push((method.clone(), path.clone(), op));
            }
        }
    }
    ops
}

#[tokio::test]
async fn openapi_document_validates() {
    let (srv, _loc) = start(Backend::Sqlite).await;
    let (s, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let ops = operations(&doc);
    assert!(ops.len() > 50, "only {} operations", ops.len());

    // Unique operationIds (a generated client has one method per operation).
    let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (method, path, op) in &ops {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        ids.entry(id).or_default().push(format!("{method} {path}"));
    }
    let dups: Vec<_> = ids.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(
        dups.is_empty(),
        "operationIds used more than once: {dups:?}"
    );

    // Refusals are problem+json, and the store's failure is documented with Retry-After.
    for (method, path, op) in &ops {
        for (status, answer) in op["responses"].as_object().expect("responses") {
            if status.starts_with('4') || status.starts_with('5') {
                if let Some(content) = answer.get("content").and_then(Value::as_object) {
                    assert!(
                        !content.contains_key("application/json"),
                        "{method} {path} {status}: a refusal documented as application/json"
                    );
                }
            }
        }
        if path != "/healthz" && path != "/metrics" {
            assert!(
                op["responses"].get("503").is_some(),
                "{method} {path}: no 503 documented"
            );
        }
    }
    let unavailable = &doc["components"]["responses"]["Unavailable"];
    assert!(
        unavailable["headers"]["Retry-After"].is_object(),
        "{unavailable}"
    );

    // The reference validator, on the document as served.
    let file = std::env::temp_dir().join(format!("careslot-openapi-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))\n\
             print('valid')",
        ])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("No module named"), "{HINT}: {stderr}");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "valid",
        "the OpenAPI document does not validate:\n{stderr}"
    );
}

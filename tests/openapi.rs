//! The OpenAPI document as the server serves it (`/api/v1/openapi.json`), checked the way a
//! client generator would meet it: a standard OpenAPI 3.1 validator (the `openapi-spec-validator`
//! package, run as `python3 -m openapi_spec_validator`; `./test.sh` installs it with pip) must
//! accept it, every parameter must be where the route takes it, and the streams must document
//! their events. Without python3 or the package the validator step prints `SKIPPED` and why; the
//! other checks always run.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use serde_json::Value;

/// Resolve a local `$ref` (`#/components/schemas/X`) against `doc`; any other value as is.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
            doc.pointer(pointer).unwrap_or_else(|| panic!("$ref {r} resolves to nothing"))
        }
        None => v,
    }
}

/// The `event` names a stream's schema documents (a `oneOf` of objects tagged by `event`).
fn stream_events(doc: &Value, path: &str, method: &str) -> BTreeSet<String> {
    let content = &doc["paths"][path][method]["responses"]["200"]["content"]["text/event-stream"];
    assert!(content.is_object(), "{method} {path}: no text/event-stream response");
    let schema = resolve(doc, &content["schema"]);
    let variants = schema["oneOf"].as_array().unwrap_or_else(|| panic!("{method} {path}: the event schema is not a oneOf: {schema}"));
    variants
        .iter()
        .map(|v| {
            let v = resolve(doc, v);
            // A tagged variant: `event` is an enum of one name (possibly inside an allOf).
            let props = v
                .get("properties")
                .or_else(|| v["allOf"].as_array().and_then(|a| a.iter().find_map(|p| resolve(doc, p).get("properties"))));
            let tag = props
                .and_then(|p| p["event"]["enum"][0].as_str())
                .unwrap_or_else(|| panic!("{method} {path}: a variant without its event name: {v}"));
            tag.to_string()
        })
        .collect()
}

/// The validator's verdict on `file`: Ok(output) when valid, Err(output) when not, None when
/// it cannot run here (the reason printed as `SKIPPED`).
fn validate(file: &std::path::Path) -> Option<Result<String, String>> {
    match Command::new("python3").args(["-c", "import openapi_spec_validator"]).output() {
        Err(e) => {
            eprintln!("SKIPPED: the OpenAPI validator step: python3 cannot run ({e})");
            return None;
        }
        Ok(o) if !o.status.success() => {
            eprintln!(
                "SKIPPED: the OpenAPI validator step: python3 has no openapi_spec_validator (`python3 -m pip install --user openapi-spec-validator`; ./test.sh does): {}",
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default()
            );
            return None;
        }
        Ok(_) => {}
    }
    let run = |all: bool| {
        let mut c = Command::new("python3");
        c.args(["-m", "openapi_spec_validator", "--schema", "3.1"]);
        if all {
            c.args(["--validation-errors", "all"]);
        }
        let o = c.arg(file).output().expect("running python3");
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    // `--validation-errors all` lists every error; versions before 0.8 do not know the flag.
    let (mut ok, mut out) = run(true);
    if !ok && out.contains("unrecognized arguments") {
        (ok, out) = run(false);
    }
    Some(if ok { Ok(out) } else { Err(out) })
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1_with_parameters_where_the_routes_take_them() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let server = Server::start(dir.path(), None, &[]);
    let r = client().get(format!("{}/api/v1/openapi.json", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);

    // Every `{name}` in a template is a declared, required path parameter; nothing else is in: path.
    let mut problems = Vec::new();
    let mut operation_ids = BTreeSet::new();
    let mut n_query = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let template: BTreeSet<&str> = path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            if !operation_ids.insert(id.clone()) {
                problems.push(format!("{method} {path}: operationId {id:?} is not unique"));
            }
            let mut declared = BTreeSet::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let p = resolve(&doc, p);
                let name = p["name"].as_str().unwrap_or_default();
                match p["in"].as_str().unwrap_or_default() {
                    "path" if !template.contains(name) => {
                        problems.push(format!("{method} {path}: `{name}` is in: path but not in the template"))
                    }
                    "path" if p["required"] != true => problems.push(format!("{method} {path}: path parameter `{name}` is not required")),
                    "path" => {
                        declared.insert(name);
                    }
                    "query" => n_query += 1,
                    other => problems.push(format!("{method} {path}: `{name}` in {other:?}")),
                }
            }
            for missing in template.difference(&declared) {
                problems.push(format!("{method} {path}: `{{{missing}}}` is not declared"));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(n_query >= 19, "the query filters are declared as query parameters ({n_query})");
    let items = &doc["paths"]["/api/v1/items"]["get"]["parameters"];
    let limit = items.as_array().unwrap().iter().find(|p| p["name"] == "limit").expect("limit on /items");
    assert_eq!((limit["in"].as_str(), limit["required"].as_bool().unwrap_or(false)), (Some("query"), false), "{limit}");

    // The answer stream documents every event of the streaming contract (README); the live
    // streams document theirs.
    let events = stream_events(&doc, "/api/v1/sessions/{id}/messages", "post");
    for e in [
        "message",
        "status",
        "sources",
        "token",
        "citations",
        "settled",
        "replace",
        "withdraw",
        "clarify",
        "decline",
        "handoff",
        "ticket",
        "done",
        "error",
    ] {
        assert!(events.contains(e), "the answer stream's schema lacks `{e}`: {events:?}");
    }
    for (path, name) in [("/api/v1/sessions/{id}/events", "CitizenEvent"), ("/api/v1/agent/events", "AgentEvent")] {
        let content = &doc["paths"][path]["get"]["responses"]["200"]["content"]["text/event-stream"];
        assert_eq!(content["schema"]["$ref"], format!("#/components/schemas/{name}"), "{path}");
        assert!(resolve(&doc, &content["schema"]).is_object(), "{path}: {name} is in components");
    }

    // A standard validator's verdict on the document exactly as served.
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &body).unwrap();
    match validate(&file) {
        None => {}
        Some(Ok(out)) => eprintln!("openapi-spec-validator: {}", out.trim()),
        Some(Err(out)) => panic!("openapi-spec-validator rejects the served document:\n{out}"),
    }
}

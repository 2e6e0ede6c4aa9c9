//! The published documents (public and admin) are the server's own contract, operation by
//! operation:
//!
//! - every schema an operation refers to (`$ref`, followed through the components) is the
//!   schema of exactly one Rust type: the generator keeps one schema per name, so two types
//!   under one name (as the TOTP and the email confirmations' `ConfirmBody` once were) would
//!   silently publish one of them for both;
//! - every operation id is one operation's (generated clients name functions and models after
//!   them, one per name);
//! - every JSON request body the document describes is what the handler deserialises: a body
//!   with exactly the schema's properties, and one with only its required properties, are
//!   never refused as `invalid_body` (unknown, missing or mistyped field) or `malformed_json`.
//!   Values are of the schema's types but need not pass the business rules: the handler may
//!   refuse them afterwards (422, 403, 404...), which is fine, the body was read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::admin::{OPS_TOKEN, spawn_admin_app};
use crate::helpers::*;

/// Every type of the crate that derives `ToSchema`, by the schema name it takes (`#[schema(as
/// = ...)]` or its own name): file and type name.
fn schema_types() -> BTreeMap<String, Vec<String>> {
    let mut found = BTreeMap::<String, Vec<String>>::new();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let relative = file.strip_prefix(&src).unwrap().display().to_string();
        for (name, ident) in to_schema_types(&text) {
            found
                .entry(name)
                .or_default()
                .push(format!("{relative}: {ident}"));
        }
    }
    found
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The attributes (joined, whitespace squeezed) and items of `text`, in order: each
/// `#[...]` attribute as one entry, and each line that is not an attribute or a comment.
fn attributes_and_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[") {
            let mut attribute = trimmed.to_owned();
            let depth = |s: &str| {
                s.chars().fold(0i32, |d, c| match c {
                    '[' | '(' | '{' => d + 1,
                    ']' | ')' | '}' => d - 1,
                    _ => d,
                })
            };
            while depth(&attribute) > 0 {
                match lines.next() {
                    Some(next) => {
                        attribute.push(' ');
                        attribute.push_str(next.trim());
                    }
                    None => break,
                }
            }
            out.push(attribute);
        } else {
            out.push(trimmed.to_owned());
        }
    }
    out
}

/// The `(schema name, type name)` of every `#[derive(..., ToSchema, ...)]` in `text`.
fn to_schema_types(text: &str) -> Vec<(String, String)> {
    let items = attributes_and_lines(text);
    let mut found = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let is_derive = item.starts_with("#[derive(")
            && item
                .trim_start_matches("#[derive(")
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .any(|d| d == "ToSchema" || d.ends_with("::ToSchema"));
        if !is_derive {
            continue;
        }
        let mut renamed = None;
        for next in &items[i + 1..] {
            if next.starts_with("#[") {
                if let Some(rest) = next.strip_prefix("#[schema(")
                    && let Some(at) = rest.find("as = ")
                {
                    let path: String = rest[at + 5..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    renamed = Some(path.replace("::", "."));
                }
                continue;
            }
            let words: Vec<&str> = next
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            let Some(at) = words.iter().position(|w| *w == "struct" || *w == "enum") else {
                panic!("a ToSchema derive not followed by a struct or enum: {next}");
            };
            let ident = words[at + 1].to_owned();
            found.push((renamed.unwrap_or_else(|| ident.clone()), ident));
            break;
        }
    }
    found
}

#[test]
fn the_scan_reads_renames_and_macro_bodies() {
    let text = "#[derive(Deserialize, ToSchema)]\n#[serde(deny_unknown_fields)]\n\
                #[schema(as = ResetConfirmBody)]\npub struct ConfirmBody {\n    token: String,\n}\n\
                with_second_factor! {\n    #[derive(\n        Deserialize,\n        utoipa::ToSchema,\n    )]\n\
                /// Doc.\n    #[schema(example = json!({ \"a\": [1] }))]\n    pub struct MfaLoginBody {}\n}\n\
                #[derive(Serialize)]\nstruct NotASchema;\n";
    assert_eq!(
        to_schema_types(text),
        [
            ("ResetConfirmBody".to_owned(), "ConfirmBody".to_owned()),
            ("MfaLoginBody".to_owned(), "MfaLoginBody".to_owned()),
        ]
    );
}

/// The component names `value` refers to, directly.
fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("a $ref outside the schemas: {r}"));
                out.insert(name.to_owned());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Every `(label, operation)` of a document, `METHOD /path`.
fn operations(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((
                    format!("{} {path}", method.to_uppercase()),
                    operation.clone(),
                ));
            }
        }
    }
    out
}

/// Problems with the schema names of `doc`'s operations: a name that two Rust types take, or
/// that none does.
fn schema_name_problems(doc: &Value, types: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let schemas = &doc["components"]["schemas"];
    let mut problems = Vec::new();
    for (label, operation) in operations(doc) {
        let mut names = BTreeSet::new();
        refs(&operation, &mut names);
        // Followed through the components.
        let mut todo: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = todo.pop() {
            let mut more = BTreeSet::new();
            refs(&schemas[&name], &mut more);
            for n in more {
                if names.insert(n.clone()) {
                    todo.push(n);
                }
            }
        }
        for name in names {
            match types.get(&name).map(Vec::as_slice) {
                Some([_]) => {}
                Some(many) => problems.push(format!(
                    "{label}: schema `{name}` is taken by {} Rust types ({}): the document \
                     publishes one of them for all; give each its own name with \
                     #[schema(as = ...)]",
                    many.len(),
                    many.join(", ")
                )),
                None => problems.push(format!(
                    "{label}: schema `{name}` is the name of no ToSchema type under src/"
                )),
            }
        }
    }
    problems
}

/// Operation ids that more than one operation of `doc` takes: generators name a client's
/// functions and models after them, and keep one per name. The forward-auth check is one
/// operation answered alike for every method (the ingress forwards any), documented under each
/// method with one annotation: the one exception.
fn duplicate_operation_ids(doc: &Value) -> Vec<String> {
    let mut by_id = BTreeMap::<String, Vec<String>>::new();
    for (label, operation) in operations(doc) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        by_id.entry(id).or_default().push(label);
    }
    by_id
        .into_iter()
        .filter(|(id, labels)| labels.len() > 1 && id != "auth_check")
        .map(|(id, labels)| format!("operationId `{id}` of {}", labels.join(", ")))
        .collect()
}

/// A value of `schema`'s type (the first non-null one), its example when it has one.
fn sample(schema: &Value, schemas: &Value) -> Value {
    if let Some(Value::String(r)) = schema.get("$ref") {
        let name = r.trim_start_matches("#/components/schemas/");
        return sample(&schemas[name], schemas);
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(Value::Array(values)) = schema.get("enum")
        && let Some(first) = values.iter().find(|v| !v.is_null())
    {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(options)) = schema.get(key)
            && let Some(option) = options
                .iter()
                .find(|o| o.get("type") != Some(&json!("null")) && o.get("$ref").is_some())
        {
            return sample(option, schemas);
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null")
            .to_owned(),
        _ => "object".to_owned(),
    };
    match kind.as_str() {
        "string" => match schema["format"].as_str() {
            Some("email") => json!(unique_email()),
            Some("uuid") => json!(uuid::Uuid::new_v4().to_string()),
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            _ => {
                let min = schema["minLength"].as_u64().unwrap_or(1).max(1);
                json!("a".repeat(usize::try_from(min).unwrap()))
            }
        },
        "integer" | "number" => json!(schema["minimum"].as_i64().unwrap_or(1)),
        "boolean" => json!(true),
        "array" => json!([]),
        "null" => Value::Null,
        _ => {
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    object.insert(name.clone(), sample(property, schemas));
                }
            }
            Value::Object(object)
        }
    }
}

/// The JSON request body schema of `operation`, followed through `$ref`.
fn body_schema<'a>(operation: &'a Value, schemas: &'a Value) -> Option<(String, &'a Value)> {
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return None;
    }
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            Some((name.to_owned(), &schemas[name]))
        }
        None => Some(("(inline)".to_owned(), schema)),
    }
}

/// Sends each operation of `doc` that takes a JSON body twice, with exactly the schema's
/// properties and with only the required ones, and reports those the server refuses as an
/// unreadable body, or that never reach the body (`unauthorized`: the probe would prove
/// nothing).
async fn body_problems(
    app: &TestApp,
    base: &str,
    doc: &Value,
    token: &str,
    path_values: &BTreeMap<&str, String>,
) -> Vec<String> {
    let schemas = &doc["components"]["schemas"];
    let mut problems = Vec::new();
    for (label, operation) in operations(doc) {
        let Some((name, schema)) = body_schema(&operation, schemas) else {
            continue;
        };
        let (method, path) = label.split_once(' ').unwrap();
        let mut url = format!("{base}{path}");
        for (param, value) in path_values {
            url = url.replace(&format!("{{{param}}}"), value);
        }
        assert!(!url.contains('{'), "{label}: no value for a path parameter");
        let full = sample(schema, schemas);
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut minimal = full.clone();
        if let Some(object) = minimal.as_object_mut() {
            object.retain(|k, _| required.contains(k.as_str()));
        }
        for (what, body) in [
            ("every property", full),
            ("the required properties", minimal),
        ] {
            let response = app
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let code = answer["code"].as_str().unwrap_or_default();
            // `unauthorized`: the probe's credentials were refused before the body was read.
            if [
                "invalid_body",
                "malformed_json",
                "unsupported_media_type",
                "unauthorized",
            ]
            .contains(&code)
            {
                problems.push(format!(
                    "{label}: a body with {what} of its schema `{name}` ({body}) is refused: \
                     {status} {code}: {}",
                    answer["detail"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    problems
}

async fn public_document(app: &TestApp) -> Value {
    let url = format!("{}/openapi.json", app.base);
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_schema_name_and_operation_id_of_both_documents_is_one() {
    let app = spawn_admin_app().await;
    let types = schema_types();
    let public = public_document(&app).await;
    let admin = app.admin_json(Method::GET, "/admin/openapi.json").await;
    let mut problems = schema_name_problems(&public, &types);
    problems.extend(duplicate_operation_ids(&public));
    problems.extend(
        schema_name_problems(&admin, &types)
            .into_iter()
            .chain(duplicate_operation_ids(&admin))
            .map(|p| format!("admin {p}")),
    );
    assert!(
        problems.is_empty(),
        "schema names or operation ids that are not one's:\n{}",
        problems.join("\n")
    );
    app.finish().await;
}

#[tokio::test]
async fn every_documented_request_body_is_what_the_handler_reads() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    // The admin operations act on another user, so the public session lives on.
    let other = app.verified_user().await;
    let other_token = app.session(&other, PASSWORD).await;
    let user_id = app.user_id_of(&other_token).await;
    let public = public_document(&app).await;
    let admin = app.admin_json(Method::GET, "/admin/openapi.json").await;
    let ids = BTreeMap::from([
        ("id", uuid::Uuid::new_v4().to_string()),
        ("session_id", uuid::Uuid::new_v4().to_string()),
    ]);
    let mut problems = body_problems(&app, &app.base, &public, &token, &ids).await;
    let ids = BTreeMap::from([
        ("id", user_id),
        ("session_id", uuid::Uuid::new_v4().to_string()),
    ]);
    problems.extend(
        body_problems(&app, &app.admin_api, &admin, OPS_TOKEN, &ids)
            .await
            .into_iter()
            .map(|p| format!("admin {p}")),
    );
    assert!(
        problems.is_empty(),
        "documented bodies the handlers do not read:\n{}",
        problems.join("\n")
    );
    app.finish().await;
}

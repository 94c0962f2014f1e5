//! The OpenAPI document, `docs/openapi.yaml`, as a test oracle.
//!
//! [`validate_document`] checks the document itself: against the OpenAPI
//! Initiative's 3.1 meta-schema (vendored under `tests/openapi/`, so the check
//! runs offline) and against what that schema cannot say (local references
//! resolve, path parameters match their templates, operation ids are unique,
//! every schema is valid JSON Schema 2020-12).
//!
//! [`assert_conforms`] checks a live response: the path must match a
//! documented template, the method an operation of it (or the path item's
//! `x-method-not-allowed`, for a 405), the status a documented response; the
//! response's required headers must be there and match their schemas, and the
//! body must match the schema of its media type. Anything undocumented fails.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use jsonschema::{Draft, Registry};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::workspace;

/// Where the document is registered for `$ref` resolution; never fetched.
const DOCUMENT_URI: &str = "https://sales-api.test/openapi.json";
const OAS_SCHEMA_FILE: &str = "tests/openapi/oas-3.1-schema-2022-10-07.json";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `docs/openapi.yaml` as JSON, read once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = workspace().join("docs/openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
    })
}

/// Every problem with `docs/openapi.yaml`; empty when it is valid.
pub fn validate_document() -> Vec<String> {
    document_problems(document())
}

/// Every problem with `document` as an OpenAPI 3.1 document.
pub fn document_problems(document: &Value) -> Vec<String> {
    let mut problems = meta_schema_problems(document);
    problems.extend(reference_problems(document));
    problems.extend(path_parameter_problems(document));
    problems.extend(operation_id_problems(document));
    problems.extend(schema_problems(document));
    problems.extend(method_not_allowed_problems(document));
    problems
}

fn meta_schema_problems(document: &Value) -> Vec<String> {
    let path = workspace().join(OAS_SCHEMA_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the meta-schema is JSON");
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(&schema)
        .expect("the OpenAPI meta-schema compiles");
    validator
        .iter_errors(document)
        .map(|e| format!("meta-schema: at {:?}: {e}", e.instance_path().to_string()))
        .collect()
}

/// Every `$ref` is local and points at something.
fn reference_problems(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    walk(document, "", &mut |pointer, value| {
        if let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            match reference.strip_prefix('#') {
                Some(target) if document.pointer(target).is_some() => {}
                _ => problems.push(format!("{pointer}: $ref {reference:?} does not resolve")),
            }
        }
    });
    problems
}

/// Each `{name}` in a path template is a required path parameter of every
/// operation, and no operation declares a path parameter the template lacks.
fn path_parameter_problems(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (template, item) in object(&document["paths"]) {
        let in_template: BTreeSet<String> = template
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let mut declared = BTreeSet::new();
            for list in [&item["parameters"], &operation["parameters"]] {
                for parameter in list.as_array().into_iter().flatten() {
                    let (_, parameter) = resolve(document, "", parameter);
                    if parameter["in"] == "path" {
                        if parameter["required"] != true {
                            problems.push(format!(
                                "{method} {template}: path parameter {} is not required",
                                parameter["name"]
                            ));
                        }
                        declared.insert(parameter["name"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
            if declared != in_template {
                problems.push(format!(
                    "{method} {template}: path parameters {declared:?}, template has {in_template:?}"
                ));
            }
        }
    }
    problems
}

fn operation_id_problems(document: &Value) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for (template, item) in object(&document["paths"]) {
        for method in METHODS {
            match item.get(method).map(|op| op["operationId"].as_str()) {
                None => {}
                Some(None) => problems.push(format!("{method} {template}: no operationId")),
                Some(Some(id)) if !seen.insert(id) => problems.push(format!(
                    "{method} {template}: operationId {id:?} is not unique"
                )),
                Some(Some(_)) => {}
            }
        }
    }
    problems
}

/// Every schema (the components' and every `schema` of a parameter, header or
/// media type) is valid JSON Schema 2020-12, and its references compile.
fn schema_problems(document: &Value) -> Vec<String> {
    let mut pointers: Vec<String> = object(&document["components"]["schemas"])
        .keys()
        .map(|name| format!("/components/schemas/{}", escape(name)))
        .collect();
    walk(document, "", &mut |pointer, value| {
        if value.get("schema").is_some() && !pointer.starts_with("/components/schemas") {
            pointers.push(format!("{pointer}/schema"));
        }
    });
    let meta = jsonschema::draft202012::meta::validator();
    let registry = document_registry(document);
    let mut problems = Vec::new();
    for pointer in pointers {
        let schema = document
            .pointer(&pointer)
            .expect("collected from the document");
        problems.extend(
            meta.iter_errors(schema)
                .map(|e| format!("{pointer}: not JSON Schema 2020-12: {e}")),
        );
        if let Err(e) = validator_at(&registry, &pointer) {
            problems.push(format!("{pointer}: does not compile: {e}"));
        }
    }
    problems
}

/// `x-method-not-allowed` (this document's way to describe the 405 that the
/// components answer for any method a path does not list) names the methods
/// the path has and a response.
fn method_not_allowed_problems(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (template, item) in object(&document["paths"]) {
        let Some(extension) = item.get("x-method-not-allowed") else {
            continue;
        };
        let listed: Vec<String> = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        if extension["allow"] != listed.join(", ") {
            problems.push(format!(
                "{template}: x-method-not-allowed.allow {} is not the path's methods {listed:?}",
                extension["allow"]
            ));
        }
        if extension.get("response").is_none() {
            problems.push(format!("{template}: x-method-not-allowed has no response"));
        }
    }
    problems
}

/// Panics, saying why, unless the response is one the document describes.
pub fn assert_conforms(method: &str, path: &str, status: u16, headers: &HeaderMap, body: &[u8]) {
    if let Err(problem) = check_conforms(method, path, status, headers, body) {
        panic!(
            "{method} {path} -> {status} does not conform to docs/openapi.yaml: {problem}\nbody: {}",
            String::from_utf8_lossy(&body[..body.len().min(2000)])
        );
    }
}

/// Why the response is not one the document describes, if it is not.
pub fn check_conforms(
    method: &str,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let document = document();
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let template = match_template(document, path)
        .ok_or_else(|| format!("no path of the document matches {path:?}"))?;
    let item_pointer = format!("/paths/{}", escape(&template));
    let item = &document["paths"][&template];
    let method = method.to_ascii_lowercase();

    let response = if item.get(&method).is_some() {
        let responses = format!("{item_pointer}/{method}/responses");
        let code = status.to_string();
        let range = format!("{}XX", status / 100);
        [code, range]
            .iter()
            .find(|key| document.pointer(&format!("{responses}/{key}")).is_some())
            .map(|key| format!("{responses}/{key}"))
            .ok_or_else(|| {
                format!("{status} is not a documented response of {method} {template}")
            })?
    } else {
        let extension = item.get("x-method-not-allowed").ok_or_else(|| {
            format!("{method} is not an operation of {template} (and no 405 is documented)")
        })?;
        if status != 405 {
            return Err(format!(
                "{method} is not an operation of {template}: only 405 is documented"
            ));
        }
        let allow = header(headers, "allow").unwrap_or_default();
        if extension["allow"] != allow {
            return Err(format!(
                "allow is {allow:?}, documented {}",
                extension["allow"]
            ));
        }
        format!("{item_pointer}/x-method-not-allowed/response")
    };
    let value = document.pointer(&response).expect("found above");
    let (response_pointer, _) = resolve(document, &response, value);
    check_response(document, &response_pointer, headers, body)
}

fn check_response(
    document: &Value,
    pointer: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let response = document.pointer(pointer).expect("resolved");
    let registry = document_registry(document);
    for (name, declared) in object(&response["headers"]) {
        let (header_pointer, declared) = resolve(
            document,
            &format!("{pointer}/headers/{}", escape(name)),
            declared,
        );
        match header(headers, name) {
            None if declared["required"] == true => {
                return Err(format!("required header {name:?} is missing"))
            }
            Some(value) if declared.get("schema").is_some() => {
                validate(
                    &registry,
                    &format!("{header_pointer}/schema"),
                    &json!(value),
                )
                .map_err(|e| format!("header {name}: {value:?}: {e}"))?;
            }
            None | Some(_) => {}
        }
    }

    let Some(content) = response.get("content") else {
        return if body.is_empty() {
            Ok(())
        } else {
            Err("the documented response has no body, but one was sent".to_owned())
        };
    };
    let content_type = header(headers, "content-type")
        .ok_or_else(|| "no content-type for a documented body".to_owned())?;
    let media = object(content)
        .keys()
        .find(|documented| media_type_matches(documented, content_type))
        .ok_or_else(|| {
            format!(
                "content-type {content_type:?} is not one of {:?}",
                object(content).keys().collect::<Vec<_>>()
            )
        })?;
    let schema = format!("{pointer}/content/{}/schema", escape(media));
    if document.pointer(&schema).is_none() {
        return Ok(());
    }
    let essence = media.split(';').next().unwrap_or_default().trim();
    let instance = if essence == "application/json" || essence.ends_with("+json") {
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?
    } else {
        Value::String(
            String::from_utf8(body.to_vec()).map_err(|_| "the body is not UTF-8".to_owned())?,
        )
    };
    validate(&registry, &schema, &instance).map_err(|e| format!("body: {e}"))
}

/// The document's path template that `path` matches; a literal segment beats a
/// `{parameter}` (OpenAPI: concrete paths match before templated ones).
fn match_template(document: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    object(&document["paths"])
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') && part.ends_with('}') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template.clone()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template)
}

/// Whether a response's `content-type` is the documented media type: the same
/// type and subtype, and every parameter the document names with its value.
fn media_type_matches(documented: &str, actual: &str) -> bool {
    fn parse(media: &str) -> (String, BTreeSet<String>) {
        let mut parts = media.split(';').map(|p| p.trim().to_ascii_lowercase());
        let essence = parts.next().unwrap_or_default();
        (essence, parts.filter(|p| !p.is_empty()).collect())
    }
    let (documented_essence, documented_parameters) = parse(documented);
    let (actual_essence, actual_parameters) = parse(actual);
    documented_essence == actual_essence && documented_parameters.is_subset(&actual_parameters)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The document registered as a JSON Schema 2020-12 resource, so that a
/// schema anywhere in it is reached by pointer and its `#/components/...`
/// references resolve.
fn document_registry(document: &Value) -> Registry<'static> {
    Registry::new()
        .add(
            DOCUMENT_URI,
            Draft::Draft202012.create_resource(document.clone()),
        )
        .and_then(|builder| builder.prepare())
        .expect("the document is a valid registry resource")
}

fn validator_at(registry: &Registry<'_>, pointer: &str) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(registry)
        .should_validate_formats(true)
        .build(&json!({ "$ref": format!("{DOCUMENT_URI}#{}", uri_fragment(pointer)) }))
        .map_err(|e| e.to_string())
}

/// Validates `instance` against the schema at `pointer`, with formats
/// (`uuid`, `date-time`) asserted.
fn validate(registry: &Registry<'_>, pointer: &str, instance: &Value) -> Result<(), String> {
    let validator = validator_at(registry, pointer)?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("at {:?}: {e}", e.instance_path().to_string()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Follows `$ref`s from `value` (found at `pointer`) to what they name.
fn resolve<'a>(document: &'a Value, pointer: &str, value: &'a Value) -> (String, &'a Value) {
    let (mut pointer, mut value) = (pointer.to_owned(), value);
    for _ in 0..16 {
        let Some(target) = value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        else {
            break;
        };
        pointer = target.to_owned();
        value = document
            .pointer(target)
            .unwrap_or_else(|| panic!("$ref #{target} does not resolve"));
    }
    (pointer, value)
}

/// Calls `visit` with every object in `value` and its JSON pointer.
fn walk(value: &Value, pointer: &str, visit: &mut dyn FnMut(&str, &Value)) {
    match value {
        Value::Object(map) => {
            visit(pointer, value);
            for (key, child) in map {
                walk(child, &format!("{pointer}/{}", escape(key)), visit);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, &format!("{pointer}/{index}"), visit);
            }
        }
        _ => {}
    }
}

fn object(value: &Value) -> &serde_json::Map<String, Value> {
    static EMPTY: OnceLock<serde_json::Map<String, Value>> = OnceLock::new();
    value
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(serde_json::Map::new))
}

/// A JSON pointer as a URI fragment: percent-encoded outside RFC 3986's
/// fragment characters (`{id}`, media type parameters).
fn uri_fragment(pointer: &str) -> String {
    pointer
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A JSON pointer segment (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_segment_beats_a_template() {
        let document = json!({"paths": {"/a/{id}": {}, "/a/b": {}, "/c": {}}});
        assert_eq!(match_template(&document, "/a/b").as_deref(), Some("/a/b"));
        assert_eq!(
            match_template(&document, "/a/x").as_deref(),
            Some("/a/{id}")
        );
        assert_eq!(match_template(&document, "/a/"), None);
        assert_eq!(match_template(&document, "/a/b/c"), None);
    }

    #[test]
    fn media_types_match_on_essence_and_documented_parameters() {
        assert!(media_type_matches("application/json", "application/json"));
        assert!(media_type_matches(
            "application/json",
            "Application/JSON; charset=utf-8"
        ));
        assert!(media_type_matches(
            "text/plain; version=0.0.4",
            "text/plain; version=0.0.4; charset=utf-8"
        ));
        assert!(!media_type_matches(
            "text/plain; version=0.0.4",
            "text/plain"
        ));
        assert!(!media_type_matches("application/json", "text/plain"));
    }
}

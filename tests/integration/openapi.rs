//! The generated OpenAPI document: valid OpenAPI 3, every route documented with the security
//! scheme, and a snapshot that catches accidental changes (`UPDATE_SNAPSHOTS=1` rewrites it).

use serde_json::Value;

use crate::support::*;

/// Every `/api/v1` operation of rest-api.md (method, path as poem-openapi writes it).
const API_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("put", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("get", "/api/v1/users/profile"),
    ("get", "/api/v1/users/organizations"),
    ("get", "/api/v1/users/search_by_email"),
    ("get", "/api/v1/practitioners"),
    ("post", "/api/v1/practitioners"),
    ("get", "/api/v1/practitioners/{id}"),
    ("put", "/api/v1/practitioners/{id}"),
    ("patch", "/api/v1/practitioners/{id}"),
    ("delete", "/api/v1/practitioners/{id}"),
    ("get", "/api/v1/organizations"),
    ("post", "/api/v1/organizations"),
    ("get", "/api/v1/organizations/types"),
    ("get", "/api/v1/organizations/{id}"),
    ("put", "/api/v1/organizations/{id}"),
    ("patch", "/api/v1/organizations/{id}"),
    ("delete", "/api/v1/organizations/{id}"),
    ("get", "/api/v1/organizations/{id}/tree"),
    ("get", "/api/v1/organizations/{id}/users"),
    ("post", "/api/v1/organizations/{id}/user"),
    ("delete", "/api/v1/organizations/{id}/remove_user"),
    ("get", "/api/v1/organizations/{id}/studies"),
    ("get", "/api/v1/patients"),
    ("post", "/api/v1/patients"),
    ("get", "/api/v1/patients/global_lookup"),
    ("get", "/api/v1/patients/{id}"),
    ("put", "/api/v1/patients/{id}"),
    ("patch", "/api/v1/patients/{id}"),
    ("delete", "/api/v1/patients/{id}"),
    ("patch", "/api/v1/patients/{id}/global_add_organization"),
    ("get", "/api/v1/patients/{id}/consents"),
    ("post", "/api/v1/patients/{id}/consents"),
    ("patch", "/api/v1/patients/{id}/consents"),
    ("delete", "/api/v1/patients/{id}/consents"),
    ("get", "/api/v1/patients/{id}/consolidated_clients"),
    ("get", "/api/v1/patients/{id}/invitation_link"),
    ("get", "/api/v1/studies"),
    ("post", "/api/v1/studies"),
    ("get", "/api/v1/studies/{id}"),
    ("put", "/api/v1/studies/{id}"),
    ("patch", "/api/v1/studies/{id}"),
    ("delete", "/api/v1/studies/{id}"),
    ("get", "/api/v1/studies/{id}/patients"),
    ("post", "/api/v1/studies/{id}/patients"),
    ("delete", "/api/v1/studies/{id}/patients"),
    ("get", "/api/v1/studies/{id}/scope_requests"),
    ("post", "/api/v1/studies/{id}/scope_requests"),
    ("delete", "/api/v1/studies/{id}/scope_requests"),
    ("get", "/api/v1/studies/{id}/clients"),
    ("post", "/api/v1/studies/{id}/clients"),
    ("delete", "/api/v1/studies/{id}/clients"),
    ("get", "/api/v1/studies/{id}/data_sources"),
    ("post", "/api/v1/studies/{id}/data_sources"),
    ("delete", "/api/v1/studies/{id}/data_sources"),
    ("get", "/api/v1/observations"),
    ("get", "/api/v1/data_sources"),
    ("post", "/api/v1/data_sources"),
    ("get", "/api/v1/data_sources/all_scopes"),
    ("get", "/api/v1/data_sources/{id}"),
    ("put", "/api/v1/data_sources/{id}"),
    ("patch", "/api/v1/data_sources/{id}"),
    ("delete", "/api/v1/data_sources/{id}"),
    ("get", "/api/v1/data_sources/{id}/supported_scopes"),
    ("post", "/api/v1/data_sources/{id}/supported_scopes"),
    ("delete", "/api/v1/data_sources/{id}/supported_scopes"),
    ("get", "/api/v1/clients"),
    ("post", "/api/v1/clients"),
    ("get", "/api/v1/clients/{id}"),
    ("put", "/api/v1/clients/{id}"),
    ("patch", "/api/v1/clients/{id}"),
    ("delete", "/api/v1/clients/{id}"),
    ("get", "/api/v1/clients/{id}/data_sources"),
    ("post", "/api/v1/clients/{id}/data_sources"),
    ("delete", "/api/v1/clients/{id}/data_sources"),
    ("get", "/api/v1/jhe_settings"),
    ("post", "/api/v1/jhe_settings"),
    ("get", "/api/v1/jhe_settings/{id}"),
    ("put", "/api/v1/jhe_settings/{id}"),
    ("patch", "/api/v1/jhe_settings/{id}"),
    ("delete", "/api/v1/jhe_settings/{id}"),
];

/// The schemas of the FHIR resources and OAuth answers (absent values are omitted, not `null`).
const FHIR_AND_OAUTH_SCHEMAS: &[&str] = &[
    "Observation",
    "Patient",
    "Bundle",
    "Consent",
    "OperationOutcome",
    "OAuthError",
    "OAuthTokens",
    "OAuthIntrospection",
];

async fn document(app: &TestApp) -> Value {
    let response = app.get("/api/schema/openapi.json").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    path.split('/').try_fold(doc, |node, part| node.get(part))
}

fn refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    out.push(r.to_string());
                }
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn document_is_valid_openapi_3_and_covers_every_route() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    // A strict OpenAPI 3 model accepts it.
    let parsed: openapiv3::OpenAPI =
        serde_json::from_value(doc.clone()).expect("valid OpenAPI 3 document");
    assert!(parsed.openapi.starts_with("3."));
    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        assert!(resolve(&doc, r).is_some(), "unresolved {r}");
    }
    // Every API route is documented, secured by the OAuth 2.0 scheme and documents its errors.
    let scheme = &doc["components"]["securitySchemes"];
    let scheme_name = "OAuth2".to_string();
    assert_eq!(scheme[&scheme_name]["type"], "oauth2");
    // A pasted token works too (Swagger UI's BearerToken field).
    assert_eq!(scheme["BearerToken"]["type"], "http");
    assert_eq!(scheme["BearerToken"]["scheme"], "bearer");
    assert_eq!(
        scheme[&scheme_name]["flows"]["authorizationCode"]["tokenUrl"],
        "/o/token/"
    );
    for (method, path) in API_ROUTES {
        let op = &doc["paths"][*path][*method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(
            op["security"].to_string().contains(&scheme_name),
            "{method} {path} lacks the security requirement"
        );
        assert_eq!(
            op["security"],
            serde_json::json!([{"OAuth2": []}, {"BearerToken": []}]),
            "{method} {path}: OAuth2 or a pasted token"
        );
        assert!(
            op["responses"]["401"].is_object(),
            "{method} {path} does not document 401"
        );
        assert!(
            op.get("summary").or(op.get("description")).is_some(),
            "{method} {path} has no description"
        );
    }
    for path in ["/health", "/ready"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
}

#[tokio::test]
async fn documented_routes_answer_and_undocumented_ones_do_not_exist() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    // Every documented operation is routed: without a token it answers 401, never 404/405.
    // The one public operation (a study's icon, for `<img>` in apps) answers 404 JSON here.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                assert_eq!(
                    (method.as_str(), path.as_str()),
                    ("get", "/api/v1/studies/{id}/icon"),
                    "only the study icon is public"
                );
                let r = plain_client()
                    .get(app.url("/api/v1/studies/1/icon"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 404);
                continue;
            }
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = plain_client()
                .request(m, app.url(&concrete))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 401, "{method} {concrete}");
        }
    }
}

#[tokio::test]
async fn snapshot_of_the_document() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let rendered = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1")
        || !path.exists() && std::env::var("CI").is_err()
    {
        std::fs::write(&path, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .expect("tests/snapshots/openapi.json (run with UPDATE_SNAPSHOTS=1)");
    assert!(
        expected == rendered,
        "the OpenAPI document changed; review and run `UPDATE_SNAPSHOTS=1 cargo test --test integration openapi` to accept"
    );
}

#[tokio::test]
async fn cli_prints_the_same_document() {
    let app = spawn_app(Backend::Sqlite).await;
    let served = document(&app).await;
    let server = jhe::assemble(app.config.clone(), app.db.store.clone()).unwrap();
    let printed: Value = serde_json::from_str(&server.openapi_json()).unwrap();
    assert_eq!(printed, served);
}

/// Issue 10: optional properties are `nullable` (the server writes `null` for them), so strict
/// generated clients accept every valid answer.
#[tokio::test]
async fn optional_properties_are_nullable() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut optional = 0;
    for (name, schema) in schemas {
        if FHIR_AND_OAUTH_SCHEMAS.contains(&name.as_str()) {
            continue; // FHIR JSON and OAuth answers omit absent values, never `null`
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            if !required.contains(&property.as_str()) {
                optional += 1;
                assert_eq!(definition["nullable"], true, "{name}.{property}");
                assert!(definition.get("$ref").is_none(), "{name}.{property}");
            }
        }
    }
    assert!(optional > 50, "{optional}");
    // A field the seeded data answers with null is documented as nullable.
    let organization = schemas
        .iter()
        .find_map(|(_, s)| s["properties"].get("currentUserRole"))
        .expect("an organisation schema with currentUserRole");
    assert_eq!(organization["nullable"], true);
}

/// Issue 10: error bodies have a schema, and read-only operations do not list 409.
#[tokio::test]
async fn error_bodies_are_documented_per_operation() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    assert_eq!(doc["components"]["schemas"]["ErrorBody"]["type"], "object");
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            if method == "get" {
                assert!(responses.get("409").is_none(), "{method} {path}");
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    for media in response["content"].as_object().into_iter().flatten() {
                        if media.1["schema"]["$ref"]
                            .as_str()
                            .is_some_and(|r| !r.ends_with("/ErrorBody"))
                        {
                            continue; // a typed error body (readiness)
                        }
                        assert_eq!(
                            media.1["schema"]["$ref"], "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

/// Issue 15: the FHIR and OAuth endpoints are in the same document, with FHIR resources as
/// schemas, OperationOutcome / OAuthError error bodies and examples from the demo data.
#[tokio::test]
async fn fhir_and_oauth_are_documented() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    for (method, path) in [
        ("get", "/fhir/r5/Observation"),
        ("post", "/fhir/r5/Observation"),
        ("get", "/fhir/r5/Observation/{id}"),
        ("post", "/fhir/r5/"),
        ("get", "/fhir/r5/Patient"),
        ("get", "/fhir/r5/Patient/{id}"),
        ("get", "/fhir/r5/Consent"),
        ("get", "/fhir/r5/metadata"),
        ("get", "/o/authorize/"),
        ("post", "/o/token/"),
        ("post", "/o/revoke_token/"),
        ("post", "/o/introspect/"),
        ("get", "/o/userinfo/"),
        ("get", "/o/.well-known/openid-configuration"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        for (status, response) in op["responses"].as_object().unwrap() {
            if !status.starts_with('4') {
                continue;
            }
            let expected = if path.starts_with("/fhir") {
                "#/components/schemas/OperationOutcome"
            } else {
                "#/components/schemas/OAuthError"
            };
            for (_, media) in response["content"].as_object().into_iter().flatten() {
                assert_eq!(
                    media["schema"]["$ref"], expected,
                    "{method} {path} {status}"
                );
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Observation",
        "Patient",
        "Bundle",
        "Consent",
        "OperationOutcome",
    ] {
        assert_eq!(schemas[name]["properties"]["resourceType"]["enum"][0], name);
    }
    // What a client must send: subject, device, code, valueAttachment, identifiers.
    let observation = &schemas["Observation"];
    for field in ["subject", "device", "code", "valueAttachment", "identifier"] {
        assert!(observation["properties"][field].is_object(), "{field}");
    }
    // The example is the demo data and decodes to an Open mHealth data point.
    let example = &observation["example"];
    assert_eq!(example["subject"]["reference"], "Patient/40001");
    assert_eq!(example["device"]["reference"], "Device/70001");
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(example["valueAttachment"]["data"].as_str().unwrap())
        .unwrap();
    let point: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(point["header"]["schema_id"]["name"], "heart-rate");
    // A body-limited FHIR operation documents its 413.
    assert!(doc["paths"]["/fhir/r5/Observation"]["post"]["responses"]["413"].is_object());
    // The OAuth token form.
    let form = &doc["paths"]["/o/token/"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        ["schema"];
    assert!(form["properties"]["code_verifier"].is_object());
}

/// Issue 15: integer parameters are integers, bodies document their 413, and descriptions
/// use public wording only.
#[tokio::test]
async fn paging_is_integer_bodies_are_limited_and_wording_is_public() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let mut paged = 0;
    let mut with_body = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                if ["page", "pageSize"].contains(&parameter["name"].as_str().unwrap()) {
                    assert_eq!(parameter["schema"]["type"], "integer", "{method} {path}");
                    paged += 1;
                }
            }
            if op.get("requestBody").is_some() && path.starts_with("/api/v1") {
                assert!(op["responses"]["413"].is_object(), "{method} {path}");
                with_body += 1;
            }
        }
    }
    assert!(paged >= 12, "{paged}");
    assert!(with_body >= 30, "{with_body}");
    let text = doc.to_string();
    for internal in ["the original", "auth.md", "rest-api.md", "§"] {
        assert!(
            !text.contains(internal),
            "internal wording in the document: {internal}"
        );
    }
}

/// The source of the server's routes, relative to the repository.
fn source(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    // Unit tests at the end of a file mount no routes.
    match text.find("#[cfg(test)]\nmod tests") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// A path with its parameters blanked and without a trailing `/` (`/fhir/r5/Group/{}/$export`).
fn normalized(path: &str) -> String {
    let blanked: Vec<String> = path
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "{}".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect();
    let joined = blanked.join("/");
    match joined.trim_end_matches('/') {
        "" => "/".to_string(),
        p => p.to_string(),
    }
}

/// Every `(method, path)` the FHIR dispatcher serves, read from its `match` arms
/// (`(["Observation", id], &Method::GET) => …`), plus the routes the FHIR module mounts itself.
fn fhir_routes() -> Vec<(String, String)> {
    let text = source("jhe-core/src/http/fhir/mod.rs");
    let mut routes = Vec::new();
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("([") else {
            continue;
        };
        let Some((segments, after)) = rest.split_once(']') else {
            continue;
        };
        let Some(method) = after.split_once("&Method::").map(|(_, m)| {
            m.chars()
                .take_while(char::is_ascii_uppercase)
                .collect::<String>()
        }) else {
            continue; // `(…, m)`: the "method not allowed" arms
        };
        if segments.contains("..") || after.trim_start().starts_with('|') {
            continue;
        }
        let path: Vec<String> = segments
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .map_or_else(|| "{}".to_string(), str::to_string)
            })
            .collect();
        routes.push((
            method.to_lowercase(),
            format!("/fhir/r5/{}", path.join("/")),
        ));
    }
    assert!(
        routes.len() >= 15,
        "the dispatcher's arms were not found: {routes:?}"
    );
    routes
}

/// Every path literal a `mount` function routes (`.at("/o/token/", …)`, `for path in ["…"]`)
/// in `file`, from its `pub fn mount` to the end of that function.
fn mounted_paths(file: &str) -> Vec<String> {
    let text = source(file);
    let start = text
        .find("pub fn mount")
        .unwrap_or_else(|| panic!("{file}: no mount"));
    let body = &text[start..];
    let end = body.find("\n}\n").unwrap_or(body.len());
    let mut paths = Vec::new();
    for piece in body[..end].split('"').skip(1).step_by(2) {
        if piece.starts_with('/') {
            paths.push(piece.to_string());
        }
    }
    paths
}

/// Issue 15: every FHIR, OAuth and well-known route the server serves is in the document (read
/// from the routing code itself, so a new route cannot be forgotten), and every documented
/// secured FHIR operation is routed (without a token: 401, never 404/405).
#[tokio::test]
async fn every_fhir_oauth_and_well_known_route_is_documented() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|method| (method.clone(), normalized(path)))
                .collect::<Vec<_>>()
        })
        .collect();
    let is_documented = |method: &str, path: &str| {
        documented
            .iter()
            .any(|(m, p)| m == method && p == &normalized(path))
    };
    // FHIR: per method.
    for (method, path) in fhir_routes() {
        assert!(
            is_documented(&method, &path),
            "{method} {path} is served but not in the OpenAPI document"
        );
    }
    // OAuth, the FHIR module's own mounts and the MCP metadata: per path.
    let mut mounted = mounted_paths("jhe-core/src/http/oauth/mod.rs");
    mounted.extend(mounted_paths("jhe-core/src/http/fhir/mod.rs"));
    mounted.extend(mounted_paths("jhe-core/src/mcp/mod.rs"));
    let mut checked = 0;
    for path in mounted {
        if !(path.starts_with("/o/") || path.contains(".well-known")) {
            continue; // `{prefix}/…` patterns: the FHIR dispatcher, checked above
        }
        assert!(
            documented.iter().any(|(_, p)| p == &normalized(&path)),
            "{path} is served but not in the OpenAPI document"
        );
        checked += 1;
    }
    assert!(checked >= 14, "{checked}");
    // The operations named by the issue.
    for (method, path) in [
        ("get", "/fhir/r5/AuditEvent"),
        ("get", "/fhir/r5/Group/{id}/$export"),
        ("get", "/fhir/r5/Patient/$export"),
        ("get", "/fhir/r5/$export-status/{id}"),
        ("delete", "/fhir/r5/$export-status/{id}"),
        ("get", "/fhir/r5/$export-file/{id}/{file}"),
        ("post", "/fhir/r5/Observation/_search"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path}");
        assert_eq!(
            op["responses"]["401"]["content"]["application/fhir+json"]["schema"]["$ref"],
            "#/components/schemas/OperationOutcome",
            "{method} {path}"
        );
        assert!(op["responses"].get("409").is_none(), "{method} {path}");
    }
    let kick_off = &doc["paths"]["/fhir/r5/Group/{id}/$export"]["get"];
    assert!(kick_off["responses"]["202"]["headers"]["Content-Location"].is_object());
    assert_eq!(
        kick_off["parameters"][0]["example"], 30001,
        "a seeded study"
    );
    // Every secured FHIR operation is routed.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/fhir/r5") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let concrete = path.replace("{id}", "1").replace("{file}", "f.ndjson");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = plain_client()
                .request(m, app.url(&concrete))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 401, "{method} {concrete}");
        }
    }
}

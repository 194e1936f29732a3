//! What the served OpenAPI document adds to poem-openapi's: the FHIR R5 and OAuth 2.0 endpoints
//! (served by hand-written routes, so described here), their schemas, a second way to authorize
//! (a pasted bearer token), integer paging parameters and the `413` of size-limited bodies.
//!
//! The FHIR schemas describe what the server accepts and answers (a subset of FHIR R5: the
//! fields it reads are listed, others are allowed and ignored or kept); the examples are the
//! demo data of `seed`.

use serde_json::{Map, Value, json};

use crate::domain::{MAX_PAGE_NUMBER, MAX_PAGE_SIZE};

/// Name of the pasted-token security scheme.
pub const BEARER_SCHEME: &str = "BearerToken";

/// How to authorize, shown at the top of `/api/docs`.
const AUTHORIZE_HELP: &str = "\n\n**Trying the API here.** Press *Authorize* and either log in with **OAuth2** (authorization code with PKCE, through the server's login page; leave the client secret empty) or paste an access token under **BearerToken** (for example one made on the portal's token page, `/portal/token/`). Every call then carries `Authorization: Bearer <token>`.\n\nThe FHIR R5 API (`/fhir/r5/`) answers errors as FHIR `OperationOutcome` resources; the Admin API (`/api/v1/`) as `ErrorBody`; the OAuth endpoints (`/o/`) as `OAuthError`.";

/// Applies every addition to `doc` (poem-openapi's document, already parsed).
pub fn augment(doc: &mut Value) {
    if let Some(description) = doc.pointer_mut("/info/description")
        && let Some(text) = description.as_str()
    {
        *description = Value::String(format!("{text}{AUTHORIZE_HELP}"));
    }
    add_bearer_scheme(doc);
    type_paging_parameters(doc);
    example_ids(doc);
    document_body_limits(doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.extend(schemas_added());
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.extend(fhir_paths());
        paths.extend(more_fhir_paths());
        paths.extend(bulk_export_paths());
        paths.extend(oauth_paths());
        paths.extend(more_oauth_paths());
        #[cfg(feature = "mcp")]
        paths.extend(mcp_paths());
    }
    let tags = doc
        .as_object_mut()
        .map(|d| d.entry("tags").or_insert_with(|| json!([])));
    if let Some(Value::Array(tags)) = tags {
        tags.push(json!({"name": "FHIR R5", "description": "Observations (Open mHealth data points as attachments), patients and consents as FHIR R5 resources. Bodies are `application/fhir+json` or `application/json`."}));
        tags.push(json!({"name": "OAuth 2.0", "description": "The authorization server: authorization code with PKCE S256, tokens, revocation, introspection, OpenID Connect user info and discovery."}));
    }
}

/// The document as served under a path prefix (`/jhe`, see [`crate::http::prefix`]): a
/// `servers` entry with the prefix, so "Try it out" calls the right URLs, and the OAuth flow's
/// URLs under it. `document` is the document served at the root; `base` empty returns it as is.
pub fn with_base_path(document: &str, base: &str) -> String {
    if base.is_empty() {
        return document.to_string();
    }
    let Ok(mut doc) = serde_json::from_str::<Value>(document) else {
        return document.to_string();
    };
    if let Some(object) = doc.as_object_mut() {
        object.insert(
            "servers".into(),
            json!([{"url": base, "description": "This server (under its path prefix)."}]),
        );
    }
    if let Some(schemes) = doc
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    {
        for flow in schemes
            .values_mut()
            .filter_map(|scheme| scheme.get_mut("flows"))
            .filter_map(Value::as_object_mut)
            .flat_map(|flows| flows.values_mut())
            .filter_map(Value::as_object_mut)
        {
            for key in ["authorizationUrl", "tokenUrl", "refreshUrl"] {
                if let Some(Value::String(url)) = flow.get_mut(key)
                    && url.starts_with('/')
                {
                    *url = format!("{base}{url}");
                }
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| document.to_string())
}

/// The `BearerToken` scheme, offered as an alternative to OAuth2 on every secured operation.
fn add_bearer_scheme(doc: &mut Value) {
    if let Some(schemes) = doc
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    {
        schemes.insert(
            BEARER_SCHEME.into(),
            json!({
                "type": "http",
                "scheme": "bearer",
                "description": "An access token pasted as is: from the OAuth flow, or made on the portal's token page (`/portal/token/`)."
            }),
        );
    }
    for operation in operations(doc) {
        if let Some(Value::Array(security)) = operation.get_mut("security")
            && !security.is_empty()
        {
            security.push(json!({BEARER_SCHEME: []}));
        }
    }
}

/// Every operation object of `doc.paths`.
fn operations(doc: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
}

/// `page` and `pageSize` are integers (the handlers read them leniently, as text, for
/// compatibility: a page that is not a number is `404 Invalid page.`, a bad size the default).
fn type_paging_parameters(doc: &mut Value) {
    for operation in operations(doc) {
        let Some(Value::Array(parameters)) = operation.get_mut("parameters") else {
            continue;
        };
        for parameter in parameters.iter_mut() {
            let maximum = match parameter.get("name").and_then(Value::as_str) {
                Some("page") => MAX_PAGE_NUMBER,
                Some("pageSize") => MAX_PAGE_SIZE,
                _ => continue,
            };
            if let Some(parameter) = parameter.as_object_mut() {
                parameter.insert(
                    "schema".into(),
                    json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": maximum}),
                );
            }
        }
    }
}

/// Ids of the demo data (`seed`) per Admin API collection, the examples of `{id}` parameters.
const EXAMPLE_IDS: &[(&str, i64)] = &[
    ("/api/v1/users/", 10006),
    ("/api/v1/practitioners/", 80002),
    ("/api/v1/organizations/", 20003),
    ("/api/v1/patients/", 40001),
    ("/api/v1/studies/", 30001),
    ("/api/v1/observations/", 60001),
    ("/api/v1/data_sources/", 70001),
    ("/api/v1/clients/", 1),
    ("/api/v1/jhe_settings/", 1),
];

/// Gives each `{id}` path parameter of the Admin API an example from the demo data.
fn example_ids(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(example) = EXAMPLE_IDS
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map(|(_, id)| *id)
        else {
            continue;
        };
        for operation in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let Some(Value::Array(parameters)) = operation.get_mut("parameters") else {
                continue;
            };
            for parameter in parameters.iter_mut() {
                if parameter.get("in").and_then(Value::as_str) == Some("path")
                    && parameter.get("name").and_then(Value::as_str) == Some("id")
                    && let Some(parameter) = parameter.as_object_mut()
                {
                    parameter.insert("example".into(), json!(example));
                }
            }
        }
    }
}

/// Operations with a JSON body document the `413` they answer beyond the body limit.
fn document_body_limits(doc: &mut Value) {
    let limit = crate::http::rest::casing::MAX_API_BODY_BYTES / (1024 * 1024);
    for operation in operations(doc) {
        if operation.get("requestBody").is_none() {
            continue;
        }
        if let Some(Value::Object(responses)) = operation.get_mut("responses") {
            responses.entry("413").or_insert_with(|| {
                json!({
                    "description": format!("The body is larger than {limit} MiB."),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                })
            });
        }
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A FHIR error answer.
fn outcome(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/fhir+json": {"schema": reference("OperationOutcome")}}
    })
}

/// An OAuth error answer.
fn oauth_error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": reference("OAuthError")}}
    })
}

/// A FHIR success answer.
fn fhir_ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/fhir+json": {"schema": reference(schema)}}
    })
}

fn security() -> Value {
    json!([{"OAuth2": []}, {BEARER_SCHEME: []}])
}

fn fhir_errors(responses: &mut Map<String, Value>, extra: &[(&str, &str)]) {
    responses.insert(
        "400".into(),
        outcome("A parameter or the body is not valid."),
    );
    responses.insert(
        "401".into(),
        outcome("No bearer token, or an invalid or expired one."),
    );
    responses.insert(
        "403".into(),
        outcome("The token's scopes or the caller's role do not allow this (e.g. a data type the patient has not consented to share)."),
    );
    for (status, text) in extra {
        responses.insert((*status).into(), outcome(text));
    }
}

fn fhir_operation(
    summary: &str,
    description: &str,
    parameters: Value,
    body: Option<Value>,
    ok: (&str, Value),
    extra: &[(&str, &str)],
) -> Value {
    let mut responses = Map::new();
    responses.insert(ok.0.into(), ok.1);
    fhir_errors(&mut responses, extra);
    let mut operation = json!({
        "tags": ["FHIR R5"],
        "summary": summary,
        "description": description,
        "parameters": parameters,
        "security": security(),
        "responses": responses,
    });
    if let (Some(body), Some(operation)) = (body, operation.as_object_mut()) {
        operation.insert("requestBody".into(), body);
    }
    operation
}

fn fhir_body(schema: &str) -> Value {
    json!({
        "required": true,
        "content": {
            "application/fhir+json": {"schema": reference(schema)},
            "application/json": {"schema": reference(schema)}
        }
    })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn path_id(description: &str, example: i64) -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": description, "schema": {"type": "integer", "format": "int64"}, "example": example})
}

fn paging_parameters() -> Vec<Value> {
    vec![
        query(
            "_count",
            "Entries per page (default 20, at most 1000; `0`: only the total).",
            json!({"type": "integer", "minimum": 0, "maximum": MAX_PAGE_SIZE}),
        ),
        query(
            "_page",
            "1-based page number.",
            json!({"type": "integer", "minimum": 1}),
        ),
    ]
}

/// The FHIR R5 routes, under `/fhir/r5` (also served, identically, under `/FHIR/R5`).
fn fhir_paths() -> Map<String, Value> {
    let too_large = format!(
        "The body is larger than {} MiB, or a Bundle has too many entries.",
        crate::http::fhir::MAX_BODY_BYTES / (1024 * 1024)
    );
    let mut observation_search = vec![
        query(
            "patient",
            "The patient: `Patient/<id>` or `<id>`.",
            json!({"type": "string"}),
        ),
        query("subject", "Same as `patient`.", json!({"type": "string"})),
        query(
            "patient._has:Group:member:_id",
            "Patients enrolled in this study (its id).",
            json!({"type": "integer", "format": "int64"}),
        ),
        query(
            "code",
            "The data type, `<system>|<code>`, e.g. `https://w3id.org/openmhealth|omh:heart-rate:2.0`.",
            json!({"type": "string"}),
        ),
        query(
            "date",
            "Effective date, with a FHIR prefix (`ge2024-01-01`, `lt2024-02-01T00:00:00Z`).",
            json!({"type": "string"}),
        ),
        query(
            "identifier",
            "An identifier, `<system>|<value>` or `<value>`.",
            json!({"type": "string"}),
        ),
        query(
            "_lastUpdated",
            "Last update instant, with a FHIR prefix.",
            json!({"type": "string"}),
        ),
    ];
    observation_search.extend(paging_parameters());
    let mut patient_search = vec![
        query(
            "_has:Group:member:_id",
            "Patients enrolled in this study (its id).",
            json!({"type": "integer", "format": "int64"}),
        ),
        query(
            "identifier",
            "An identifier, `<system>|<value>` or `<value>`.",
            json!({"type": "string"}),
        ),
    ];
    patient_search.extend(paging_parameters());
    let if_none_exist = json!({
        "name": "If-None-Exist", "in": "header", "required": false,
        "description": "Conditional create: `identifier=<system>|<value>`. When an Observation with that identifier exists it is answered (200) instead of creating another.",
        "schema": {"type": "string"}
    });
    let mut paths = Map::new();
    paths.insert(
        "/fhir/r5/Observation".into(),
        json!({
            "get": fhir_operation(
                "Searches Observations",
                "The Observations the token may read (a patient: their own; a practitioner: their organisations' consented data), as a `searchset` Bundle, oldest first.",
                Value::Array(observation_search),
                None,
                ("200", fhir_ok("A searchset Bundle of Observations.", "Bundle")),
                &[("404", "The page does not exist.")],
            ),
            "post": fhir_operation(
                "Creates an Observation",
                "One Open mHealth data point, base64 in `valueAttachment.data`, for the patient in `subject`, from the data source in `device` (`Device/<data source id>`), of the type in `code`. The patient must have consented to share that type with a study that uses the data source.",
                json!([if_none_exist]),
                Some(fhir_body("Observation")),
                ("201", fhir_ok("Created; `Location` names the new resource.", "Observation")),
                &[("409", "An Observation with the same identifier exists."), ("412", "`If-None-Exist` matches more than one Observation."), ("413", &too_large), ("415", "The body is neither `application/json` nor `application/fhir+json`."), ("422", "The data point does not follow its Open mHealth schema.")],
            ),
        }),
    );
    paths.insert(
        "/fhir/r5/Observation/{id}".into(),
        json!({"get": fhir_operation(
            "Reads an Observation",
            "One Observation the token may read.",
            json!([path_id("The Observation's id.", 60001)]),
            None,
            ("200", fhir_ok("The Observation.", "Observation")),
            &[("404", "Not found, or not visible to the caller.")],
        )}),
    );
    paths.insert(
        "/fhir/r5/".into(),
        json!({"post": fhir_operation(
            "Creates Observations in a Bundle",
            "A `batch` Bundle (each entry succeeds or fails on its own) or a `transaction` Bundle (all or nothing) of `POST Observation` entries.",
            json!([]),
            Some(fhir_body("Bundle")),
            ("200", fhir_ok("A `batch-response` or `transaction-response` Bundle: one entry per request entry, with its status and, when it failed, an OperationOutcome.", "Bundle")),
            &[("413", &too_large), ("415", "The body is neither `application/json` nor `application/fhir+json`."), ("422", "A `transaction` entry failed (nothing was stored).")],
        )}),
    );
    paths.insert(
        "/fhir/r5/Patient".into(),
        json!({"get": fhir_operation(
            "Searches Patients",
            "The patients the token may read, as a `searchset` Bundle.",
            Value::Array(patient_search),
            None,
            ("200", fhir_ok("A searchset Bundle of Patients.", "Bundle")),
            &[("404", "The page does not exist.")],
        )}),
    );
    paths.insert(
        "/fhir/r5/Patient/{id}".into(),
        json!({"get": fhir_operation(
            "Reads a Patient",
            "One patient the token may read.",
            json!([path_id("The patient's id.", 40001)]),
            None,
            ("200", fhir_ok("The Patient.", "Patient")),
            &[("404", "Not found, or not visible to the caller.")],
        )}),
    );
    paths.insert(
        "/fhir/r5/Consent".into(),
        json!({"get": fhir_operation(
            "Searches a patient's consents",
            "The patient's consent decisions, one Consent per study and data type, as a `searchset` Bundle.",
            json!([{"name": "patient", "in": "query", "required": true, "description": "The patient: `Patient/<id>` or `<id>`.", "schema": {"type": "string"}, "example": "Patient/40001"}]),
            None,
            ("200", fhir_ok("A searchset Bundle of Consents.", "Bundle")),
            &[("404", "The patient is not known to the caller.")],
        )}),
    );
    paths.insert(
        "/fhir/r5/metadata".into(),
        json!({"get": {
            "tags": ["FHIR R5"],
            "summary": "The CapabilityStatement",
            "description": "What this FHIR server supports (no authentication).",
            "responses": {"200": {"description": "The CapabilityStatement.", "content": {"application/fhir+json": {"schema": {"type": "object", "properties": {"resourceType": {"type": "string", "enum": ["CapabilityStatement"]}}, "required": ["resourceType"]}}}}}
        }}),
    );
    paths
}

fn form_body(properties: Value, required: &[&str]) -> Value {
    json!({
        "required": true,
        "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": properties, "required": required
        }}}
    })
}

fn oauth_operation(
    summary: &str,
    description: &str,
    body: Value,
    ok: Value,
    errors: &[(&str, &str)],
) -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), ok);
    for (status, text) in errors {
        responses.insert((*status).into(), oauth_error(text));
    }
    json!({
        "tags": ["OAuth 2.0"],
        "summary": summary,
        "description": description,
        "requestBody": body,
        "responses": responses,
    })
}

/// The OAuth 2.0 / OpenID Connect routes under `/o/`.
fn oauth_paths() -> Map<String, Value> {
    let string = json!({"type": "string"});
    let mut paths = Map::new();
    paths.insert(
        "/o/authorize/".into(),
        json!({"get": {
            "tags": ["OAuth 2.0"],
            "summary": "Starts the authorization-code flow",
            "description": "Opened in the browser: sends the user to the login page when needed, then back to `redirect_uri` with `code` and `state` (or `error`). PKCE S256 is required.",
            "parameters": [
                {"name": "response_type", "in": "query", "required": true, "schema": {"type": "string", "enum": ["code"]}},
                {"name": "client_id", "in": "query", "required": true, "schema": string},
                {"name": "redirect_uri", "in": "query", "required": true, "description": "Exactly one of the client's registered redirect URIs.", "schema": string},
                {"name": "scope", "in": "query", "required": false, "description": "Space-separated, e.g. `openid email`.", "schema": string},
                {"name": "state", "in": "query", "required": false, "schema": string},
                {"name": "code_challenge", "in": "query", "required": true, "description": "BASE64URL(SHA-256(code_verifier)), without padding.", "schema": string},
                {"name": "code_challenge_method", "in": "query", "required": true, "schema": {"type": "string", "enum": ["S256"]}},
                {"name": "nonce", "in": "query", "required": false, "schema": string}
            ],
            "responses": {
                "302": {"description": "To the login page, or to `redirect_uri` with `code` and `state` (or `error` and `error_description`)."},
                "400": {"description": "The client or redirect URI is not valid (an HTML page; never redirected)."}
            }
        }}),
    );
    paths.insert(
        "/o/token/".into(),
        json!({"post": oauth_operation(
            "Issues tokens",
            "`authorization_code` (with `code_verifier`), `refresh_token`, or token exchange (`urn:ietf:params:oauth:grant-type:token-exchange`). Public clients send `client_id` in the body; confidential clients authenticate with HTTP Basic.",
            form_body(json!({
                "grant_type": {"type": "string", "enum": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"]},
                "code": string, "redirect_uri": string, "client_id": string, "code_verifier": string,
                "refresh_token": string, "scope": string,
                "subject_token": string, "subject_token_type": string
            }), &["grant_type"]),
            json!({"description": "The tokens.", "content": {"application/json": {"schema": reference("OAuthTokens")}}}),
            &[("400", "`invalid_request`, `invalid_grant` (a code that is unknown, used, expired or whose verifier does not match), `unsupported_grant_type`…"), ("401", "`invalid_client`.")],
        )}),
    );
    paths.insert(
        "/o/revoke_token/".into(),
        json!({"post": oauth_operation(
            "Revokes a token (RFC 7009)",
            "Revokes an access or refresh token of the client. Unknown tokens are not an error.",
            form_body(json!({"token": string, "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]}, "client_id": string}), &["token"]),
            json!({"description": "Revoked (or unknown)."}),
            &[("400", "`invalid_request`."), ("401", "`invalid_client`.")],
        )}),
    );
    paths.insert(
        "/o/introspect/".into(),
        json!({"post": {
            "tags": ["OAuth 2.0"],
            "summary": "Introspects a token (RFC 7662)",
            "description": "Whether a token is active, with its scope, client and user. Only confidential clients may ask, authenticated with HTTP Basic (`client_id:client_secret`).",
            "requestBody": form_body(json!({"token": string}), &["token"]),
            "responses": {
                "200": {"description": "`{\"active\": false}` or the token's details.", "content": {"application/json": {"schema": reference("OAuthIntrospection")}}},
                "400": oauth_error("`invalid_request`."),
                "403": {"description": "The caller is not an authenticated confidential client (no body)."}
            }
        }}),
    );
    paths.insert(
        "/o/userinfo/".into(),
        json!({"get": {
            "tags": ["OAuth 2.0"],
            "summary": "OpenID Connect user info",
            "description": "The claims of the token's user (`sub`, and `email` with the `email` scope).",
            "security": security(),
            "responses": {
                "200": {"description": "The claims.", "content": {"application/json": {"schema": {"type": "object", "properties": {"sub": string, "email": string}, "required": ["sub"], "example": {"sub": "10006", "email": "peter@example.com"}}}}},
                "401": oauth_error("No valid bearer token (`invalid_token`)."),
                "403": oauth_error("The token lacks the `openid` scope (`insufficient_scope`).")
            }
        }}),
    );
    paths.insert(
        "/o/.well-known/openid-configuration".into(),
        json!({"get": {
            "tags": ["OAuth 2.0"],
            "summary": "OpenID Connect discovery",
            "description": "The authorization server's metadata (issuer, endpoints, supported grants and PKCE methods).",
            "responses": {"200": {"description": "The metadata.", "content": {"application/json": {"schema": {"type": "object", "properties": {"issuer": string, "authorization_endpoint": string, "token_endpoint": string, "jwks_uri": string}, "required": ["issuer"]}}}}}
        }}),
    );
    paths.insert(
        "/o/.well-known/jwks.json".into(),
        json!({"get": {
            "tags": ["OAuth 2.0"],
            "summary": "The ID token signing keys",
            "responses": {"200": {"description": "A JSON Web Key Set.", "content": {"application/json": {"schema": {"type": "object", "properties": {"keys": {"type": "array", "items": {"type": "object"}}}, "required": ["keys"]}}}}}
        }}),
    );
    paths
}

/// The `_search` (`POST`, form-encoded) twin of a `GET` search: the same parameters as a form
/// body (and/or in the query), the same answers, plus `413` for a form beyond the limit.
fn search_by_post(get: &Value, summary: &str) -> Value {
    let mut operation = get.clone();
    let mut properties = Map::new();
    for parameter in get
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(schema)) = (
            parameter.get("name").and_then(Value::as_str),
            parameter.get("schema"),
        ) {
            let mut schema = schema.clone();
            if let (Some(description), Some(schema)) =
                (parameter.get("description"), schema.as_object_mut())
            {
                schema.insert("description".into(), description.clone());
            }
            properties.insert(name.into(), schema);
        }
    }
    if let Some(object) = operation.as_object_mut() {
        object.insert("summary".into(), json!(summary));
        object.insert(
            "description".into(),
            json!("The same search as the `GET`, with the parameters in a form-encoded body (so they stay out of URLs and logs); parameters in the query are added to them."),
        );
        object.insert("parameters".into(), json!([]));
        object.insert(
            "requestBody".into(),
            json!({"required": false, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": properties}}}}),
        );
        if let Some(Value::Object(responses)) = object.get_mut("responses") {
            responses.insert(
                "413".into(),
                outcome(&format!(
                    "The form is larger than {} KiB.",
                    crate::http::fhir::MAX_SEARCH_BODY_BYTES / 1024
                )),
            );
        }
    }
    operation
}

/// The FHIR routes beyond the main ones: `_search` by `POST`, Consent read, AuditEvent search
/// and the SMART configuration.
fn more_fhir_paths() -> Map<String, Value> {
    let main = fhir_paths();
    let mut paths = Map::new();
    for (resource, summary) in [
        ("Observation", "Searches Observations (form body)"),
        ("Patient", "Searches Patients (form body)"),
        ("Consent", "Searches a patient's consents (form body)"),
    ] {
        if let Some(get) = main
            .get(&format!("/fhir/r5/{resource}"))
            .and_then(|i| i.get("get"))
        {
            paths.insert(
                format!("/fhir/r5/{resource}/_search"),
                json!({"post": search_by_post(get, summary)}),
            );
        }
    }
    paths.insert(
        "/fhir/r5/Consent/{id}".into(),
        json!({"get": fhir_operation(
            "Reads a Consent",
            "One consent decision (a patient, a study, a data type) the token may read.",
            json!([{"name": "id", "in": "path", "required": true, "description": "The Consent's id, as given in a Consent search.", "schema": {"type": "string"}}]),
            None,
            ("200", fhir_ok("The Consent.", "Consent")),
            &[("404", "Not found, or not visible to the caller.")],
        )}),
    );
    let reference_query =
        |name: &str, description: &str| query(name, description, json!({"type": "string"}));
    paths.insert(
        "/fhir/r5/AuditEvent".into(),
        json!({"get": fhir_operation(
            "Searches the audit trail",
            "Who read or changed what, as AuditEvent resources in a `searchset` Bundle, newest first. A patient reads the events about their own data; a superuser reads every event.",
            json!([
                reference_query("patient", "Events about this patient: `Patient/<id>` or `<id>`."),
                reference_query("entity:Patient", "Same as `patient`."),
                reference_query("agent", "Events caused by this user: `User/<id>` or `<id>`."),
                reference_query("code", "The kind of event (its action code)."),
                query("_count", "Entries per page (default 20, at most 1000).", json!({"type": "integer", "minimum": 0, "maximum": MAX_PAGE_SIZE})),
                query("_cursor", "Continue after this AuditEvent (from the Bundle's `next` link).", json!({"type": "string"})),
            ]),
            None,
            ("200", fhir_ok("A searchset Bundle of AuditEvents.", "Bundle")),
            &[],
        )}),
    );
    let smart = json!({"get": {
        "tags": ["FHIR R5"],
        "summary": "The SMART App Launch configuration",
        "description": "The authorization endpoints, scopes and capabilities a SMART client needs (no authentication). Also served at `/fhir/r5/.well-known/smart-configuration`.",
        "responses": {"200": {"description": "The SMART configuration.", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "issuer": {"type": "string"}, "authorization_endpoint": {"type": "string"}, "token_endpoint": {"type": "string"},
            "scopes_supported": {"type": "array", "items": {"type": "string"}},
            "capabilities": {"type": "array", "items": {"type": "string"}}
        }, "required": ["authorization_endpoint", "token_endpoint"]}}}}}
    }});
    paths.insert("/.well-known/smart-configuration".into(), smart.clone());
    paths.insert("/fhir/r5/.well-known/smart-configuration".into(), smart);
    paths
}

/// FHIR Bulk Data export: kick-off, status, cancel, file download.
fn bulk_export_paths() -> Map<String, Value> {
    let export_parameters = json!([
        {"name": "Prefer", "in": "header", "required": false, "description": "`respond-async` (the export always is; any other value is refused).", "schema": {"type": "string"}, "example": "respond-async"},
        query("_type", "Comma-separated resource types: `Patient`, `Observation`, `Consent` (default all).", json!({"type": "string"})),
        query("_since", "Only resources updated at or after this instant.", json!({"type": "string"})),
        query("_outputFormat", "`application/fhir+ndjson` (the only format).", json!({"type": "string"})),
    ]);
    let kick_off = |summary: &str, description: &str, parameters: Value, extra: &[(&str, &str)]| {
        let mut responses = Map::new();
        responses.insert("202".into(), json!({
            "description": "Started: poll the URL in `Content-Location`.",
            "headers": {"Content-Location": {"description": "The job's status URL (`…/$export-status/<job>`).", "schema": {"type": "string"}}},
            "content": {"application/fhir+json": {"schema": reference("OperationOutcome")}}
        }));
        fhir_errors(&mut responses, extra);
        json!({"get": {
            "tags": ["FHIR R5"],
            "summary": summary,
            "description": description,
            "parameters": parameters,
            "security": security(),
            "responses": responses,
        }})
    };
    let mut paths = Map::new();
    paths.insert(
        "/fhir/r5/Patient/$export".into(),
        kick_off(
            "Exports every patient the caller may read (Bulk Data)",
            "Starts an asynchronous export of the patients the token may read, with their Observations and Consents, as NDJSON files.",
            export_parameters.clone(),
            &[],
        ),
    );
    let mut group_parameters = vec![path_id("The study's id.", 30001)];
    group_parameters.extend(export_parameters.as_array().cloned().unwrap_or_default());
    paths.insert(
        "/fhir/r5/Group/{id}/$export".into(),
        kick_off(
            "Exports a study's patients (Bulk Data)",
            "Starts an asynchronous export of the study's patients, their Observations and Consents, as NDJSON files.",
            Value::Array(group_parameters),
            &[("404", "The study is not known to the caller.")],
        ),
    );
    let job = json!({"name": "id", "in": "path", "required": true, "description": "The export job (from `Content-Location`).", "schema": {"type": "string"}});
    let not_found = outcome("The job is not known, or was started by someone else.");
    let unauthorized = outcome("No bearer token, or an invalid or expired one.");
    let manifest = json!({"type": "object", "properties": {
        "transactionTime": {"type": "string"},
        "request": {"type": "string"},
        "requiresAccessToken": {"type": "boolean"},
        "output": {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}, "url": {"type": "string"}, "count": {"type": "integer"}}, "required": ["type", "url"]}},
        "error": {"type": "array", "items": {"type": "object"}}
    }, "required": ["transactionTime", "request", "requiresAccessToken", "output", "error"]});
    paths.insert(
        "/fhir/r5/$export-status/{id}".into(),
        json!({
            "get": {
                "tags": ["FHIR R5"],
                "summary": "The status of an export",
                "description": "`202` while running (progress in `X-Progress`), then `200` with the manifest listing the NDJSON files.",
                "parameters": [job.clone()],
                "security": security(),
                "responses": {
                    "200": {"description": "Finished: the manifest.", "content": {"application/json": {"schema": manifest}}},
                    "202": {"description": "Still running.", "headers": {"X-Progress": {"description": "How far it got.", "schema": {"type": "string"}}, "Retry-After": {"description": "Seconds to wait before polling again.", "schema": {"type": "integer"}}}},
                    "401": unauthorized.clone(),
                    "404": not_found.clone()
                }
            },
            "delete": {
                "tags": ["FHIR R5"],
                "summary": "Cancels an export",
                "description": "Stops the job and deletes its files.",
                "parameters": [job.clone()],
                "security": security(),
                "responses": {
                    "202": {"description": "Cancelled."},
                    "401": unauthorized.clone(),
                    "404": not_found.clone()
                }
            }
        }),
    );
    paths.insert(
        "/fhir/r5/$export-file/{id}/{file}".into(),
        json!({"get": {
            "tags": ["FHIR R5"],
            "summary": "Downloads a file of a finished export",
            "description": "One NDJSON file named in the manifest (one resource per line); only for the token's user who started the export.",
            "parameters": [job, {"name": "file", "in": "path", "required": true, "description": "The file's name, as in the manifest's `url`.", "schema": {"type": "string"}}],
            "security": security(),
            "responses": {
                "200": {"description": "The NDJSON file.", "content": {"application/fhir+ndjson": {"schema": {"type": "string"}}}},
                "401": unauthorized,
                "404": outcome("The job or the file is not known, or the export was started by someone else.")
            }
        }}),
    );
    paths
}

/// The OAuth routes beyond the main ones: dynamic registration, the token-exchange endpoint,
/// the consent form, and the discovery aliases under `/.well-known`.
fn more_oauth_paths() -> Map<String, Value> {
    let string = json!({"type": "string"});
    let mut paths = Map::new();
    paths.insert(
        "/o/register/".into(),
        json!({"post": {
            "tags": ["OAuth 2.0"],
            "summary": "Registers a native public client (RFC 7591)",
            "description": "Dynamic registration of a public client (no secret, PKCE) whose redirect URIs are loopback addresses (`http://127.0.0.1:<port>/…`, `http://localhost:<port>/…`) or private-use schemes. Answers the client's metadata with its new `client_id`.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                "redirect_uris": {"type": "array", "items": string},
                "client_name": string,
                "grant_types": {"type": "array", "items": string},
                "token_endpoint_auth_method": {"type": "string", "enum": ["none"]}
            }, "required": ["redirect_uris"]}, "example": {"client_name": "My CLI", "redirect_uris": ["http://127.0.0.1:8765/callback"]}}}},
            "responses": {
                "201": {"description": "Registered.", "content": {"application/json": {"schema": {"type": "object", "properties": {"client_id": string, "redirect_uris": {"type": "array", "items": string}, "client_name": string}, "required": ["client_id", "redirect_uris"]}}}},
                "400": oauth_error("`invalid_redirect_uri` or `invalid_client_metadata`."),
                "429": oauth_error("Too many registrations from this address (`too_many_requests`).")
            }
        }}),
    );
    paths.insert(
        "/o/token-exchange".into(),
        json!({"post": oauth_operation(
            "Exchanges an external ID token (RFC 8693)",
            "Trades an ID token of the trusted identity provider (`TRUSTED_TOKEN_IDP`) for an access token of the user with the same e-mail. Errors are `{\"error\": \"<message>\"}`.",
            form_body(json!({
                "grant_type": {"type": "string", "enum": ["urn:ietf:params:oauth:grant-type:token-exchange"]},
                "subject_token": string, "subject_token_type": string, "requested_token_type": string, "scope": string
            }), &["grant_type", "subject_token"]),
            json!({"description": "The access token.", "content": {"application/json": {"schema": reference("OAuthTokens")}}}),
            &[("400", "A parameter is missing or not valid, or the subject token is not valid."), ("404", "No user has the subject token's e-mail.")],
        )}),
    );
    if let Some(get) = oauth_paths()
        .get("/o/authorize/")
        .and_then(|item| item.get("get"))
        .cloned()
    {
        let post = json!({
            "tags": ["OAuth 2.0"],
            "summary": "The consent form of the authorization-code flow",
            "description": "Submitted by the login page's consent form (browser session and CSRF token required): the authorization request's parameters, plus `allow` to grant. Not for API clients.",
            "requestBody": form_body(json!({
                "csrfmiddlewaretoken": string, "allow": string,
                "response_type": string, "client_id": string, "redirect_uri": string, "scope": string,
                "state": string, "code_challenge": string, "code_challenge_method": string, "nonce": string
            }), &[]),
            "responses": {
                "302": {"description": "To `redirect_uri` with `code` (or `error=access_denied`), or to the login page without a session."},
                "400": {"description": "The client or redirect URI is not valid (an HTML page; never redirected)."},
                "403": {"description": "The CSRF token does not match the session (an HTML page)."}
            }
        });
        paths.insert("/o/authorize/".into(), json!({"get": get, "post": post}));
    }
    // The GET and POST variants of introspection and user info.
    let main = oauth_paths();
    if let Some(post) = main.get("/o/introspect/").and_then(|i| i.get("post")) {
        let mut get = post.clone();
        if let Some(object) = get.as_object_mut() {
            object.remove("requestBody");
            object.insert(
                "parameters".into(),
                json!([{"name": "token", "in": "query", "required": true, "schema": string}]),
            );
        }
        paths.insert("/o/introspect/".into(), json!({"get": get, "post": post}));
    }
    if let Some(get) = main.get("/o/userinfo/").and_then(|i| i.get("get")) {
        paths.insert("/o/userinfo/".into(), json!({"get": get, "post": get}));
    }
    if let Some(discovery) = main.get("/o/.well-known/openid-configuration") {
        for alias in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/o",
            "/o/.well-known/oauth-authorization-server",
        ] {
            paths.insert(alias.into(), discovery.clone());
        }
    }
    paths
}

/// The MCP endpoint's OAuth protected-resource metadata (RFC 9728).
#[cfg(feature = "mcp")]
fn mcp_paths() -> Map<String, Value> {
    let string = json!({"type": "string"});
    let metadata = json!({"get": {
        "tags": ["OAuth 2.0"],
        "summary": "Protected-resource metadata (RFC 9728)",
        "description": "Which authorization server issues tokens for this resource (the MCP endpoint `/mcp` and the APIs), and the scopes it knows.",
        "responses": {"200": {"description": "The metadata.", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "resource": string,
            "authorization_servers": {"type": "array", "items": string},
            "scopes_supported": {"type": "array", "items": string},
            "bearer_methods_supported": {"type": "array", "items": string}
        }, "required": ["resource", "authorization_servers"]}}}}}
    }});
    let mut paths = Map::new();
    paths.insert(
        "/.well-known/oauth-protected-resource".into(),
        metadata.clone(),
    );
    paths.insert("/.well-known/oauth-protected-resource/mcp".into(), metadata);
    paths
}

/// The schemas of the FHIR resources and OAuth answers.
fn schemas_added() -> Map<String, Value> {
    let string = json!({"type": "string"});
    let reference_type = json!({"type": "object", "properties": {"reference": {"type": "string"}}, "required": ["reference"]});
    let coding = json!({"type": "object", "properties": {"system": string, "code": string, "display": string}});
    let codeable = json!({"type": "object", "properties": {"coding": {"type": "array", "items": coding}, "text": string}});
    let identifier = json!({"type": "object", "properties": {"system": string, "value": string}, "required": ["value"]});
    let data_point = json!({
        "header": {"uuid": "9f0a7c0e-2d43-4a7e-9d4c-0b5b1f3f6a11", "schema_id": {"namespace": "omh", "name": "heart-rate", "version": "2.0"}, "source_creation_date_time": "2024-05-02T08:00:00Z"},
        "body": {"heart_rate": {"value": 67.5, "unit": "beats/min"}, "effective_time_frame": {"date_time": "2024-05-02T08:00:00Z"}}
    });
    let data = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        data_point.to_string(),
    );
    let observation_example = json!({
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "https://heart.example.org/observation-ids", "value": "9f0a7c0e-2d43-4a7e-9d4c-0b5b1f3f6a11"}],
        "subject": {"reference": "Patient/40001"},
        "device": {"reference": "Device/70001"},
        "code": {"coding": [{"system": "https://w3id.org/openmhealth", "code": "omh:heart-rate:2.0"}]},
        "valueAttachment": {"contentType": "application/json", "data": data}
    });
    let mut schemas = Map::new();
    schemas.insert("Observation".into(), json!({
        "type": "object",
        "description": "A FHIR R5 Observation carrying one Open mHealth data point. Sent: `resourceType`, `status`, `subject` (`Patient/<id>`), `device` (`Device/<data source id>`), `code` (system `https://w3id.org/openmhealth`, code `omh:<schema>:<version>`), `valueAttachment` (`contentType` `application/json`, `data` the base64 of the data point JSON) and, to make uploads idempotent, `identifier`. Answered with `id` and `meta` too.",
        "properties": {
            "resourceType": {"type": "string", "enum": ["Observation"]},
            "id": string,
            "meta": {"type": "object", "properties": {"lastUpdated": string}},
            "status": {"type": "string", "description": "`final` (the only status stored), or `registered`, `preliminary`, `amended`, `corrected`, `cancelled`, `entered-in-error`, `unknown`."},
            "identifier": {"type": "array", "items": identifier},
            "subject": reference_type,
            "device": reference_type,
            "code": codeable,
            "effectiveDateTime": string,
            "effectivePeriod": {"type": "object", "properties": {"start": string, "end": string}},
            "valueAttachment": {"type": "object", "properties": {"contentType": string, "data": {"type": "string", "format": "byte"}}, "required": ["data"]}
        },
        "required": ["resourceType", "status", "subject", "code", "valueAttachment"],
        "example": observation_example,
    }));
    schemas.insert("Patient".into(), json!({
        "type": "object",
        "description": "A FHIR R5 Patient (read-only here; patients are created through the Admin API).",
        "properties": {
            "resourceType": {"type": "string", "enum": ["Patient"]},
            "id": string,
            "meta": {"type": "object", "properties": {"lastUpdated": string}},
            "identifier": {"type": "array", "items": identifier},
            "name": {"type": "array", "items": {"type": "object", "properties": {"family": string, "given": {"type": "array", "items": string}}}},
            "birthDate": string,
            "telecom": {"type": "array", "items": {"type": "object", "properties": {"system": string, "value": string}}}
        },
        "required": ["resourceType", "id"],
        "example": {"resourceType": "Patient", "id": "40001", "name": [{"family": "Smith", "given": ["Peter"]}], "birthDate": "1984-01-13", "telecom": [{"system": "email", "value": "peter@example.com"}, {"system": "phone", "value": "+1-205-822-1761"}]}
    }));
    schemas.insert("Consent".into(), json!({
        "type": "object",
        "description": "A FHIR R5 Consent: one patient's decision to share one data type with one study.",
        "properties": {
            "resourceType": {"type": "string", "enum": ["Consent"]},
            "id": string,
            "status": string,
            "subject": reference_type,
            "decision": {"type": "string", "enum": ["permit", "deny"]},
            "provision": {"type": "array", "items": {"type": "object"}}
        },
        "required": ["resourceType"]
    }));
    schemas.insert("Bundle".into(), json!({
        "type": "object",
        "description": "A FHIR R5 Bundle: a `searchset` (search answers, with `total` and `link`s), a `batch` or `transaction` of `POST Observation` entries (requests), or their `batch-response`/`transaction-response`.",
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "id": string,
            "type": {"type": "string", "enum": ["searchset", "batch", "transaction", "batch-response", "transaction-response"]},
            "total": {"type": "integer"},
            "link": {"type": "array", "items": {"type": "object", "properties": {"relation": string, "url": string}}},
            "entry": {"type": "array", "items": {"type": "object", "properties": {
                "fullUrl": string,
                "resource": {"type": "object", "description": "An Observation, Patient, Consent or OperationOutcome."},
                "request": {"type": "object", "properties": {"method": {"type": "string", "enum": ["POST"]}, "url": string, "ifNoneExist": string}},
                "response": {"type": "object", "properties": {"status": string, "location": string, "outcome": reference("OperationOutcome")}},
                "search": {"type": "object", "properties": {"mode": string}}
            }}}
        },
        "required": ["resourceType", "type"],
        "example": {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": observation_example, "request": {"method": "POST", "url": "Observation"}}]}
    }));
    schemas.insert("OperationOutcome".into(), json!({
        "type": "object",
        "description": "A FHIR R5 OperationOutcome: why a FHIR request failed.",
        "properties": {
            "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
            "issue": {"type": "array", "items": {"type": "object", "properties": {
                "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                "code": string,
                "diagnostics": string,
                "expression": {"type": "array", "items": string}
            }, "required": ["severity", "code"]}}
        },
        "required": ["resourceType", "issue"],
        "example": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found", "diagnostics": "Observation/1 is not known."}]}
    }));
    schemas.insert(
        "OAuthError".into(),
        json!({
            "type": "object",
            "description": "An OAuth 2.0 error (RFC 6749, section 5.2).",
            "properties": {"error": string, "error_description": string},
            "required": ["error"],
            "example": {"error": "invalid_grant", "error_description": "Invalid grant."}
        }),
    );
    schemas.insert("OAuthTokens".into(), json!({
        "type": "object",
        "description": "Issued tokens (RFC 6749, section 5.1); `id_token` with the `openid` scope.",
        "properties": {
            "access_token": string, "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"}, "refresh_token": string, "scope": string,
            "id_token": string, "issued_token_type": string
        },
        "required": ["access_token", "token_type"]
    }));
    schemas.insert("OAuthIntrospection".into(), json!({
        "type": "object",
        "description": "A token's introspection (RFC 7662).",
        "properties": {"active": {"type": "boolean"}, "scope": string, "client_id": string, "username": string, "exp": {"type": "integer"}},
        "required": ["active"]
    }));
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters_become_integers_and_bearer_is_offered() {
        let mut doc = json!({
            "info": {"description": "X"},
            "components": {"schemas": {}, "securitySchemes": {"OAuth2": {}}},
            "paths": {"/a": {"get": {
                "security": [{"OAuth2": []}],
                "parameters": [{"name": "page", "schema": {"type": "string"}}, {"name": "pageSize", "schema": {"type": "string"}}]
            }, "post": {"requestBody": {}, "responses": {}}}}
        });
        augment(&mut doc);
        assert_eq!(
            doc["paths"]["/a"]["get"]["parameters"][0]["schema"]["type"],
            "integer"
        );
        assert_eq!(
            doc["paths"]["/a"]["get"]["parameters"][1]["schema"]["maximum"],
            MAX_PAGE_SIZE
        );
        assert_eq!(
            doc["paths"]["/a"]["get"]["security"][1][BEARER_SCHEME],
            json!([])
        );
        assert!(doc["paths"]["/a"]["post"]["responses"]["413"].is_object());
        assert!(doc["paths"]["/fhir/r5/Observation"]["post"].is_object());
        assert!(doc["components"]["schemas"]["OperationOutcome"].is_object());
    }

    #[test]
    fn a_prefix_adds_a_server_and_moves_the_oauth_urls() {
        let doc = json!({
            "components": {"securitySchemes": {"OAuth2": {"type": "oauth2", "flows": {"authorizationCode": {
                "authorizationUrl": "/o/authorize/", "tokenUrl": "/o/token/"}}}}},
            "paths": {}
        })
        .to_string();
        assert_eq!(with_base_path(&doc, ""), doc);
        let nested: Value = serde_json::from_str(&with_base_path(&doc, "/jhe")).unwrap();
        assert_eq!(nested["servers"][0]["url"], "/jhe");
        let flow = &nested["components"]["securitySchemes"]["OAuth2"]["flows"]["authorizationCode"];
        assert_eq!(flow["authorizationUrl"], "/jhe/o/authorize/");
        assert_eq!(flow["tokenUrl"], "/jhe/o/token/");
    }
}

//! Every error of the Admin API as JSON with a `detail` (poem-openapi's own parse errors are
//! plain text; clients such as jupyterhealth-client read `detail`).

use poem::http::{StatusCode, header};
use poem::{Endpoint, EndpointExt, Response};

/// Wraps an endpoint so that non-JSON error responses become `{"detail": "<message>"}`.
pub fn json_errors<E: Endpoint + 'static>(ep: E) -> impl Endpoint<Output = Response> {
    ep.map_to_response()
        .catch_all_error(|err: poem::Error| async move { to_json(err.into_response()).await })
        .after(|result| async move {
            match result {
                Ok(resp) if !resp.status().is_success() && !resp.status().is_redirection() => {
                    Ok(to_json(resp).await)
                }
                other => other,
            }
        })
}

async fn to_json(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if is_json {
        return resp;
    }
    let status = resp.status();
    let (parts, body) = resp.into_parts();
    let text = body.into_string().await.unwrap_or_default();
    let detail = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text.trim().to_string()
    };
    let detail = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            format!("Unsupported media type in request: {detail}")
        }
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed.".to_string(),
        StatusCode::NOT_FOUND if detail == "Not Found" || detail == "not found" => {
            "Not found.".to_string()
        }
        _ => detail,
    };
    let mut out = Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::json!({"detail": detail}).to_string());
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

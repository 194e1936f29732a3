//! Study icons: uploaded over the Admin API (`PUT /api/v1/studies/{id}/icon`) or the portal's
//! study forms (multipart), served publicly by the exchange with caching headers, refused when
//! not a PNG/JPEG/WebP of at most 256 KiB, removed with the study.

use jhe_core::store::StudyStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::portal::Browser;
use crate::support::*;

/// A real 32×32 PNG (a blue disc).
pub const PNG: &[u8] = include_bytes!("../data/study-icon.png");

/// `PUT` raw bytes as the study's icon.
async fn put_icon(
    app: &TestApp,
    study: i64,
    token: Option<&str>,
    bytes: Vec<u8>,
    content_type: &str,
) -> (u16, Value) {
    let mut request = plain_client()
        .put(app.url(&format!("/api/v1/studies/{study}/icon")))
        .header("Content-Type", content_type)
        .body(bytes);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET` the icon anonymously.
async fn get_icon(app: &TestApp, study: i64) -> reqwest::Response {
    plain_client()
        .get(app.url(&format!("/api/v1/studies/{study}/icon")))
        .send()
        .await
        .unwrap()
}

async fn upload_fetch_refuse_remove(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    // Nothing uploaded yet: 404 JSON.
    let r = get_icon(&app, 30001).await;
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["detail"].is_string());

    // Upload (the Content-Type sent does not matter: the bytes are recognised).
    let (status, body) = put_icon(&app, 30001, mary, PNG.to_vec(), "image/png").await;
    assert_eq!(status, 200, "{body}");
    let icon_url = body["iconUrl"].as_str().unwrap().to_string();
    let prefix = format!("{}/api/v1/studies/30001/icon?v=", app.config.site_url);
    assert!(icon_url.starts_with(&prefix), "{icon_url}");
    // Every reader of the study sees the link.
    let (_, study) = api_request(&app, Method::GET, "/api/v1/studies/30001", mary, None).await;
    assert_eq!(study["iconUrl"], icon_url);

    // Served publicly, byte for byte, with its type and caching headers.
    let r = plain_client().get(&icon_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "default-src 'none'");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let r = plain_client()
        .get(app.url("/api/v1/studies/30001/icon"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);

    // Refused: SVG, text, oversized; nothing is stored (30002 has no icon).
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let mut big = PNG.to_vec();
    big.resize(300 * 1024, 0);
    for (bytes, content_type, says) in [
        (svg, "image/svg+xml", "SVG"),
        (b"hello, world".to_vec(), "text/plain", "PNG, JPEG or WebP"),
        (big, "image/png", "256 KiB"),
    ] {
        let (status, body) = put_icon(&app, 30002, mary, bytes, content_type).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{body}"
        );
        assert_eq!(get_icon(&app, 30002).await.status(), 404);
    }
    let (_, study) = api_request(&app, Method::GET, "/api/v1/studies/30002", mary, None).await;
    assert_eq!(study["iconUrl"], Value::Null);

    // Only those who may edit the study.
    for (caller, expected) in [
        (Caller::Viewer, 403),
        (Caller::OtherOrg, 403),
        (Caller::Patient, 403),
        (Caller::Anonymous, 401),
    ] {
        let (status, body) = put_icon(&app, 30002, t.of(caller), PNG.to_vec(), "image/png").await;
        assert_eq!(status, expected, "{caller:?}: {body}");
        let (status, _) = api_request(
            &app,
            Method::DELETE,
            "/api/v1/studies/30001/icon",
            t.of(caller),
            None,
        )
        .await;
        assert_eq!(status, expected, "{caller:?} DELETE");
    }
    assert_eq!(get_icon(&app, 30002).await.status(), 404);
    assert_eq!(get_icon(&app, 30001).await.status(), 200);

    // Remove: the image and the link go.
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/studies/30001/icon",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["iconUrl"], Value::Null);
    assert_eq!(get_icon(&app, 30001).await.status(), 404);

    // A plain iconUrl keeps working as before, and replaces an uploaded image.
    put_icon(&app, 30001, mary, PNG.to_vec(), "image/png").await;
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/studies/30001",
        mary,
        Some(json!({"iconUrl": "https://cdn.example.org/logo.png"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["iconUrl"], "https://cdn.example.org/logo.png");
    assert_eq!(get_icon(&app, 30001).await.status(), 404);

    // Deleting the study deletes its icon.
    put_icon(&app, 30001, mary, PNG.to_vec(), "image/png").await;
    assert!(app.db.store.get_study_icon(30001).await.unwrap().is_some());
    let (status, _) = api_request(&app, Method::DELETE, "/api/v1/studies/30001", mary, None).await;
    assert_eq!(status, 204);
    assert!(app.db.store.get_study_icon(30001).await.unwrap().is_none());
    assert_eq!(get_icon(&app, 30001).await.status(), 404);
}

/// A `multipart/form-data` body (built by hand: the test client has no multipart support).
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----jhe-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, filename, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(
    browser: &Browser<'_>,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &[u8])>,
) -> reqwest::Response {
    let (content_type, body) = multipart(fields, file);
    browser
        .client
        .post(browser.app.url(path))
        .header("Cookie", &browser.cookie)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn portal_upload_and_remove(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let mary = Browser::of(&app, seeded::MANAGER).await;
    let viewer = Browser::of(&app, seeded::VIEWER).await;
    let fields = [
        ("csrfmiddlewaretoken", TEST_CSRF),
        ("name", "Example Study on BP"),
        ("description", "Blood Pressure"),
        ("icon_url", ""),
    ];
    // The edit form with a file.
    let r = post_multipart(
        &mary,
        "/portal/studies/30002/edit",
        &fields,
        Some(("icon", "disc.png", PNG)),
    )
    .await;
    assert_eq!(r.status(), 302);
    let html = mary.page(&location(&r)).await;
    assert!(html.contains("Study saved."), "{html}");
    let stored = app.db.store.get_study_icon(30002).await.unwrap().unwrap();
    assert_eq!(stored.data, PNG);
    assert_eq!(stored.content_type, "image/png");
    let study = app.db.store.get_study(30002).await.unwrap().unwrap();
    let url = study.icon_url.unwrap();
    assert!(url.contains("/api/v1/studies/30002/icon?v="), "{url}");
    // The page previews it; the list shows it.
    assert!(
        html.contains("Current icon of Example Study on BP"),
        "{html}"
    );
    assert!(html.contains("Remove icon"));
    let list = mary.page("/portal/studies/?org=20003").await;
    assert!(list.contains("Icon of Example Study on BP"), "{list}");

    // A refused file: a clear message, nothing changed.
    let r = post_multipart(
        &mary,
        "/portal/studies/30002/edit",
        &[
            ("csrfmiddlewaretoken", TEST_CSRF),
            ("name", "Example Study on BP"),
            ("description", "Blood Pressure"),
            ("icon_url", &url),
        ],
        Some((
            "icon",
            "x.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        )),
    )
    .await;
    assert_eq!(r.status(), 302);
    let html = mary.page(&location(&r)).await;
    assert!(html.contains("SVG icons are not accepted"), "{html}");
    assert_eq!(
        app.db
            .store
            .get_study_icon(30002)
            .await
            .unwrap()
            .unwrap()
            .data,
        PNG
    );

    // Without the CSRF token: refused.
    let r = post_multipart(
        &mary,
        "/portal/studies/30002/edit",
        &[("name", "X")],
        Some(("icon", "disc.png", PNG)),
    )
    .await;
    assert_eq!(r.status(), 403);
    // A viewer cannot change it.
    let r = post_multipart(
        &viewer,
        "/portal/studies/30002/edit",
        &fields,
        Some(("icon", "disc.png", PNG)),
    )
    .await;
    assert_eq!(r.status(), 302);
    let html = viewer.page(&location(&r)).await;
    assert!(html.contains("message-error"), "{html}");

    // Create with an icon.
    let r = post_multipart(
        &mary,
        "/portal/studies/",
        &[
            ("csrfmiddlewaretoken", TEST_CSRF),
            ("organization", "20003"),
            ("name", "Icon study"),
            ("description", "With an icon"),
            ("icon_url", ""),
        ],
        Some(("icon", "disc.png", PNG)),
    )
    .await;
    assert_eq!(r.status(), 302);
    let to = location(&r);
    let id: i64 = to
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(app.db.store.get_study_icon(id).await.unwrap().is_some());
    // An empty file input (no file chosen) changes nothing.
    let r = post_multipart(
        &mary,
        &format!("/portal/studies/{id}/edit"),
        &[
            ("csrfmiddlewaretoken", TEST_CSRF),
            ("name", "Icon study"),
            ("description", "Still with an icon"),
        ],
        Some(("icon", "", b"")),
    )
    .await;
    assert_eq!(r.status(), 302);
    assert!(app.db.store.get_study_icon(id).await.unwrap().is_some());

    // "Remove icon".
    let (_, html) = mary.submit("/portal/studies/30002/icon/remove", &[]).await;
    assert!(html.contains("Icon removed."), "{html}");
    assert!(app.db.store.get_study_icon(30002).await.unwrap().is_none());
    let study = app.db.store.get_study(30002).await.unwrap().unwrap();
    assert_eq!(study.icon_url, None);
}

both_backends! {
    upload_fetch_refuse_remove => upload_fetch_refuse_remove;
    portal_upload_and_remove => portal_upload_and_remove;
}

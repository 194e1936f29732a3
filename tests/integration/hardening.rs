//! Issue 10 (hardening): hostile inputs get a clear 4xx, nothing panics — on both databases.

use reqwest::{Method, StatusCode};

use crate::both_backends;
use crate::fhir_upload::{HR, World, get, heart_rate_bytes, post};
use crate::support::{Backend, Caller, CallerTokens, api_request, spawn_seeded};

/// A page number whose offset overflows a signed 64-bit integer (×20 rows).
const HUGE_PAGE: &str = "461168601842738792";

async fn huge_page_numbers_are_not_found(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let sam = t.of(Caller::Superuser);
    for list in [
        "/api/v1/patients",
        "/api/v1/organizations",
        "/api/v1/studies",
        "/api/v1/observations",
        "/api/v1/data_sources",
        "/api/v1/clients",
        "/api/v1/users",
    ] {
        for page in [HUGE_PAGE, "18446744073709551615", "1000000001"] {
            let (status, body) =
                api_request(&app, Method::GET, &format!("{list}?page={page}"), sam, None).await;
            assert_eq!(status, 404, "{list}?page={page}: {body}");
            assert_eq!(body["detail"], "Invalid page.", "{list}");
        }
        // The largest accepted page is simply empty (or, for fixed lists, not found).
        let (status, body) = api_request(
            &app,
            Method::GET,
            &format!("{list}?page=1000000000"),
            sam,
            None,
        )
        .await;
        assert!(status == 200 || status == 404, "{list}: {status} {body}");
    }
}

async fn multibyte_dates_are_bad_requests(backend: Backend) {
    let w = World::new(backend).await;
    let peter = w.peter.id;
    for value in [
        "123%C3%A945",
        "%C3%A9%C3%A9%C3%A9-1",
        "2025-%C3%A91",
        "ge%C3%A9",
    ] {
        for name in ["date", "_lastUpdated"] {
            let a = get(
                &w.app,
                &format!("/fhir/r5/Observation?patient={peter}&{name}={value}"),
                &w.prac_token,
            )
            .await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{name}={value}: {}",
                a.text
            );
            a.outcome();
        }
    }
    let a = get(
        &w.app,
        &format!("/fhir/r5/Observation?patient={peter}&_page={HUGE_PAGE}"),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
}

async fn date_bounds_agree_on_both_databases(backend: Backend) {
    let w = World::new(backend).await;
    let peter = w.peter.id;
    let resource = w.observation(peter, HR, &heart_rate_bytes(70, "2025-01-01T10:00:00Z"));
    let a = post(&w.app, "/fhir/r5/Observation", &w.peter_token, &resource).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    for (query, expected) in [
        ("date=le9999", 1),
        ("date=lt9999", 1),
        ("date=le9999-12-31", 1),
        ("date=le9999-12-31T23:59:59Z", 1),
        ("date=ge9999", 0),
        ("date=gt9999", 0),
        ("date=9999", 0),
        ("date=ge0000", 1),
        ("date=gt0000", 1),
        ("date=lt0000", 0),
        ("_lastUpdated=le9999", 1),
        ("_lastUpdated=gt9999", 0),
        ("date=le2025-01-01T11:00:00%2B14:00", 0),
        ("date=le2025-01-01T00:00:00-12:00", 1),
    ] {
        let a = get(
            &w.app,
            &format!("/fhir/r5/Observation?patient={peter}&{query}"),
            &w.prac_token,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text);
        assert_eq!(a.json["total"], expected, "{query}");
    }
    for query in [
        "date=le2025-01-01T00:00:00%2B14:01",
        "date=le2025-01-01T00:00:00-15:00",
        "date=le2025-01-01T00:00%2B23:59",
    ] {
        let a = get(
            &w.app,
            &format!("/fhir/r5/Observation?patient={peter}&{query}"),
            &w.prac_token,
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.text);
    }
}

both_backends! {
    huge_page_numbers => huge_page_numbers_are_not_found;
    multibyte_dates => multibyte_dates_are_bad_requests;
    date_bounds => date_bounds_agree_on_both_databases;
}

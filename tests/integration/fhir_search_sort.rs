//! FHIR search result control and period semantics over HTTP, on both databases: `_sort` both
//! ways (following `next` links through several pages, keyset and page numbers), `_total=none`,
//! `_summary=count`, `date` matching effective periods by overlap (`ge`/`gt`/`le`/`lt`) and
//! containment (`eq`), and Patient search by name, family, given, birthdate, email, identifier.

use chrono::{DateTime, Utc};
use jhe_core::domain::*;
use jhe_core::store::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::fhir_conformance::{assert_no_empty_arrays, assert_valid_fhir, enc, fhir_get};
use crate::fhir_upload::{BP, HR, World, get, heart_rate_bytes};
use crate::support::Backend;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An observation of `patient` whose effective period is `start`..`end` (an instant without
/// `end`).
pub fn stored_period(
    w: &World,
    patient: Id,
    code: &str,
    start: &str,
    end: Option<&str>,
) -> NewObservation {
    NewObservation {
        id: None,
        subject_patient_id: patient,
        codeable_concept_id: w.concept(code).id,
        data_source_id: Some(w.device.id),
        value_attachment_data: String::from_utf8(heart_rate_bytes(70, start)).unwrap(),
        content_type: "application/json".into(),
        status: "final".into(),
        effective_start: Some(at(start)),
        effective_end: end.map(at),
        identifiers: Vec::new(),
    }
}

/// Stores the observations one by one (so their `last_updated` values increase in order).
pub async fn store_all(w: &World, new: Vec<NewObservation>) -> Vec<Observation> {
    let mut out = Vec::new();
    for n in new {
        out.extend(w.app.db.store.create_observations(vec![n]).await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    out
}

fn ids(bundle: &Value) -> Vec<Id> {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn next(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_string())
}

/// Every id of a search, following `next` links; checks each page.
async fn all_pages(w: &World, first: &str, token: &str) -> (Vec<Id>, Vec<Value>) {
    let mut url = first.to_string();
    let mut out = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..100 {
        let a = fhir_get(w, &url, token).await;
        assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text);
        assert_valid_fhir(&a.json);
        assert_no_empty_arrays(&a.json, &url);
        out.extend(ids(&a.json));
        let n = next(&a.json);
        pages.push(a.json);
        match n {
            Some(n) => url = n,
            None => return (out, pages),
        }
    }
    panic!("more than 100 pages");
}

async fn sort_both_ways(backend: Backend) {
    let w = World::new(backend).await;
    // Uploaded in this order; effective times deliberately not in upload order, one without an
    // effective time, and two with the same start (ties by id).
    let starts = [
        Some("2025-03-05T08:00:00Z"),
        Some("2025-03-01T08:00:00Z"),
        None,
        Some("2025-03-09T08:00:00Z"),
        Some("2025-03-03T08:00:00Z"),
        Some("2025-03-03T08:00:00Z"),
        Some("2025-03-07T08:00:00Z"),
    ];
    let new = starts
        .iter()
        .map(|s| {
            let mut n = stored_period(
                &w,
                w.peter.id,
                HR,
                s.unwrap_or("2025-03-01T00:00:00Z"),
                None,
            );
            n.effective_start = s.map(at);
            n
        })
        .collect();
    let stored = store_all(&w, new).await;
    let uploaded: Vec<Id> = stored.iter().map(|o| o.id).collect();
    let by_date = |desc: bool| {
        let mut with: Vec<&Observation> = stored
            .iter()
            .filter(|o| o.effective_start.is_some())
            .collect();
        with.sort_by_key(|o| (o.effective_start, o.id));
        if desc {
            with.reverse();
        }
        let mut v: Vec<Id> = with.iter().map(|o| o.id).collect();
        v.extend(
            stored
                .iter()
                .filter(|o| o.effective_start.is_none())
                .map(|o| o.id),
        );
        v
    };
    let mut newest_first = uploaded.clone();
    newest_first.reverse();
    let cases: Vec<(&str, Vec<Id>)> = vec![
        ("", newest_first.clone()),
        ("-_lastUpdated", newest_first.clone()),
        ("_lastUpdated", uploaded.clone()),
        ("date", by_date(false)),
        ("-date", by_date(true)),
    ];
    for (sort, expected) in cases {
        for count in [2, 3, 100] {
            let url = format!(
                "/fhir/r5/Observation?patient={}&_count={count}{}",
                w.peter.id,
                if sort.is_empty() {
                    String::new()
                } else {
                    format!("&_sort={}", enc(sort))
                }
            );
            let (got, pages) = all_pages(&w, &url, &w.prac_token).await;
            assert_eq!(got, expected, "_sort={sort} _count={count}");
            assert_eq!(
                pages.len(),
                expected.len().div_ceil(count),
                "_sort={sort} _count={count}"
            );
            for page in &pages {
                assert_eq!(page["total"], expected.len() as u64);
            }
            // Keyset cursors only for the _lastUpdated orders.
            let cursors = pages
                .iter()
                .filter_map(next)
                .any(|n| n.contains("_cursor="));
            assert_eq!(
                cursors,
                !sort.ends_with("date") && count < expected.len(),
                "_sort={sort} _count={count}"
            );
        }
    }
    // A cursor with a date order is refused; an unknown sort too.
    let a = get(
        &w.app,
        "/fhir/r5/Observation?_sort=date&_cursor=1_1",
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    a.outcome();
    let a = get(&w.app, "/fhir/r5/Observation?_sort=status", &w.prac_token).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    // The access scope still applies to sorted searches: the outsider sees nothing.
    for sort in ["date", "-date", "_lastUpdated"] {
        let a = fhir_get(
            &w,
            &format!("/fhir/r5/Observation?_sort={sort}"),
            &w.outsider_token,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json["total"], 0, "{}", a.text);
        assert!(a.json.get("entry").is_none());
    }
}

async fn total_none_and_summary_count(backend: Backend) {
    let w = World::new(backend).await;
    let new = (0..5)
        .map(|i| {
            stored_period(
                &w,
                w.peter.id,
                HR,
                &format!("2025-03-0{}T08:00:00Z", i + 1),
                None,
            )
        })
        .collect();
    let stored = store_all(&w, new).await;
    let mut expected: Vec<Id> = stored.iter().map(|o| o.id).collect();
    expected.reverse();
    for (sort, count) in [
        ("", 2),
        ("", 5),
        ("&_sort=date", 2),
        ("&_sort=date", 5),
        ("&_sort=_lastUpdated", 3),
    ] {
        let url = format!("/fhir/r5/Observation?_total=none&_count={count}{sort}");
        let (got, pages) = all_pages(&w, &url, &w.prac_token).await;
        let mut want = expected.clone();
        if sort.contains("date") || sort.contains("_lastUpdated") {
            want.reverse();
        }
        assert_eq!(got, want, "{url}");
        assert_eq!(
            pages.len(),
            5usize.div_ceil(count),
            "{url}: the last page has no next link"
        );
        for page in &pages {
            assert!(page.get("total").is_none(), "{url}: {page}");
        }
    }
    for total in ["accurate", "estimate"] {
        let a = get(
            &w.app,
            &format!("/fhir/r5/Observation?_total={total}&_count=2"),
            &w.prac_token,
        )
        .await;
        assert_eq!(a.json["total"], 5);
    }
    let a = get(
        &w.app,
        "/fhir/r5/Observation?_total=sometimes",
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // _summary=count: only the total, even with _total=none; the access scope applies.
    for q in ["_summary=count", "_summary=count&_total=none", "_count=0"] {
        let a = get(&w.app, &format!("/fhir/r5/Observation?{q}"), &w.prac_token).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.json["total"], 5, "{q}: {}", a.text);
        assert!(a.json.get("entry").is_none(), "{q}: {}", a.text);
        let a = get(
            &w.app,
            &format!("/fhir/r5/Observation?{q}"),
            &w.outsider_token,
        )
        .await;
        assert_eq!(a.json["total"], 0, "{q}: {}", a.text);
    }
    let a = get(
        &w.app,
        &format!("/fhir/r5/Observation?_summary=count&code={}", enc(BP)),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.json["total"], 0);
}

async fn date_period_overlap(backend: Backend) {
    let w = World::new(backend).await;
    // A: a period 2025-03-01 22:00 → 2025-03-03 02:00 (over two midnights).
    // B: an instant 2025-03-02 12:00.
    // C: a period 2025-02-27 → 2025-02-28 10:00.
    // D: a period 2025-03-02 01:00 → 2025-03-02 03:00 (inside 2025-03-02).
    let stored = store_all(
        &w,
        vec![
            stored_period(
                &w,
                w.peter.id,
                HR,
                "2025-03-01T22:00:00Z",
                Some("2025-03-03T02:00:00Z"),
            ),
            stored_period(&w, w.peter.id, HR, "2025-03-02T12:00:00Z", None),
            stored_period(
                &w,
                w.peter.id,
                HR,
                "2025-02-27T00:00:00Z",
                Some("2025-02-28T10:00:00Z"),
            ),
            stored_period(
                &w,
                w.peter.id,
                HR,
                "2025-03-02T01:00:00Z",
                Some("2025-03-02T03:00:00Z"),
            ),
        ],
    )
    .await;
    let [a, b, c, d] = [stored[0].id, stored[1].id, stored[2].id, stored[3].id];
    let cases: Vec<(Vec<&str>, Vec<Id>)> = vec![
        // eq: the period lies inside the day.
        (vec!["2025-03-02"], vec![b, d]),
        (vec!["eq2025-03"], vec![a, b, d]),
        (vec!["2025-02"], vec![c]),
        // ge/gt: the period ends at or after (overlaps the range above). The original compared
        // the start only and missed A for ge2025-03-02.
        (vec!["ge2025-03-02"], vec![a, b, d]),
        (vec!["gt2025-03-02"], vec![a]),
        (vec!["ge2025-03-03T01:00:00Z"], vec![a]),
        (vec!["gt2025-02-28T09:00:00Z"], vec![a, b, c, d]),
        // le/lt: the period starts before (overlaps the range below).
        (vec!["lt2025-03-02"], vec![a, c]),
        (vec!["le2025-03-01"], vec![a, c]),
        (vec!["lt2025-02-27T00:00:01Z"], vec![c]),
        (vec!["lt2025-02-27"], vec![]),
        // A range: overlap of both ends.
        (
            vec!["ge2025-03-02T02:30:00Z", "le2025-03-02T02:30:00Z"],
            vec![a, d],
        ),
        (vec!["ge2025-02-28", "lt2025-03-01"], vec![c]),
        (vec!["gt2025-03-03", "lt2025-03-01"], vec![]),
        (vec!["gt2025-03-02", "lt2025-03-02"], vec![a]),
    ];
    for (values, mut want) in cases {
        let query: String = values.iter().map(|v| format!("&date={}", enc(v))).collect();
        let url = format!("/fhir/r5/Observation?_sort=date&_count=100{query}");
        let res = get(&w.app, &url, &w.prac_token).await;
        assert_eq!(res.status, StatusCode::OK, "{url}: {}", res.text);
        let mut got = ids(&res.json);
        got.sort();
        want.sort();
        assert_eq!(got, want, "{values:?}");
        assert_eq!(res.json["total"], want.len() as u64, "{values:?}");
    }
    // The patient's own search and the Admin API share the service: same rule for peter.
    let res = get(
        &w.app,
        "/fhir/r5/Observation?date=ge2025-03-02",
        &w.peter_token,
    )
    .await;
    let mut got = ids(&res.json);
    got.sort();
    assert_eq!(got, {
        let mut v = vec![a, b, d];
        v.sort();
        v
    });
    // And the store applies it to a direct query.
    let page = w
        .app
        .db
        .store
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery {
                effective_from: Some(at("2025-03-03T00:00:00Z")),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![a]);
}

async fn patient_search_parameters(backend: Backend) {
    let w = World::new(backend).await;
    let peter = w.peter.id;
    let pamela = w.pamela.id;
    let cases: Vec<(&str, Vec<Id>)> = vec![
        ("name=pe", vec![peter]),
        ("name=PAM", vec![pamela]),
        ("name=giv", vec![peter, pamela]),
        ("name=iven", vec![]),
        ("name=p%25", vec![]),
        ("family=Peter", vec![peter]),
        ("family=Given", vec![]),
        ("given=given", vec![peter, pamela]),
        ("given=x", vec![]),
        ("birthdate=1990-02-03", vec![peter, pamela]),
        ("birthdate=1990-02", vec![peter, pamela]),
        ("birthdate=1990-02-04", vec![]),
        ("birthdate=ge1990-02-03", vec![peter, pamela]),
        ("birthdate=gt1990-02-03", vec![]),
        ("birthdate=lt1990-02-03", vec![]),
        ("birthdate=le1990-02-03", vec![peter, pamela]),
        ("email=PETER%40example.org", vec![peter]),
        ("email=mailto%3Apamela%40example.org", vec![]),
        ("email=pamela%40example.org", vec![pamela]),
        ("identifier=ext-Pamela", vec![pamela]),
        ("identifier=http%3A%2F%2Fx%7Cext-Peter", vec![peter]),
        ("family=Peter&given=Given", vec![peter]),
        ("family=Peter&name=Pam", vec![]),
    ];
    for (q, mut want) in cases {
        let url = format!("/fhir/r5/Patient?{q}");
        let res = get(&w.app, &url, &w.prac_token).await;
        assert_eq!(res.status, StatusCode::OK, "{url}: {}", res.text);
        assert_valid_fhir(&res.json);
        let mut got = ids(&res.json);
        got.sort();
        want.sort();
        assert_eq!(got, want, "{q}");
        // The access scope applies: the outsider finds nobody; peter only himself.
        let res = get(&w.app, &url, &w.outsider_token).await;
        assert_eq!(res.json["total"], 0, "{q}");
        let res = get(&w.app, &url, &w.peter_token).await;
        let expected_self: Vec<Id> = want.iter().copied().filter(|id| *id == peter).collect();
        assert_eq!(ids(&res.json), expected_self, "{q}");
    }
    let res = get(
        &w.app,
        "/fhir/r5/Patient?_total=none&_count=1",
        &w.prac_token,
    )
    .await;
    assert!(res.json.get("total").is_none(), "{}", res.text);
    assert!(next(&res.json).is_some());
}

both_backends! {
    sort_by_date_and_last_updated_both_ways => sort_both_ways;
    total_none_skips_the_count_and_summary_count_counts => total_none_and_summary_count;
    date_matches_effective_periods_by_overlap => date_period_overlap;
    patient_search_by_name_family_given_birthdate_email_identifier => patient_search_parameters;
}

//! The portal's access history for a logged-in patient: who read or changed their data (staff
//! over FHIR, themself through the consent screen), paged with a cursor; nothing for accounts
//! without a patient record; a login redirect for anonymous visitors.

use std::collections::HashSet;

use serde_json::Value;

use crate::both_backends;
use crate::support::seeded::{MANAGER, PATIENT};
use crate::support::{
    Backend, TEST_CSRF, TestApp, bearer_for, bearer_get, location, login_session, plain_client,
    spawn_seeded,
};

/// Peter's patient record.
const PETER: i64 = 40001;
const ROW: &str = "<tr><td class=\"data\">";

async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    plain_client()
        .get(app.url(path))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// The `href` of the link with `rel="next"`, if any.
fn next_link(html: &str) -> Option<String> {
    let (before, _) = html.split_once("rel=\"next\"")?;
    let start = before.rfind("href=\"")? + "href=\"".len();
    Some(
        before[start..]
            .split('"')
            .next()?
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

fn rows(html: &str) -> Vec<String> {
    html.split(ROW)
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap().to_string())
        .collect()
}

async fn access_history(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let mary = bearer_for(&app, MANAGER).await;

    // Mary searches Peter's observations, then reads 25 of them one by one.
    let response = bearer_get(
        &app,
        &format!("/fhir/r5/Observation?patient={PETER}&_count=25"),
        &mary,
    )
    .await;
    assert_eq!(response.status(), 200);
    let bundle: Value = response.json().await.unwrap();
    let ids: Vec<String> = bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(!ids.is_empty());
    let mut reads = 0;
    while reads < 25 {
        for id in &ids {
            if reads == 25 {
                break;
            }
            let r = bearer_get(&app, &format!("/fhir/r5/Observation/{id}"), &mary).await;
            assert_eq!(r.status(), 200);
            reads += 1;
        }
    }

    // Peter withdraws a consent in the portal: an event of his own.
    let peter = format!("sessionid={}", login_session(&app, PATIENT).await);
    let r = plain_client()
        .post(app.url("/portal/consents/"))
        .header("Cookie", &peter)
        .form(&[
            ("csrfmiddlewaretoken", TEST_CSRF),
            ("study", "30001"),
            ("system", "https://w3id.org/openmhealth"),
            ("code", "omh:blood-pressure:4.0"),
            ("decision", "withdraw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    app.audit.flush().await;

    // Oldest first on request: mary's search first.
    let html = get(&app, &peter, "/portal/access-history/?order=oldest")
        .await
        .text()
        .await
        .unwrap();
    let oldest = rows(&html);
    assert!(oldest[0].contains("mary@example.com"), "{}", oldest[0]);
    assert!(oldest[0].contains("Searched"), "{}", oldest[0]);
    assert!(
        next_link(&html)
            .is_some_and(|n| n.starts_with("/portal/access-history/?order=oldest&after=")),
        "{html}"
    );

    // The first page (newest first): 20 rows, Peter's own consent change first, a link to
    // the next page.
    let r = get(&app, &peter, "/portal/access-history/").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("href=\"/portal/access-history/\""),
        "nav link"
    );
    let first = rows(&html);
    assert_eq!(first.len(), 20, "{html}");
    assert!(first[0].contains("Consent changed"), "{}", first[0]);
    assert!(first[0].contains("You"), "{}", first[0]);
    assert!(first.iter().any(|r| r.contains("Read")));
    let mut seen: HashSet<String> = first.iter().cloned().collect();
    let mut all = first.clone();
    let mut next = next_link(&html).expect("a next page");
    loop {
        assert!(
            next.starts_with("/portal/access-history/?order=newest&after="),
            "{next}"
        );
        let r = get(&app, &peter, &next).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains("First page"));
        let page = rows(&html);
        assert!(!page.is_empty());
        for row in &page {
            // Rows of one second can look alike; their count is what matters.
            seen.insert(row.clone());
        }
        all.extend(page);
        match next_link(&html) {
            Some(n) => next = n,
            None => break,
        }
    }
    assert!(all.len() >= 27, "{}", all.len());
    assert!(
        all.iter()
            .filter(|r| r.contains("mary@example.com") && r.contains("Read"))
            .count()
            >= 25
    );
    let own = all
        .iter()
        .find(|r| r.contains("Consent changed"))
        .expect("the consent change");
    assert!(own.contains("You"), "{own}");
    assert!(own.contains("Done"), "{own}");
    // Only events about Peter: nobody else's patient appears.
    assert!(all.iter().all(|r| !r.contains("Patient/40002")));

    // A larger page size holds everything at once.
    let html = get(&app, &peter, "/portal/access-history/?pageSize=100")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        rows(&html),
        all,
        "the pages walk the whole history, newest first"
    );
    assert!(next_link(&html).is_none());
    let mut oldest_all = rows(
        &get(
            &app,
            &peter,
            "/portal/access-history/?order=oldest&pageSize=100",
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    oldest_all.reverse();
    assert_eq!(oldest_all, all, "oldest first is the same history reversed");

    // Mary has no patient record; anonymous visitors log in first.
    let mary_session = format!("sessionid={}", login_session(&app, MANAGER).await);
    let r = get(&app, &mary_session, "/portal/access-history/").await;
    assert_eq!(r.status(), 404);
    let r = plain_client()
        .get(app.url("/portal/access-history/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(location(&r).starts_with("/accounts/login/"));
}

both_backends! {
    portal_access_history => access_history;
}

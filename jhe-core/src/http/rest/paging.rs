//! The paging envelope of list endpoints: `{"count", "next", "previous", "results"}` with
//! absolute links that keep the client's parameters (sorted by name, page replaced).

use poem::Request;
use poem_openapi::Object;
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};

use crate::config::Config;
use crate::domain::{DEFAULT_PAGE_SIZE, MAX_PAGE_NUMBER, MAX_PAGE_SIZE, Page, PageRequest};
use crate::error::CoreError;

/// A page of results.
#[derive(Debug, Object)]
pub struct Paginated<T: Type + ParseFromJSON + ToJSON> {
    /// Rows matching in all.
    pub count: u64,
    /// Absolute URL of the next page.
    pub next: Option<String>,
    /// Absolute URL of the previous page.
    pub previous: Option<String>,
    /// This page's rows.
    pub results: Vec<T>,
}

/// Reads `page` and `pageSize` (the middleware has camelCased `page_size`). A non-numeric page is
/// `404 Invalid page.`; a bad size falls back to the default; sizes are capped at 1000.
/// `fixed_size` (practitioners, settings, clients) ignores `pageSize` as the original does.
pub fn page_request(
    page: Option<&str>,
    page_size: Option<&str>,
    fixed_size: Option<u64>,
) -> Result<PageRequest, CoreError> {
    let page = match page.map(str::trim) {
        None | Some("") => 1,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_NUMBER).contains(n))
            .ok_or_else(|| CoreError::NotFound("Invalid page.".into()))?,
    };
    let size = match fixed_size {
        Some(size) => size,
        None => page_size
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|n| *n >= 1)
            .map(|n| n.min(MAX_PAGE_SIZE))
            .unwrap_or(DEFAULT_PAGE_SIZE),
    };
    Ok(PageRequest::new(page, size))
}

/// The absolute URL of another page of the same request: original path and parameters (names as
/// the client spelled them), sorted by name, with the page parameter set (or removed for page 1).
pub fn page_link(req: &Request, config: &Config, page_param: &str, page: u64) -> String {
    let uri = super::casing::original_uri(req);
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .filter(|(k, _)| k != page_param)
            .collect();
    if page > 1 {
        params.push((page_param.to_string(), page.to_string()));
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let base = format!(
        "{}{}",
        crate::http::prefix::public_base(req, config),
        uri.path()
    );
    if query.is_empty() {
        base
    } else {
        format!("{base}?{query}")
    }
}

/// Wraps a store page in the envelope. A page past the end (other than the first) is
/// `404 Invalid page.`.
pub fn envelope<T, U>(
    req: &Request,
    config: &Config,
    page: Page<T>,
    map: impl FnMut(T) -> U,
) -> Result<Paginated<U>, CoreError>
where
    U: Type + ParseFromJSON + ToJSON,
{
    if page.request.page > 1 && page.items.is_empty() {
        return Err(CoreError::NotFound("Invalid page.".into()));
    }
    let next = page
        .has_next()
        .then(|| page_link(req, config, "page", page.request.page + 1));
    let previous = page
        .has_previous()
        .then(|| page_link(req, config, "page", page.request.page - 1));
    Ok(Paginated {
        count: page.total,
        next,
        previous,
        results: page.items.into_iter().map(map).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_parameters() {
        assert_eq!(
            page_request(None, None, None).unwrap(),
            PageRequest::new(1, 20)
        );
        assert_eq!(
            page_request(Some("3"), Some("5000"), None).unwrap(),
            PageRequest::new(3, 1000)
        );
        assert_eq!(
            page_request(Some("2"), Some("abc"), None).unwrap(),
            PageRequest::new(2, 20)
        );
        assert_eq!(
            page_request(Some("1"), Some("2"), Some(1000)).unwrap(),
            PageRequest::new(1, 1000)
        );
        assert!(matches!(
            page_request(Some("x"), None, None),
            Err(CoreError::NotFound(_))
        ));
        assert!(matches!(
            page_request(Some("0"), None, None),
            Err(CoreError::NotFound(_))
        ));
    }

    #[test]
    fn links_keep_sorted_parameters() {
        let req = Request::builder()
            .uri(
                "/api/v1/patients?studyId=30002&pageSize=1&organizationId=20003"
                    .parse()
                    .unwrap(),
            )
            .header("host", "localhost:8000")
            .finish();
        assert_eq!(
            page_link(&req, &Config::default(), "page", 2),
            "http://localhost:8000/api/v1/patients?organizationId=20003&page=2&pageSize=1&studyId=30002"
        );
        assert_eq!(
            page_link(&req, &Config::default(), "page", 1),
            "http://localhost:8000/api/v1/patients?organizationId=20003&pageSize=1&studyId=30002"
        );
        let proxied = Request::builder()
            .uri("/api/v1/users".parse().unwrap())
            .header("host", "internal:8000")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "jhe.example.org")
            .finish();
        // Without a trusted proxy as the peer the forwarding headers are ignored (see
        // `http::forwarded`; the integration tests cover a trusted proxy).
        assert_eq!(
            page_link(&proxied, &Config::default(), "page", 3),
            "http://internal:8000/api/v1/users?page=3"
        );
    }
}

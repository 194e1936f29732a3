//! Reading settings with their fallbacks.

use crate::config::Config;
use crate::domain::keys;
use crate::store::{Store, StoreResult};

/// The public base URL: setting `site.url`, else the configured `SITE_URL`; no trailing `/`.
pub async fn site_url(store: &dyn Store, config: &Config) -> StoreResult<String> {
    Ok(match store.get_setting(keys::SITE_URL, None).await? {
        Some(s) => match s.value.as_str() {
            Some(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_string(),
            _ => config.site_url.clone(),
        },
        None => config.site_url.clone(),
    })
}

/// A global string setting, if set.
pub async fn string_setting(store: &dyn Store, key: &str) -> StoreResult<Option<String>> {
    Ok(store
        .get_setting(key, None)
        .await?
        .and_then(|s| s.value.as_str().map(str::to_string)))
}

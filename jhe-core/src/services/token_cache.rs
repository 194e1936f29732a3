//! A short-lived, bounded cache of verified bearer tokens (issue #14): token hash → the
//! [`Principal`] it authenticated, so that a busy client's requests skip the token, account and
//! profile lookups for a few seconds.
//!
//! - Keyed by the SHA-256 of the token (the hash the store keeps), never the token itself.
//! - Entries live at most `JHE_TOKEN_CACHE_SECS` seconds ([`Config::token_cache_secs`], `0` =
//!   no cache, the default) and never past the token's own expiry, which is checked exactly on
//!   every hit; at most `JHE_TOKEN_CACHE_ENTRIES` tokens are held (least recently used go first).
//! - Anything on this process that ends or changes what a token vouches for (revocation, a
//!   personal token revoked, refresh rotation, password change, deactivation, deletion of a
//!   user, patient, practitioner or client, a user's flags) calls [`TokenCache::clear`]: the
//!   next request verifies against the database again. A change made through **another**
//!   replica is seen here after at most the cache's lifetime: the cross-replica window.
//!
//! [`Config::token_cache_secs`]: crate::config::Config::token_cache_secs

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use crate::policy::Principal;

#[derive(Clone)]
struct Entry {
    principal: Principal,
    expires: DateTime<Utc>,
}

/// The cache of verified bearer tokens (disabled when built with a lifetime of `0`).
pub struct TokenCache {
    cache: Option<Cache<String, Entry>>,
    /// Bumped by every [`TokenCache::clear`]: a verification that started before a clear does
    /// not store its (possibly revoked) result.
    generation: AtomicU64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("enabled", &self.cache.is_some())
            .field(
                "entries",
                &self.cache.as_ref().map_or(0, Cache::entry_count),
            )
            .finish()
    }
}

impl TokenCache {
    /// A cache keeping each verified token `seconds` at most (`0`: no cache), holding at most
    /// `capacity` tokens.
    pub fn new(seconds: u64, capacity: u64) -> Self {
        let cache = (seconds > 0 && capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(Duration::from_secs(seconds))
                .build()
        });
        TokenCache {
            cache,
            generation: AtomicU64::new(0),
        }
    }

    /// Whether tokens are cached at all.
    pub fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// Where a verification starts: pass it to [`TokenCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The principal of a token verified less than the cache's lifetime ago and not expired
    /// since (`token_hash`: the SHA-256 the store keys tokens by).
    pub fn get(&self, token_hash: &str) -> Option<Principal> {
        let cache = self.cache.as_ref()?;
        let entry = cache.get(token_hash)?;
        if entry.expires <= Utc::now() {
            cache.invalidate(token_hash);
            return None;
        }
        Some(entry.principal)
    }

    /// Remembers a verified token until `expires` at the latest, unless the cache was cleared
    /// since `generation` (then the verification may predate a revocation).
    pub fn insert(
        &self,
        token_hash: String,
        principal: Principal,
        expires: DateTime<Utc>,
        generation: u64,
    ) {
        let Some(cache) = &self.cache else {
            return;
        };
        if self.generation() != generation {
            return;
        }
        cache.insert(token_hash.clone(), Entry { principal, expires });
        // A clear between the check and the insert: drop what was just stored.
        if self.generation() != generation {
            cache.invalidate(&token_hash);
        }
    }

    /// Forgets every cached token: called whenever a token, an account or a profile changes on
    /// this process, so that the change applies to the next request.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }
}

//! Password hashing off the async workers: argon2id and Django's 870,000-iteration pbkdf2 take
//! tens to hundreds of milliseconds of CPU, so every call runs on Tokio's blocking pool. A
//! handful of concurrent logins (or a password spray) then no longer stalls other requests.

use jhe_kdf::Verification;

/// [`jhe_kdf::verify_password`] on the blocking pool. A failed task (it panicked or the runtime
/// is shutting down) counts as a wrong password.
pub async fn verify_password(password: &str, stored: &str) -> Verification {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    tokio::task::spawn_blocking(move || jhe_kdf::verify_password(&password, &stored))
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "password verification task failed");
            Verification::Invalid
        })
}

/// [`jhe_kdf::hash_password`] on the blocking pool.
///
/// # Errors
/// The hasher's error, or the task's failure, as text.
pub async fn hash_password(password: &str) -> Result<String, String> {
    let password = password.to_owned();
    match tokio::task::spawn_blocking(move || jhe_kdf::hash_password(&password)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("password hashing task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While a hash is computed, the (single) async worker keeps serving other tasks.
    #[tokio::test(flavor = "current_thread")]
    async fn hashing_does_not_block_the_worker() {
        let started = std::time::Instant::now();
        let hashing = tokio::spawn(async { hash_password("correct horse").await });
        let mut ticks = 0u32;
        while !hashing.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            ticks += 1;
        }
        let hash = hashing.await.unwrap().unwrap();
        assert!(
            ticks > 1,
            "the worker was blocked for {:?}",
            started.elapsed()
        );
        assert!(verify_password("correct horse", &hash).await.is_valid());
        assert!(!verify_password("wrong", &hash).await.is_valid());
    }
}

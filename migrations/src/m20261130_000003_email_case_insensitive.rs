//! E-mail addresses are unique regardless of case.
//!
//! `up` stores every address in its normalised form (trimmed, lower-cased: the form jhe-rs
//! writes from now on) and adds a unique index on `LOWER(email)`, so `Mary@Example.com` and
//! `mary@example.com` can no longer be two accounts, on PostgreSQL and SQLite alike.
//!
//! Existing addresses that collide once normalised are resolved deterministically: the **oldest
//! account** (earliest `date_joined`, then lowest id) keeps the normalised address; every other
//! one is renamed to `<local>+duplicate-<id>@<domain>` (still delivered to the same mailbox by
//! most providers, and unique), and each rename is logged as a warning. An operator can then
//! merge or delete those accounts by hand.
//!
//! Every changed address is recorded in `users_email_case_backup`, so `down` (drop the index)
//! can restore the original spelling of each address that has not changed since.

use std::collections::{BTreeMap, HashSet};

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, FromQueryResult, Statement};

/// Makes e-mail addresses case-insensitively unique.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The unique expression index; plain SQL understood by PostgreSQL and SQLite.
const UX_USERS_EMAIL_LOWER: &str =
    r#"CREATE UNIQUE INDEX "ux_users_email_lower" ON "users" (LOWER("email"))"#;

/// The longest address the `users.email` column holds.
const MAX_EMAIL: usize = 254;

#[derive(DeriveIden)]
enum UsersEmailCaseBackup {
    Table,
    UserId,
    OriginalEmail,
    StoredEmail,
}

#[derive(Debug, FromQueryResult)]
struct UserRow {
    id: i64,
    email: String,
}

/// The stored form of an address (as `jhe_core::domain::normalize_email`).
fn normalize(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The new address of a duplicate account `id` whose normalised address is taken.
fn duplicate_address(normalized: &str, id: i64, taken: &HashSet<String>) -> String {
    let (local, domain) = normalized
        .rsplit_once('@')
        .unwrap_or((normalized, "invalid.invalid"));
    let mut attempt = 0u32;
    loop {
        let tag = if attempt == 0 {
            format!("duplicate-{id}")
        } else {
            format!("duplicate-{id}-{attempt}")
        };
        let mut candidate = format!("{local}+{tag}@{domain}");
        if candidate.len() > MAX_EMAIL {
            candidate = format!("user-{id}+{tag}@invalid.invalid");
        }
        if !taken.contains(&candidate) {
            return candidate;
        }
        attempt += 1;
    }
}

/// For each user whose stored address changes: `(id, old, new)`, oldest account first.
/// `rows` must be ordered oldest first.
fn plan(rows: &[UserRow]) -> Vec<(i64, String, String)> {
    let mut groups: BTreeMap<String, Vec<&UserRow>> = BTreeMap::new();
    for row in rows {
        groups.entry(normalize(&row.email)).or_default().push(row);
    }
    let mut taken: HashSet<String> = groups.keys().cloned().collect();
    // Addresses as stored today stay taken too, until they are renamed.
    let mut changes = Vec::new();
    for (normalized, members) in &groups {
        for (position, row) in members.iter().enumerate() {
            let new = if position == 0 {
                normalized.clone()
            } else {
                let renamed = duplicate_address(normalized, row.id, &taken);
                taken.insert(renamed.clone());
                renamed
            };
            if new != row.email {
                changes.push((row.id, row.email.clone(), new));
            }
        }
    }
    changes
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsersEmailCaseBackup::Table)
                    .col(
                        ColumnDef::new(UsersEmailCaseBackup::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(UsersEmailCaseBackup::OriginalEmail)
                            .string_len(MAX_EMAIL as u32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UsersEmailCaseBackup::StoredEmail)
                            .string_len(MAX_EMAIL as u32)
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let conn = manager.get_connection();
        let backend = conn.get_database_backend();
        let rows = UserRow::find_by_statement(Statement::from_string(
            backend,
            r#"SELECT "id", "email" FROM "users" ORDER BY "date_joined", "id""#,
        ))
        .all(conn)
        .await?;
        let changes = plan(&rows);
        // Two passes, so that no intermediate state collides with the plain unique index on
        // `email`: first every changed row gets a unique placeholder, then its final address.
        for (id, _, _) in &changes {
            let update = Query::update()
                .table(Alias::new("users"))
                .value(
                    Alias::new("email"),
                    format!("migrating-{id}@invalid.invalid"),
                )
                .and_where(Expr::col(Alias::new("id")).eq(*id))
                .to_owned();
            conn.execute(&update).await?;
        }
        for (id, old, new) in &changes {
            let update = Query::update()
                .table(Alias::new("users"))
                .value(Alias::new("email"), new.clone())
                .and_where(Expr::col(Alias::new("id")).eq(*id))
                .to_owned();
            conn.execute(&update).await?;
            let mut backup = Query::insert();
            backup
                .into_table(UsersEmailCaseBackup::Table)
                .columns([
                    UsersEmailCaseBackup::UserId,
                    UsersEmailCaseBackup::OriginalEmail,
                    UsersEmailCaseBackup::StoredEmail,
                ])
                .values([(*id).into(), old.clone().into(), new.clone().into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            conn.execute(&backup).await?;
            if normalize(old) == *new {
                tracing::info!(user = id, "e-mail address normalised to lower case");
            } else {
                tracing::warn!(
                    user = id,
                    from = %old,
                    to = %new,
                    "e-mail address collides with an older account's once case is ignored: renamed"
                );
            }
        }
        conn.execute_unprepared(UX_USERS_EMAIL_LOWER).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_users_email_lower")
                    .table(Alias::new("users"))
                    .to_owned(),
            )
            .await?;
        // Original spellings back, for addresses that have not changed since `up`.
        manager
            .get_connection()
            .execute_unprepared(
                r#"UPDATE "users" SET "email" = (
                       SELECT b."original_email" FROM "users_email_case_backup" b
                       WHERE b."user_id" = "users"."id")
                   WHERE EXISTS (
                       SELECT 1 FROM "users_email_case_backup" b
                       WHERE b."user_id" = "users"."id" AND b."stored_email" = "users"."email")"#,
            )
            .await?;
        manager
            .drop_table(Table::drop().table(UsersEmailCaseBackup::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, email: &str) -> UserRow {
        UserRow {
            id,
            email: email.into(),
        }
    }

    #[test]
    fn the_oldest_account_keeps_the_address() {
        let rows = [
            row(3, "Case.X@Example.org"),
            row(1, "case.x@example.org"),
            row(2, "CASE.X@example.ORG "),
            row(4, "other@example.org"),
        ];
        let changes = plan(&rows);
        assert_eq!(
            changes,
            vec![
                (3, "Case.X@Example.org".into(), "case.x@example.org".into()),
                (
                    1,
                    "case.x@example.org".into(),
                    "case.x+duplicate-1@example.org".into()
                ),
                (
                    2,
                    "CASE.X@example.ORG ".into(),
                    "case.x+duplicate-2@example.org".into()
                ),
            ]
        );
    }

    #[test]
    fn renamed_addresses_never_collide() {
        let rows = [
            row(1, "a@x.org"),
            row(2, "A@x.org"),
            row(3, "a+duplicate-2@x.org"),
        ];
        let changes = plan(&rows);
        let renamed = changes
            .iter()
            .find(|(id, _, _)| *id == 2)
            .map(|(_, _, new)| new.clone());
        assert_eq!(renamed.as_deref(), Some("a+duplicate-2-1@x.org"));
    }
}

//! The default server's data commands through the built binary, as an operator runs them:
//! `export` (FHIR Bulk Data to a directory), `export-study` and `import-study` (a study moved
//! to another instance), with the access of the account named by `--as`.

use jhe_core::store::{StudyStore, UserStore};
use sea_orm::{ConnectionTrait, Statement};

use crate::both_backends;
use crate::support::binary::{run, scratch_dir};
use crate::support::{Backend, TestDb};

/// Seeded study of the Example Lab, managed by mary.
const STUDY: &str = "30001";

/// `kind<TAB>count…` lines of a command's output, as a map of the first two columns (the
/// first line of a kind wins: `import-study` prints `study<TAB>id` before the per-kind rows).
fn counts(stdout: &str) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    for line in stdout.lines() {
        let mut parts = line.split('\t');
        if let (Some(kind), Some(value)) = (parts.next(), parts.next()) {
            map.entry(kind.to_string())
                .or_insert_with(|| value.to_string());
        }
    }
    map
}

fn lines_of(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .count()
}

async fn data_commands(backend: Backend) {
    let source = TestDb::new(backend).await;
    let dir = scratch_dir();
    let vars = [("DATABASE_URL", source.url.as_str())];
    let (output, _, stderr) = run(&dir, &vars, &["seed"]).await;
    assert!(output.status.success(), "{stderr}");

    // `export`: one NDJSON file per type, as many lines as the output says.
    let bulk = dir.join("bulk");
    let (output, stdout, stderr) = run(
        &dir,
        &vars,
        &[
            "export",
            bulk.to_str().unwrap(),
            "--as",
            "mary@example.com",
            "--study",
            STUDY,
        ],
    )
    .await;
    assert!(output.status.success(), "{stderr}");
    let mut files = 0;
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "{line}");
        let count: usize = fields[1].parse().unwrap();
        assert_eq!(lines_of(std::path::Path::new(fields[2])), count, "{line}");
        files += 1;
    }
    assert!(files >= 2, "{stdout}");
    assert!(stdout.contains("Observation\t"), "{stdout}");

    // Someone without access to the study gets an error naming the reason, and no files.
    let refused = dir.join("refused");
    let (output, _, stderr) = run(
        &dir,
        &vars,
        &[
            "export-study",
            STUDY,
            refused.to_str().unwrap(),
            "--as",
            "peter@example.com",
        ],
    )
    .await;
    assert!(!output.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !refused.join("observations.ndjson").exists(),
        "nothing written for a refused export"
    );
    let (output, _, stderr) = run(
        &dir,
        &vars,
        &[
            "export-study",
            STUDY,
            refused.to_str().unwrap(),
            "--as",
            "nobody@example.com",
        ],
    )
    .await;
    assert!(!output.status.success());
    assert!(stderr.contains("No active account"), "{stderr}");

    // The study has an uploaded icon, served by the source instance.
    let study_row = source.store.get_study(30001).await.unwrap().unwrap();
    let source_icon_url = "https://source.example.org/api/v1/studies/30001/icon?v=0123456789abcdef";
    source
        .store
        .update_study_and_icon(
            &jhe_core::domain::Study {
                icon_url: Some(source_icon_url.into()),
                ..study_row
            },
            Some(Some(&jhe_core::domain::StudyIcon {
                study_id: 30001,
                content_type: "image/png".into(),
                data: crate::study_icons::PNG.to_vec(),
                // A placeholder: the importing instance computes its own.
                content_hash: "0123456789abcdef".repeat(4),
                updated_at: chrono::Utc::now(),
            })),
        )
        .await
        .unwrap();

    // `export-study` as the manager: counts per kind and the manifest.
    let exported = dir.join("study");
    let (output, stdout, stderr) = run(
        &dir,
        &vars,
        &[
            "export-study",
            STUDY,
            exported.to_str().unwrap(),
            "--as",
            "mary@example.com",
        ],
    )
    .await;
    assert!(output.status.success(), "{stderr}");
    let exported_counts = counts(&stdout);
    let observations: u64 = exported_counts["observation"].parse().unwrap();
    assert!(observations > 0, "{stdout}");
    assert!(exported.join("manifest.json").exists());
    assert_eq!(
        exported_counts["manifest"],
        exported.join("manifest.json").display().to_string()
    );

    // `import-study` into a fresh database, as its superuser (made with `create-superuser`).
    let target = TestDb::new(backend).await;
    let target_vars = [
        ("DATABASE_URL", target.url.as_str()),
        ("JHE_SUPERUSER_PASSWORD", "a-long-password-1"),
    ];
    let (output, _, stderr) = run(
        &dir,
        &target_vars,
        &["create-superuser", "--email", "admin@example.org"],
    )
    .await;
    assert!(output.status.success(), "{stderr}");
    let import = |as_user: &'static str| {
        let dir = dir.clone();
        let exported = exported.clone();
        async move {
            run(
                &dir,
                &target_vars,
                &["import-study", exported.to_str().unwrap(), "--as", as_user],
            )
            .await
        }
    };
    let (output, stdout, stderr) = import("admin@example.org").await;
    assert!(output.status.success(), "{stderr}");
    let report = counts(&stdout);
    assert_eq!(
        report["observation"],
        format!("created {observations}"),
        "{stdout}"
    );
    assert_ne!(report["created"], "0", "{stdout}");
    let study: i64 = report["study"].parse().unwrap();
    let db = target.store.connection();
    let stored = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM observations",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(
        stored as u64, observations,
        "the observations are in the database"
    );
    // The icon came along, stored here, and the study's iconUrl points here.
    let icon = target.store.get_study_icon(study).await.unwrap().unwrap();
    assert_eq!(icon.data, crate::study_icons::PNG);
    assert_eq!(icon.content_type, "image/png");
    let icon_url = target
        .store
        .get_study(study)
        .await
        .unwrap()
        .unwrap()
        .icon_url
        .unwrap();
    assert_ne!(icon_url, source_icon_url);
    assert!(
        icon_url.ends_with(&format!(
            "/api/v1/studies/{study}/icon?v={}",
            &icon.content_hash[..16]
        )),
        "{icon_url}"
    );

    // Again: idempotent, nothing created.
    let (output, stdout, stderr) = import("admin@example.org").await;
    assert!(output.status.success(), "{stderr}");
    let again = counts(&stdout);
    assert_eq!(again["created"], "0", "{stdout}");
    assert_eq!(again["study"], study.to_string());
    let icon_again = target.store.get_study_icon(study).await.unwrap().unwrap();
    assert_eq!(
        icon_again.updated_at, icon.updated_at,
        "the icon is left as it is"
    );

    // Only a superuser imports.
    target
        .store
        .create_user(jhe_core::domain::NewUser {
            email: "staff@example.org".into(),
            password: jhe_kdf::unusable_password(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (output, _, stderr) = import("staff@example.org").await;
    assert!(!output.status.success());
    assert!(stderr.to_lowercase().contains("superuser"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

both_backends! {
    cli_data_commands => data_commands;
}

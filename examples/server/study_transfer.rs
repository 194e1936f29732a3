//! The `export-study` and `import-study` commands of the default server: thin wrappers around
//! `jhe_core::services::study_transfer` with a progress bar.

use std::io::Write;
use std::path::Path;

use jhe_core::AppState;
use jhe_core::services::study_transfer::{self, TransferProgress};

struct Bar(indicatif::ProgressBar);

impl TransferProgress for Bar {
    fn progress(&self, kind: &str, done: u64, total: Option<u64>) {
        if let Some(total) = total {
            self.0.set_length(total);
        }
        self.0.set_position(done);
        self.0.set_message(kind.to_string());
    }
}

fn bar(verb: &str) -> Bar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{verb} {{msg:12}} [{{bar:30}}] {{pos}}/{{len}}"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    Bar(bar)
}

/// `export-study <id> <dir> --as <email>`: prints each kind with its count.
pub async fn export_study_cli(
    state: &AppState,
    id: i64,
    dir: &Path,
    email: &str,
) -> anyhow::Result<()> {
    let principal = study_transfer::principal_for(state, email)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bar = bar("exporting");
    let manifest = study_transfer::export_study(state, &principal, id, dir, Some(&bar))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.0.finish_with_message("done");
    state.audit.flush().await;
    let mut out = std::io::stdout().lock();
    for (kind, count) in &manifest.counts {
        let _ = writeln!(out, "{kind}\t{count}");
    }
    let _ = writeln!(out, "manifest\t{}", dir.join("manifest.json").display());
    Ok(())
}

/// `import-study <dir> --as <superuser>`: prints created and existing rows per kind.
pub async fn import_study_cli(state: &AppState, dir: &Path, email: &str) -> anyhow::Result<()> {
    let principal = study_transfer::principal_for(state, email)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bar = bar("importing");
    let report = study_transfer::import_study_dir(state, &principal, dir, Some(&bar))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.0.finish_with_message("done");
    state.audit.flush().await;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "study\t{}\norganization\t{}",
        report.study_id, report.organization_id
    );
    let kinds: std::collections::BTreeSet<&String> = report
        .created
        .keys()
        .chain(report.existing.keys())
        .collect();
    for kind in kinds {
        let _ = writeln!(
            out,
            "{kind}\tcreated {}\texisting {}",
            report.created.get(kind).copied().unwrap_or(0),
            report.existing.get(kind).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(out, "created\t{}", report.created_total());
    Ok(())
}

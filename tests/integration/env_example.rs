//! `.env.example` and the README list every environment variable the server reads: the names
//! are read from the sources (every `"JHE_…"` literal, and every literal passed to an
//! environment or setting lookup such as `get("SITE_URL")` or `var("DATABASE_URL")`), so a new
//! variable cannot go undocumented.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Read by tests and developer tools only, never by the server.
const DEVELOPER_ONLY: &[&str] = &[
    "JHE_TEST_POSTGRES_URL", // the PostgreSQL server of the tests
    "JHE_BLESS_FHIR_TABLES", // regenerates the committed FHIR tables (a unit test)
];

/// Families of variables: (prefix of the names read, how the README names the family).
const FAMILIES: &[(&str, &str)] = &[
    ("JHE_OIDC_GOOGLE_", "JHE_OIDC_<NAME>_"),
    ("JHE_SAML_ATTR_", "JHE_SAML_ATTR_"),
];

/// Calls whose first argument is the name of an environment variable or setting.
const LOOKUPS: &[&str] = &[
    "var(",
    "var_os(",
    "get(",
    "lookup(",
    "required(",
    "flag(",
    "seconds(",
    "setting(&lookup, ",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The code of the server: the facade, the core, the plug-ins and the server binary, without
/// unit-test modules.
fn server_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in ["src", "jhe-core/src", "jhe-plugins/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    files.push(root().join("examples/server.rs"));
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(end) => text[..end].to_string(),
                None => text,
            };
            (path, code)
        })
        .collect()
}

/// The string literals of Rust `code` (comments, char literals and raw strings understood),
/// each with the code just before it (up to 24 characters, on one line).
fn string_literals(code: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\'' if chars.get(i + 2) == Some(&'\'') => i += 3,
            '\'' if chars.get(i + 1) == Some(&'\\') && chars.get(i + 3) == Some(&'\'') => i += 4,
            'r' if matches!(chars.get(i + 1), Some('#') | Some('"'))
                && (i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '_') =>
            {
                let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
                if chars.get(i + 1 + hashes) != Some(&'"') {
                    i += 1;
                    continue;
                }
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let rest: String = chars[i + 2 + hashes..].iter().collect();
                let length = rest.find(&close).unwrap_or(rest.len());
                i += 2 + hashes + rest[..length].chars().count() + close.chars().count();
            }
            '"' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '"' {
                    if chars[j] == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
                let before_start = i.saturating_sub(24);
                let before: String = chars[before_start..i].iter().collect();
                let before = before.rsplit('\n').next().unwrap_or("").to_string();
                out.push((before, chars[start..j.min(chars.len())].iter().collect()));
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn is_name(s: &str) -> bool {
    s.len() >= 3
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The variables read: `(name as documented, where)`. The per-provider OpenID Connect settings
/// (`JHE_OIDC_<NAME>_ISSUER`…) are documented for the example provider `GOOGLE`.
fn variables_read() -> BTreeSet<(String, String)> {
    let mut names = BTreeSet::new();
    for (path, code) in server_sources() {
        let shown = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let oidc = shown.ends_with("identity/oidc.rs");
        for (before, literal) in string_literals(&code) {
            if !is_name(&literal) {
                continue;
            }
            let looked_up = LOOKUPS.iter().any(|call| before.ends_with(call));
            if literal.starts_with("JHE_") || looked_up {
                let name = if oidc && !literal.starts_with("JHE_") {
                    format!("JHE_OIDC_GOOGLE_{literal}")
                } else {
                    literal
                };
                if !DEVELOPER_ONLY.contains(&name.as_str()) {
                    names.insert((name, shown.clone()));
                }
            }
        }
    }
    names
}

#[test]
fn every_variable_read_is_in_env_example_and_the_readme() {
    let names = variables_read();
    let known: BTreeSet<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    // The reading is not vacuous: the well-known ones are found.
    for expected in [
        "SITE_URL",
        "DATABASE_URL",
        "SECRET_KEY",
        "JHE_BIND",
        "JHE_METRICS_TOKEN",
        "JHE_SHUTDOWN_TIMEOUT_SECS",
        "JHE_TEMPLATE_DIR",
        "JHE_OIDC_GOOGLE_ISSUER",
        "SMTP_HOST",
        "DB_HOST",
    ] {
        assert!(
            known.contains(expected),
            "{expected} not found in {known:?}"
        );
    }
    let env_example = std::fs::read_to_string(root().join(".env.example")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut missing = Vec::new();
    for (name, file) in &names {
        // `.env.example`: a `NAME=` assignment (commented out with its default).
        let assigned = env_example
            .lines()
            .any(|l| l.trim_start_matches('#').starts_with(&format!("{name}=")));
        if !assigned {
            missing.push(format!("{name} (read in {file}) is not in .env.example"));
        }
        // Families are documented once with their prefix, then by suffix (`_CLIENT_ID`).
        let in_family = FAMILIES.iter().any(|(prefix, documented)| {
            name.strip_prefix(prefix).is_some_and(|suffix| {
                readme.contains(&format!("{documented}{suffix}"))
                    || readme.contains(documented) && readme.contains(&format!("`_{suffix}`"))
            })
        });
        let in_readme = readme.contains(name.as_str()) || in_family;
        if !in_readme {
            missing.push(format!("{name} (read in {file}) is not in README.md"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

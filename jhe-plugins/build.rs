//! Generates the list of bundled Open mHealth schema files (`schemas/omh/**`, without the
//! examples) for `OmhFormat::bundled()`: `OUT_DIR/omh_bundle.rs` holds
//! `[(relative path, include_str!(absolute path))]`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "examples") {
                continue;
            }
            collect(&path, root, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            out.push((relative, path));
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("schemas").join("omh");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    if root.is_dir() {
        collect(&root, &root, &mut files)?;
    }
    let mut code = String::from(
        "/// Bundled schema files: (path relative to `schemas/omh/`, contents).\n\
         pub(crate) const BUNDLED: &[(&str, &str)] = &[\n",
    );
    for (relative, path) in files {
        let absolute = path.canonicalize()?;
        writeln!(
            code,
            "    ({relative:?}, include_str!({:?})),",
            absolute.to_string_lossy()
        )?;
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("omh_bundle.rs");
    std::fs::write(out, code)?;
    Ok(())
}

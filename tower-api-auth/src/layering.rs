//! DESIGN.md's rule, checked on the source: a module never imports from a row above its own,
//! and the features built on the public API (issuer, remote, fleet) do not import one another.
//! Reads every `.rs` file under `src/` and every `crate::<module>` path outside comments.

use std::collections::BTreeSet;
use std::path::Path;

/// The rows, lowest first. A module may use the modules of its own row, except in
/// [`FEATURES`]: the primitives build on one another, and so does the tower and axum glue.
const ROWS: &[&[&str]] = &[
    &[
        "clock",
        "store",
        "random",
        "error",
        "scope",
        "tenant",
        "identity",
        "credential",
        "crypto",
        "jwt",
        "api_key",
        "revocation",
        "opaque",
    ],
    &["authenticator"],
    &["layer", "require_scopes", "extract"],
    &["issuer", "remote", "fleet"],
    &["config"],
    &["endpoints"],
];

/// The row of the features built on the public API below: independent of one another.
const FEATURES: usize = 3;

fn row_of(module: &str) -> Option<usize> {
    ROWS.iter().position(|row| row.contains(&module))
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules that `line` names as `crate::<module>`, outside a `//` comment.
fn imports(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| !code[..*at].ends_with('$'))
        .map(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| name.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .collect()
}

#[test]
fn no_module_imports_from_a_row_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut violations = BTreeSet::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs"))
            .unwrap();
        if matches!(module, "lib" | "layering") {
            continue;
        }
        let row = row_of(module).unwrap_or_else(|| {
            panic!("module `{module}` is in no row: add it to ROWS and DESIGN.md")
        });
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for import in imports(line) {
                checked += 1;
                if import == module {
                    continue;
                }
                let Some(target) = row_of(import) else {
                    panic!(
                        "{}:{}: `crate::{import}` is in no row",
                        relative.display(),
                        number + 1
                    );
                };
                if target > row || (target == row && row == FEATURES) {
                    violations.insert(format!(
                        "{}:{}: `{module}` (row {row}) imports `crate::{import}` (row {target})",
                        relative.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "the check found the imports ({checked})");
    assert!(violations.is_empty(), "imports that point up:\n{}", {
        let list: Vec<_> = violations.into_iter().collect();
        list.join("\n")
    });
}

#[test]
fn the_check_sees_imports_and_skips_comments() {
    assert_eq!(imports("use crate::fleet::RevocationFeed;"), ["fleet"]);
    assert_eq!(
        imports("let x = crate::clock::system(); // crate::issuer::x"),
        ["clock"]
    );
    assert!(imports("/// [`AuthLayer`](crate::layer::AuthLayer)").is_empty());
    assert!(imports("impl $crate::store::Lookup").is_empty());
    assert!(imports("crate::Identity").is_empty());
}

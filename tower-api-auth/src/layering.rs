//! The architecture's rule, checked on the source (the README's "Architecture" table draws the
//! rows): a module never imports from a row above its own, the features built on the public API
//! (issuer, remote, fleet) do not import one another, and the modules below the tower and axum
//! glue need neither axum nor tokio (nor the issuer axum: its HTTP face is `endpoints`).
//!
//! Reads every `.rs` file under `src/` and, outside comments and string literals, every path into
//! the crate: `crate::<module>`, grouped `crate::{<module>::…, …}`, the crate root's re-exports
//! (`crate::Identity` is `identity`'s), and `super::` paths that climb out of a module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rows, lowest first. A module may use the modules of its own row, except in
/// [`FEATURES`]: the primitives build on one another, and so does the tower and axum glue.
const ROWS: &[&[&str]] = &[
    &[
        "client_ip",
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
        "resource_metadata",
    ],
    &["authenticator"],
    &["layer", "require_scopes", "extract", "forward", "grpc"],
    &["issuer", "remote", "fleet", "rate_limit"],
    &["config", "health"],
    // The OpenAPI description reads the layer and the token endpoints' configuration, and the
    // token endpoints describe themselves with its types: one row.
    &["endpoints", "openapi"],
];

/// The row of the features built on the public API below: independent of one another.
const FEATURES: usize = ROWS.len() - 3;

/// Outside crates a row may not use: the rows below the glue run without axum or tokio.
fn forbidden_crates(module: &str, row: usize) -> &'static [&'static str] {
    match (module, row) {
        // It reads axum's `ConnectInfo` out of the request's extensions (behind the `axum`
        // feature): a type's name, no axum machinery, so that the peer address axum records is
        // found by the layers below axum's glue.
        ("client_ip", _) => &["tokio"],
        (_, 0 | 1) => &["axum", "tokio"],
        ("issuer", _) => &["axum"],
        _ => &[],
    }
}

fn row_of(module: &str) -> Option<usize> {
    ROWS.iter().position(|row| row.contains(&module))
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` with comments and the insides of string and character literals blanked out, lines
/// kept (so that line numbers stay right).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        '\n' => out.push('\n'),
                        _ => {}
                    }
                }
                out.push('"');
            }
            // A character literal ('x', '\n', '{'); a lifetime ('a) is left alone.
            '\'' => {
                let mut ahead = chars.clone();
                let literal = matches!(
                    (ahead.next(), ahead.next()),
                    (Some('\\'), _) | (Some(_), Some('\''))
                );
                if literal {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                    out.push_str("' '");
                } else {
                    out.push('\'');
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The first segments of the paths that follow `at` in `code`: one for `x::…`, each item's for a
/// group `{x::…, y, z::{…}}`.
fn first_segments(code: &str) -> Vec<&str> {
    let ident = |s: &str| -> usize {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    if let Some(group) = code.strip_prefix('{') {
        let mut segments = Vec::new();
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    segments.push(group[start..i].trim());
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    segments.push(group[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        segments
            .into_iter()
            .map(|item| &item[..ident(item)])
            .filter(|name| !name.is_empty() && *name != "self")
            .collect()
    } else {
        vec![&code[..ident(code)]]
    }
}

/// The top-level modules `code` (one file, comments removed) reaches: `crate::` paths, `super::`
/// paths that climb to the crate root from `path` (the file's module path below the root), and
/// the root's re-exports, resolved through `reexports`.
fn imports(
    code: &str,
    path: &[&str],
    reexports: &BTreeMap<String, String>,
) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let resolve = |name: &str| -> Option<String> {
        if name.chars().next()?.is_ascii_uppercase() {
            reexports.get(name).cloned()
        } else {
            Some(name.to_owned())
        }
    };
    for (number, line) in code.lines().enumerate() {
        for (at, _) in line.match_indices("crate::") {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| c == '$' || c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            for name in first_segments(&line[at + "crate::".len()..]) {
                if let Some(module) = resolve(name) {
                    found.push((number + 1, module));
                }
            }
        }
        for (at, _) in line.match_indices("super::") {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| c == ':' || c.is_ascii_alphanumeric() || c == '_') {
                continue; // the second `super::` of a chain, or part of a longer name
            }
            let mut rest = &line[at..];
            let mut climbs = 0;
            while let Some(after) = rest.strip_prefix("super::") {
                climbs += 1;
                rest = after;
            }
            // Counted from the file's module; an inline module (`mod tests`) climbs one more, so
            // only names that are top-level modules (or root re-exports) count from here.
            if climbs >= path.len() {
                for name in first_segments(rest) {
                    if let Some(module) = resolve(name).filter(|m| row_of(m).is_some()) {
                        found.push((number + 1, module));
                    }
                }
            }
        }
    }
    found
}

/// The outside crates `code` names as `name::…` or `use name`, of those in `crates`.
fn crates_used<'a>(code: &str, crates: &[&'a str]) -> Vec<(usize, &'a str)> {
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        for krate in crates {
            let hit = line.match_indices(krate).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = &line[at + krate.len()..];
                !before.is_some_and(|c| c == ':' || c.is_ascii_alphanumeric() || c == '_')
                    && (after.starts_with("::")
                        || (line.trim_start().starts_with("use ") && after.starts_with(';')))
            });
            if hit {
                found.push((number + 1, *krate));
            }
        }
    }
    found
}

/// The crate root's `pub use module::{Item, …}` and `pub use module::Item`: item → module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in code_only(lib).lines() {
        let Some(path) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = path.trim_end_matches(';').split_once("::") else {
            continue;
        };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let item = item.trim().rsplit("::").next().unwrap_or("");
            if !item.is_empty() {
                map.insert(item.to_owned(), module.to_owned());
            }
        }
    }
    map
}

#[test]
fn no_module_imports_from_a_row_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reexports = root_reexports(&std::fs::read_to_string(root.join("lib.rs")).unwrap());
    assert!(reexports.contains_key("Identity"), "{reexports:?}");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut violations = BTreeSet::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let mut path: Vec<&str> = relative
            .components()
            .map(|c| c.as_os_str().to_str().unwrap().trim_end_matches(".rs"))
            .collect();
        if path.last() == Some(&"mod") {
            path.pop();
        }
        let module = path[0];
        if matches!(module, "lib" | "layering") {
            continue;
        }
        let row = row_of(module).unwrap_or_else(|| {
            panic!("module `{module}` is in no row: add it to ROWS and the README's table")
        });
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for (line, import) in imports(&code, &path, &reexports) {
            checked += 1;
            if import == module {
                continue;
            }
            let Some(target) = row_of(&import) else {
                panic!(
                    "{}:{line}: `crate::{import}` is in no row",
                    relative.display()
                );
            };
            if target > row || (target == row && row == FEATURES) {
                violations.insert(format!(
                    "{}:{line}: `{module}` (row {row}) imports `{import}` (row {target})",
                    relative.display()
                ));
            }
        }
        for (line, krate) in crates_used(&code, forbidden_crates(module, row)) {
            violations.insert(format!(
                "{}:{line}: `{module}` (row {row}) uses the crate `{krate}`",
                relative.display()
            ));
        }
    }
    assert!(checked > 100, "the check found the imports ({checked})");
    assert!(violations.is_empty(), "imports that point up:\n{}", {
        let list: Vec<_> = violations.into_iter().collect();
        list.join("\n")
    });
}

#[test]
fn the_check_sees_every_form_of_import_and_skips_comments_and_strings() {
    let reexports =
        root_reexports("pub use identity::{AuthMethod, Identity};\npub use layer::AuthLayer;");
    let modules = |line: &str, path: &[&str]| -> Vec<String> {
        imports(&code_only(line), path, &reexports)
            .into_iter()
            .map(|(_, module)| module)
            .collect()
    };
    assert_eq!(
        modules("use crate::fleet::RevocationFeed;", &["api_key"]),
        ["fleet"]
    );
    assert_eq!(
        modules(
            "use crate::{fleet::RevocationFeed, layer::{self, AuthLayer}};",
            &["api_key"]
        ),
        ["fleet", "layer"]
    );
    assert_eq!(modules("use crate::AuthLayer;", &["api_key"]), ["layer"]);
    assert_eq!(
        modules(
            "use super::super::fleet::RevocationFeed;",
            &["api_key", "cache"]
        ),
        ["fleet"]
    );
    assert!(modules("use super::record::KeyRecord;", &["api_key", "cache"]).is_empty());
    assert_eq!(modules("use super::fleet::X;", &["api_key"]), ["fleet"]);
    assert_eq!(
        modules(
            "let x = crate::clock::system(); // crate::issuer::x",
            &["api_key"]
        ),
        ["clock"]
    );
    assert!(modules("/// [`AuthLayer`](crate::layer::AuthLayer)", &["api_key"]).is_empty());
    assert!(modules(r#"let s = "see crate::fleet, // not code";"#, &["api_key"]).is_empty());
    assert!(modules("impl $crate::store::Lookup", &["api_key"]).is_empty());
    assert!(modules("let c = '{'; use crate::fleet::X;", &["api_key"]) == ["fleet"]);

    let crates = |line: &str| crates_used(&code_only(line), &["axum", "tokio"]);
    assert_eq!(crates("use axum::Router;")[0].1, "axum");
    assert_eq!(
        crates("let rt = tokio::runtime::Builder::new();")[0].1,
        "tokio"
    );
    assert!(crates("/// # #[tokio::main]").is_empty());
    assert!(crates("use tower_api_auth_tokio::X;").is_empty());
    assert!(row_of("fleet") > row_of("api_key"));
}

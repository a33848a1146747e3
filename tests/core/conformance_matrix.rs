//! The OAuth conformance matrix (`docs/oauth-conformance.md`) names real tests: every
//! `` `file::function` `` it cites exists as a function of that file, and every row it claims cites
//! at least one. A renamed or deleted test breaks this test instead of silently leaving a claim
//! unproven.

use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
}

/// Every `` `path.rs::name` `` in `text`.
fn citations(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| quoted.split_once(".rs::"))
        .map(|(file, name)| (format!("{file}.rs"), name.to_owned()))
        .collect()
}

#[test]
fn every_test_the_matrix_cites_exists() {
    let matrix = std::fs::read_to_string(workspace().join("docs/oauth-conformance.md"))
        .expect("docs/oauth-conformance.md");
    let cited = citations(&matrix);
    assert!(cited.len() > 30, "the matrix cites {} tests", cited.len());
    for (file, name) in &cited {
        let source = std::fs::read_to_string(workspace().join(file))
            .unwrap_or_else(|_| panic!("the matrix cites {file}, which does not exist"));
        let defined = [format!("fn {name}("), format!("fn {name}<")]
            .iter()
            .any(|needle| source.contains(needle.as_str()));
        assert!(
            defined,
            "the matrix cites {file}::{name}, which is not a function there"
        );
    }
    // Each claimed row (a table row between "## Claimed" and "## Not claimed") cites a test.
    let claimed = matrix
        .split("## Claimed")
        .nth(1)
        .and_then(|rest| rest.split("## Not claimed").next())
        .expect("a Claimed section");
    for row in claimed.lines().filter(|line| line.starts_with("| ")) {
        if row.starts_with("| Requirement") || row.starts_with("| ---") {
            continue;
        }
        assert!(!citations(row).is_empty(), "a claim without a test: {row}");
    }
}

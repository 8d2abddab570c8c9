//! ARCHITECTURE.md's list of which crate depends on which is the
//! workspace's: a dependency added or dropped in a Cargo.toml without the
//! list (or the other way round) fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn full(short: &str) -> String {
    if short == "kizuna" || short.starts_with("kizuna-") {
        short.to_string()
    } else {
        format!("kizuna-{short}")
    }
}

/// The `crate → deps` lines of the fenced block under the heading that
/// introduces them.
fn documented(text: &str) -> Graph {
    let section = text
        .split("## How the crates depend on each other")
        .nth(1)
        .expect("ARCHITECTURE.md has the section 'How the crates depend on each other'");
    let block = section
        .split("```text")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section holds a ```text block");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, deps) = l
                .split_once('→')
                .unwrap_or_else(|| panic!("'{l}' is not 'crate → deps'"));
            let deps = deps.trim();
            let deps = if deps == "(none)" {
                BTreeSet::new()
            } else {
                deps.split(',').map(|d| full(d.trim())).collect()
            };
            (name.trim().to_string(), deps)
        })
        .collect()
}

/// Each crate's Kizuna dependencies from its `[dependencies]` table.
fn declared(crates: &Path) -> Graph {
    let mut graph = Graph::new();
    for entry in std::fs::read_dir(crates).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut in_deps = false;
        let mut deps = BTreeSet::new();
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line == "[dependencies]";
                continue;
            }
            if in_deps && line.starts_with("kizuna") {
                let dep: String = line
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                deps.insert(dep);
            }
        }
        graph.insert(name, deps);
    }
    graph
}

#[test]
fn the_documented_dependencies_are_the_workspace_s() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let doc = documented(&text);
    let real = declared(&root.join("crates"));
    for (name, deps) in &real {
        assert_eq!(
            doc.get(name),
            Some(deps),
            "ARCHITECTURE.md and crates/{name}/Cargo.toml disagree on what {name} depends on"
        );
    }
    for name in doc.keys() {
        assert!(
            real.contains_key(name),
            "ARCHITECTURE.md lists {name}, which is not a crate of the workspace"
        );
    }
}

/// Every error code the served API document lists is named in
/// ARCHITECTURE.md's table of error codes.
#[test]
fn every_error_code_is_named_in_the_architecture() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md"),
    )
    .unwrap();
    let section = text
        .split("## Error codes the API answers")
        .nth(1)
        .expect("ARCHITECTURE.md has the section 'Error codes the API answers'")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let doc = serde_json::to_value(kizuna_server::openapi_spec()).unwrap();
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    let missing: Vec<&str> = codes
        .iter()
        .filter_map(|c| c.as_str())
        .filter(|c| !section.contains(&format!("`{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not named in ARCHITECTURE.md: {missing:?}"
    );
}

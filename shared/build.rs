//! Embeds every provider file in `providers/` at build time: generates the list that
//! `catalog::embedded` includes, so adding a provider is adding a file.
//!
//! The YAML is converted to JSON here, so the binaries carry compact JSON and no YAML
//! parser (the catalog test checks that both readings give the same provider). A file
//! that is not valid YAML, or maps a non-string key, fails the build with its name.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The package's directory, read when the script runs, not when it is compiled: worktrees
/// that share a target directory share this script's binary, and each must read its own
/// files.
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
}

fn main() {
    println!("cargo:rerun-if-changed=providers");
    let dir = manifest_dir().join("providers");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let json_dir = out_dir.join("providers");
    std::fs::create_dir_all(&json_dir).expect("OUT_DIR/providers");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("shared/providers/ exists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    let mut out = String::from("pub const FILES: &[(&str, &str)] = &[\n");
    for name in names {
        println!("cargo:rerun-if-changed=providers/{name}");
        let text = std::fs::read_to_string(dir.join(&name)).expect("provider file readable");
        let value: serde_json::Value = match serde_norway::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("shared/providers/{name} is not valid YAML for the catalog: {e}"),
        };
        let json = serde_json::to_string(&value).expect("JSON");
        let target = json_dir.join(name.replace(".yaml", ".json"));
        std::fs::write(&target, json).expect("write provider JSON");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            target.display().to_string()
        )
        .expect("write");
    }
    out.push_str("];\n");
    std::fs::write(out_dir.join("providers.rs"), out).expect("write providers.rs");
    embed_lexicon(&out_dir);
}

/// The lexicon (`lexicon/lexicon.yaml`), as JSON in `OUT_DIR/lexicon.json`.
fn embed_lexicon(out_dir: &std::path::Path) {
    println!("cargo:rerun-if-changed=lexicon");
    let path = manifest_dir().join("lexicon/lexicon.yaml");
    let text = std::fs::read_to_string(&path).expect("shared/lexicon/lexicon.yaml readable");
    let value: serde_json::Value = match serde_norway::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("shared/lexicon/lexicon.yaml is not valid YAML: {e}"),
    };
    let json = serde_json::to_string(&value).expect("JSON");
    std::fs::write(out_dir.join("lexicon.json"), json).expect("write lexicon.json");
}

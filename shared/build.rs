//! Embeds every provider file in `providers/` at build time: generates the list that
//! `catalog::embedded` includes, so adding a provider is adding a file.

use std::fmt::Write as _;

fn main() {
    println!("cargo:rerun-if-changed=providers");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("providers");
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
        let path = dir.join(&name);
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write");
    }
    out.push_str("];\n");
    let target =
        std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("providers.rs");
    std::fs::write(target, out).expect("write providers.rs");
}

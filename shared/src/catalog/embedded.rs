//! The provider files, embedded at build time: `build.rs` lists every file in
//! `shared/providers/` and embeds each as JSON, under its YAML file name.

include!(concat!(env!("OUT_DIR"), "/providers.rs"));

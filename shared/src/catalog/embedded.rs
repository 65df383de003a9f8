//! The provider files, embedded at build time: `build.rs` lists every file in
//! `shared/providers/`.

include!(concat!(env!("OUT_DIR"), "/providers.rs"));

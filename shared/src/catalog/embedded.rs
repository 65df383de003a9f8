//! The provider files, embedded at build time. The catalog test checks that every file
//! in `shared/providers/` is listed here.

pub const FILES: &[(&str, &str)] = &[
    ("postmark.yaml", include_str!("../../providers/postmark.yaml")),
];

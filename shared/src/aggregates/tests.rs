//! The single table's layout: every key prefix, the aggregate that owns it, and no
//! key spelled anywhere else.

use chrono::Utc;

use super::keys;
use crate::domain::{Change, IntegrationName, ProjectId, RunId, WorkflowId};

#[test]
fn step_keys_sort_in_step_order() {
    let w = WorkflowId::parse("w").expect("valid");
    assert!(keys::step(&w, 2) < keys::step(&w, 10));
}

#[test]
fn audit_sort_keys_are_the_fixed_width_timestamp_then_the_id() {
    use chrono::{NaiveDate, TimeZone};
    let instants = [
        Utc.timestamp_opt(0, 0).single(),
        Utc.timestamp_opt(1_764_426_777, 123_456_789).single(),
        Utc.timestamp_opt(1_764_426_777, 999).single(),
        Utc.timestamp_opt(253_402_300_799, 999_999_999).single(),
        // A leap second, which chrono writes as :60.
        NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .map(|t| t.and_utc()),
    ];
    for at in instants.into_iter().map(|at| at.expect("instant")) {
        assert_eq!(
            keys::audit_entry(&at, "id-1"),
            format!("{}#id-1", at.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            "{at:?}"
        );
    }
    let early = Utc.timestamp_opt(1_764_426_777, 9_000).single().expect("t");
    let late = Utc
        .timestamp_opt(1_764_426_777, 10_000)
        .single()
        .expect("t");
    assert!(keys::audit_entry(&early, "z") < keys::audit_entry(&late, "a"));
}

/// Every key prefix of the single table and the aggregate that owns it, and no shipped
/// Rust outside `aggregates/` and the adapters spells one or builds a key: changing the
/// layout is changing the aggregates.
#[test]
fn every_key_prefix_is_listed_once_with_its_owner_and_spelled_only_there() {
    let p = ProjectId::parse("p1").expect("p");
    let i = IntegrationName::parse("mail").expect("i");
    let w = WorkflowId::parse("w1").expect("w");
    let r = RunId::parse("r1").expect("r");
    let at = Utc::now();
    // (key, the prefix it starts with, the module that owns it)
    let listed = [
        (
            keys::project(&p),
            "P#",
            "projects: the partition of a project's items",
        ),
        (
            keys::META.to_owned(),
            "META",
            "projects: the project's own item",
        ),
        (
            keys::integration(&i),
            "I#",
            "integrations (credentials sealed inside)",
        ),
        (
            keys::refresh_lock(&i),
            "L#",
            "integrations: one OAuth refresh at a time",
        ),
        (keys::audit(&p, &i), "A#", "integrations: audit partition"),
        (
            keys::audit_entry(&at, "id"),
            "",
            "integrations: audit records (timestamp first)",
        ),
        (keys::workflow(&w), "W#", "workflows"),
        (
            keys::step(&w, 1),
            "W#",
            "workflows: compiled step contracts",
        ),
        (
            keys::dependency(&i, &w, 1),
            "D#",
            "workflows: integration → step edges",
        ),
        (
            keys::dependents_count(&i),
            "C#",
            "workflows: how many edges an integration has",
        ),
        (
            keys::trigger(&i, "issue", Change::Updated, &w),
            "T#",
            "workflows: data-change subscriptions",
        ),
        (keys::run(&r), "R#", "runs"),
        (keys::run_step(&r, 1), "R#", "runs: step traces"),
        (keys::run_step_claim(&r, 1), "R#", "runs: live step claims"),
        (
            keys::run_occasion("ab"),
            "K#",
            "runs: the provider event that started a run",
        ),
        (
            keys::RUNNING.to_owned(),
            "U#",
            "runs: the running index (a partition of its own)",
        ),
        (
            keys::entity(&i, "issue", "x"),
            "E#",
            "events: cached entities",
        ),
        (
            keys::PENDING_CHANGES.to_owned(),
            "X#",
            "events: changes recorded, not yet handled (a partition of its own)",
        ),
        (
            keys::webhook_dedupe(&p, &i),
            "H#",
            "events: dedupe partition",
        ),
        (
            keys::mailgun_token("t"),
            "#mailgun-token#",
            "events: Mailgun tokens seen",
        ),
        (
            keys::NOTION_TOKEN_SK.to_owned(),
            "#notion-verification-token",
            "events: a pending Notion token",
        ),
    ];
    for (key, prefix, owner) in &listed {
        assert!(
            key.starts_with(prefix),
            "{owner}: {key} does not start with {prefix}"
        );
    }
    let mut spelled: Vec<String> = listed
        .iter()
        .map(|(_, prefix, _)| *prefix)
        .filter(|p| p.len() > 1 && *p != "META")
        .map(|p| format!("\"{p}"))
        .collect();
    spelled.push("Key::new(".to_owned());
    let files = shipped_sources();
    assert!(files.len() > 30, "read {} files", files.len());
    for (name, shipped) in files {
        for (n, line) in shipped.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for needle in &spelled {
                // `Key::new(` as a word (not `SigningKey::new(`).
                let found = code.match_indices(needle.as_str()).any(|(at, _)| {
                    !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                assert!(
                    !found,
                    "{name}:{}: spells {needle}; storage keys belong to crate::aggregates",
                    n + 1
                );
            }
        }
    }
}

/// The shipped sources (name, text before any `#[cfg(test)]`), less the aggregates, the
/// adapters, the port that defines `Key`, and test modules.
fn shipped_sources() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root];
    let mut out = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("dir") {
                files.push(entry.expect("entry").path());
            }
            continue;
        }
        let name = path.to_string_lossy().into_owned();
        if !name.ends_with(".rs")
            || name.contains("/aggregates/")
            || name.contains("/adapters/")
            || name.ends_with("/ports.rs")
            || name.ends_with("tests.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let shipped = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .to_owned();
        out.push((name, shipped));
    }
    out
}

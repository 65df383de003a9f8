//! Store conformance: the same behaviour from `LocalStore` and `DynamoStore`.

use std::sync::Arc;

use serde_json::json;
use shared::adapters::{DynamoStore, FixedClock};
use shared::ports::{Clock, Condition, Item, Key, Query, RawItem, Store, StoreError, Write};
use studio_tests::{create_table, moto_endpoint, sdk_config, test_clock};

/// Runs each suite function against both stores.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let clock = studio_tests::test_clock();
                    let store = shared::adapters::LocalStore::open(&dir.path().join("t.redb"), clock.clone())
                        .expect("open");
                    super::$name(std::sync::Arc::new(store), clock).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some((store, clock)) = super::dynamo_store().await {
                        super::$name(store, clock).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    a_put_item_reads_back_with_its_document_intact,
    a_missing_item_reads_as_none,
    not_exists_refuses_a_second_put_and_keeps_the_first,
    field_equals_guards_updates_by_version,
    field_equals_compares_a_nested_document_whole,
    deletes_honour_their_condition,
    a_transaction_writes_all_or_nothing_and_names_the_failed_write,
    transactions_refuse_what_dynamodb_refuses,
    prefix_queries_stay_in_their_prefix_sort_and_page,
    expired_items_are_absent_to_reads_queries_and_conditions,
    relaxed_transactions_check_conditions_and_read_back_at_once,
    a_raw_document_is_stored_as_the_same_item,
    counters_add_in_place_and_only_to_live_items,
);

async fn dynamo_store() -> Option<(Arc<dyn Store>, Arc<FixedClock>)> {
    let endpoint = moto_endpoint()?;
    let sdk = sdk_config(&endpoint).await;
    let table = create_table(&sdk).await;
    let clock = test_clock();
    Some((
        Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            table,
            clock.clone(),
        )),
        clock,
    ))
}

fn key(sk: &str) -> Key {
    Key::new("P#conformance", sk)
}

async fn a_put_item_reads_back_with_its_document_intact(
    store: Arc<dyn Store>,
    _clock: Arc<FixedClock>,
) {
    let doc = json!({
        "name": "Clinic — Zürich", "count": 3, "ratio": 0.25, "negative": -7, "on": true,
        "nothing": null, "empty": "", "list": [1, "two", {"three": 3}], "nested": {"a": {"b": []}}
    });
    store
        .put(Item::new(key("I#one"), doc.clone()), Condition::Always)
        .await
        .expect("put");
    let back = store
        .get(&key("I#one"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(back.doc, doc);
    assert_eq!(back.key, key("I#one"));
    assert_eq!(back.expires_at, None);
}

async fn a_missing_item_reads_as_none(store: Arc<dyn Store>, _clock: Arc<FixedClock>) {
    assert_eq!(store.get(&key("I#nobody")).await.expect("get"), None);
}

async fn not_exists_refuses_a_second_put_and_keeps_the_first(
    store: Arc<dyn Store>,
    _clock: Arc<FixedClock>,
) {
    store
        .put(
            Item::new(key("META"), json!({"v": 1})),
            Condition::NotExists,
        )
        .await
        .expect("first");
    let second = store
        .put(
            Item::new(key("META"), json!({"v": 2})),
            Condition::NotExists,
        )
        .await;
    assert_eq!(second, Err(StoreError::ConditionFailed { index: None }));
    assert_eq!(
        store
            .get(&key("META"))
            .await
            .expect("get")
            .expect("kept")
            .doc,
        json!({"v": 1})
    );
}

async fn field_equals_guards_updates_by_version(store: Arc<dyn Store>, _clock: Arc<FixedClock>) {
    store
        .put(
            Item::new(key("I#x"), json!({"version": 1, "a": "old"})),
            Condition::Always,
        )
        .await
        .expect("put");
    let stale = Condition::FieldEquals {
        field: "version".into(),
        value: json!(0),
    };
    let current = Condition::FieldEquals {
        field: "version".into(),
        value: json!(1),
    };
    assert_eq!(
        store
            .put(
                Item::new(key("I#x"), json!({"version": 2, "a": "stale"})),
                stale
            )
            .await,
        Err(StoreError::ConditionFailed { index: None })
    );
    store
        .put(
            Item::new(key("I#x"), json!({"version": 2, "a": "new"})),
            current.clone(),
        )
        .await
        .expect("update");
    assert_eq!(
        store
            .get(&key("I#x"))
            .await
            .expect("get")
            .expect("present")
            .doc["a"],
        "new"
    );
    // On a missing item a field condition fails too.
    assert_eq!(
        store
            .put(Item::new(key("I#absent"), json!({})), current)
            .await,
        Err(StoreError::ConditionFailed { index: None })
    );
}

/// A condition on a field that holds an object (the Notion token reveal deletes its
/// pending item only if its `envelope` is still the one it decrypted, in a transaction
/// with its audit record): equal only when the whole document is, nested lists included.
async fn field_equals_compares_a_nested_document_whole(
    store: Arc<dyn Store>,
    _clock: Arc<FixedClock>,
) {
    let envelope = json!({"version": 0, "nonce": "bm9uY2U=", "fields": ["verification_token"]});
    store
        .put(
            Item::new(
                key("H#pending"),
                json!({"envelope": envelope, "received_at": "t"}),
            ),
            Condition::Always,
        )
        .await
        .expect("put");
    let reveal = |value: serde_json::Value, audit: &str| {
        vec![
            Write::Delete(
                key("H#pending"),
                Condition::FieldEquals {
                    field: "envelope".into(),
                    value,
                },
            ),
            Write::Put(Item::new(key(audit), json!({})), Condition::NotExists),
        ]
    };
    let mut other = envelope.clone();
    other["nonce"] = json!("b3RoZXI=");
    assert_eq!(
        store.transact(reveal(other, "A#1")).await,
        Err(StoreError::ConditionFailed { index: Some(0) })
    );
    assert!(store.get(&key("H#pending")).await.expect("get").is_some());
    assert_eq!(store.get(&key("A#1")).await.expect("get"), None);
    store
        .transact(reveal(envelope.clone(), "A#2"))
        .await
        .expect("the same document matches");
    assert_eq!(store.get(&key("H#pending")).await.expect("get"), None);
    // Once it is gone, the same guard fails: a second reveal cannot succeed.
    assert_eq!(
        store.transact(reveal(envelope, "A#3")).await,
        Err(StoreError::ConditionFailed { index: Some(0) })
    );
    assert_eq!(store.get(&key("A#3")).await.expect("get"), None);
}

async fn deletes_honour_their_condition(store: Arc<dyn Store>, _clock: Arc<FixedClock>) {
    assert_eq!(
        store.delete(&key("I#gone"), Condition::Exists).await,
        Err(StoreError::ConditionFailed { index: None })
    );
    store
        .put(
            Item::new(key("I#d"), json!({"version": 3})),
            Condition::Always,
        )
        .await
        .expect("put");
    let wrong = Condition::FieldEquals {
        field: "version".into(),
        value: json!(2),
    };
    assert!(store.delete(&key("I#d"), wrong).await.is_err());
    assert!(store.get(&key("I#d")).await.expect("get").is_some());
    store
        .delete(&key("I#d"), Condition::Exists)
        .await
        .expect("delete");
    assert_eq!(store.get(&key("I#d")).await.expect("get"), None);
    // Deleting what is not there, unconditionally, is not an error.
    store
        .delete(&key("I#d"), Condition::Always)
        .await
        .expect("idempotent delete");
}

async fn a_transaction_writes_all_or_nothing_and_names_the_failed_write(
    store: Arc<dyn Store>,
    _clock: Arc<FixedClock>,
) {
    store
        .put(
            Item::new(key("W#taken"), json!({"v": 0})),
            Condition::Always,
        )
        .await
        .expect("put");
    let failing = vec![
        Write::Put(Item::new(key("W#a"), json!({"v": 1})), Condition::NotExists),
        Write::Put(Item::new(key("W#b"), json!({"v": 2})), Condition::Always),
        Write::Put(
            Item::new(key("W#taken"), json!({"v": 3})),
            Condition::NotExists,
        ),
    ];
    assert_eq!(
        store.transact(failing).await,
        Err(StoreError::ConditionFailed { index: Some(2) })
    );
    assert_eq!(
        store.get(&key("W#a")).await.expect("get"),
        None,
        "nothing of a failed transaction lands"
    );
    assert_eq!(store.get(&key("W#b")).await.expect("get"), None);
    assert_eq!(
        store
            .get(&key("W#taken"))
            .await
            .expect("get")
            .expect("kept")
            .doc,
        json!({"v": 0})
    );

    let succeeding = vec![
        Write::Put(Item::new(key("W#a"), json!({"v": 1})), Condition::NotExists),
        Write::Delete(key("W#taken"), Condition::Exists),
        Write::Check(key("W#never"), Condition::NotExists),
    ];
    store.transact(succeeding).await.expect("transaction");
    assert!(store.get(&key("W#a")).await.expect("get").is_some());
    assert_eq!(store.get(&key("W#taken")).await.expect("get"), None);

    let check_fails = vec![
        Write::Check(key("W#missing"), Condition::Exists),
        Write::Put(Item::new(key("W#c"), json!({})), Condition::Always),
    ];
    assert_eq!(
        store.transact(check_fails).await,
        Err(StoreError::ConditionFailed { index: Some(0) })
    );
    assert_eq!(store.get(&key("W#c")).await.expect("get"), None);
}

async fn transactions_refuse_what_dynamodb_refuses(store: Arc<dyn Store>, _clock: Arc<FixedClock>) {
    let twice = vec![
        Write::Put(Item::new(key("T#1"), json!({})), Condition::Always),
        Write::Delete(key("T#1"), Condition::Always),
    ];
    assert!(matches!(
        store.transact(twice).await,
        Err(StoreError::Invalid(_))
    ));
    let too_many: Vec<Write> = (0..101)
        .map(|i| {
            Write::Put(
                Item::new(key(&format!("T#{i:03}")), json!({})),
                Condition::Always,
            )
        })
        .collect();
    assert!(matches!(
        store.transact(too_many).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.get(&key("T#1")).await.expect("get"), None);
    assert_eq!(store.get(&key("T#000")).await.expect("get"), None);
}

async fn prefix_queries_stay_in_their_prefix_sort_and_page(
    store: Arc<dyn Store>,
    _clock: Arc<FixedClock>,
) {
    for i in (0..25).rev() {
        store
            .put(
                Item::new(key(&format!("R#{i:02}")), json!({"i": i})),
                Condition::Always,
            )
            .await
            .expect("put");
    }
    // Neighbours that must not show up: another prefix, another partition.
    store
        .put(Item::new(key("Q#zz"), json!({})), Condition::Always)
        .await
        .expect("put");
    store
        .put(Item::new(key("S#00"), json!({})), Condition::Always)
        .await
        .expect("put");
    store
        .put(
            Item::new(Key::new("P#other", "R#00"), json!({})),
            Condition::Always,
        )
        .await
        .expect("put");

    for descending in [false, true] {
        let mut query = Query::prefix("P#conformance", "R#");
        query.limit = 10;
        query.descending = descending;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.query(&query).await.expect("query");
            pages += 1;
            assert!(page.items.len() <= 10);
            seen.extend(page.items.iter().map(|i| i.doc["i"].as_i64().expect("i")));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
            assert!(pages < 10, "paging does not end");
        }
        let mut expected: Vec<i64> = (0..25).collect();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "descending={descending}");
    }
    let mut narrow = Query::prefix("P#conformance", "R#1");
    narrow.limit = 100;
    let page = store.query(&narrow).await.expect("query");
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.next, None);
}

async fn expired_items_are_absent_to_reads_queries_and_conditions(
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
) {
    let now = clock.now_secs();
    let marker = Item::new(key("H#evt_1"), json!({"seen": true})).expiring(now + 60);
    store
        .put(marker.clone(), Condition::NotExists)
        .await
        .expect("first delivery");
    assert_eq!(
        store.put(marker.clone(), Condition::NotExists).await,
        Err(StoreError::ConditionFailed { index: None }),
        "a duplicate within the TTL is refused"
    );
    let read = store
        .get(&key("H#evt_1"))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(read.expires_at, Some(now + 60));
    // The typed read sees the same document, and the same expiry.
    let text = store
        .get_json(&key("H#evt_1"))
        .await
        .expect("get_json")
        .expect("live");
    let parsed: serde_json::Value = serde_json::from_str(text.get()).expect("json");
    assert_eq!(parsed, json!({"seen": true}));
    assert!(
        store
            .get_json(&key("H#absent"))
            .await
            .expect("get_json")
            .is_none()
    );

    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(store.get(&key("H#evt_1")).await.expect("get"), None);
    assert!(
        store
            .get_json(&key("H#evt_1"))
            .await
            .expect("get_json")
            .is_none(),
        "an expired item is absent to the typed read too"
    );
    let page = store
        .query(&Query::prefix("P#conformance", "H#"))
        .await
        .expect("query");
    assert!(page.items.is_empty(), "expired items stay out of queries");
    assert_eq!(
        store.delete(&key("H#evt_1"), Condition::Exists).await,
        Err(StoreError::ConditionFailed { index: None })
    );
    store
        .put(marker.expiring(clock.now_secs() + 60), Condition::NotExists)
        .await
        .expect("an expired marker no longer blocks");
}

async fn relaxed_transactions_check_conditions_and_read_back_at_once(
    store: Arc<dyn Store>,
    _clock: Arc<FixedClock>,
) {
    let trace = Item::new(key("R#1#S#01"), json!({"effect": "would_have_sent"}));
    let run = Item::new(key("R#1"), json!({"status": "running"}));
    store
        .put(run.clone(), Condition::NotExists)
        .await
        .expect("run");
    let ended = Item::new(key("R#1"), json!({"status": "succeeded"}));
    let running = Condition::FieldEquals {
        field: "status".into(),
        value: json!("running"),
    };
    store
        .transact_relaxed(vec![
            Write::Put(trace.clone(), Condition::NotExists),
            Write::Put(ended.clone(), running.clone()),
        ])
        .await
        .expect("relaxed transaction");
    assert_eq!(
        store
            .get(&key("R#1#S#01"))
            .await
            .expect("get")
            .map(|i| i.doc),
        Some(trace.doc.clone()),
        "a relaxed write is read back at once"
    );
    assert_eq!(
        store.get(&key("R#1")).await.expect("get").map(|i| i.doc),
        Some(ended.doc.clone())
    );
    // The same conditions as a durable transaction, all or nothing.
    let again = store
        .transact_relaxed(vec![
            Write::Put(
                Item::new(key("R#1#S#02"), json!({"effect": "x"})),
                Condition::NotExists,
            ),
            Write::Put(trace.clone(), Condition::NotExists),
        ])
        .await;
    assert!(
        matches!(again, Err(StoreError::ConditionFailed { index: Some(1) })),
        "{again:?}"
    );
    assert!(store.get(&key("R#1#S#02")).await.expect("get").is_none());
    let guarded = store
        .transact_relaxed(vec![Write::Put(ended.clone(), running)])
        .await;
    assert!(
        matches!(guarded, Err(StoreError::ConditionFailed { .. })),
        "{guarded:?}"
    );
}

/// A relaxed write reaches the database file within `RELAXED_FLUSH` without any later
/// write forcing it there, and survives closing and reopening the store.
#[tokio::test]
async fn local_relaxed_writes_are_flushed_to_the_file_within_the_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.redb");
    let clock = test_clock();
    let store = shared::adapters::LocalStore::open(&path, clock.clone()).expect("open");
    let marker = "relaxed-marker-5f0c2b7e";
    store
        .transact_relaxed(vec![Write::Put(
            Item::new(key("R#9#S#01"), json!({"marker": marker})),
            Condition::NotExists,
        )])
        .await
        .expect("relaxed");
    let on_disk = |path: &std::path::Path| {
        let bytes = std::fs::read(path).expect("read file");
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    };
    assert!(
        !on_disk(&path),
        "a relaxed commit is answered before it is written (else it costs what a durable one does)"
    );
    tokio::time::sleep(shared::ports::RELAXED_FLUSH * 6).await;
    assert!(on_disk(&path), "flushed within the interval");
    drop(store);
    // The writer thread lets go of the file once it has flushed.
    let mut reopened = None;
    for _ in 0..100 {
        match shared::adapters::LocalStore::open(&path, clock.clone()) {
            Ok(store) => {
                reopened = Some(store);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let reopened = reopened.expect("reopens");
    assert_eq!(
        reopened
            .get(&key("R#9#S#01"))
            .await
            .expect("get")
            .map(|i| i.doc),
        Some(json!({"marker": marker}))
    );
}

/// Relaxed and durable writers at once (some relaxed ones commit on the caller's
/// thread, others queue behind the writer thread): each conflict has one winner
/// whatever path it took, and every acknowledged write is there after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_relaxed_and_durable_writers_race_with_one_winner_and_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.redb");
    let clock = test_clock();
    let store: Arc<dyn Store> =
        Arc::new(shared::adapters::LocalStore::open(&path, clock.clone()).expect("open"));
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                // Four writers contend for each contested key, two of each kind.
                let contested = Item::new(key(&format!("C#{:03}", i / 4)), json!({"by": i}));
                let own = Item::new(key(&format!("O#{i:03}")), json!({"n": i}));
                let writes = vec![
                    Write::Put(own, Condition::NotExists),
                    Write::Put(contested, Condition::NotExists),
                ];
                let result = if i % 2 == 0 {
                    store.transact_relaxed(writes).await
                } else {
                    store.transact(writes).await
                };
                (i, result)
            })
        })
        .collect();
    let mut won = Vec::new();
    for task in tasks {
        let (i, result) = task.await.expect("join");
        match result {
            Ok(()) => won.push(i),
            Err(StoreError::ConditionFailed { index: Some(1) }) => {}
            Err(e) => panic!("writer {i}: {e:?}"),
        }
    }
    assert_eq!(won.len(), 100, "one winner per contested key: {won:?}");
    drop(store);
    let mut reopened = None;
    for _ in 0..100 {
        match shared::adapters::LocalStore::open(&path, clock.clone()) {
            Ok(store) => {
                reopened = Some(store);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let reopened = reopened.expect("reopens");
    for i in 0..400 {
        let own = reopened.get(&key(&format!("O#{i:03}"))).await.expect("get");
        assert_eq!(
            own.is_some(),
            won.contains(&i),
            "writer {i}: all or nothing"
        );
    }
    for k in 0..100 {
        let winner = reopened
            .get(&key(&format!("C#{k:03}")))
            .await
            .expect("get")
            .expect("contested key written");
        let by = winner.doc["by"].as_u64().expect("by") as usize;
        assert!(won.contains(&by) && by / 4 == k, "key {k} holds {by}");
    }
}

trait Secs {
    fn now_secs(&self) -> i64;
}

impl Secs for FixedClock {
    fn now_secs(&self) -> i64 {
        use shared::ports::Clock;
        self.now().timestamp()
    }
}

/// A document written as JSON text (`Write::PutRaw`) is the same item as one written as
/// a `Value`: it reads back equal, expires, and conditions see its fields.
async fn a_raw_document_is_stored_as_the_same_item(store: Arc<dyn Store>, clock: Arc<FixedClock>) {
    let doc = json!({"revision": 1, "state": {"email": "ada@example.com", "tags": ["a", 2]},
                     "deleted": false, "event_time": null, "name": "Ada \"L\" ✓"});
    let raw = RawItem::of(key("R#1"), &doc).expect("raw");
    store
        .transact(vec![Write::PutRaw(raw.clone(), Condition::NotExists)])
        .await
        .expect("raw put");
    let read = store.get(&key("R#1")).await.expect("get").expect("stored");
    assert_eq!(read.doc, doc);
    assert_eq!(read.expires_at, None);
    let text = store
        .get_json(&key("R#1"))
        .await
        .expect("get_json")
        .expect("stored");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text.get()).expect("json"),
        doc
    );
    assert_eq!(
        store
            .transact(vec![Write::PutRaw(raw, Condition::NotExists)])
            .await,
        Err(StoreError::ConditionFailed { index: None }),
        "NotExists refuses a second raw put"
    );

    // A revision guard reads the field of a raw document; a stale one is refused.
    let next = RawItem::of(key("R#1"), &json!({"revision": 2})).expect("raw");
    let guard = |revision: i64| Condition::FieldEquals {
        field: "revision".into(),
        value: json!(revision),
    };
    assert_eq!(
        store
            .transact(vec![Write::PutRaw(next.clone(), guard(0))])
            .await,
        Err(StoreError::ConditionFailed { index: None })
    );
    store
        .transact(vec![Write::PutRaw(next, guard(1))])
        .await
        .expect("guarded raw put");
    assert_eq!(
        store
            .get(&key("R#1"))
            .await
            .expect("get")
            .expect("stored")
            .doc,
        json!({"revision": 2})
    );

    // Raw and Value writes mix in one transaction, all or nothing.
    let now = clock.now_secs();
    let expiring = RawItem::of(key("R#2"), &json!({"seen": true}))
        .expect("raw")
        .expiring(now + 60);
    assert_eq!(
        store
            .transact(vec![
                Write::PutRaw(expiring.clone(), Condition::NotExists),
                Write::Put(Item::new(key("R#3"), json!({})), Condition::Exists),
            ])
            .await,
        Err(StoreError::ConditionFailed { index: Some(1) })
    );
    assert_eq!(store.get(&key("R#2")).await.expect("get"), None);
    store
        .transact(vec![Write::PutRaw(expiring, Condition::NotExists)])
        .await
        .expect("expiring raw put");
    assert_eq!(
        store
            .get(&key("R#2"))
            .await
            .expect("get")
            .expect("live")
            .expires_at,
        Some(now + 60)
    );
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(store.get(&key("R#2")).await.expect("get"), None, "expired");

    // Only an object is a document.
    assert!(matches!(
        RawItem::of(key("R#4"), &json!([1, 2])),
        Err(StoreError::Invalid(_))
    ));
}

/// The embedded store removes expired items for good (reads already skip them): an
/// item read back with the clock set before its expiry is gone once swept, while items
/// without an expiry, or not yet due, stay.
#[tokio::test]
async fn the_embedded_store_sweeps_expired_items_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = test_clock();
    let store = shared::adapters::LocalStore::open(&dir.path().join("t.redb"), clock.clone())
        .expect("open");
    let start = shared::ports::Clock::now(clock.as_ref());
    let at = start.timestamp();
    for (sk, expires) in [
        ("due", Some(at + 10)),
        ("later", Some(at + 1000)),
        ("kept", None),
    ] {
        let mut item = Item::new(Key::new("P#s", sk), json!({"sk": sk}));
        if let Some(expires) = expires {
            item = item.expiring(expires);
        }
        store.put(item, Condition::Always).await.expect("put");
    }
    // Rewritten without an expiry: its old index entry must not remove it.
    store
        .put(
            Item::new(Key::new("P#s", "rewritten"), json!({})).expiring(at + 10),
            Condition::Always,
        )
        .await
        .expect("put");
    store
        .put(
            Item::new(Key::new("P#s", "rewritten"), json!({})),
            Condition::Always,
        )
        .await
        .expect("put");
    clock.advance(chrono::Duration::seconds(11));
    assert_eq!(
        store.sweep_expired().expect("sweep"),
        1,
        "only the due item"
    );
    clock.set(start);
    let get = |sk: &'static str| {
        let store = &store;
        async move {
            store
                .get(&Key::new("P#s", sk))
                .await
                .expect("get")
                .is_some()
        }
    };
    assert!(!get("due").await, "removed, not merely hidden");
    assert!(get("later").await && get("kept").await && get("rewritten").await);
}

/// A closed store's file opens again without recovery, with every write in it; the
/// closed store refuses further use.
#[tokio::test]
async fn a_closed_embedded_store_reopens_without_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.redb");
    let clock = test_clock();
    let store = shared::adapters::LocalStore::open(&path, clock.clone()).expect("open");
    store
        .transact_relaxed(vec![Write::Put(
            Item::new(Key::new("P#c", "relaxed"), json!({"n": 1})),
            Condition::Always,
        )])
        .await
        .expect("relaxed write");
    store
        .put(
            Item::new(Key::new("P#c", "durable"), json!({"n": 2})),
            Condition::Always,
        )
        .await
        .expect("write");
    store.close().expect("close");
    assert!(matches!(
        store.get(&Key::new("P#c", "durable")).await,
        Err(StoreError::Unavailable(_))
    ));
    let repaired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = repaired.clone();
    let db = redb::Database::builder()
        .set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst))
        .create(&path)
        .expect("reopen");
    assert!(
        !repaired.load(std::sync::atomic::Ordering::SeqCst),
        "no recovery after a clean close"
    );
    drop(db);
    let store = shared::adapters::LocalStore::open(&path, clock).expect("open again");
    for sk in ["relaxed", "durable"] {
        assert!(
            store
                .get(&Key::new("P#c", sk))
                .await
                .expect("get")
                .is_some(),
            "{sk}"
        );
    }
}

async fn counters_add_in_place_and_only_to_live_items(
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
) {
    let add = |delta| Write::Add {
        key: key("C#n"),
        field: "count".into(),
        delta,
    };
    // No item: the transaction fails, and nothing is created.
    assert_eq!(
        store.transact(vec![add(1)]).await,
        Err(StoreError::ConditionFailed { index: None })
    );
    assert_eq!(store.get(&key("C#n")).await.expect("get"), None);

    // An item without the field: it counts from 0, the rest of the document stays.
    store
        .put(
            Item::new(key("C#n"), json!({"since": "x"})).expiring(clock.now().timestamp() + 60),
            Condition::Always,
        )
        .await
        .expect("put");
    store.transact(vec![add(3)]).await.expect("add");
    store.transact(vec![add(-1)]).await.expect("subtract");
    let item = store.get(&key("C#n")).await.expect("get").expect("kept");
    assert_eq!(item.doc, json!({"since": "x", "count": 2}));
    assert_eq!(
        item.expires_at,
        Some(clock.now().timestamp() + 60),
        "expiry kept"
    );

    // Many transactions at once lose no increment.
    let adds = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.transact(vec![add(1)]).await })
    });
    for add in adds {
        add.await.expect("join").expect("add");
    }
    let doc = store
        .get(&key("C#n"))
        .await
        .expect("get")
        .expect("kept")
        .doc;
    assert_eq!(doc["count"], json!(22));

    // A counter that is guarded by a failing write in the same transaction stays.
    let guarded = vec![add(5), Write::Check(key("C#missing"), Condition::Exists)];
    assert_eq!(
        store.transact(guarded).await,
        Err(StoreError::ConditionFailed { index: Some(1) })
    );
    let doc = store
        .get(&key("C#n"))
        .await
        .expect("get")
        .expect("kept")
        .doc;
    assert_eq!(doc["count"], json!(22));
}

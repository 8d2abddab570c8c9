use super::schema::MIGRATIONS;
use super::*;

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kizuna-store-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("node.sqlite")
}

async fn count(store: &SqliteStore, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

async fn add_device(store: &SqliteStore, n: &str) {
    store
        .create_account(NewAccount {
            account: Account {
                account_id: format!("acct-{n}"),
                handle: n.into(),
                region: "jp".into(),
                created_at: 0,
            },
            device: Device {
                device_id: n.into(),
                account_id: format!("acct-{n}"),
                handle: n.into(),
                signature_key: n.as_bytes().to_vec(),
                label: String::new(),
            },
        })
        .await
        .unwrap();
}

fn app(group: &[u8], sender: &str, epoch: u64, text: &str) -> Submission {
    Submission::Application {
        group_id: group.to_vec(),
        sender_device: sender.into(),
        epoch,
        payload: text.as_bytes().to_vec(),
        server_time: 0,
        franking: None,
        client_id: None,
    }
}

fn commit(group: &[u8], sender: &str, epoch: u64, add: &[&str], remove: &[&str]) -> Submission {
    Submission::Commit {
        group_id: group.to_vec(),
        sender_device: sender.into(),
        epoch,
        commit: b"commit".to_vec(),
        welcome: (!add.is_empty()).then(|| b"welcome".to_vec()),
        added: add.iter().map(|d| d.to_string()).collect(),
        removed: remove.iter().map(|d| d.to_string()).collect(),
        server_time: 0,
        max_members: 10,
        state: Vec::new(),
    }
}

async fn texts(store: &SqliteStore, device: &str) -> Vec<(MessageKind, String)> {
    store
        .inbox(device, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, String::from_utf8(e.payload).unwrap()))
        .collect()
}

#[tokio::test]
async fn members_receive_their_range_and_messages_go_once_everyone_has_them() {
    let store = SqliteStore::open(&temp_db("range")).await.unwrap();
    for d in ["a", "b", "c"] {
        add_device(&store, d).await;
    }
    let g = b"group".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    let batch = vec![
        commit(g, "a", 0, &["b", "c"], &[]),
        app(g, "a", 1, "hello"),
        commit(g, "a", 1, &[], &["c"]),
        app(g, "b", 2, "after"),
    ];
    let out = store.submit(batch, vec![]).await.unwrap();
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    use MessageKind::*;
    assert_eq!(
        texts(&store, "b").await,
        [
            (Welcome, "welcome".into()),
            (Application, "hello".into()),
            (Commit, "commit".into())
        ]
    );
    // Carol gets the commit that removes her and nothing after it.
    assert_eq!(
        texts(&store, "c").await,
        [
            (Welcome, "welcome".into()),
            (Application, "hello".into()),
            (Commit, "commit".into())
        ]
    );
    assert_eq!(texts(&store, "a").await, [(Application, "after".into())]);

    let last = |d: &'static str| {
        let store = &store;
        async move { store.inbox(d, 0, 100).await.unwrap().last().unwrap().seq }
    };
    let (a, b, c) = (last("a").await, last("b").await, last("c").await);
    store.ack("b", b).await.unwrap();
    store.release_delivered().await.unwrap();
    // Carol has not acknowledged: what she still needs stays.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 4);
    store.ack("c", c).await.unwrap();
    store.release_delivered().await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 1);
    assert!(texts(&store, "c").await.is_empty());
    store.ack("a", a).await.unwrap();
    store.release_delivered().await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM deliveries").await, 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM memberships").await, 2);
    // An acknowledgement never moves a device back.
    store.ack("b", 1).await.unwrap();
    assert_eq!(
        count(&store, "SELECT acked FROM cursors WHERE device_id = 'b'").await,
        b as i64
    );
}

#[tokio::test]
async fn an_acknowledgement_past_the_log_hides_nothing_still_to_come() {
    let store = SqliteStore::open(&temp_db("ack-past")).await.unwrap();
    for d in ["a", "b"] {
        add_device(&store, d).await;
    }
    let g = b"group".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    let out = store
        .submit(
            vec![commit(g, "a", 0, &["b"], &[]), app(g, "a", 1, "one")],
            vec![],
        )
        .await
        .unwrap();
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    let delivered = store.inbox("b", 0, 100).await.unwrap().last().unwrap().seq;
    for past in [i64::MAX as u64, u64::MAX] {
        store.ack("b", past).await.unwrap();
        assert_eq!(
            count(&store, "SELECT acked FROM cursors WHERE device_id = 'b'").await,
            delivered as i64
        );
    }
    store
        .submit(vec![app(g, "a", 1, "two")], vec![])
        .await
        .unwrap();
    use MessageKind::*;
    assert_eq!(texts(&store, "b").await, [(Application, "two".into())]);
}

#[tokio::test]
async fn queues_of_the_earlier_layout_survive_the_upgrade() {
    let path = temp_db("upgrade");
    {
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .unwrap()
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(opts).await.unwrap();
        sqlx::raw_sql(MIGRATIONS[0]).execute(&pool).await.unwrap();
        sqlx::raw_sql(MIGRATIONS[1]).execute(&pool).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE schema_version (version BIGINT NOT NULL);
             INSERT INTO schema_version VALUES (1), (2);
             INSERT INTO groups VALUES (x'67', 1, 3, 0);
             INSERT INTO group_members VALUES (x'67', 'a'), (x'67', 'b'), (x'67', 'c');
             INSERT INTO messages VALUES (x'67', 1, 2, 'a', 0, x'6f6e65'), (x'67', 2, 2, 'a', 0, x'74776f');
             INSERT INTO inbox VALUES ('b', 5, x'67', 1), ('c', 6, x'67', 1), ('b', 7, x'67', 2);
             UPDATE counters SET value = 7 WHERE name = 'inbox_seq';",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let b = store.inbox("b", 0, 100).await.unwrap();
    assert_eq!(
        b.iter().map(|e| e.group_seq).collect::<Vec<_>>(),
        [1, 2],
        "b keeps its queue in order"
    );
    // Positions start after every sequence number a client may hold.
    assert!(b[0].seq > 7 && b[1].seq > b[0].seq);
    assert_eq!(
        texts(&store, "c").await,
        [(MessageKind::Application, "one".into())]
    );
    // The members still receive new messages, after the old ones.
    store
        .submit(vec![app(b"g", "a", 1, "three")], vec![])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    let b = store.inbox("b", 0, 100).await.unwrap();
    assert_eq!(b.len(), 3);
    assert!(b[2].seq > b[1].seq);
    store.ack("b", b[2].seq).await.unwrap();
    let c = store.inbox("c", 0, 100).await.unwrap();
    store.ack("c", c.last().unwrap().seq).await.unwrap();
    store.release_delivered().await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 0);
}

#[test]
fn chunks_cover_every_row_in_few_shapes() {
    let rows: Vec<u32> = (0..300).collect();
    let chunks = prepared_chunks(&rows);
    assert_eq!(chunks.concat(), rows);
    assert!(chunks.iter().all(|c| [128, 32, 8, 1].contains(&c.len())));
    assert!(super::prepared_chunks::<u8>(&[]).is_empty());
}

#[test]
fn blob_lists_round_trip() {
    let items = vec![vec![1, 2, 3], vec![], vec![9; 300]];
    assert_eq!(
        super::links::decode_blobs(&super::links::encode_blobs(&items)),
        Some(items)
    );
    assert_eq!(super::links::decode_blobs(&[0, 0, 0, 5, 1]), None);
}

#[tokio::test]
async fn erasing_an_account_overwrites_a_plaintext_profile_left_from_before_regions() {
    let path = temp_db("legacy-erase");
    let store = SqliteStore::open(&path).await.unwrap();
    add_device(&store, "bob").await;
    sqlx::query(
        "INSERT INTO profiles (account_id, sealed) VALUES ('acct-bob', \
         CAST('{\"name\":\"Bob Plaintext\",\"phone\":\"090\"}' AS BLOB))",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    crate::truncate_wal(&store.pool).await.unwrap();
    assert!(store.delete_account("acct-bob").await.unwrap());
    store.close().await;
    let dir = path.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        // The WAL and shared-memory files may go as the store closes.
        let Ok(bytes) = std::fs::read(entry.unwrap().path()) else {
            continue;
        };
        assert!(
            !bytes.windows(13).any(|w| w == b"Bob Plaintext"),
            "the old plaintext profile is still on disk"
        );
    }
}

#[tokio::test]
async fn a_store_written_by_a_newer_schema_is_refused_and_left_as_it_was() {
    let path = temp_db("newer-schema");
    let store = SqliteStore::open(&path).await.unwrap();
    let known = count(&store, "SELECT MAX(version) FROM schema_version").await;
    sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
        .bind(known + 1)
        .execute(&store.pool)
        .await
        .unwrap();
    store.close().await;
    match SqliteStore::open(&path).await {
        Err(StoreError::SchemaTooNew { found, known: k }) => {
            assert_eq!((found, k), (known as u64 + 1, known as u64));
        }
        Err(e) => panic!("expected a newer schema to be refused, got {e}"),
        Ok(_) => panic!("a store from a newer schema was opened"),
    }
    // Refusing changed nothing: the version is still the newer one.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let v: i64 = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(v, known + 1);
}

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

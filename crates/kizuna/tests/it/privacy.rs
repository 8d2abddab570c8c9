//! The server only ever relays ciphertext: after real chats, no plaintext is
//! in any file under its data directory, nor in its log output.

use crate::harness::*;

#[tokio::test]
async fn no_plaintext_on_the_server() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "kr").await;
    let mut carol = node.person("carol", "jp").await;
    let secrets = [
        "PLAINTEXT-CANARY-one-to-one",
        "PLAINTEXT-CANARY-group-message",
        "PLAINTEXT-CANARY-offline-queued",
        "PLAINTEXT-CANARY-group-name",
    ];
    let dm = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.send(&dm, secrets[0]).await.unwrap();
    bob.sync().await.unwrap();
    let group = alice
        .create_chat(&["bob".into(), "carol".into()], Some(secrets[3]))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    bob.send(&group, secrets[1]).await.unwrap();
    // Left in Carol's queue, unread, while we look.
    alice.send(&group, secrets[2]).await.unwrap();

    let server = node.server.as_ref().unwrap();
    assert!(server.addr.port() > 0);
    let logs = log_buffer().lock().unwrap().clone();
    for f in files(node.data_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        for s in secrets {
            assert!(
                !contains(&bytes, s.as_bytes()),
                "{s} found in {}",
                f.display()
            );
        }
    }
    for s in secrets {
        assert!(
            !contains(&logs, s.as_bytes()),
            "{s} found in the server log"
        );
    }
    // The messages were real: their recipients read them.
    let got = texts(&carol.sync().await.unwrap());
    assert_eq!(got, [secrets[1], secrets[2]]);
}

#[tokio::test]
async fn the_server_keeps_no_history_once_delivered() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let chat = alice
        .create_chat(&["bob".into(), "carol".into()], None)
        .await
        .unwrap();
    for i in 0..5 {
        alice.send(&chat, &format!("m{i}")).await.unwrap();
    }
    let db = node.files().node_store();
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        }
    };
    bob.sync().await.unwrap();
    // Carol has not fetched yet: the messages wait for her alone.
    assert!(count("log").await > 0);
    carol.sync().await.unwrap();
    // A removal: Carol still receives the commit that removes her, then
    // nothing of hers is kept either.
    alice.remove_member(&chat, "carol").await.unwrap();
    alice.send(&chat, "after").await.unwrap();
    bob.sync().await.unwrap();
    assert!(count("log").await > 0);
    carol.sync().await.unwrap();
    node.restart().await;
    assert_eq!(count("log").await, 0);
    assert_eq!(count("deliveries").await, 0);
    assert_eq!(
        count("memberships WHERE until_seq IS NOT NULL").await,
        0,
        "a past membership outlived its messages"
    );
}

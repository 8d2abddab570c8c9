//! Files people send: the quota, parts in order, who may fetch one, and
//! what expires.

use super::*;

fn file(id: &str, account: &str, device: &str, group: &[u8], size: u64, parts: u32) -> StoredFile {
    StoredFile {
        file_id: id.into(),
        group_id: group.to_vec(),
        account_id: account.into(),
        device_id: device.into(),
        region: "jp".into(),
        size,
        parts,
        received: 0,
        ahead: 0,
        created_at: 100,
        sent_at: None,
    }
}

async fn uploads_keep_to_the_quota_and_count_parts_in_order(store: Subject) {
    add_device(&store, "a").await;
    let g = b"group".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    assert_eq!(
        store
            .begin_file(file("f1", "acct-a", "a", g, 600, 3), 1000)
            .await
            .unwrap(),
        Ok(())
    );
    // A second file that would pass the quota is refused, saying what the
    // account already keeps, and nothing of it is kept.
    assert_eq!(
        store
            .begin_file(file("f2", "acct-a", "a", g, 500, 2), 1000)
            .await
            .unwrap(),
        Err(600)
    );
    assert!(store.file("f2").await.unwrap().is_none());
    // A part ahead of the first missing one is remembered, not counted,
    // until the one before it arrives; a repeat changes nothing.
    assert_eq!(store.file_part_stored("f1", 1).await.unwrap(), 0);
    let f = store.file("f1").await.unwrap().unwrap();
    assert!(f.has_part(1) && !f.has_part(0) && !f.has_part(2));
    assert_eq!(store.file_part_stored("f1", 1).await.unwrap(), 0);
    assert_eq!(store.file_part_stored("f1", 0).await.unwrap(), 2);
    assert_eq!(store.file_part_stored("f1", 0).await.unwrap(), 2);
    // Past the last part is nothing to keep.
    assert_eq!(store.file_part_stored("f1", 3).await.unwrap(), 2);
    let f = store.file("f1").await.unwrap().unwrap();
    assert_eq!((f.received, f.ahead, f.parts, f.sent_at), (2, 0, 3, None));
    assert_eq!(store.file_part_stored("f1", 2).await.unwrap(), 3);
    assert_eq!(store.file_part_stored("nothing", 0).await.unwrap(), 0);
}

async fn only_the_chats_devices_when_it_was_sent_may_fetch_a_file(store: Subject) {
    for d in ["a", "b", "c", "d"] {
        add_device(&store, d).await;
    }
    let g = b"group".as_slice();
    let other = b"other".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    store.create_group(other, "d", 0, Vec::new()).await.unwrap();
    let out = store
        .submit(vec![commit(g, "a", 0, &["b", "c"], &[])], vec![])
        .await
        .unwrap();
    assert!(out[0].is_ok(), "{out:?}");
    store
        .begin_file(file("f1", "acct-a", "a", g, 10, 1), 1000)
        .await
        .unwrap()
        .unwrap();
    let ids = vec!["f1".to_string()];
    // Not complete yet; not b's to send; not for another chat.
    assert_eq!(
        store.attach_files(&ids, "a", g, 200).await.unwrap(),
        FileAttach::Incomplete("f1".into())
    );
    store.file_part_stored("f1", 0).await.unwrap();
    assert_eq!(
        store.attach_files(&ids, "b", g, 200).await.unwrap(),
        FileAttach::NotYours("f1".into())
    );
    assert_eq!(
        store.attach_files(&ids, "a", other, 200).await.unwrap(),
        FileAttach::NotYours("f1".into())
    );
    assert_eq!(
        store
            .attach_files(&["nope".to_string()], "a", g, 200)
            .await
            .unwrap(),
        FileAttach::Unknown("nope".into())
    );
    assert!(!store.may_read_file("f1", "a").await.unwrap());
    assert_eq!(
        store.attach_files(&ids, "a", g, 200).await.unwrap(),
        FileAttach::Attached
    );
    assert_eq!(store.file("f1").await.unwrap().unwrap().sent_at, Some(200));
    for (d, may) in [("a", true), ("b", true), ("c", true), ("d", false)] {
        assert_eq!(store.may_read_file("f1", d).await.unwrap(), may, "{d}");
    }
    // Removed afterwards: c keeps what was sent while it was there; a
    // device that joins later gets nothing sent before.
    let out = store
        .submit(vec![commit(g, "a", 1, &["d"], &["c"])], vec![])
        .await
        .unwrap();
    assert!(out[0].is_ok(), "{out:?}");
    assert!(store.may_read_file("f1", "c").await.unwrap());
    assert!(!store.may_read_file("f1", "d").await.unwrap());
    // A revoked device fetches nothing.
    store.delete_device("b").await.unwrap();
    assert!(!store.may_read_file("f1", "b").await.unwrap());
    assert_eq!(
        store.file_regions_readable_by("acct-c").await.unwrap(),
        ["jp"]
    );
    assert!(store
        .file_regions_readable_by("acct-a")
        .await
        .unwrap()
        .is_empty());
}

async fn unsent_and_old_files_expire_and_move_with_their_sender(store: Subject) {
    add_device(&store, "a").await;
    let g = b"group".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    for (id, created) in [("unsent", 100), ("sent", 100), ("fresh", 900)] {
        let mut f = file(id, "acct-a", "a", g, 10, 1);
        f.created_at = created;
        store.begin_file(f, 1000).await.unwrap().unwrap();
        store.file_part_stored(id, 0).await.unwrap();
    }
    store
        .attach_files(&["sent".to_string()], "a", g, 300)
        .await
        .unwrap();
    let ids = |v: Vec<StoredFile>| v.into_iter().map(|f| f.file_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.expired_files(500, 250, 10).await.unwrap()),
        ["unsent"]
    );
    // A report holds a sent file past its retention (idempotently), until
    // the report goes.
    store.hold_files("rep-1", &["sent".into()]).await.unwrap();
    store.hold_files("rep-1", &["sent".into()]).await.unwrap();
    assert_eq!(
        ids(store.expired_files(500, 400, 10).await.unwrap()),
        ["unsent"]
    );
    assert_eq!(
        store.holds_past(400, 10).await.unwrap(),
        [("sent".to_string(), "rep-1".to_string())]
    );
    assert!(store.holds_past(250, 10).await.unwrap().is_empty());
    store.release_holds("rep-1").await.unwrap();
    let mut both = ids(store.expired_files(500, 400, 10).await.unwrap());
    both.sort();
    assert_eq!(both, ["sent", "unsent"]);
    // A held file is still forgotten when its sender is erased.
    store.hold_files("rep-2", &["sent".into()]).await.unwrap();
    assert_eq!(store.files_sent_by("acct-a").await.unwrap().len(), 3);
    store.set_file_region("sent", "kr").await.unwrap();
    assert_eq!(store.file("sent").await.unwrap().unwrap().region, "kr");
    store.forget_file("unsent").await.unwrap();
    store.forget_file("sent").await.unwrap();
    assert!(store.file("sent").await.unwrap().is_none());
    assert!(!store.may_read_file("sent", "a").await.unwrap());
    // What is forgotten no longer counts against the quota.
    assert_eq!(
        store
            .begin_file(file("big", "acct-a", "a", g, 990, 1), 1000)
            .await
            .unwrap(),
        Ok(())
    );
}

conformance!(
    uploads_keep_to_the_quota_and_count_parts_in_order,
    only_the_chats_devices_when_it_was_sent_may_fetch_a_file,
    unsent_and_old_files_expire_and_move_with_their_sender,
);

/// Parts arriving in any order within the window are each counted once,
/// and the count reaches the whole only when every part is kept.
#[test]
fn parts_kept_out_of_order_are_counted_once_the_gap_fills() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..200 {
        let parts = 1 + (next() % 40) as u32;
        let window = 1 + (next() % 8) as u32;
        let mut f = file("f", "acct", "d", b"g", 0, parts);
        let mut sent = std::collections::BTreeSet::new();
        while f.received < parts {
            // Any part in the window, sometimes one already kept.
            let n = f.received + (next() % window as u64) as u32;
            let before = f.received;
            f.part_kept(n);
            sent.insert(n);
            assert!(f.received >= before);
            assert!((0..f.received).all(|p| sent.contains(&p)));
            assert!((0..parts).all(|p| f.has_part(p) == sent.contains(&p)));
        }
        assert_eq!(f.ahead, 0);
    }
}

//! Accounts, devices, key packages and linking.

use super::*;

async fn accounts_conflict_on_handle_and_device_key_and_import_all_or_none(store: Subject) {
    add_device(&store, "alice").await;
    let mut same_handle = new_account("other");
    same_handle.account.handle = "alice".into();
    assert!(matches!(
        store.create_account(same_handle).await,
        Err(StoreError::Conflict("handle"))
    ));
    let mut same_key = new_account("other");
    same_key.device.signature_key = b"alice".to_vec();
    assert!(matches!(
        store.create_account(same_key).await,
        Err(StoreError::Conflict("device key"))
    ));
    // An import whose second account takes the first's handle: none of it.
    let mut second = new_account("carol");
    second.account.handle = "bob".into();
    assert!(matches!(
        store
            .create_accounts(vec![new_account("bob"), second])
            .await,
        Err(StoreError::Conflict("handle"))
    ));
    assert!(store.account_by_handle("bob").await.unwrap().is_none());
    assert!(store.device("bob").await.unwrap().is_none());
    store
        .create_accounts(vec![new_account("bob"), new_account("carol")])
        .await
        .unwrap();
    assert!(store.account_by_handle("carol").await.unwrap().is_some());
}

async fn accounts_are_found_and_counted_by_region(store: Subject) {
    for n in ["a", "b", "c"] {
        add_device(&store, n).await;
    }
    store.set_region("acct-c", "eu").await.unwrap();
    assert!(matches!(
        store.set_region("acct-none", "eu").await,
        Err(StoreError::NotFound("account"))
    ));
    let a = store.account_by_id("acct-a").await.unwrap().unwrap();
    assert_eq!((a.handle.as_str(), a.region.as_str()), ("a", "jp"));
    let mut found: Vec<String> = store
        .accounts_by_ids(&["acct-a".into(), "acct-c".into(), "acct-x".into()])
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_id)
        .collect();
    found.sort();
    assert_eq!(found, ["acct-a", "acct-c"]);
    assert_eq!(
        store.account_regions().await.unwrap(),
        [("eu".to_string(), 1), ("jp".to_string(), 2)]
    );
    assert!(store.legacy_profiles(10).await.unwrap().is_empty());
    store.drop_legacy_profile("acct-a").await.unwrap();
}

async fn devices_show_when_they_signed_in(store: Subject) {
    add_device(&store, "a").await;
    let d = store.device("a").await.unwrap().unwrap();
    assert_eq!((d.account_id.as_str(), d.handle.as_str()), ("acct-a", "a"));
    assert_eq!(store.devices_of("acct-a").await.unwrap().len(), 1);
    let (_, added, seen) = store.device_activity("acct-a").await.unwrap().remove(0);
    assert_eq!((added, seen), (0, None));
    store.touch_device("a", 1234).await.unwrap();
    let (_, _, seen) = store.device_activity("acct-a").await.unwrap().remove(0);
    assert_eq!(seen, Some(1234));
}

async fn deleting_an_account_takes_everything_of_it(store: Subject) {
    add_device(&store, "a").await;
    add_device(&store, "b").await;
    store
        .set_sanction(
            "acct-a",
            "r1",
            Some(Sanction {
                sending_only: true,
                until: None,
            }),
        )
        .await
        .unwrap();
    store
        .set_agreement(
            "acct-a",
            Some(StandingAgreement {
                region: "jp".into(),
                version: "1".into(),
            }),
        )
        .await
        .unwrap();
    store
        .create_link(link("l1", "acct-a"), b"code".to_vec())
        .await
        .unwrap();
    store
        .add_key_packages("a", vec![b"kp".to_vec()], None, 10)
        .await
        .unwrap()
        .unwrap();
    store.create_group(b"g", "a", 0, Vec::new()).await.unwrap();
    assert!(store.delete_account("acct-a").await.unwrap());
    assert!(!store.delete_account("acct-a").await.unwrap());
    assert!(store.account_by_id("acct-a").await.unwrap().is_none());
    assert!(store.device("a").await.unwrap().is_none());
    assert!(store.sanctions().await.unwrap().is_empty());
    assert!(store.agreement("acct-a").await.unwrap().is_none());
    assert!(store.link("l1").await.unwrap().is_none());
    assert_eq!(store.key_package_count("a").await.unwrap().one_time, 0);
    assert!(store.groups_of("a").await.unwrap().is_empty());
    assert!(store.account_by_id("acct-b").await.unwrap().is_some());
}

async fn key_packages_keep_to_the_limit_and_go_oldest_first(store: Subject) {
    add_device(&store, "a").await;
    let kps = |names: &[&str]| names.iter().map(|n| n.as_bytes().to_vec()).collect();
    let c = store
        .add_key_packages("a", kps(&["one", "two"]), Some(b"last1".to_vec()), 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.one_time, c.last_resort), (2, true));
    assert_eq!(
        store
            .add_key_packages("a", kps(&["three", "four"]), None, 3)
            .await
            .unwrap()
            .unwrap_err(),
        2
    );
    store
        .add_key_packages("a", kps(&["three"]), Some(b"last2".to_vec()), 3)
        .await
        .unwrap()
        .unwrap();
    let mut claimed = Vec::new();
    for _ in 0..5 {
        claimed.push(store.claim_key_package("a").await.unwrap().unwrap());
    }
    assert_eq!(
        claimed,
        kps(&["one", "two", "three", "last2", "last2"]) as Vec<Vec<u8>>
    );
    let c = store.key_package_count("a").await.unwrap();
    assert_eq!((c.one_time, c.last_resort), (0, true));
    assert!(store.claim_key_package("zed").await.unwrap().is_none());
}

fn link(id: &str, account: &str) -> PendingLink {
    PendingLink {
        link_id: id.into(),
        account_id: account.into(),
        signature_key: format!("key-{id}").into_bytes(),
        label: "phone".into(),
        key_packages: vec![b"kp1".to_vec(), b"kp2".to_vec()],
        last_resort: b"lr".to_vec(),
        approved_device: None,
        created_at: 5,
    }
}

async fn a_link_request_becomes_one_device(store: Subject) {
    add_device(&store, "a").await;
    store
        .create_link(link("l1", "acct-a"), b"code".to_vec())
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_link(link("l2", "acct-a"), b"code".to_vec())
            .await,
        Err(StoreError::Conflict("link code"))
    ));
    let found = store.link_by_code(b"code").await.unwrap().unwrap();
    assert_eq!(found.key_packages, link("l1", "").key_packages);
    assert!(found.approved_device.is_none());
    let device = Device {
        device_id: "a2".into(),
        account_id: "acct-a".into(),
        handle: "a".into(),
        signature_key: Vec::new(),
        label: String::new(),
    };
    store.approve_link("l1", device.clone()).await.unwrap();
    assert!(matches!(
        store.approve_link("l1", device).await,
        Err(StoreError::NotFound("pending link request"))
    ));
    assert_eq!(
        store.link("l1").await.unwrap().unwrap().approved_device,
        Some("a2".into())
    );
    let d = store.device("a2").await.unwrap().unwrap();
    assert_eq!(
        (d.label.as_str(), d.signature_key.as_slice()),
        ("phone", b"key-l1".as_slice())
    );
    let c = store.key_package_count("a2").await.unwrap();
    assert_eq!((c.one_time, c.last_resort), (2, true));
    assert_eq!(store.devices_of("acct-a").await.unwrap().len(), 2);
    // A request whose key a device already has makes no second device.
    let mut again = link("l3", "acct-a");
    again.signature_key = b"a".to_vec();
    store.create_link(again, b"code3".to_vec()).await.unwrap();
    let other = Device {
        device_id: "a3".into(),
        ..store.device("a2").await.unwrap().unwrap()
    };
    assert!(matches!(
        store.approve_link("l3", other).await,
        Err(StoreError::Conflict("device key"))
    ));
}

async fn key_log_entries_are_numbered_once_and_outlive_their_account(store: Subject) {
    let row = |n: u8, handle: &str, account: &str| KeyLogRow {
        leaf: vec![n; 32],
        idx: None,
        after: 10,
        at: n as u64,
        handle: handle.into(),
        account_id: account.into(),
        entry: vec![n],
    };
    assert_eq!(store.highest_key_entry().await.unwrap(), None);
    // Written unnumbered: pending, not served.
    for r in [
        row(1, "bob", "a1"),
        row(2, "bob", "a1"),
        row(3, "carol", "c1"),
    ] {
        store.write_key_entry(&r).await.unwrap();
    }
    assert_eq!(store.pending_key_entries().await.unwrap().len(), 3);
    assert!(store.key_entries("bob").await.unwrap().is_empty());
    // Numbered; writing a numbered row again, or the unnumbered one after
    // it, keeps its number.
    for (n, idx) in [(1, 12), (2, 11), (3, 13)] {
        let numbered = KeyLogRow {
            idx: Some(idx),
            ..row(
                n,
                if n == 3 { "carol" } else { "bob" },
                if n == 3 { "c1" } else { "a1" },
            )
        };
        store.write_key_entry(&numbered).await.unwrap();
    }
    store.write_key_entry(&row(1, "bob", "a1")).await.unwrap();
    let bob: Vec<(Option<u64>, Vec<u8>)> = store
        .key_entries("bob")
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.idx, r.entry))
        .collect();
    assert_eq!(bob, [(Some(11), vec![2]), (Some(12), vec![1])]);
    assert!(store.pending_key_entries().await.unwrap().is_empty());
    assert_eq!(
        store.highest_key_entry().await.unwrap().unwrap().idx,
        Some(13)
    );
    let from: Vec<Option<u64>> = store
        .key_entries_from(12, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.idx)
        .collect();
    assert_eq!(from, [Some(12), Some(13)]);
    // A pending entry taken back goes; a numbered one stays.
    store.write_key_entry(&row(4, "bob", "a1")).await.unwrap();
    store.drop_pending_key_entry(&[4; 32]).await.unwrap();
    store.drop_pending_key_entry(&[1; 32]).await.unwrap();
    assert_eq!(store.key_entries("bob").await.unwrap().len(), 2);
    assert!(store.pending_key_entries().await.unwrap().is_empty());
    // Accounts from before the log are the ones it has no entry for.
    store.create_account(new_account("dan")).await.unwrap();
    store.create_account(new_account("eve")).await.unwrap();
    store
        .write_key_entry(&KeyLogRow {
            idx: Some(20),
            ..row(9, "eve", "acct-eve")
        })
        .await
        .unwrap();
    let unlogged: Vec<String> = store
        .devices_without_key_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    assert_eq!(unlogged, ["dan"]);
    // The log is public and kept: erasing an account leaves its entries.
    store.create_account(new_account("bob")).await.unwrap();
    store.delete_account("acct-bob").await.unwrap();
    assert_eq!(store.key_entries("bob").await.unwrap().len(), 2);
}

async fn follows_are_kept_moved_listed_and_end_with_either_account(store: Subject) {
    for n in ["city", "alice", "bob", "carol"] {
        store.create_account(new_account(n)).await.unwrap();
    }
    let follow = |who: &str, group: &[u8], since| Follow {
        official_id: "acct-city".into(),
        follower_id: format!("acct-{who}"),
        group_id: group.to_vec(),
        since,
    };
    assert!(store.follow(&follow("alice", b"g1", 1)).await.unwrap());
    assert!(store.follow(&follow("bob", b"g2", 2)).await.unwrap());
    assert!(store.follow(&follow("carol", b"g3", 3)).await.unwrap());
    // Following again through a new chat moves the follow, keeping since.
    assert!(!store.follow(&follow("alice", b"g4", 9)).await.unwrap());
    assert_eq!(
        store.follows_of("acct-alice").await.unwrap(),
        [follow("alice", b"g4", 1)]
    );
    let first = store.followers_of("acct-city", "", 2).await.unwrap();
    assert_eq!(first, [follow("alice", b"g4", 1), follow("bob", b"g2", 2)]);
    let rest = store
        .followers_of("acct-city", &first[1].follower_id, 2)
        .await
        .unwrap();
    assert_eq!(rest, [follow("carol", b"g3", 3)]);
    // Announcements: once each, to every follower while they are kept,
    // whenever the follow began.
    let announce = |at| StoredAnnouncement {
        pos: 0,
        official_id: "acct-city".into(),
        device_id: "city".into(),
        body: b"{}".to_vec(),
        signature: vec![7; 64],
        at,
    };
    let early = store.add_announcement(&announce(0)).await.unwrap();
    let later = store.add_announcement(&announce(5)).await.unwrap();
    assert!(later > early);
    assert_eq!(
        store.latest_announcement_for("acct-bob").await.unwrap(),
        later
    );
    assert_eq!(
        store.latest_announcement_for("acct-nobody").await.unwrap(),
        0
    );
    let positions = |v: Vec<StoredAnnouncement>| v.iter().map(|a| a.pos).collect::<Vec<_>>();
    assert_eq!(
        positions(store.announcements_for("acct-bob", 0, 10).await.unwrap()),
        [early, later],
        "bob followed at 2, and gets the one made at 0 too"
    );
    assert_eq!(
        positions(
            store
                .announcements_for("acct-bob", early, 10)
                .await
                .unwrap()
        ),
        [later]
    );
    assert!(store
        .announcements_for("acct-bob", later, 10)
        .await
        .unwrap()
        .is_empty());
    // Past their time they go, and only they.
    assert_eq!(store.forget_announcements_before(3).await.unwrap(), 1);
    assert_eq!(store.forget_announcements_before(3).await.unwrap(), 0);
    assert_eq!(
        positions(store.announcements_for("acct-bob", 0, 10).await.unwrap()),
        [later]
    );
    let asked: Vec<String> = ["alice", "bob", "city", "nobody"]
        .iter()
        .map(|d| d.to_string())
        .collect();
    let mut devices = store.followers_among("acct-city", &asked).await.unwrap();
    devices.sort();
    assert_eq!(devices, ["alice", "bob"]);
    // An import of follows leaves the ones kept as they are.
    store
        .follow_many(&[follow("bob", b"other", 99), follow("dave", b"g5", 3)])
        .await
        .unwrap();
    assert_eq!(
        store.follows_of("acct-bob").await.unwrap(),
        [follow("bob", b"g2", 2)]
    );
    assert!(store.unfollow("acct-city", "acct-dave").await.unwrap());
    assert!(store.unfollow("acct-city", "acct-bob").await.unwrap());
    assert!(!store.unfollow("acct-city", "acct-bob").await.unwrap());
    assert!(store.follows_of("acct-bob").await.unwrap().is_empty());
    // An erased follower's follows go with them; an erased account's
    // followers follow nothing.
    store.delete_account("acct-carol").await.unwrap();
    assert_eq!(
        store.followers_of("acct-city", "", 10).await.unwrap().len(),
        1
    );
    store.delete_account("acct-city").await.unwrap();
    assert!(store.follows_of("acct-alice").await.unwrap().is_empty());
}

conformance!(
    follows_are_kept_moved_listed_and_end_with_either_account,
    key_log_entries_are_numbered_once_and_outlive_their_account,
    accounts_conflict_on_handle_and_device_key_and_import_all_or_none,
    accounts_are_found_and_counted_by_region,
    devices_show_when_they_signed_in,
    deleting_an_account_takes_everything_of_it,
    key_packages_keep_to_the_limit_and_go_oldest_first,
    a_link_request_becomes_one_device,
);

//! What the node enforces for moderation and privacy: sanctions, standing
//! agreements, blocks.

use super::*;

async fn sanctions_are_kept_one_per_report(store: Subject) {
    let s = |sending_only, until| {
        Some(Sanction {
            sending_only,
            until,
        })
    };
    store
        .set_sanction("acct-a", "r1", s(true, None))
        .await
        .unwrap();
    store
        .set_sanction("acct-a", "r2", s(false, Some(99)))
        .await
        .unwrap();
    store
        .set_sanction("acct-b", "r3", s(true, Some(5)))
        .await
        .unwrap();
    // The same report's decision replaces its earlier one.
    store
        .set_sanction("acct-a", "r1", s(false, Some(7)))
        .await
        .unwrap();
    let mut all = store.sanctions().await.unwrap();
    all.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        all,
        [
            ("acct-a".into(), "r1".into(), s(false, Some(7)).unwrap()),
            ("acct-a".into(), "r2".into(), s(false, Some(99)).unwrap()),
            ("acct-b".into(), "r3".into(), s(true, Some(5)).unwrap()),
        ]
    );
    store.set_sanction("acct-a", "r2", None).await.unwrap();
    store
        .lift_sanctions_of_reports(&["r3".into(), "r9".into()])
        .await
        .unwrap();
    store.lift_sanctions_of_reports(&[]).await.unwrap();
    let all = store.sanctions().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1, "r1");
}

async fn an_agreement_stands_until_withdrawn(store: Subject) {
    assert!(store.agreement("acct-a").await.unwrap().is_none());
    let agreed = |v: &str| StandingAgreement {
        region: "eu".into(),
        version: v.into(),
    };
    store
        .set_agreement("acct-a", Some(agreed("1")))
        .await
        .unwrap();
    store
        .set_agreement("acct-a", Some(agreed("2")))
        .await
        .unwrap();
    assert_eq!(store.agreement("acct-a").await.unwrap(), Some(agreed("2")));
    store.set_agreement("acct-a", None).await.unwrap();
    assert!(store.agreement("acct-a").await.unwrap().is_none());
}

async fn blocks_are_kept_by_their_hashes(store: Subject) {
    store.put_block(b"p1", b"x").await.unwrap();
    store.put_block(b"p1", b"x").await.unwrap();
    store.put_block(b"p2", b"x").await.unwrap();
    store.put_block(b"p3", b"y").await.unwrap();
    assert!(store.has_block(b"p1").await.unwrap());
    let mut blocked = store.blocked_accounts().await.unwrap();
    blocked.sort();
    assert_eq!(blocked, [b"x".to_vec(), b"y".to_vec()]);
    store
        .remove_blocks(&[b"p1".to_vec(), b"none".to_vec()])
        .await
        .unwrap();
    assert!(!store.has_block(b"p1").await.unwrap());
    assert!(store.has_block(b"p2").await.unwrap());
    store.remove_blocks_of(b"x").await.unwrap();
    assert_eq!(store.blocked_accounts().await.unwrap(), [b"y".to_vec()]);
}

conformance!(
    sanctions_are_kept_one_per_report,
    an_agreement_stands_until_withdrawn,
    blocks_are_kept_by_their_hashes,
);

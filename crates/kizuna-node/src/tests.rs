//! The node's behaviour called directly, with no HTTP: what an account,
//! its devices and its blocks do, and that a refused step leaves nothing.

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};
use kizuna_config::{DataDir, Regions};
use kizuna_wire::{
    auth_signing_input, register_signing_input, Bytes, ErrorCode, NewDevice, RegisterRequest,
};

use crate::auth::DeviceIdentity;
use crate::error::Kind;
use crate::{Limits, Node, NodeError};

pub(crate) struct Fixture {
    pub node: Arc<Node>,
    pub dir: tempfile::TempDir,
}

pub(crate) async fn node() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (node, _sequencer) = Node::open(
        &DataDir::new(dir.path()),
        Regions::embedded(),
        Limits::default(),
    )
    .await
    .unwrap();
    Fixture {
        node: Arc::new(node),
        dir,
    }
}

pub(crate) fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

async fn registration(node: &Node, handle: &str, phone: &str, key: &SigningKey) -> RegisterRequest {
    registration_in(node, "jp", handle, phone, key).await
}

/// A registration whose person agreed to `region`'s disclosures and
/// proved their number with the code the node made for it.
async fn registration_in(
    node: &Node,
    region: &str,
    handle: &str,
    phone: &str,
    key: &SigningKey,
) -> RegisterRequest {
    let public = key.verifying_key().to_bytes().to_vec();
    let phone_code = match node.vault.issue_phone_code(region, phone).await {
        Ok(issued) => issued.code,
        // A number or region the node refuses gets no code.
        Err(_) => "000000".into(),
    };
    RegisterRequest {
        handle: handle.into(),
        name: format!("{handle} person"),
        phone: phone.into(),
        phone_code,
        email: None,
        region: region.into(),
        agreed_disclosures: Some(
            kizuna_vault::disclosures(&Regions::embedded(), region)
                .unwrap()
                .version,
        ),
        device: NewDevice {
            signature: Bytes(
                key.sign(&register_signing_input(handle, &public))
                    .to_bytes()
                    .to_vec(),
            ),
            signature_key: Bytes(public),
            label: "phone".into(),
        },
    }
}

pub(crate) async fn register(node: &Node, handle: &str, phone: &str, seed: u8) -> DeviceIdentity {
    register_in(node, "jp", handle, phone, seed).await
}

pub(crate) async fn register_in(
    node: &Node,
    region: &str,
    handle: &str,
    phone: &str,
    seed: u8,
) -> DeviceIdentity {
    let r = node
        .register(registration_in(node, region, handle, phone, &key(seed)).await)
        .await
        .unwrap();
    DeviceIdentity {
        device_id: r.device_id,
        account_id: r.account_id,
    }
}

fn code(r: Result<impl std::fmt::Debug, NodeError>) -> (Kind, ErrorCode) {
    let e = r.expect_err("the node should refuse");
    (e.kind, e.code)
}

#[tokio::test]
async fn a_registered_device_signs_in_and_sees_its_sealed_profile() {
    let f = node().await;
    let me = register(&f.node, "alice", "+819011112222", 1).await;
    let challenge = f.node.auth.challenge(&me.device_id);
    let signature = key(1).sign(&auth_signing_input(&me.device_id, &challenge));
    let token = f
        .node
        .sign_in(&me.device_id, &challenge, &signature.to_bytes())
        .await
        .unwrap();
    assert_eq!(f.node.auth.verify(&token.token).unwrap(), me);
    let view = f.node.me(&me).await.unwrap();
    assert_eq!(
        (
            view.handle.as_str(),
            view.name.as_str(),
            view.phone.as_str()
        ),
        ("alice", "alice person", "+819011112222")
    );
    // Someone else's signature does not sign this device in.
    let forged = key(2).sign(&auth_signing_input(&me.device_id, &challenge));
    assert_eq!(
        code(
            f.node
                .sign_in(&me.device_id, &challenge, &forged.to_bytes())
                .await
        ),
        (Kind::Unauthorized, ErrorCode::Unauthorized)
    );
}

#[tokio::test]
async fn a_signed_challenge_signs_a_device_in_once() {
    let f = node().await;
    let me = register(&f.node, "alice", "+819011112222", 1).await;
    let challenge = f.node.auth.challenge(&me.device_id);
    let signature = key(1)
        .sign(&auth_signing_input(&me.device_id, &challenge))
        .to_bytes();
    f.node
        .sign_in(&me.device_id, &challenge, &signature)
        .await
        .unwrap();
    // The same answer, captured and sent again, is refused.
    let replay = f
        .node
        .sign_in(&me.device_id, &challenge, &signature)
        .await
        .expect_err("a replayed answer is refused");
    assert_eq!(
        (replay.kind, replay.code),
        (Kind::Unauthorized, ErrorCode::Unauthorized)
    );
    assert!(replay.message.contains("already answered"), "{replay}");
}

#[tokio::test]
async fn a_refused_registration_leaves_nothing_behind() {
    let f = node().await;
    register(&f.node, "alice", "+819011112222", 1).await;
    // Taken handle, taken phone, bad signature: each refused with its code.
    assert_eq!(
        code(
            f.node
                .register(registration(&f.node, "alice", "+819033334444", &key(2)).await)
                .await
        ),
        (Kind::Conflict, ErrorCode::HandleTaken)
    );
    assert_eq!(
        code(
            f.node
                .register(registration(&f.node, "bob", "+819011112222", &key(2)).await)
                .await
        ),
        (Kind::Conflict, ErrorCode::PhoneTaken)
    );
    let mut forged = registration(&f.node, "bob", "+819033334444", &key(2)).await;
    forged.device.signature_key = Bytes(key(3).verifying_key().to_bytes().to_vec());
    assert_eq!(
        code(f.node.register(forged).await),
        (Kind::Invalid, ErrorCode::InvalidSignature)
    );
    // Two people racing for one handle: one wins, and the loser's phone
    // number is not left sealed in the region, whichever step refused it.
    let (a, b) = tokio::join!(
        f.node
            .register(registration(&f.node, "carol", "+819055556666", &key(4)).await),
        f.node
            .register(registration(&f.node, "carol", "+819077778888", &key(5)).await),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one registration wins");
    let loser_phone = if a.is_ok() {
        "+819077778888"
    } else {
        "+819055556666"
    };
    let asker = register(&f.node, "dave", "+819099990000", 6).await;
    assert_eq!(
        f.node
            .lookup_phone(&asker, loser_phone, "192.0.2.1")
            .await
            .unwrap(),
        None
    );
    register(&f.node, "erin", loser_phone, 7).await;
}

#[tokio::test]
async fn phone_lookups_are_limited_per_device() {
    let f = node().await;
    let me = register(&f.node, "alice", "+819011112222", 1).await;
    // From a different address each time: the device's own limit holds.
    for i in 0..f.node.limits.phone_lookups_per_minute {
        f.node
            .lookup_phone(&me, "+819000000000", &format!("192.0.2.{i}"))
            .await
            .unwrap();
    }
    assert_eq!(
        code(
            f.node
                .lookup_phone(&me, "+819000000000", "198.51.100.1")
                .await
        ),
        (Kind::RateLimited, ErrorCode::RateLimited)
    );
}

#[tokio::test]
async fn registering_is_no_better_a_phone_oracle_than_looking_up() {
    let f = node().await;
    let taken = "+819011112222";
    register(&f.node, "alice", taken, 1).await;
    let per_minute = f.node.limits.phone_lookups_per_minute;
    // Look-ups from one address, by several devices, use its allowance.
    let here = "203.0.113.5";
    for i in 0..per_minute {
        let asker = register(
            &f.node,
            &format!("asker{i}"),
            &format!("+81902222000{i}"),
            10 + i as u8,
        )
        .await;
        f.node.lookup_phone(&asker, taken, here).await.unwrap();
    }
    // Then registering from there says nothing about any number, taken or
    // not, and creates nothing.
    for (handle, phone) in [("bob", taken), ("carol", "+819044445555")] {
        assert_eq!(
            code(
                f.node
                    .register_from(registration(&f.node, handle, phone, &key(3)).await, here)
                    .await
            ),
            (Kind::RateLimited, ErrorCode::RateLimited)
        );
        assert!(f
            .node
            .store
            .account_by_handle(handle)
            .await
            .unwrap()
            .is_none());
    }
    // From another address, each `phone_taken` answer is one look-up.
    let there = "203.0.113.6";
    for _ in 0..per_minute {
        assert_eq!(
            code(
                f.node
                    .register_from(registration(&f.node, "bob", taken, &key(3)).await, there)
                    .await
            ),
            (Kind::Conflict, ErrorCode::PhoneTaken)
        );
    }
    assert_eq!(
        code(
            f.node
                .register_from(registration(&f.node, "bob", taken, &key(3)).await, there)
                .await
        ),
        (Kind::RateLimited, ErrorCode::RateLimited)
    );
    let asker = register(&f.node, "dave", "+819099990000", 6).await;
    assert_eq!(
        code(f.node.lookup_phone(&asker, taken, there).await),
        (Kind::RateLimited, ErrorCode::RateLimited)
    );
    // A registration that takes a free number costs no look-up.
    let elsewhere = "203.0.113.7";
    for i in 0..=per_minute {
        f.node
            .register_from(
                registration(
                    &f.node,
                    &format!("new{i}"),
                    &format!("+81903333000{i}"),
                    &key(40 + i as u8),
                )
                .await,
                elsewhere,
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_block_refuses_reach_until_it_is_lifted() {
    let f = node().await;
    let alice = register(&f.node, "alice", "+819011112222", 1).await;
    let bob = register(&f.node, "bob", "+819033334444", 2).await;
    let targets = [alice.account_id.clone()];
    f.node.check_reach(&bob.account_id, &targets).await.unwrap();
    let list = f.node.block(&alice, "bob").await.unwrap();
    assert_eq!(list.blocked.len(), 1);
    assert_eq!(
        code(f.node.check_reach(&bob.account_id, &targets).await),
        (Kind::Forbidden, ErrorCode::Refused)
    );
    // Alice still reaches Bob: a block is one way.
    f.node
        .check_reach(&alice.account_id, std::slice::from_ref(&bob.account_id))
        .await
        .unwrap();
    assert_eq!(
        code(f.node.block(&alice, "alice").await),
        (Kind::Invalid, ErrorCode::BadRequest)
    );
    assert_eq!(
        code(f.node.block(&alice, "nobody").await),
        (Kind::NotFound, ErrorCode::UnknownAccount)
    );
    f.node.unblock(&alice, "bob").await.unwrap();
    f.node.check_reach(&bob.account_id, &targets).await.unwrap();
    assert!(f.node.blocks_of(&alice).await.unwrap().blocked.is_empty());
}

#[tokio::test]
async fn erasure_frees_the_handle_and_phone_and_ends_the_device() {
    let f = node().await;
    let alice = register(&f.node, "alice", "+819011112222", 1).await;
    let bob = register(&f.node, "bob", "+819033334444", 2).await;
    f.node.block(&bob, "alice").await.unwrap();
    let erased = f.node.erase(&alice).await.unwrap();
    assert_eq!(erased.account_id, alice.account_id);
    assert!(!f
        .node
        .ended
        .is_live(f.node.store.as_ref(), &alice.device_id)
        .await
        .unwrap());
    assert_eq!(
        code(f.node.me(&alice).await),
        (Kind::NotFound, ErrorCode::UnknownAccount)
    );
    // Bob's list no longer names someone who is gone.
    assert!(f.node.blocks_of(&bob).await.unwrap().blocked.is_empty());
    let again = register(&f.node, "alice", "+819011112222", 3).await;
    assert_ne!(again.account_id, alice.account_id);
    // The new alice is not blocked by what Bob did to the old one.
    f.node
        .check_reach(&again.account_id, std::slice::from_ref(&bob.account_id))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_registration_without_agreement_to_its_regions_disclosures_leaves_nothing() {
    let f = node().await;
    let mut req = registration_in(&f.node, "kr", "bob", "+821033334444", &key(1)).await;
    let current = req.agreed_disclosures.take();
    assert_eq!(
        code(f.node.register(req.clone()).await),
        (Kind::Invalid, ErrorCode::AgreementRequired)
    );
    req.agreed_disclosures = Some("0123456789abcdef".into());
    assert_eq!(
        code(f.node.register(req.clone()).await),
        (Kind::Invalid, ErrorCode::AgreementRequired)
    );
    assert!(f
        .node
        .store
        .account_by_handle("bob")
        .await
        .unwrap()
        .is_none());
    assert_eq!(f.node.vault.count_in("kr").await.unwrap(), 0);
    req.agreed_disclosures = current;
    f.node.register(req).await.unwrap();
}

#[tokio::test]
async fn a_node_abroad_serves_only_the_rights_of_a_person_who_withdrew() {
    use crate::disclosures::ConsentReach::{Rights, Service};
    let f = node().await;
    let bob = register_in(&f.node, "kr", "bob", "+821033334444", 1).await;
    let alice = register(&f.node, "alice", "+819011112222", 2).await;
    f.node
        .check_agreement(&bob.account_id, Service)
        .await
        .unwrap();
    f.node.withdraw(&bob).await.unwrap();
    assert_eq!(
        code(f.node.check_agreement(&bob.account_id, Service).await),
        (Kind::Forbidden, ErrorCode::AgreementRequired)
    );
    f.node
        .check_agreement(&bob.account_id, Rights)
        .await
        .unwrap();
    // At home, a withdrawal keeps only the countries abroad out.
    f.node.withdraw(&alice).await.unwrap();
    f.node
        .check_agreement(&alice.account_id, Service)
        .await
        .unwrap();
    let version = f.node.disclosures("kr").unwrap().version;
    f.node.agree(&bob, &version).await.unwrap();
    f.node
        .check_agreement(&bob.account_id, Service)
        .await
        .unwrap();
}

#[tokio::test]
async fn key_log_entries_a_crash_left_unnumbered_are_settled_at_the_next_start() {
    let f = node().await;
    register(&f.node, "alice", "+819011112222", 1).await;
    // Two people racing for one handle: only the winner's binding is logged.
    let (a, b) = tokio::join!(
        f.node
            .register(registration(&f.node, "carol", "+819055556666", &key(4)).await),
        f.node
            .register(registration(&f.node, "carol", "+819077778888", &key(5)).await),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one registration wins");
    let carol = f.node.store.key_entries("carol").await.unwrap();
    assert_eq!(carol.len(), 1, "{carol:?}");

    // A crash after an entry was written: once after its append, once
    // before it.
    let ledger = f.node.vault.ledger().unwrap().clone();
    let pending = |n: u8| kizuna_store::KeyLogRow {
        leaf: kizuna_ledger::leaf_hash(&[n]).to_vec(),
        idx: None,
        after: ledger.size(),
        at: 1,
        handle: "alice".into(),
        account_id: "x".into(),
        entry: vec![n],
    };
    let (appended, never) = (pending(1), pending(2));
    f.node.store.write_key_entry(&appended).await.unwrap();
    f.node.store.write_key_entry(&never).await.unwrap();
    let at = ledger
        .append(vec![kizuna_ledger::leaf_hash(&[1])])
        .await
        .unwrap();
    f.node.store.close().await;
    f.node.vault.close().await;
    drop(ledger);
    let Fixture { node, dir } = f;
    drop(node);

    let (again, _sequencer) = Node::open(
        &DataDir::new(dir.path()),
        Regions::embedded(),
        Limits::default(),
    )
    .await
    .unwrap();
    assert!(again.store.pending_key_entries().await.unwrap().is_empty());
    let alice = again.store.key_entries("alice").await.unwrap();
    let settled: Vec<_> = alice.iter().filter(|r| r.entry == [1]).collect();
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].idx, Some(at));
    assert!(
        alice.iter().all(|r| r.entry != [2]),
        "an entry never appended is taken back"
    );
}

/// Checks that a key history is the whole history its head's key
/// directory holds for the handle, as a device does.
fn proven_whole(h: &kizuna_wire::KeyHistory) {
    use kizuna_ledger::keymap::{chain_all, verify_key};
    use kizuna_ledger::{directory_key, hash_from_hex, leaf_hash, KeyProof, PathEnd};
    let leaves: Vec<_> = h.entries.iter().map(|e| leaf_hash(&e.entry.0)).collect();
    let proof = KeyProof {
        siblings: h
            .directory
            .siblings
            .iter()
            .map(|s| hash_from_hex(s).unwrap())
            .collect(),
        end: match &h.directory.end {
            None => PathEnd::Empty,
            Some(e) => PathEnd::Entry {
                key: hash_from_hex(&e.key).unwrap(),
                value: hash_from_hex(&e.value).unwrap(),
            },
        },
    };
    let root = h.head.keys.expect("the head commits to the key directory");
    verify_key(
        &root,
        &directory_key(&h.handle),
        chain_all(&leaves).as_ref(),
        &proof,
    )
    .unwrap();
}

#[tokio::test]
async fn a_key_history_is_proven_whole_after_many_changes_and_before_its_entry_is_numbered() {
    let f = node().await;
    register(&f.node, "alice", "+819011112222", 1).await;
    let first = f.node.key_history("alice", 0).await.unwrap();
    proven_whole(&first);
    // More bindings of other handles than the directory keeps versions
    // of, under the head just given out: the answer moves to a new head.
    for i in 0..300 {
        f.node
            .log_key_change(kizuna_wire::KeyChange::Erased, &format!("h{i}"), "x", None)
            .await
            .unwrap();
    }
    let later = f.node.key_history("alice", first.head.size).await.unwrap();
    assert!(later.head.size >= first.head.size + 300);
    assert_eq!(later.entries.len(), first.entries.len());
    proven_whole(&later);

    // An entry for alice appended but not yet numbered (its append still
    // finishing): the history holds it all the same.
    let ledger = f.node.vault.ledger().unwrap().clone();
    let entry = b"an entry whose append is finishing".to_vec();
    let leaf = kizuna_ledger::leaf_hash(&entry);
    let row = kizuna_store::KeyLogRow {
        leaf: leaf.to_vec(),
        idx: None,
        after: ledger.size(),
        at: 1,
        handle: "alice".into(),
        account_id: "x".into(),
        entry,
    };
    f.node.store.write_key_entry(&row).await.unwrap();
    ledger
        .append_keyed(vec![(leaf, kizuna_ledger::directory_key("alice"))])
        .await
        .unwrap();
    // Asked by a device that saw a head covering it already.
    let now = f.node.key_history("alice", ledger.size()).await.unwrap();
    assert_eq!(now.entries.len(), first.entries.len() + 1);
    proven_whole(&now);
}

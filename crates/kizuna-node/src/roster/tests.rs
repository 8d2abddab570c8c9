//! The node's public view of a group checked against real openmls groups:
//! commits read from themselves, junk and replays refused, and the node's
//! own removal proposals accepted by the members.

use super::*;
use openmls_basic_credential::SignatureKeyPair;

const SUITE: Ciphersuite = crate::framing::CIPHERSUITE;

struct Device {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn device(name: &str) -> Device {
    let signer = SignatureKeyPair::new(SUITE.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
        signature_key: signer.public().into(),
    };
    Device {
        provider: OpenMlsRustCrypto::default(),
        signer,
        credential,
    }
}

fn key_package(d: &Device) -> KeyPackage {
    KeyPackage::builder()
        .build(SUITE, &d.provider, &d.signer, d.credential.clone())
        .unwrap()
        .key_package()
        .clone()
}

fn node() -> (SignatureKeyPair, ExternalSender) {
    let signer = SignatureKeyPair::from_raw(
        SUITE.signature_algorithm(),
        vec![7; 32],
        ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .verifying_key()
            .to_bytes()
            .to_vec(),
    );
    let sender = ExternalSender::new(
        signer.public().into(),
        BasicCredential::new(b"node".to_vec()).into(),
    );
    (signer, sender)
}

fn config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(SUITE)
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .with_group_context_extensions(
            Extensions::single(Extension::ExternalSenders(vec![node().1])).unwrap(),
        )
        .build()
}

/// A group of alice and bob, and the node's view of it.
fn pair() -> (Device, Device, MlsGroup, PublicState) {
    let (a, b) = (device("alice/a"), device("bob/b"));
    let gid = GroupId::from_slice(b"g");
    let mut group =
        MlsGroup::new_with_group_id(&a.provider, &a.signer, &config(), gid, a.credential.clone())
            .unwrap();
    let info = group
        .export_group_info(a.provider.crypto(), &a.signer, true)
        .unwrap()
        .to_bytes()
        .unwrap();
    let (state, members) = from_group_info(b"g", &info, &node().1).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].identity, b"alice/a");
    let (commit, _, _) = group
        .add_members(&a.provider, &a.signer, &[key_package(&b)])
        .unwrap();
    let checked = check_commit(b"g", &state, &commit.to_bytes().unwrap()).unwrap();
    group.merge_pending_commit(&a.provider).unwrap();
    assert_eq!(checked.committer.identity, b"alice/a");
    assert_eq!(checked.after.len(), 2);
    (a, b, group, checked.state)
}

#[test]
fn a_commit_is_read_from_itself() {
    let (a, b, mut group, state) = pair();
    let bob = group
        .members()
        .find(|m| m.credential.serialized_content() == b"bob/b")
        .unwrap()
        .index;
    let (commit, _, _) = group
        .remove_members(&a.provider, &a.signer, &[bob])
        .unwrap();
    let checked = check_commit(b"g", &state, &commit.to_bytes().unwrap()).unwrap();
    assert_eq!(checked.epoch, 1);
    assert_eq!(checked.before.len(), 2);
    assert_eq!(
        checked.after,
        vec![Leaf {
            identity: b"alice/a".to_vec(),
            signature_key: a.signer.public().to_vec()
        }]
    );
    let _ = b;
}

#[test]
fn junk_and_replays_are_refused() {
    let (a, _, mut group, state) = pair();
    assert_eq!(
        check_commit(b"g", &state, b"junk").unwrap_err(),
        RosterError::Garbage
    );
    let (commit, _, _) = group
        .self_update(&a.provider, &a.signer, LeafNodeParameters::default())
        .unwrap()
        .into_contents();
    let mut bytes = commit.to_bytes().unwrap();
    // A flipped byte in the signed content.
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    assert!(check_commit(b"g", &state, &bytes).is_err());
    // The same commit twice: the second is for an epoch gone by.
    let good = commit.to_bytes().unwrap();
    let checked = check_commit(b"g", &state, &good).unwrap();
    assert!(check_commit(b"g", &checked.state, &good).is_err());
}

#[test]
fn the_node_proposes_a_removal_the_members_accept() {
    let (a, _, mut group, state) = pair();
    let (signer, _) = node();
    let (epoch, mut proposals) =
        propose_removals(b"g", &state, &[b"bob/b".to_vec()], &signer).unwrap();
    assert_eq!((epoch, proposals.len()), (1, 1));
    let (proposal, state) = proposals.remove(0);
    // A commit made without it waits for it.
    let (update, _, _) = group
        .self_update(&a.provider, &a.signer, LeafNodeParameters::default())
        .unwrap()
        .into_contents();
    assert!(matches!(
        check_commit(b"g", &state, &update.to_bytes().unwrap()),
        Err(RosterError::DepartureLeftOut(_))
    ));
    group.clear_pending_commit(a.provider.storage()).unwrap();
    // The member checks the node's signature and commits it.
    let msg = MlsMessageIn::tls_deserialize_exact(&proposal).unwrap();
    let processed = group
        .process_message(&a.provider, msg.try_into_protocol_message().unwrap())
        .unwrap();
    let ProcessedMessageContent::ProposalMessage(p) = processed.into_content() else {
        panic!("not a proposal")
    };
    group
        .store_pending_proposal(a.provider.storage(), *p)
        .unwrap();
    let (commit, _, _) = group
        .commit_to_pending_proposals(&a.provider, &a.signer)
        .unwrap();
    let checked = check_commit(b"g", &state, &commit.to_bytes().unwrap()).unwrap();
    assert_eq!(checked.before.len(), 2);
    assert_eq!(checked.after.len(), 1);
}

#[test]
fn a_member_cannot_drop_the_node_as_external_sender() {
    let (a, _, mut group, state) = pair();
    let (commit, _, _) = group
        .update_group_context_extensions(&a.provider, Extensions::empty(), &a.signer)
        .unwrap();
    assert!(matches!(
        check_commit(b"g", &state, &commit.to_bytes().unwrap()),
        Err(RosterError::Invalid(_))
    ));
}

#[test]
fn a_group_without_this_node_as_external_sender_is_refused() {
    let a = device("alice/a");
    let plain = MlsGroupCreateConfig::builder()
        .ciphersuite(SUITE)
        .use_ratchet_tree_extension(true)
        .build();
    let group = MlsGroup::new_with_group_id(
        &a.provider,
        &a.signer,
        &plain,
        GroupId::from_slice(b"g"),
        a.credential.clone(),
    )
    .unwrap();
    let info = group
        .export_group_info(a.provider.crypto(), &a.signer, true)
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(
        from_group_info(b"g", &info, &node().1).unwrap_err(),
        RosterError::NoExternalSender
    );
}

#[test]
fn state_encoding_round_trips() {
    let mut m = HashMap::new();
    m.insert(b"k".to_vec(), b"value".to_vec());
    m.insert(Vec::new(), Vec::new());
    assert_eq!(decode(&encode(&m)), Some(m));
    assert_eq!(decode(&[0, 0, 0, 9, 1]), None);
}

use ed25519_dalek::{Signer, SigningKey};
use kizuna_wire::{device_id_for_key, endorse_signing_input, register_signing_input};

use super::*;

fn device(seed: u8) -> (SigningKey, String, Vec<u8>) {
    let sk = SigningKey::from_bytes(&[seed; 32]);
    let key = sk.verifying_key().to_bytes().to_vec();
    (sk, device_id_for_key(&key), key)
}

fn entry(
    change: KeyChange,
    account: &str,
    dev: Option<&(SigningKey, String, Vec<u8>)>,
) -> KeyEntry {
    KeyEntry {
        salt: "00".into(),
        at: 1,
        change,
        handle: "bob".into(),
        account_id: account.into(),
        device_id: dev.map(|d| d.1.clone()),
        device_key: dev.map(|d| hex::encode(&d.2)),
        endorsed_by: None,
        signature: None,
        verification: None,
        reason: None,
    }
}

fn registered(account: &str, d: &(SigningKey, String, Vec<u8>)) -> KeyEntry {
    KeyEntry {
        signature: Some(hex::encode(
            d.0.sign(&register_signing_input("bob", &d.2)).to_bytes(),
        )),
        ..entry(KeyChange::Registered, account, Some(d))
    }
}

fn added(
    account: &str,
    d: &(SigningKey, String, Vec<u8>),
    by: &(SigningKey, String, Vec<u8>),
) -> KeyEntry {
    KeyEntry {
        endorsed_by: Some(by.1.clone()),
        signature: Some(hex::encode(
            by.0.sign(&endorse_signing_input(account, &d.2)).to_bytes(),
        )),
        ..entry(KeyChange::DeviceAdded, account, Some(d))
    }
}

fn numbered(entries: Vec<KeyEntry>) -> Vec<(u64, KeyEntry)> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as u64, e))
        .collect()
}

fn refused(entries: Vec<KeyEntry>, why: &str) {
    let e = replay("bob", &numbered(entries)).unwrap_err();
    assert!(matches!(e, ClientError::KeysNotLogged(_)), "{e}");
    assert!(e.to_string().contains(why), "{e}");
}

#[test]
fn a_handle_is_bound_to_the_devices_its_account_registered_and_vouched_for() {
    let (phone, laptop, tablet) = (device(1), device(2), device(3));
    let logged = replay(
        "bob",
        &numbered(vec![
            registered("a1", &phone),
            added("a1", &laptop, &phone),
            added("a1", &tablet, &laptop),
            entry(KeyChange::DeviceRemoved, "a1", Some(&phone)),
        ]),
    )
    .unwrap();
    assert_eq!(logged.account_id.as_deref(), Some("a1"));
    let ids: Vec<&str> = logged
        .devices
        .iter()
        .map(|d| d.device_id.as_str())
        .collect();
    assert_eq!(ids, [laptop.1.as_str(), tablet.1.as_str()]);
    assert_eq!(
        logged.key_of(&tablet.1),
        Some(hex::encode(&tablet.2).as_str())
    );
    assert_eq!(logged.key_of(&phone.1), None);
}

#[test]
fn a_handle_registered_again_after_erasure_is_a_new_account() {
    let (old, new) = (device(1), device(2));
    let logged = replay(
        "bob",
        &numbered(vec![
            registered("a1", &old),
            entry(KeyChange::DeviceRemoved, "a1", Some(&old)),
            entry(KeyChange::Erased, "a1", None),
            registered("a2", &new),
        ]),
    )
    .unwrap();
    assert_eq!(logged.account_id.as_deref(), Some("a2"));
    assert_eq!(logged.earlier_accounts, ["a1"]);
    assert_eq!(logged.key_of(&old.1), None);
}

#[test]
fn devices_from_before_the_log_are_taken_only_as_an_accounts_start() {
    let (phone, laptop, tablet) = (device(1), device(2), device(3));
    let adopted = |d| entry(KeyChange::Adopted, "a1", Some(d));
    let logged = replay(
        "bob",
        &numbered(vec![
            adopted(&phone),
            adopted(&laptop),
            added("a1", &tablet, &laptop),
        ]),
    )
    .unwrap();
    assert_eq!(logged.devices.len(), 3);
    assert!(logged.devices[0].adopted && !logged.devices[2].adopted);
    refused(
        vec![registered("a1", &phone), adopted(&laptop)],
        "after the log already had other entries",
    );
    refused(
        vec![
            adopted(&phone),
            entry(KeyChange::Adopted, "a2", Some(&laptop)),
        ],
        "two accounts at once",
    );
}

#[test]
fn keys_the_node_could_have_made_up_are_refused() {
    let (phone, laptop, stranger) = (device(1), device(2), device(9));
    // A registration its key did not sign.
    let mut forged = registered("a1", &phone);
    forged.signature = registered("a1", &stranger).signature;
    refused(vec![forged], "did not sign the registration");
    // A device vouched for by no device of the account.
    refused(
        vec![registered("a1", &phone), added("a1", &laptop, &stranger)],
        "no device of the account vouched for",
    );
    // An endorsement that is not the named device's signature.
    let mut unsigned = added("a1", &laptop, &phone);
    unsigned.signature = added("a1", &laptop, &stranger).signature;
    refused(
        vec![registered("a1", &phone), unsigned],
        "endorsement is not its account's device's signature",
    );
    // An endorsement made for one account, shown as another's.
    let other = device(4);
    let replayed = KeyEntry {
        account_id: "a2".into(),
        ..added("a1", &laptop, &other)
    };
    refused(
        vec![
            registered("a1", &phone),
            entry(KeyChange::Erased, "a1", None),
            registered("a2", &other),
            replayed,
        ],
        "endorsement is not",
    );
    // A revoked device's endorsement replayed to bring it back.
    refused(
        vec![
            registered("a1", &phone),
            added("a1", &laptop, &phone),
            entry(KeyChange::DeviceRemoved, "a1", Some(&laptop)),
            added("a1", &laptop, &phone),
        ],
        "adds again a device key its account removed",
    );
    // An erased account, or its keys, brought back as a "new" account.
    refused(
        vec![
            registered("a1", &phone),
            entry(KeyChange::Erased, "a1", None),
            registered("a1", &stranger),
        ],
        "registers again an account that was erased",
    );
    refused(
        vec![
            registered("a1", &phone),
            entry(KeyChange::Erased, "a1", None),
            registered("a2", &phone),
        ],
        "registers a device key that was removed",
    );
    // A key spelled in capitals, to slip past the keys removed.
    let mut shouting = added("a1", &laptop, &phone);
    shouting.device_key = shouting.device_key.map(|k| k.to_uppercase());
    refused(
        vec![registered("a1", &phone), shouting],
        "does not name a device by its key",
    );
    // The handle taken over while its account still holds it.
    refused(
        vec![registered("a1", &phone), registered("a2", &stranger)],
        "while another still holds it",
    );
    // A device id that is not its key's.
    let mut mislabelled = registered("a1", &phone);
    mislabelled.device_id = Some(laptop.1.clone());
    refused(vec![mislabelled], "does not name a device by its key");
}

fn claim_for(account: &str, organisation: &str) -> String {
    serde_json::to_string(&kizuna_wire::OfficialClaim {
        handle: "bob".into(),
        account_id: account.into(),
        organisation: organisation.into(),
        kind: kizuna_wire::OfficialKind::Municipality,
        country: "JP".into(),
        area: Some("Shibuya, Tokyo".into()),
        keeps_data: "the city's own servers in Tokyo".into(),
        keeps_data_country: "JP".into(),
        contact: "privacy@city.example.jp".into(),
        at: 1,
    })
    .unwrap()
}

/// A `verified` entry for `claim`, signed by `signer`.
fn verified(account: &str, claim: &str, signer: &(SigningKey, String, Vec<u8>)) -> KeyEntry {
    KeyEntry {
        signature: Some(hex::encode(
            signer
                .0
                .sign(&kizuna_wire::official_claim_signing_input(claim.as_bytes()))
                .to_bytes(),
        )),
        verification: Some(kizuna_wire::Verification {
            claim: claim.into(),
            application_id: "oa-1".into(),
            evidence: "00".into(),
            proposed: 7,
            approved: 8,
        }),
        ..entry(KeyChange::Verified, account, Some(signer))
    }
}

#[test]
fn a_badge_is_the_claim_its_organisations_device_signed_until_revoked() {
    let city = device(1);
    let claim = claim_for("a1", "Shibuya City");
    let logged = replay(
        "bob",
        &numbered(vec![registered("a1", &city), verified("a1", &claim, &city)]),
    )
    .unwrap();
    let badge = logged.official.expect("a badge");
    assert_eq!(badge.claim.organisation, "Shibuya City");
    assert_eq!(badge.index, 1);
    let revoked = replay(
        "bob",
        &numbered(vec![
            registered("a1", &city),
            verified("a1", &claim, &city),
            KeyEntry {
                reason: Some("no longer a public body".into()),
                ..entry(KeyChange::VerificationRevoked, "a1", None)
            },
        ]),
    )
    .unwrap();
    assert!(revoked.official.is_none());
    let r = revoked.revoked.expect("the revocation");
    assert_eq!(r.reason, "no longer a public body");
    assert_eq!(r.organisation, "Shibuya City");
    // Two people revoking at once log two revocations: the second ends
    // nothing more, and the handle's history still replays.
    let twice = replay(
        "bob",
        &numbered(vec![
            registered("a1", &city),
            verified("a1", &claim, &city),
            entry(KeyChange::VerificationRevoked, "a1", None),
            entry(KeyChange::VerificationRevoked, "a1", None),
        ]),
    )
    .unwrap();
    assert!(twice.official.is_none());
    assert_eq!(twice.revoked.map(|r| r.index), Some(2));
}

#[test]
fn a_badge_the_organisation_never_signed_is_refused() {
    let (city, forger) = (device(1), device(9));
    let claim = claim_for("a1", "Shibuya City");
    // Signed by a key the account never had: the node made it up.
    let mut forged = verified("a1", &claim, &forger);
    forged.device_id = Some(city.1.clone());
    forged.device_key = Some(hex::encode(&city.2));
    refused(vec![registered("a1", &city), forged], "did not sign");
    // A device the account does not have.
    refused(
        vec![registered("a1", &city), verified("a1", &claim, &forger)],
        "a device the account does not have",
    );
    // The claim altered after it was signed: another organisation's name.
    let mut altered = verified("a1", &claim, &city);
    if let Some(v) = altered.verification.as_mut() {
        v.claim = claim_for("a1", "Ministry of Defence");
    }
    refused(vec![registered("a1", &city), altered], "did not sign");
    // Another account's claim.
    refused(
        vec![
            registered("a1", &city),
            verified("a1", &claim_for("a2", "Shibuya City"), &city),
        ],
        "not for this account",
    );
    // A badge after the account was erased.
    refused(
        vec![
            registered("a1", &city),
            entry(KeyChange::Erased, "a1", None),
            verified("a1", &claim, &city),
        ],
        "does not hold the handle",
    );
}

#[test]
fn a_new_account_on_the_handle_inherits_no_badge() {
    let (city, squatter) = (device(1), device(2));
    let logged = replay(
        "bob",
        &numbered(vec![
            registered("a1", &city),
            verified("a1", &claim_for("a1", "Shibuya City"), &city),
            entry(KeyChange::Erased, "a1", None),
            registered("a2", &squatter),
        ]),
    )
    .unwrap();
    assert!(logged.official.is_none());
    assert!(logged.revoked.is_none());
}

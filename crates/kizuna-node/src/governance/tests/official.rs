//! Official accounts called directly: two people verify, every step is
//! recorded, and the audit finds a badge no two people gave.

use kizuna_staff::StaffError;
use kizuna_wire::staff::*;

use super::{forbidden, realm, Realm};
use crate::tests::register;

/// The city's application, signed by its device (seed 7).
fn city_application(me: &crate::DeviceIdentity) -> kizuna_wire::OfficialApplicationRequest {
    use ed25519_dalek::Signer;
    let claim = serde_json::to_vec(&kizuna_wire::OfficialClaim {
        handle: "city.shibuya".into(),
        account_id: me.account_id.clone(),
        organisation: "Shibuya City".into(),
        kind: kizuna_wire::OfficialKind::Municipality,
        country: "JP".into(),
        area: Some("Shibuya, Tokyo".into()),
        keeps_data: "the city's own servers in Tokyo".into(),
        keeps_data_country: "JP".into(),
        contact: "privacy@city.example.jp".into(),
        at: kizuna_wire::now_ms(),
    })
    .unwrap();
    let signature = crate::tests::key(7).sign(&kizuna_wire::official_claim_signing_input(&claim));
    kizuna_wire::OfficialApplicationRequest {
        claim: kizuna_wire::Bytes(claim),
        signature: kizuna_wire::Bytes(signature.to_bytes().to_vec()),
    }
}

async fn key_changes(r: &Realm, handle: &str) -> Vec<kizuna_wire::KeyEntry> {
    r.f.node
        .store
        .key_entries(handle)
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::from_slice(&row.entry).unwrap())
        .collect()
}

#[tokio::test]
async fn an_official_account_takes_two_people_and_every_step_is_recorded() {
    use kizuna_wire::{ApplicationState, KeyChange};
    let r = realm().await;
    let me = register(&r.f.node, "city.shibuya", "+819011113333", 7).await;
    let account = r.f.node.account_of(&me).await.unwrap();
    let device = r.f.node.store.device(&me.device_id).await.unwrap().unwrap();

    // A claim for another account, or not signed by this device, is refused
    // and nothing is kept.
    let mut other = city_application(&me);
    other.signature.0[0] ^= 1;
    let e = r
        .gov
        .apply_official(&account, &device, other)
        .await
        .unwrap_err();
    assert_eq!(e.code, kizuna_wire::ErrorCode::InvalidSignature);
    let squatter = register(&r.f.node, "squatter", "+819011114444", 8).await;
    let squatter_account = r.f.node.account_of(&squatter).await.unwrap();
    let squatter_device =
        r.f.node
            .store
            .device(&squatter.device_id)
            .await
            .unwrap()
            .unwrap();
    let e = r
        .gov
        .apply_official(&squatter_account, &squatter_device, city_application(&me))
        .await
        .unwrap_err();
    assert!(e.message.contains("applies for itself"), "{e}");
    assert!(r.gov.applications_of(&account).await.unwrap().is_empty());

    let app = r
        .gov
        .apply_official(&account, &device, city_application(&me))
        .await
        .unwrap();
    assert_eq!(app.state, ApplicationState::Submitted);
    let e = r
        .gov
        .apply_official(&account, &device, city_application(&me))
        .await
        .unwrap_err();
    assert_eq!(e.code, kizuna_wire::ErrorCode::AlreadyExists);

    let sup = r.member("sup", &[Role::Support]).await;
    let apr = r.member("apr", &[Role::Approver]).await;
    let moderator = r.member("mod", &[Role::Moderator]).await;
    let id = app.application_id.clone();
    let proposal = || VerificationProposal {
        evidence: "registry extract 2026-114 checked; called the city's published number".into(),
        ticket: "OA-1".into(),
    };
    // Not approved before someone checked the evidence, nor by a role
    // that does not check it.
    assert!(matches!(
        r.gov.approve_official(&apr, &id).await,
        Err(StaffError::Invalid(_))
    ));
    forbidden(r.gov.propose_official(&moderator, &id, proposal()).await);
    let proposed = r.gov.propose_official(&apr, &id, proposal()).await.unwrap();
    assert_eq!(proposed.application.state, ApplicationState::Proposed);
    // Support staff check evidence but never approve; the one who checked
    // the evidence cannot also approve it.
    forbidden(r.gov.approve_official(&sup, &id).await);
    let why = forbidden(r.gov.approve_official(&apr, &id).await);
    assert!(why.contains("a second person"), "{why}");
    assert!(key_changes(&r, "city.shibuya")
        .await
        .iter()
        .all(|e| e.change != KeyChange::Verified));

    let other_approver = r.member("apr2", &[Role::Approver]).await;
    let verified = r.gov.approve_official(&other_approver, &id).await.unwrap();
    assert_eq!(verified.application.state, ApplicationState::Verified);
    let entries = key_changes(&r, "city.shibuya").await;
    let badge = entries
        .iter()
        .find(|e| e.change == KeyChange::Verified)
        .expect("the badge is in the key log");
    let v = badge.verification.as_ref().unwrap();
    assert_eq!(v.application_id, id);
    assert_eq!(badge.device_id.as_deref(), Some(me.device_id.as_str()));
    assert!(v.proposed < v.approved);

    // Every step is a staff event, the refusals included.
    let events = r.gov.realm.events(&r.admin, 200).await.unwrap();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in [
        "official_applied",
        "official_proposed",
        "official_verified",
        "official_refused",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let proposed_event = events
        .iter()
        .find(|e| e["kind"] == "official_proposed")
        .unwrap();
    assert_eq!(proposed_event["staff_id"], "apr");
    assert_eq!(proposed_event["detail"]["purpose"], "OFFICIAL_VERIFICATION");
    assert!(proposed_event["detail"]["evidence"]
        .as_str()
        .unwrap()
        .contains("registry extract"));

    // Revoked by one of the operator's overseers, with a public reason.
    forbidden(
        r.gov
            .revoke_official(
                &moderator,
                "city.shibuya",
                VerificationDecision { reason: "x".into() },
            )
            .await,
    );
    let revoked = r
        .gov
        .revoke_official(
            &apr,
            "city.shibuya",
            VerificationDecision {
                reason: "the city asked us to".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(revoked.application.state, ApplicationState::Revoked);
    let last = key_changes(&r, "city.shibuya").await.pop().unwrap();
    assert_eq!(last.change, KeyChange::VerificationRevoked);
    assert_eq!(last.reason.as_deref(), Some("the city asked us to"));
}

#[tokio::test]
async fn applications_sent_at_once_leave_one_waiting_and_the_ledger_says_so() {
    let r = realm().await;
    let me = register(&r.f.node, "city.shibuya", "+819011113333", 7).await;
    let account = r.f.node.account_of(&me).await.unwrap();
    let device = r.f.node.store.device(&me.device_id).await.unwrap().unwrap();
    let apply = || {
        r.gov
            .apply_official(&account, &device, city_application(&me))
    };
    let (a, b, c, d) = tokio::join!(apply(), apply(), apply(), apply());
    let answers = [a, b, c, d];
    let kept: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(kept.len(), 1, "{answers:?}");
    for e in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(e.code, kizuna_wire::ErrorCode::AlreadyExists, "{e}");
    }
    let waiting = r.gov.applications_of(&account).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].application_id, kept[0].application_id);
    // Every application the ledger says was made is kept, or said to have
    // ended there.
    let events = r.gov.realm.events(&r.admin, 200).await.unwrap();
    let named = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["detail"]["application"].as_str().unwrap().to_string())
            .collect()
    };
    let ended = named("official_rejected");
    for applied in named("official_applied") {
        assert!(
            applied == kept[0].application_id || ended.contains(&applied),
            "{applied} was recorded as applied, and neither kept nor ended"
        );
    }
}

#[tokio::test]
async fn a_badge_no_two_people_gave_is_found_by_the_audit() {
    use kizuna_wire::{KeyChange, Verification};
    let r = realm().await;
    let me = register(&r.f.node, "city.shibuya", "+819011113333", 7).await;
    let account = r.f.node.account_of(&me).await.unwrap();
    let device = r.f.node.store.device(&me.device_id).await.unwrap().unwrap();
    let app = r
        .gov
        .apply_official(&account, &device, city_application(&me))
        .await
        .unwrap();
    let (sup, apr) = (
        r.member("sup", &[Role::Support]).await,
        r.member("apr", &[Role::Approver]).await,
    );
    let proposal = VerificationProposal {
        evidence: "registry extract".into(),
        ticket: "OA-1".into(),
    };
    r.gov
        .propose_official(&sup, &app.application_id, proposal)
        .await
        .unwrap();
    let verified = r
        .gov
        .approve_official(&apr, &app.application_id)
        .await
        .unwrap();
    let real = key_changes(&r, "city.shibuya")
        .await
        .into_iter()
        .find_map(|e| e.verification)
        .unwrap();

    // Someone at the operator gives another account a badge of their own
    // making, pointing at the real verification's steps.
    let other = register(&r.f.node, "fake.city", "+819011115555", 9).await;
    crate::key_log::append_key_change(
        r.f.node.store.as_ref(),
        r.f.node.vault.ledger().unwrap(),
        KeyChange::Verified,
        "fake.city",
        &other.account_id,
        None,
        crate::key_log::OfficialMark {
            verification: Some(Verification {
                application_id: "oa-made-up".into(),
                ..real.clone()
            }),
            reason: None,
        },
    )
    .await
    .unwrap();
    // And gives the city its badge again, from the same approval, as if
    // after a revocation nobody approved anew.
    let city_device = r.f.node.store.device(&me.device_id).await.unwrap().unwrap();
    let signature = key_changes(&r, "city.shibuya")
        .await
        .into_iter()
        .find_map(|e| e.verification.is_some().then_some(e.signature).flatten())
        .unwrap();
    crate::key_log::append_key_change(
        r.f.node.store.as_ref(),
        r.f.node.vault.ledger().unwrap(),
        KeyChange::Verified,
        "city.shibuya",
        &me.account_id,
        Some(crate::key_log::LoggedDevice {
            id: &city_device.device_id,
            key: &city_device.signature_key,
            endorsed_by: None,
            signature: Some(&hex::decode(signature).unwrap()),
        }),
        crate::key_log::OfficialMark {
            verification: Some(real),
            reason: None,
        },
    )
    .await
    .unwrap();
    assert!(
        verified.application.key_entry.is_some(),
        "the real badge is logged"
    );
    r.gov.realm.close().await;
    r.f.node.vault.close().await;
    let dir = r.f.dir;
    drop(r.gov);
    drop(r.f.node);
    let report = crate::ops::audit::verify(
        dir.path(),
        kizuna_config::Regions::embedded(),
        &[],
        &NoProgress,
    )
    .await
    .unwrap();
    let said: Vec<&str> = report.problems.iter().map(|p| p.what.as_str()).collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].contains("gives fake.city an official badge"),
        "{said:?}"
    );
    assert!(
        said[1].contains("gives city.shibuya an official badge a second time"),
        "{said:?}"
    );
}

struct NoProgress;
impl kizuna_vault::Progress for NoProgress {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

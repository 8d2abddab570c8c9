//! The grant lifecycle called directly, with no HTTP: request, the
//! two-person rule, a governed read of only the granted fields, revocation
//! by the realm's rules, and the anomaly rule on refusals.

use std::net::{IpAddr, Ipv4Addr};

use kizuna_config::{DataDir, Regions};
use kizuna_staff::{AnomalyLimits, Session, StaffError};
use kizuna_wire::staff::*;

use super::Governance;
use crate::tests::{node, register, register_in};

const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Realm {
    gov: Governance,
    admin: Session,
    f: crate::tests::Fixture,
}

async fn session(gov: &Governance, c: &StaffCredentials) -> Session {
    let login = StaffLogin {
        staff_id: c.staff_id.clone(),
        password: c.password.clone(),
        totp: kizuna_staff::totp_now(&c.totp_secret).unwrap(),
    };
    let s = gov.realm.login(&login, HERE).await.unwrap();
    gov.realm.authenticate(&s.token, HERE).await.unwrap()
}

async fn realm() -> Realm {
    let f = node().await;
    let dir = DataDir::new(f.dir.path());
    let policy = kizuna_policy::Policy::load(None).unwrap();
    let gov = Governance::open(&dir, &f.node, policy, AnomalyLimits::default())
        .await
        .unwrap();
    let regions = Regions::embedded();
    let boot = gov
        .realm
        .bootstrap(
            "root",
            &regions.node_region().country,
            vec!["127.0.0.1/32".into()],
            regions.ids().iter().map(|r| r.to_string()).collect(),
        )
        .await
        .unwrap();
    let admin = session(&gov, &boot).await;
    Realm { gov, admin, f }
}

impl Realm {
    async fn member(&self, id: &str, roles: &[Role]) -> Session {
        let c = self
            .gov
            .realm
            .add_member(
                &self.admin,
                &NewStaffMember {
                    staff_id: id.into(),
                    org_id: self.admin.org.org_id.clone(),
                    roles: roles.to_vec(),
                },
            )
            .await
            .unwrap();
        session(&self.gov, &c).await
    }
}

fn phone_grant(subject: &str) -> GrantRequest {
    GrantRequest {
        subjects: vec![subject.into()],
        fields: vec!["phone".into()],
        purpose: Purpose::LegalRequest,
        ticket: "T-1".into(),
        reason: "a court order".into(),
        duration_secs: 3600,
        break_glass: false,
        regions: Vec::new(),
    }
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, StaffError>) -> String {
    match r {
        Err(StaffError::Forbidden(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_grant_reads_only_what_a_second_person_approved_until_revoked() {
    let r = realm().await;
    register(&r.f.node, "alice", "+819011112222", 1).await;
    let sup = r.member("sup", &[Role::Support]).await;
    let apr = r.member("apr", &[Role::Approver]).await;
    let grant = r
        .gov
        .request_grant(&sup, phone_grant("alice"))
        .await
        .unwrap();
    assert_eq!(grant.state, GrantState::Pending);
    forbidden(r.gov.governed_read(&sup, "alice".into()).await);
    let own = r.member("both", &[Role::Support, Role::Approver]).await;
    let mine = r
        .gov
        .request_grant(&own, phone_grant("alice"))
        .await
        .unwrap();
    assert!(forbidden(r.gov.approve_grant(&own, &mine.grant_id).await).contains("own request"));

    let approved = r.gov.approve_grant(&apr, &grant.grant_id).await.unwrap();
    assert_eq!(approved.state, GrantState::Approved);
    let read = r.gov.governed_read(&sup, "alice".into()).await.unwrap();
    assert_eq!(read.phone.as_deref(), Some("+819011112222"));
    assert_eq!((read.name, read.email, read.contacts), (None, None, None));

    // Someone else's grant is not theirs to end; the holder ends it.
    let other = r.member("other", &[Role::Support]).await;
    assert!(
        forbidden(r.gov.revoke_grant(&other, grant.grant_id.clone()).await)
            .contains("revoke a grant")
    );
    let revoked = r
        .gov
        .revoke_grant(&sup, grant.grant_id.clone())
        .await
        .unwrap();
    assert_eq!(revoked.state, GrantState::Revoked);
    forbidden(r.gov.governed_read(&sup, "alice".into()).await);
    assert!(matches!(
        r.gov.revoke_grant(&sup, grant.grant_id.clone()).await,
        Err(StaffError::Invalid(_))
    ));
}

#[tokio::test]
async fn refusals_past_the_limit_suspend_the_member() {
    let r = realm().await;
    register(&r.f.node, "alice", "+819011112222", 1).await;
    let sup = r.member("sup", &[Role::Support]).await;
    for _ in 0..AnomalyLimits::default().denials_per_hour {
        forbidden(r.gov.governed_read(&sup, "alice".into()).await);
    }
    let (member, _) = r.gov.realm.member_and_org("sup").await.unwrap();
    assert!(
        member.suspended_at.is_some(),
        "five refusals in an hour suspend"
    );
}

struct Quiet;
impl kizuna_vault::Progress for Quiet {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

#[tokio::test]
async fn a_relabelled_access_record_fails_the_audit_and_is_not_lost_to_a_breach_scope() {
    let r = realm().await;
    register(&r.f.node, "alice", "+819011112222", 1).await;
    let sup = r.member("sup", &[Role::Support]).await;
    let apr = r.member("apr", &[Role::Approver]).await;
    let grant = r
        .gov
        .request_grant(&sup, phone_grant("alice"))
        .await
        .unwrap();
    r.gov.approve_grant(&apr, &grant.grant_id).await.unwrap();
    r.gov.governed_read(&sup, "alice".into()).await.unwrap();
    let by = |staff: &str| BreachQuery {
        staff_id: Some(staff.into()),
        ..Default::default()
    };
    let handles = |s: &BreachScope| {
        s.people
            .iter()
            .map(|p| p.handle.clone())
            .collect::<Vec<_>>()
    };
    let scoped = r.gov.breach_scope(&r.admin, by("sup")).await.unwrap();
    assert_eq!(handles(&scoped), ["alice"]);
    assert_eq!(scoped.people[0].entries.len(), 1);

    // An insider with the region's database file makes sup's accesses
    // apr's: the columns a scope finds them by, not the sealed entries.
    let region = r.f.dir.path().join("regions").join("jp.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", region.display()))
        .await
        .unwrap();
    let relabelled =
        sqlx::query("UPDATE access_records SET staff_id = 'apr' WHERE staff_id = 'sup'")
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
    pool.close().await;
    assert!(relabelled >= 2, "the request and the read");

    // The audit names each relabelled entry.
    let audit = crate::ops::audit::verify(r.f.dir.path(), Regions::embedded(), &[], &Quiet)
        .await
        .unwrap();
    let found: Vec<_> = audit
        .problems
        .iter()
        .filter(|p| p.what.contains("was relabelled"))
        .collect();
    assert_eq!(found.len() as u64, relabelled, "{:?}", audit.problems);
    assert!(
        found.iter().all(|p| p.index.is_some()
            && p.what
                .contains("staff_id column says 'apr' but the entry says 'sup'")),
        "{found:?}"
    );

    // A scope that finds the relabelled records refuses, naming one.
    match r.gov.breach_scope(&r.admin, by("apr")).await {
        Err(StaffError::Tampered(why)) => {
            assert!(why.contains("was relabelled"), "{why}");
            assert!(why.contains("entry "), "{why}");
        }
        other => panic!("a relabelled record must refuse the scope, got {other:?}"),
    }
    // The scope the records were hidden from still names alice, from the
    // staff realm's own record of the read, with no entry to show for it.
    let hidden = r.gov.breach_scope(&r.admin, by("sup")).await.unwrap();
    assert_eq!(handles(&hidden), ["alice"]);
    assert_eq!(hidden.people[0].reads, 1);
    assert!(hidden.people[0].entries.is_empty());
    assert_eq!(hidden.people[0].fields, ["phone"]);
}

#[tokio::test]
async fn a_ledger_rolled_back_behind_the_staff_store_stops_the_node() {
    let r = realm().await;
    let ledger = r.f.dir.path().join("ledger");
    let earlier = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&ledger).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), earlier.path().join(e.file_name())).unwrap();
    }
    // More of the realm's events: a member added, and their login.
    r.member("sup", &[Role::Support]).await;
    let Realm { gov, admin, f } = r;
    gov.realm.close().await;
    drop((gov, admin));
    let crate::tests::Fixture { node, dir } = f;
    node.vault.close().await;
    drop(node);

    // Only the staff store holds entries past the older ledger.
    for e in std::fs::read_dir(earlier.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), ledger.join(e.file_name())).unwrap();
    }
    let refused = crate::Node::open(
        &DataDir::new(dir.path()),
        Regions::embedded(),
        crate::Limits::default(),
    )
    .await
    .err()
    .expect("a node whose ledger is behind its staff store must not start")
    .to_string();
    assert!(refused.contains("the staff store holds"), "{refused}");
    assert!(refused.contains("rolled back or replaced"), "{refused}");
}

#[tokio::test]
async fn without_the_persons_agreement_no_staff_reach_their_data_from_abroad() {
    let r = realm().await;
    let bob = register_in(&r.f.node, "kr", "bob", "+821033334444", 1).await;
    let sup = r.member("sup", &[Role::Support]).await;
    let apr = r.member("apr", &[Role::Approver]).await;
    let grant = r.gov.request_grant(&sup, phone_grant("bob")).await.unwrap();
    r.gov.approve_grant(&apr, &grant.grant_id).await.unwrap();
    // Staff in Japan read a Korean person's data only by the agreement.
    r.gov.governed_read(&sup, "bob".into()).await.unwrap();
    r.f.node.withdraw(&bob).await.unwrap();
    forbidden(r.gov.governed_read(&sup, "bob".into()).await);
}

#[tokio::test]
async fn an_entry_emptied_to_look_erased_fails_the_audit_and_an_erasure_passes_it() {
    let r = realm().await;
    let alice = register(&r.f.node, "alice", "+819011112222", 1).await;
    let bob = register(&r.f.node, "bob", "+819033334444", 2).await;
    let sup = r.member("sup", &[Role::Support]).await;
    let apr = r.member("apr", &[Role::Approver]).await;
    let grant = r
        .gov
        .request_grant(&sup, phone_grant("alice"))
        .await
        .unwrap();
    r.gov.approve_grant(&apr, &grant.grant_id).await.unwrap();
    r.gov.governed_read(&sup, "alice".into()).await.unwrap();
    let grant = r.gov.request_grant(&sup, phone_grant("bob")).await.unwrap();
    r.gov.approve_grant(&apr, &grant.grant_id).await.unwrap();
    r.gov.governed_read(&sup, "bob".into()).await.unwrap();
    // Bob erases himself: his entries stay as tombstones, sealed.
    r.f.node.erase(&bob).await.unwrap();
    let audit = || async {
        crate::ops::audit::verify(r.f.dir.path(), Regions::embedded(), &[], &Quiet)
            .await
            .unwrap()
    };
    let clean = audit().await;
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert!(clean.erased_entries > 0, "bob's entries are tombstones");

    // An insider makes alice's entries look like an erased person's:
    // emptied, under the erased name. The read would vanish from her.
    let region = r.f.dir.path().join("regions").join("jp.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", region.display()))
        .await
        .unwrap();
    let emptied = sqlx::query(
        "UPDATE access_records SET sealed = X'', subject_id = '(erased)' WHERE subject_id = ?",
    )
    .bind(&alice.account_id)
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    // And relabels one of bob's real tombstones as another staff member's.
    let relabelled = sqlx::query(
        "UPDATE access_records SET staff_id = 'apr' \
         WHERE id = (SELECT id FROM access_records WHERE length(sealed) > 0 \
                     AND subject_id = '(erased)' LIMIT 1)",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    pool.close().await;
    assert!(emptied >= 2, "the request and the read");
    let found = audit().await;
    let no_seal = found
        .problems
        .iter()
        .filter(|p| p.what.contains("no seal"))
        .count() as u64;
    assert_eq!(no_seal, emptied, "{:?}", found.problems);
    let broken = found
        .problems
        .iter()
        .filter(|p| p.what.contains("seal does not hold"))
        .count() as u64;
    assert_eq!(broken, relabelled, "{:?}", found.problems);
}

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

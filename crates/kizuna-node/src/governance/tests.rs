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

mod official;

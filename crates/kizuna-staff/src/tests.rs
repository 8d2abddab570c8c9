use super::*;
use crate::credentials::SEALED_TOTP;

mod lockout;
mod shared_store;
use lockout::{
    attempts_from_outside_cannot_lock_a_staff_id_or_test_a_password,
    failed_logins_are_recorded_per_window_not_one_each,
    failed_logins_lock_the_staff_id_for_a_while,
};
use shared_store::{
    events_a_dead_node_left_are_settled_after_the_grace,
    nodes_sharing_a_store_share_sessions_suspensions_and_locks,
};

fn ledger(dir: &std::path::Path) -> Arc<kizuna_ledger::Ledger> {
    Arc::new(
        kizuna_ledger::Ledger::open(
            &dir.join("ledger"),
            kizuna_ledger::TreeHeadKey::new("test/ledger", [2; 32]),
        )
        .unwrap(),
    )
}

/// The backends a staff store runs on; the tests named in `on_both` run on
/// each, so the two cannot drift.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's realm keeps its store and ledger: a temporary directory,
/// and on PostgreSQL a fresh database, migrated, dropped after the test.
struct Place {
    dir: tempfile::TempDir,
    db: Option<kizuna_store::postgres::scratch::ScratchDatabase>,
}

impl Place {
    async fn new(b: Backend, label: &str) -> Place {
        let dir = tempfile::tempdir().unwrap();
        let db = match b {
            Backend::Sqlite => None,
            Backend::Postgres => {
                Some(kizuna_store::postgres::scratch::ScratchDatabase::create(label).await)
            }
        };
        let place = Place { dir, db };
        StaffRealm::migrate(&place.at()).await.unwrap();
        place
    }

    fn at(&self) -> StaffStoreAt {
        match &self.db {
            None => StaffStoreAt::File(self.dir.path().join("staff.sqlite")),
            Some(db) => StaffStoreAt::Postgres {
                url: db.url().to_string(),
                password: None,
            },
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The realm, opened (again) with the staff key `key`.
    async fn open(&self, key: u8) -> StaffRealm {
        StaffRealm::open(self.at(), [key; 32], ledger(self.path()))
            .await
            .unwrap()
    }
}

async fn realm(b: Backend) -> (Place, StaffRealm) {
    let place = Place::new(b, "staff").await;
    let r = place.open(5).await;
    (place, r)
}

/// Runs each named test once per backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}
on_both!(
    login_needs_password_code_and_network,
    unknown_outside_and_wrong_get_one_answer,
    failed_logins_are_recorded_per_window_not_one_each,
    suspending_an_organisation_ends_its_sessions_at_once,
    reading_too_many_different_people_in_an_hour_suspends,
    failed_logins_lock_the_staff_id_for_a_while,
    attempts_from_outside_cannot_lock_a_staff_id_or_test_a_password,
    an_authenticator_code_opens_one_session,
    every_event_is_in_the_ledger_first_and_a_login_waits_for_it,
    no_first_admin_exists_without_its_event,
    nodes_sharing_a_store_share_sessions_suspensions_and_locks,
    events_a_dead_node_left_are_settled_after_the_grace,
);

fn local() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

async fn login(
    r: &StaffRealm,
    c: &StaffCredentials,
    from: IpAddr,
) -> Result<StaffSession, StaffError> {
    r.login(
        &StaffLogin {
            staff_id: c.staff_id.clone(),
            password: c.password.clone(),
            totp: totp_now(&c.totp_secret).unwrap(),
        },
        from,
    )
    .await
}

async fn login_needs_password_code_and_network(b: Backend) {
    let (_d, r) = realm(b).await;
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    assert!(r.bootstrap("again", "JP", vec![], vec![]).await.is_err());
    let s = login(&r, &admin, local()).await.unwrap();
    assert!(s.token.starts_with("kzs1."));
    let session = r.authenticate(&s.token, local()).await.unwrap();
    assert_eq!(session.member.staff_id, "root");
    // Wrong password, wrong code, other network: each refused.
    let mut wrong = admin.clone();
    wrong.password.push('x');
    assert!(matches!(
        login(&r, &wrong, local()).await,
        Err(StaffError::InvalidCredentials)
    ));
    let bad_code = r
        .login(
            &StaffLogin {
                staff_id: "root".into(),
                password: admin.password.clone(),
                totp: "000000".into(),
            },
            local(),
        )
        .await;
    assert!(matches!(bad_code, Err(StaffError::InvalidCredentials)));
    let outside: IpAddr = "192.0.2.7".parse().unwrap();
    assert!(matches!(
        login(&r, &admin, outside).await,
        Err(StaffError::InvalidCredentials)
    ));
    assert!(matches!(
        r.authenticate(&s.token, outside).await,
        Err(StaffError::NetworkNotAllowed { .. })
    ));
    assert!(matches!(
        r.authenticate("kzu1.d.a.1.00", local()).await,
        Err(StaffError::WrongRealm)
    ));
    // The three failures are one event, recorded when their window is.
    r.record_failed_logins().await.unwrap();
    let failures = failure_events(&r).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["count"], 3);
    assert_eq!(failures[0]["staff_ids"]["root"], 3);
    assert_eq!(
        failures[0]["reasons"]["wrong password or authenticator code"],
        2
    );
    assert_eq!(
        failures[0]["reasons"]["not from the organisation's networks"],
        1
    );
    assert_eq!(failures[0]["sources"]["192.0.2.7"], 1);
}

/// The details of the realm's `login_failures` events, oldest first.
async fn failure_events(r: &StaffRealm) -> Vec<serde_json::Value> {
    let mut found: Vec<serde_json::Value> = r
        .store
        .events(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e["kind"] == "login_failures")
        .map(|e| e["detail"].clone())
        .collect();
    found.reverse();
    found
}

/// The code of the time step after the current one, which the realm also
/// accepts: a second login within one step needs a code not used yet.
fn next_code(c: &StaffCredentials) -> String {
    totp_at(&c.totp_secret, kizuna_wire::now_ms() / 1000 + 30).unwrap()
}

async fn an_authenticator_code_opens_one_session(b: Backend) {
    let (place, r) = realm(b).await;
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let code = totp_now(&admin.totp_secret).unwrap();
    let again = StaffLogin {
        staff_id: "root".into(),
        password: admin.password.clone(),
        totp: code,
    };
    r.login(&again, local()).await.unwrap();
    // The same password and code, sent again: refused as any wrong code is.
    assert!(matches!(
        r.login(&again, local()).await,
        Err(StaffError::InvalidCredentials)
    ));
    // A later code is still accepted.
    let later = StaffLogin {
        totp: next_code(&admin),
        ..again
    };
    r.login(&later, local()).await.unwrap();
    // and the code it replaced, though still within its time, is not.
    assert!(matches!(
        login(&r, &admin, local()).await,
        Err(StaffError::InvalidCredentials)
    ));
    r.record_failed_logins().await.unwrap();
    assert_eq!(
        failure_events(&r).await[0]["reasons"]["authenticator code already used"],
        2
    );
    // The last step is kept in the store: reopening does not forget it.
    r.close().await;
    let r = place.open(5).await;
    assert!(matches!(
        r.login(&later, local()).await,
        Err(StaffError::InvalidCredentials)
    ));
}

async fn unknown_outside_and_wrong_get_one_answer(b: Backend) {
    let (_d, r) = realm(b).await;
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let outside: IpAddr = "192.0.2.7".parse().unwrap();
    let mut unknown = admin.clone();
    unknown.staff_id = "nobody".into();
    let mut wrong = admin.clone();
    wrong.password.push('x');
    let answers: Vec<String> = [
        login(&r, &unknown, outside).await,
        login(&r, &unknown, local()).await,
        login(&r, &admin, outside).await,
        login(&r, &wrong, local()).await,
    ]
    .into_iter()
    .map(|a| match a {
        Err(e @ StaffError::InvalidCredentials) => e.to_string(),
        other => panic!("{other:?}"),
    })
    .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // And the right credentials from inside still work.
    login(&r, &admin, local()).await.unwrap();
}

async fn suspending_an_organisation_ends_its_sessions_at_once(b: Backend) {
    let (_d, r) = realm(b).await;
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let root = r
        .authenticate(&login(&r, &admin, local()).await.unwrap().token, local())
        .await
        .unwrap();
    r.add_org(
        &root,
        Org {
            org_id: "acme".into(),
            kind: OrgKind::Contractor,
            country: "CN".into(),
            networks: vec!["127.0.0.0/8".into()],
            scope: OrgScope::default(),
            suspended_at: None,
        },
    )
    .await
    .unwrap();
    let eng = r
        .add_member(
            &root,
            &NewStaffMember {
                staff_id: "eng".into(),
                org_id: "acme".into(),
                roles: vec![Role::Support],
            },
        )
        .await
        .unwrap();
    let t = login(&r, &eng, local()).await.unwrap().token;
    let eng_session = r.authenticate(&t, local()).await.unwrap();
    // A contractor cannot manage organisations or staff.
    assert!(matches!(
        r.orgs(&eng_session).await,
        Err(StaffError::Forbidden(_))
    ));
    let s = r.suspend_org(&root, "acme").await.unwrap();
    assert_eq!(s.sessions_ended, 1);
    assert!(r.authenticate(&t, local()).await.is_err());
    assert!(matches!(
        login(&r, &eng, local()).await,
        Err(StaffError::Suspended(_))
    ));
    // Bad input changes nothing.
    let before = r.orgs(&root).await.unwrap();
    for bad in [
        Org {
            org_id: "X".into(),
            kind: OrgKind::Affiliate,
            country: "KR".into(),
            networks: vec!["10.0.0.0/8".into()],
            scope: OrgScope::default(),
            suspended_at: None,
        },
        Org {
            org_id: "beta".into(),
            kind: OrgKind::Affiliate,
            country: "Korea".into(),
            networks: vec!["10.0.0.0/8".into()],
            scope: OrgScope::default(),
            suspended_at: None,
        },
        Org {
            org_id: "beta".into(),
            kind: OrgKind::Affiliate,
            country: "KR".into(),
            networks: vec!["10.0.0.300/8".into()],
            scope: OrgScope::default(),
            suspended_at: None,
        },
    ] {
        assert!(r.add_org(&root, bad).await.is_err());
    }
    assert_eq!(r.orgs(&root).await.unwrap(), before);
}

#[tokio::test]
async fn totp_secrets_are_sealed_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staff.sqlite");
    let l = ledger(dir.path());
    let r = StaffRealm::open(&path, [5; 32], l.clone()).await.unwrap();
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let stored = r.store.totp_secrets().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].1.starts_with(SEALED_TOTP));
    assert!(!stored[0].1.contains(&admin.totp_secret));
    let file = std::fs::read(&path).unwrap();
    let needle = admin.totp_secret.as_bytes();
    assert!(!file.windows(needle.len()).any(|w| w == needle));

    // A store from before sealing is sealed when opened, and its logins work.
    r.store
        .set_totp_secret("root", &admin.totp_secret)
        .await
        .unwrap();
    r.close().await;
    let r = StaffRealm::open(&path, [5; 32], l.clone()).await.unwrap();
    assert!(r.store.totp_secrets().await.unwrap()[0]
        .1
        .starts_with(SEALED_TOTP));
    login(&r, &admin, local()).await.unwrap();
    r.close().await;

    // Another node's staff key cannot open it: a typed storage error, not a
    // silent refusal that looks like a wrong code.
    let other = StaffRealm::open(&path, [6; 32], l).await.unwrap();
    assert!(matches!(
        login(&other, &admin, local()).await,
        Err(StaffError::Storage(_))
    ));
}

async fn reading_too_many_different_people_in_an_hour_suspends(b: Backend) {
    let (_d, r) = realm(b).await;
    r.bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let limits = AnomalyLimits {
        denials_per_hour: 5,
        people_per_hour: 2,
    };
    let read = |who: &'static str| {
        r.record(
            EventKind::Read,
            Some("root"),
            Some("operator"),
            serde_json::json!({ "subject": who }),
        )
    };
    // Two people, read again and again, stay within the limit.
    for who in ["alice", "bob", "alice", "bob", "alice"] {
        assert_eq!(
            r.watch("root", "operator", Some(who), limits)
                .await
                .unwrap(),
            None
        );
        read(who).await.unwrap();
    }
    // A third different person is one too many.
    let why = r
        .watch("root", "operator", Some("carol"), limits)
        .await
        .unwrap()
        .expect("a third person within the hour raises an alert");
    assert!(why.contains("3 different people"), "{why}");
    assert!(r
        .store
        .member("root")
        .await
        .unwrap()
        .unwrap()
        .member
        .suspended_at
        .is_some());
}

async fn every_event_is_in_the_ledger_first_and_a_login_waits_for_it(b: Backend) {
    let place = Place::new(b, "staff_ledger_first").await;
    let dir = &place.dir;
    let l = ledger(dir.path());
    let r = StaffRealm::open(place.at(), [5; 32], l.clone())
        .await
        .unwrap();
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    login(&r, &admin, local()).await.unwrap();
    let held = r.held_events(0, 100).await.unwrap();
    // bootstrap and login, each an entry whose bytes hash to its leaf.
    assert_eq!(held.len() as u64, l.size());
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|h| h.intact));
    let leaves = l.leaves(0, l.size()).unwrap();
    assert!(held
        .iter()
        .all(|h| leaves[h.index as usize].as_slice() == h.leaf.as_slice()));

    // The ledger's storage gone: no login, and no event left behind.
    let away = dir.path().join("ledger-away");
    std::fs::rename(dir.path().join("ledger"), &away).unwrap();
    let later = StaffLogin {
        staff_id: "root".into(),
        password: admin.password.clone(),
        totp: next_code(&admin),
    };
    assert!(matches!(
        r.login(&later, local()).await,
        Err(StaffError::LedgerUnavailable(_))
    ));
    assert_eq!(r.store.events(100).await.unwrap().len(), 2);
}

#[test]
fn each_event_kind_has_one_name_and_the_refusals_are_the_policys() {
    let mut names = std::collections::BTreeSet::new();
    for k in EventKind::ALL {
        // What is stored, and what an event serialises to, are one name.
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        assert!(names.insert(k.as_str()), "{} twice", k.as_str());
    }
    let refusals: Vec<&str> = EventKind::ALL
        .into_iter()
        .filter(|k| k.is_refusal())
        .map(EventKind::as_str)
        .collect();
    assert_eq!(
        refusals,
        [
            "grant_refused",
            "approval_refused",
            "read_denied",
            "report_open_denied",
            "report_queue_denied",
            "official_refused"
        ]
    );
}

async fn no_first_admin_exists_without_its_event(b: Backend) {
    let (dir, r) = realm(b).await;
    std::fs::rename(dir.path().join("ledger"), dir.path().join("ledger-away")).unwrap();
    assert!(matches!(
        r.bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
            .await,
        Err(StaffError::LedgerUnavailable(_))
    ));
    assert!(!r.store.has_staff().await.unwrap());
    assert!(r.store.org("operator").await.unwrap().is_none());
}

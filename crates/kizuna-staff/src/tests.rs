use super::*;
use crate::credentials::SEALED_TOTP;

fn ledger(dir: &std::path::Path) -> Arc<kizuna_ledger::Ledger> {
    Arc::new(
        kizuna_ledger::Ledger::open(
            &dir.join("ledger"),
            kizuna_ledger::TreeHeadKey::new("test/ledger", [2; 32]),
        )
        .unwrap(),
    )
}

async fn realm() -> (tempfile::TempDir, StaffRealm) {
    let dir = tempfile::tempdir().unwrap();
    let r = StaffRealm::open(
        &dir.path().join("staff.sqlite"),
        [5; 32],
        ledger(dir.path()),
    )
    .await
    .unwrap();
    (dir, r)
}

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

#[tokio::test]
async fn login_needs_password_code_and_network() {
    let (_d, r) = realm().await;
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
        Err(StaffError::NetworkNotAllowed { .. })
    ));
    assert!(matches!(
        r.authenticate(&s.token, outside).await,
        Err(StaffError::NetworkNotAllowed { .. })
    ));
    assert!(matches!(
        r.authenticate("kzu1.d.a.1.00", local()).await,
        Err(StaffError::WrongRealm)
    ));
    let kinds: Vec<String> = r
        .events(&session, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "login_failed").count(),
        2,
        "{kinds:?}"
    );
    // From outside, nothing was checked; it does not count as a failure.
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "login_outside_network")
            .count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn suspending_an_organisation_ends_its_sessions_at_once() {
    let (_d, r) = realm().await;
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

#[tokio::test]
async fn reading_too_many_different_people_in_an_hour_suspends() {
    let (_d, r) = realm().await;
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

#[tokio::test]
async fn every_event_is_in_the_ledger_first_and_a_login_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let r = StaffRealm::open(&dir.path().join("staff.sqlite"), [5; 32], l.clone())
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
    assert!(matches!(
        login(&r, &admin, local()).await,
        Err(StaffError::LedgerUnavailable(_))
    ));
    assert_eq!(r.store.events(100).await.unwrap().len(), 2);
}

#[tokio::test]
async fn failed_logins_lock_the_staff_id_for_a_while() {
    let (_d, r) = realm().await;
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let mut wrong = admin.clone();
    wrong.password.push('x');
    for _ in 0..MAX_FAILED_LOGINS {
        assert!(matches!(
            login(&r, &wrong, local()).await,
            Err(StaffError::InvalidCredentials)
        ));
    }
    // Now even the right password and code are not checked.
    assert!(matches!(
        login(&r, &admin, local()).await,
        Err(StaffError::TooManyFailedLogins { minutes: 15 })
    ));
}

#[tokio::test]
async fn attempts_from_outside_cannot_lock_a_staff_id_or_test_a_password() {
    let (_d, r) = realm().await;
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let outside: IpAddr = "192.0.2.7".parse().unwrap();
    let mut wrong = admin.clone();
    wrong.password.push('x');
    for _ in 0..MAX_FAILED_LOGINS + 2 {
        // The same answer for a wrong password as for the right one.
        assert!(matches!(
            login(&r, &wrong, outside).await,
            Err(StaffError::NetworkNotAllowed { .. })
        ));
    }
    login(&r, &admin, local()).await.unwrap();
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
            "report_queue_denied"
        ]
    );
}

#[tokio::test]
async fn no_first_admin_exists_without_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let r = StaffRealm::open(
        &dir.path().join("staff.sqlite"),
        [5; 32],
        ledger(dir.path()),
    )
    .await
    .unwrap();
    std::fs::rename(dir.path().join("ledger"), dir.path().join("ledger-away")).unwrap();
    assert!(matches!(
        r.bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
            .await,
        Err(StaffError::LedgerUnavailable(_))
    ));
    assert!(!r.store.has_staff().await.unwrap());
    assert!(r.store.org("operator").await.unwrap().is_none());
}

//! Failed logins: recorded per window, locking a staff id for a while,
//! and never from outside the allowed networks.

use super::*;

pub(super) async fn failed_logins_are_recorded_per_window_not_one_each(b: Backend) {
    let (_d, r) = realm(b).await;
    let admin = r
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let before = r.store.events(10_000).await.unwrap().len();
    let outside: IpAddr = "192.0.2.7".parse().unwrap();
    let mut wrong = admin.clone();
    wrong.password.push('x');
    for i in 0..300 {
        let attempt = match i % 3 {
            0 => {
                let mut c = admin.clone();
                c.staff_id = format!("ghost-{i}");
                login(&r, &c, outside).await
            }
            1 => login(&r, &admin, outside).await,
            _ => login(&r, &wrong, local()).await,
        };
        assert!(attempt.is_err());
    }
    r.record_failed_logins().await.unwrap();
    let written = r.store.events(10_000).await.unwrap().len() - before;
    let failures = failure_events(&r).await;
    assert_eq!(written, failures.len());
    // One at the lock, one at the end, and one more if a window closed
    // on the way.
    assert!(failures.len() <= 3, "{failures:?}");
    let sum = |field: &str| -> u64 {
        failures
            .iter()
            .map(|f| {
                f[field]
                    .as_object()
                    .map(|m| m.values().filter_map(|v| v.as_u64()).sum::<u64>())
                    .unwrap_or(0)
                    + f[&format!("other_{field}")].as_u64().unwrap_or(0)
            })
            .sum()
    };
    let count: u64 = failures.iter().map(|f| f["count"].as_u64().unwrap()).sum();
    assert_eq!(count, 300);
    assert_eq!(sum("staff_ids"), 300);
    assert_eq!(sum("sources"), 300);
    // What auditors need: which ids were tried, from where.
    let root: u64 = failures
        .iter()
        .filter_map(|f| f["staff_ids"]["root"].as_u64())
        .sum();
    assert_eq!(root, 200);
    assert!(failures
        .iter()
        .any(|f| f["staff_ids"].get("ghost-0").is_some()));
    assert!(failures
        .iter()
        .all(|f| f["staff_ids"].as_object().unwrap().len() <= FAILED_LOGIN_NAMES));
    // A made-up id is named, but not at any length it was sent with.
    let mut long = admin.clone();
    long.staff_id = "x".repeat(10_000);
    assert!(login(&r, &long, outside).await.is_err());
    r.record_failed_logins().await.unwrap();
    let last = failure_events(&r).await.pop().unwrap();
    assert_eq!(last["count"], 1);
    assert_eq!(last["staff_ids"]["x".repeat(64)], 1);
    assert!(failures
        .iter()
        .any(|f| f["sources"].get("192.0.2.7").is_some()));
}

pub(super) async fn failed_logins_lock_the_staff_id_for_a_while(b: Backend) {
    let (d, r) = realm(b).await;
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
    // The failures that lock it are in the ledger before the lock holds.
    let failures = failure_events(&r).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["count"], MAX_FAILED_LOGINS);
    // Now even the right password and code are not checked.
    assert!(matches!(
        login(&r, &admin, local()).await,
        Err(StaffError::TooManyFailedLogins { minutes: 15 })
    ));
    // Nor after a restart: the lock is rebuilt from the recorded failures.
    r.close().await;
    let r = d.open(5).await;
    assert!(matches!(
        login(&r, &admin, local()).await,
        Err(StaffError::TooManyFailedLogins { minutes: 15 })
    ));
}

pub(super) async fn attempts_from_outside_cannot_lock_a_staff_id_or_test_a_password(b: Backend) {
    let (_d, r) = realm(b).await;
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
            Err(StaffError::InvalidCredentials)
        ));
        assert!(matches!(
            login(&r, &admin, outside).await,
            Err(StaffError::InvalidCredentials)
        ));
    }
    login(&r, &admin, local()).await.unwrap();
}

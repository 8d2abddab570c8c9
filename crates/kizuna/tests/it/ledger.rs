//! The transparency ledger end to end: every access is in the ledger before
//! it happens; people verify their own entries on their device; a rollback
//! is reported loudly; `audit verify` names each kind of tampering; and a
//! ledger that cannot be written stops governed reads, not messaging.

use std::path::Path;

use kizuna_client::ClientError;
use kizuna_wire::staff::Role;
use kizuna_wire::ErrorCode;

use crate::harness::*;
use crate::staff::{ask, member, staffed};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "kizuna.lock" {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The staff session kept in its home, on a fresh connection to the
/// restarted node.
fn reopened(node: &Node) -> kizuna_console::staff::StaffClient {
    kizuna_console::staff::StaffClient::open(&node.home("staff-sup")).unwrap()
}

struct Quiet;
impl kizuna_vault::Progress for Quiet {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

async fn audit(dir: &Path) -> kizuna_server::audit::AuditReport {
    kizuna_server::audit::verify(dir, kizuna_config::Regions::embedded(), &[], &Quiet)
        .await
        .unwrap()
}

/// A node where `sup` of the operator holds a grant, approved by the
/// admin, to read alice's phone, and has read it once.
async fn read_once() -> (
    Node,
    kizuna_client::Client,
    kizuna_console::staff::StaffClient,
) {
    let mut node = Node::start().await;
    let alice = node.person("alice", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let sup = member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let g = sup
        .request_grant(&ask("alice", &["phone"], 3600))
        .await
        .unwrap();
    admin.decide_grant(&g.grant_id, "approve").await.unwrap();
    sup.read("alice").await.unwrap();
    (node, alice, sup)
}

#[tokio::test]
async fn people_verify_each_access_on_their_device_and_a_rollback_is_reported() {
    let (mut node, mut alice, _) = read_once().await;
    let first = alice.accesses().await.unwrap();
    assert_eq!(first.previous_size, 0);
    let steps: Vec<&str> = first
        .accesses
        .iter()
        .map(|a| a.entry.record.action.as_str())
        .collect();
    assert!(
        steps.contains(&"grant_requested")
            && steps.contains(&"grant_approved")
            && steps.contains(&"read"),
        "{steps:?}"
    );
    let read = first
        .accesses
        .iter()
        .find(|a| a.entry.record.action == "read")
        .unwrap();
    let staff = read.entry.staff.as_ref().unwrap();
    assert_eq!(
        (staff.staff_id.as_str(), staff.org_id.as_str()),
        ("sup", "operator")
    );
    assert_eq!(staff.ticket, "T-123");
    assert_eq!(staff.roles, ["support"]);
    assert_eq!(staff.purpose, "LEGAL_REQUEST");

    // Another read; the next call proves the new head extends the old one.
    let addr = node.stop().await;
    let older = tempfile::tempdir().unwrap();
    copy_dir(node.data_dir(), older.path());
    node.start_again(addr).await;
    let sup = reopened(&node);
    sup.read("alice").await.unwrap();
    let second = alice.accesses().await.unwrap();
    assert_eq!(second.previous_size, first.head.size);
    assert!(second.head.size > first.head.size);
    assert_eq!(
        second
            .accesses
            .iter()
            .filter(|a| a.entry.record.action == "read")
            .count(),
        2
    );

    // An outside auditor checks the live ledger from its leaf hashes.
    let online = kizuna_client::audit::verify_server(&node.url, &[], |_, _| {})
        .await
        .unwrap();
    assert!(online.problems.is_empty(), "{:?}", online.problems);
    assert!(online.entries >= second.head.size);

    // An insider deletes the record of a read alice's device verified.
    let addr = node.stop().await;
    let jp = node.data_dir().join("regions").join("jp.sqlite");
    // A stopped node leaves the file whole on its own, so a copy of it
    // alone is a backup an insider could put back.
    let wal = jp.with_extension("sqlite-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "a stopped node left a write-ahead log beside its region store"
    );
    let kept = std::fs::read(&jp).unwrap();
    let put_back = |kept: &[u8]| {
        std::fs::write(&jp, kept).unwrap();
        for beside in ["sqlite-wal", "sqlite-shm"] {
            let _ = std::fs::remove_file(jp.with_extension(beside));
        }
    };
    let read_at = second
        .accesses
        .iter()
        .rfind(|a| a.entry.record.action == "read")
        .unwrap()
        .index;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", jp.display()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM access_records WHERE idx = ?")
        .bind(read_at as i64)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    node.start_again(addr).await;
    let e = alice.accesses().await.unwrap_err();
    assert!(matches!(e, ClientError::LedgerTampered(_)), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("entry {read_at} about you")),
        "{e}"
    );
    let addr = node.stop().await;
    put_back(&kept);
    node.start_again(addr).await;
    alice.accesses().await.unwrap();

    // An insider edits one byte of that sealed record instead: it no longer
    // opens, and alice's device says so as tampering, not as a server error.
    let addr = node.stop().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", jp.display()))
        .await
        .unwrap();
    let mut sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM access_records WHERE idx = ?")
        .bind(read_at as i64)
        .fetch_one(&pool)
        .await
        .unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    sqlx::query("UPDATE access_records SET sealed = ? WHERE idx = ?")
        .bind(&sealed)
        .bind(read_at as i64)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    node.start_again(addr).await;
    let e = alice.accesses().await.unwrap_err();
    assert!(matches!(e, ClientError::LedgerTampered(_)), "{e}");
    assert!(e.to_string().contains("no longer opens"), "{e}");
    let addr = node.stop().await;
    put_back(&kept);
    node.start_again(addr).await;
    alice.accesses().await.unwrap();

    // An insider puts back an older copy of the ledger alone, heads and
    // all: the region holds entries it does not, and the node refuses to
    // start rather than give new entries the numbers they hold.
    let addr = node.stop().await;
    let ledger = node.data_dir().join("ledger");
    std::fs::remove_dir_all(&ledger).unwrap();
    copy_dir(&older.path().join("ledger"), &ledger);
    let mut config =
        kizuna_server::ServerConfig::new(node.data_dir(), "127.0.0.1:0".parse().unwrap());
    config.regions = node.regions.clone();
    let refused = kizuna_server::RunningServer::start(config)
        .await
        .err()
        .expect("a node whose ledger is behind its stores must not start")
        .to_string();
    assert!(refused.contains("rolled back or replaced"), "{refused}");
    assert!(refused.contains("restore it from its backup"), "{refused}");

    // The whole data directory put back from that copy is whole again, and
    // the node starts; but alice's device has seen a later head.
    for e in std::fs::read_dir(node.data_dir()).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "kizuna.lock" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            std::fs::remove_dir_all(e.path()).unwrap();
        } else {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    copy_dir(older.path(), node.data_dir());
    node.start_again(addr).await;
    let e = alice.accesses().await.unwrap_err();
    assert!(matches!(e, ClientError::LedgerTampered(_)), "{e}");
    assert!(e.to_string().contains("rolled back"), "{e}");
    // A witness that kept the later head sees it too.
    let witnessed = kizuna_client::audit::verify_server(
        &node.url,
        std::slice::from_ref(&second.head),
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(
        witnessed
            .problems
            .iter()
            .any(|p| p.what.contains("rolled back")),
        "{:?}",
        witnessed.problems
    );
}

#[tokio::test]
async fn audit_verify_names_the_first_bad_entry_of_each_tampering() {
    let (mut node, _alice, sup) = read_once().await;
    sup.read("alice").await.unwrap();
    sup.read("alice").await.unwrap();
    let addr = node.stop().await;
    let dir = node.data_dir().to_path_buf();
    let clean = audit(&dir).await;
    assert!(clean.is_clean(), "{:?}", clean.problems);
    assert!(
        clean.entries >= 5 && clean.verified_entries == clean.entries,
        "{clean:?}"
    );
    let older = tempfile::tempdir().unwrap();
    copy_dir(&dir, older.path());
    node.start_again(addr).await;
    let sup = reopened(&node);
    sup.read("alice").await.unwrap();
    node.stop().await;
    let n = audit(&dir).await.entries;

    let variant = || {
        let d = tempfile::tempdir().unwrap();
        copy_dir(&dir, d.path());
        d
    };
    let region = |d: &Path| d.join("regions").join("jp.sqlite");
    let db = |d: &Path| {
        let path = region(d);
        async move {
            sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap()
        }
    };
    let first_bad = |r: &kizuna_server::audit::AuditReport| {
        assert!(!r.is_clean());
        r.problems[0].index
    };

    // Where alice's region holds entries (the rest are staff events).
    let pool = db(&dir).await;
    let held: Vec<i64> =
        sqlx::query_scalar("SELECT idx FROM access_records WHERE idx IS NOT NULL ORDER BY idx")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let (gone, edited) = (held[0], held[1]);
    let first_later = held
        .iter()
        .map(|&i| i as u64)
        .find(|&i| i >= clean.entries)
        .unwrap();

    // A ledger row deleted.
    let d = variant();
    let pool = db(d.path()).await;
    sqlx::query("DELETE FROM access_records WHERE idx = ?")
        .bind(gone)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let r = audit(d.path()).await;
    assert_eq!(first_bad(&r), Some(gone as u64), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("no entry"), "{:?}", r.problems);

    // One byte of an entry edited.
    let d = variant();
    let pool = db(d.path()).await;
    let mut sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM access_records WHERE idx = ?")
        .bind(edited)
        .fetch_one(&pool)
        .await
        .unwrap();
    sealed[40] ^= 1;
    sqlx::query("UPDATE access_records SET sealed = ? WHERE idx = ?")
        .bind(sealed)
        .bind(edited)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let r = audit(d.path()).await;
    assert_eq!(first_bad(&r), Some(edited as u64), "{:?}", r.problems);

    // An entry relabelled: the organisation and staff member kept in the
    // clear beside it, to find it by, made someone else's.
    let d = variant();
    let pool = db(d.path()).await;
    sqlx::query(
        "UPDATE access_records SET org_id = 'elsewhere', staff_id = 'someone' WHERE idx = ?",
    )
    .bind(edited)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let r = audit(d.path()).await;
    assert_eq!(first_bad(&r), Some(edited as u64), "{:?}", r.problems);
    assert!(
        r.problems[0].what.contains("relabelled"),
        "{:?}",
        r.problems
    );

    // A staff event rewritten (its append-only trigger dropped first, as an
    // insider with the file could).
    let d = variant();
    let staff = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        d.path().join("staff").join("staff.sqlite").display()
    ))
    .await
    .unwrap();
    let login: i64 = sqlx::query_scalar("SELECT idx FROM events WHERE kind = 'login' ORDER BY idx")
        .fetch_one(&staff)
        .await
        .unwrap();
    sqlx::raw_sql("DROP TRIGGER events_only_indexed")
        .execute(&staff)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET detail = '{\"source\":\"10.9.9.9\"}' WHERE idx = ?")
        .bind(login)
        .execute(&staff)
        .await
        .unwrap();
    staff.close().await;
    let r = audit(d.path()).await;
    assert_eq!(first_bad(&r), Some(login as u64), "{:?}", r.problems);
    assert!(
        r.problems[0].what.contains("staff event"),
        "{:?}",
        r.problems
    );

    // Two rows of the log reordered.
    let d = variant();
    let leaves = d.path().join("ledger").join("leaves");
    let mut b = std::fs::read(&leaves).unwrap();
    let (one, two) = (b[32..64].to_vec(), b[64..96].to_vec());
    b[32..64].copy_from_slice(&two);
    b[64..96].copy_from_slice(&one);
    std::fs::write(&leaves, &b).unwrap();
    let r = audit(d.path()).await;
    assert_eq!(first_bad(&r), Some(1), "{:?}", r.problems);

    // The log truncated.
    let d = variant();
    let leaves = d.path().join("ledger").join("leaves");
    let b = std::fs::read(&leaves).unwrap();
    std::fs::write(&leaves, &b[..32 * 3]).unwrap();
    let r = audit(d.path()).await;
    assert_eq!(first_bad(&r), Some(3), "{:?}", r.problems);

    // An older copy of the region's database file restored.
    let d = variant();
    std::fs::copy(region(older.path()), region(d.path())).unwrap();
    for wal in ["jp.sqlite-wal", "jp.sqlite-shm"] {
        let _ = std::fs::remove_file(d.path().join("regions").join(wal));
    }
    let r = audit(d.path()).await;
    assert_eq!(first_bad(&r), Some(first_later), "{:?}", r.problems);
    assert!(n > clean.entries);

    // The command says so too, and exits with 6.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["audit", "verify", "--data-dir"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("the first bad entry is {first_later}")),
        "{err}"
    );
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

#[tokio::test]
async fn an_unwritable_ledger_stops_governed_reads_and_not_messaging() {
    let (node, mut alice, sup) = read_once().await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();

    let ledger = node.data_dir().join("ledger");
    let away = node.data_dir().join("ledger-away");
    std::fs::rename(&ledger, &away).unwrap();
    let e = sup.read("alice").await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::LedgerUnavailable), "{e}");
    // Messaging goes on.
    alice.send(&chat, "still here").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["still here"]);
    // The refused read left no record behind.
    std::fs::rename(&away, &ledger).unwrap();
    let before = alice.accesses().await.unwrap();
    let reads = |v: &kizuna_client::VerifiedAccesses| {
        v.accesses
            .iter()
            .filter(|a| a.entry.record.action == "read")
            .count()
    };
    assert_eq!(reads(&before), 1);
    sup.read("alice").await.unwrap();
    assert_eq!(reads(&alice.accesses().await.unwrap()), 2);
}

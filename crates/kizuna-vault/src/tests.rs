use kizuna_wire::Contacts;

use super::*;

struct Quiet;
impl Progress for Quiet {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// The node's ledger in `dir`.
fn ledger(dir: &std::path::Path) -> Arc<kizuna_ledger::Ledger> {
    Arc::new(
        kizuna_ledger::Ledger::open(
            &dir.join("ledger"),
            kizuna_ledger::TreeHeadKey::new("test/ledger", [3; 32]),
        )
        .unwrap(),
    )
}

/// The vault of a data directory at `dir`, with its ledger.
async fn open(dir: &std::path::Path, regions: Regions) -> Vault {
    Vault::open(regions, &DataDir::new(dir), ledger(dir))
        .await
        .unwrap()
}

fn operator() -> Requester {
    Requester::Operator {
        command: "test".into(),
    }
}

fn profile(phone: &str) -> Profile {
    Profile {
        name: "Alice".into(),
        phone: phone.into(),
        email: None,
    }
}

#[tokio::test]
async fn an_interrupted_rotation_resumes_under_the_version_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(dir.path(), Regions::embedded()).await;
    for (i, s) in ["a", "b", "c"].iter().enumerate() {
        vault
            .register(
                s,
                "jp",
                &profile(&format!("+8190000000{i:02}")),
                &operator(),
            )
            .await
            .unwrap();
    }
    // As if a rotation had written version 2 and then stopped: the key file
    // has both versions, every data key is still under version 1.
    let rv = vault.region_vault("jp").unwrap();
    let mut keys = rv.keys();
    keys.versions.insert(2, [9u8; 32]);
    rv.place.write("jp", &keys).unwrap();
    vault.close().await;

    let vault = open(dir.path(), Regions::embedded()).await;
    let r = vault.rotate_key("jp", &Quiet).await.unwrap();
    assert_eq!(
        (r.new_version, r.rewrapped, r.retired_versions),
        (2, 3, vec![1])
    );
    for s in ["a", "b", "c"] {
        assert_eq!(
            vault.profile(s, "jp", &operator()).await.unwrap().name,
            "Alice"
        );
    }
    let text = std::fs::read_to_string(dir.path().join("keys/region-jp.key")).unwrap();
    assert!(!text.contains("\nv1 ") && text.contains("\nv2 "));
    vault.close().await;
}

/// As the nodes of a cluster see a rotation: one vault stages a version,
/// another re-wraps under it, and the first, never reopened, takes the
/// version up from its key file when it meets data under it.
#[tokio::test]
async fn a_vault_takes_up_a_key_version_another_rewrapped_under() {
    let dir = tempfile::tempdir().unwrap();
    let serving = open(dir.path(), Regions::embedded()).await;
    for (i, s) in ["a", "b"].iter().enumerate() {
        serving
            .register(
                s,
                "jp",
                &profile(&format!("+8190000001{i:02}")),
                &operator(),
            )
            .await
            .unwrap();
    }
    let staged = serving.stage_key("jp").unwrap();
    assert!(staged.staged);
    assert_eq!(staged.new_version, 2);
    // Staged only: what the serving vault seals next is still under 1.
    assert_eq!(serving.region_vault("jp").unwrap().keys().current().0, 1);
    assert_eq!(serving.stage_key("jp").unwrap().new_version, 2, "kept");
    // Someone new once the file holds the staged version: wrapped under it,
    // so nothing new is left under the version the rotation retires.
    serving
        .register("c", "jp", &profile("+819000000199"), &operator())
        .await
        .unwrap();
    let c = serving
        .region_vault("jp")
        .unwrap()
        .store
        .wrapped_key("c")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.region_key_version, 2);

    let operator_vault = open(dir.path(), Regions::embedded()).await;
    let r = operator_vault.rotate_key("jp", &Quiet).await.unwrap();
    assert_eq!((r.new_version, r.rewrapped), (2, 2));
    operator_vault.close().await;
    for s in ["a", "b", "c"] {
        assert_eq!(
            serving.profile(s, "jp", &operator()).await.unwrap().name,
            "Alice"
        );
    }
    assert_eq!(serving.region_vault("jp").unwrap().keys().current().0, 2);

    // A key file whose other keys changed is not taken up.
    let rv = serving.region_vault("jp").unwrap();
    let mut forged = crate::keys::RegionKeys::generate();
    forged.versions.insert(3, [7u8; 32]);
    rv.place.write("jp", &forged).unwrap();
    match rv.keys_with(3) {
        Err(VaultError::Unsealable { problem, .. }) => {
            assert!(problem.contains("no longer holds"), "{problem}")
        }
        other => panic!("a forged key file was taken up: {other:?}"),
    }
    assert_eq!(rv.keys().current().0, 2, "what it held is kept");
    serving.close().await;
}

/// The vault of a cluster's node: its ledger a mirror of `log`, the
/// cluster's one shared log.
async fn clustered(dir: &std::path::Path) -> (Vault, Arc<kizuna_ledger::InMemoryLog>) {
    let log = Arc::new(kizuna_ledger::InMemoryLog::default());
    let ledger = Arc::new(
        kizuna_ledger::Ledger::open_shared(
            &dir.join("ledger"),
            kizuna_ledger::TreeHeadKey::new("test/ledger", [3; 32]),
            log.clone(),
        )
        .await
        .unwrap(),
    );
    let vault = Vault::open(Regions::embedded(), &DataDir::new(dir), ledger)
        .await
        .unwrap();
    (vault, log)
}

/// A read of a person's profile from Japan at `at`, by `requester`.
fn read_at(at: u64, requester: &str) -> kizuna_wire::TransferRecord {
    kizuna_wire::TransferRecord {
        at,
        action: "read".into(),
        categories: vec!["profile".into()],
        region: "jp".into(),
        to_country: "JP".into(),
        basis: None,
        requester: requester.into(),
        allowed: true,
        refusal: None,
    }
}

/// In a cluster, an access record left unnumbered may be another node's
/// whose append is under way: settling leaves the young ones alone,
/// numbers an old one whose leaf reached the shared log, and takes back an
/// old one whose leaf never did.
#[tokio::test]
async fn records_a_dead_node_left_are_settled_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, log) = clustered(dir.path()).await;
    let subject = "a";
    vault
        .register(subject, "jp", &profile("+819000000200"), &operator())
        .await
        .unwrap();
    let rv = vault.region_vault("jp").unwrap();
    let (key, version) = rv.data_key(subject).await.unwrap();
    let left = |age_ms: u64, what: &str| {
        let mut access = vault
            .new_access(
                subject,
                read_at(kizuna_wire::now_ms() - age_ms, what),
                &operator(),
            )
            .unwrap();
        access.after = 0;
        access
    };
    let appended = left(5 * 60_000, "appended");
    let lost = left(5 * 60_000, "lost");
    let young = left(0, "under way");
    for a in [&appended, &lost, &young] {
        let sealed = rv.seal_access(&key, subject, version, a).unwrap();
        rv.store.append_access(subject, sealed).await.unwrap();
    }
    // The dead node's one append that reached the log, as another node's.
    let leaf: kizuna_ledger::Hash = appended.leaf.clone().unwrap().try_into().unwrap();
    let index = kizuna_ledger::SharedLog::append(log.as_ref(), &[kizuna_ledger::Leaf::plain(leaf)])
        .await
        .unwrap();

    vault.settle_pending().await.unwrap();
    let pending: Vec<Option<Vec<u8>>> = rv
        .store
        .pending_access()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.access.leaf)
        .collect();
    assert_eq!(
        pending,
        vec![young.leaf.clone()],
        "only the young one waits"
    );
    let numbered = rv.store.ledger_rows(index, 10).await.unwrap();
    assert_eq!(numbered.len(), 1);
    assert_eq!(numbered[0].access.leaf, appended.leaf);
    vault.close().await;
}

/// An append that outlives the grace (a writer stalled, or clocks apart)
/// finds its record taken back by another node's settling; the leaf is in
/// the ledger all the same, so the record is written again, numbered, and
/// the person's log misses nothing the ledger holds.
#[tokio::test]
async fn a_record_taken_back_during_a_slow_append_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, _log) = clustered(dir.path()).await;
    let subject = "a";
    vault
        .register(subject, "jp", &profile("+819000000201"), &operator())
        .await
        .unwrap();
    let rv = vault.region_vault("jp").unwrap();
    let before = rv.store.access_records(subject).await.unwrap().len();
    let (key, version) = rv.data_key(subject).await.unwrap();
    let access = vault
        .new_access(
            subject,
            read_at(kizuna_wire::now_ms() - 5 * 60_000, "slow"),
            &operator(),
        )
        .unwrap();
    let sealed = rv.seal_access(&key, subject, version, &access).unwrap();
    rv.store
        .append_access(subject, sealed.clone())
        .await
        .unwrap();
    // Another node settles while this one's append still waits.
    vault.settle_pending().await.unwrap();
    assert_eq!(
        rv.store.access_records(subject).await.unwrap().len(),
        before
    );

    vault
        .log(rv, vec![(subject.to_string(), sealed)])
        .await
        .unwrap();
    let records = rv.store.access_records(subject).await.unwrap();
    assert_eq!(records.len(), before + 1, "the record is back");
    let back = records.last().unwrap();
    assert_eq!(back.leaf, access.leaf);
    let index = back.idx.expect("and numbered");
    let leaves = vault.ledger().unwrap().leaves(index, index + 1).unwrap();
    assert_eq!(
        Some(leaves[0].to_vec()),
        access.leaf,
        "where the ledger holds it"
    );
    vault.close().await;
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(dir.path(), Regions::embedded()).await;
    let bad = [
        (profile("0901234"), "jp"),
        (
            Profile {
                name: " ".into(),
                ..profile("+819012345678")
            },
            "jp",
        ),
        (
            Profile {
                email: Some("no-at-sign".into()),
                ..profile("+819012345678")
            },
            "jp",
        ),
        (profile("+819012345678"), "xx"),
    ];
    for (p, region) in bad {
        assert!(vault.register("a", region, &p, &operator()).await.is_err());
    }
    assert_eq!(vault.count_in("jp").await.unwrap(), 0);
    vault
        .register("a", "jp", &profile("+819012345678"), &operator())
        .await
        .unwrap();
    let e = vault
        .register("b", "kr", &profile("+81 90-1234-5678"), &operator())
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::PhoneTaken), "{e}");
    assert_eq!(vault.count_in("kr").await.unwrap(), 0);
    let e = vault
        .set_contacts(
            "a",
            "jp",
            &Contacts {
                handles: vec!["Not A Handle".into()],
            },
            &operator(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::InvalidContacts));
    vault.close().await;
}

#[tokio::test]
async fn a_region_key_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let var = format!("KIZUNA_TEST_REGION_KEY_{}", std::process::id());
    let toml = kizuna_config::DEFAULT_TOML.replace(
        "key = { file = \"keys/region-kr.key\" }",
        &format!("key = {{ env = \"{var}\" }}"),
    );
    let regions = Regions::parse(&toml, "test").unwrap();
    // Unset: the region cannot open, and the message names where to look.
    let e = Vault::open(
        regions.clone(),
        &DataDir::new(dir.path()),
        ledger(dir.path()),
    )
    .await
    .err()
    .unwrap();
    assert!(
        e.to_string().contains(&var) && e.to_string().contains("[regions.kr.key]"),
        "{e}"
    );
    std::env::set_var(&var, keys::RegionKeys::generate().render("kr"));
    let vault = open(dir.path(), regions.clone()).await;
    vault
        .register("b", "kr", &profile("+821012345678"), &operator())
        .await
        .unwrap();
    // The node cannot change a variable, so it will not rotate that key.
    assert!(matches!(
        vault.rotate_key("kr", &Quiet).await,
        Err(VaultError::Key { .. })
    ));
    assert_eq!(
        vault.profile("b", "kr", &operator()).await.unwrap().phone,
        "+821012345678"
    );
    vault.close().await;
    std::env::remove_var(&var);
    assert!(!dir.path().join("keys/region-kr.key").exists());
}

#[tokio::test]
async fn reports_and_decisions_move_with_their_person() {
    use kizuna_wire::reports::*;
    let dir = tempfile::tempdir().unwrap();
    let vault = open(dir.path(), Regions::embedded()).await;
    vault
        .register("a", "jp", &profile("+819000000001"), &operator())
        .await
        .unwrap();
    let shown = ShownMessage {
        group_seq: 3,
        sender_handle: "b".into(),
        server_time: 1,
        text: "buy now".into(),
        file: None,
    };
    let body = ReportBody {
        report: FiledReport {
            report_id: "rep-1".into(),
            created_at: 1,
            reason: ReportReason::Spam,
            note: Some("again".into()),
            chat: "00".into(),
            reported_handle: "b".into(),
            messages: vec![shown.clone()],
            state: ReportState::Open,
            outcome: None,
        },
        reported_account: "acct-b".into(),
        reported_region: "kr".into(),
        files: vec![],
    };
    vault
        .file_report("a", "jp", &body, vec![1; 32], &operator())
        .await
        .unwrap();
    // One message, one report.
    assert!(matches!(
        vault
            .file_report("a", "jp", &body, vec![1; 32], &operator())
            .await,
        Err(VaultError::AlreadyReported)
    ));
    let notice = ModerationNotice {
        report_id: "rep-0".into(),
        chat: "00".into(),
        message: shown,
        report_reason: ReportReason::Spam,
        outcome: Outcome {
            action: ModerationAction::Warn,
            reason: "spam".into(),
            decided_at: 2,
            until: None,
            on_appeal: false,
        },
        appeal: None,
    };
    // Two decisions about the same person at once: neither undoes the other.
    let other = ModerationNotice {
        report_id: "rep-9".into(),
        ..notice.clone()
    };
    let op = operator();
    let (x, y) = tokio::join!(
        vault.put_notice("a", "jp", notice.clone(), &op),
        vault.put_notice("a", "jp", other.clone(), &op),
    );
    x.unwrap();
    y.unwrap();
    let mut both = vault.notices("a", "jp", &operator()).await.unwrap();
    both.sort_by(|p, q| p.report_id.cmp(&q.report_id));
    assert_eq!(both, vec![notice.clone(), other.clone()]);

    vault
        .copy_subject("a", "jp", "kr", &operator())
        .await
        .unwrap();
    vault.remove_leftovers("a", "kr").await.unwrap();
    let moved = vault.reports_of("a", "kr", &operator()).await.unwrap();
    assert_eq!(moved, vec![body.report.clone()]);
    assert_eq!(
        vault.notices("a", "kr", &operator()).await.unwrap().len(),
        2
    );
    let q = vault.find_report("rep-1").await.unwrap().unwrap();
    assert_eq!(q.region, "kr");
    assert!(vault
        .report_queue(&["jp".into()], &[ReportState::Open], 10)
        .await
        .unwrap()
        .is_empty());
    vault.close().await;
}

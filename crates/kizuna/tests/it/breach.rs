//! Breach scoping from the ledger end to end: who was read under one
//! organisation's credentials, with drafts for people and regulators, at
//! the scale of a million entries.

use kizuna_wire::staff::Role;
use kizuna_wire::ErrorCode;

use crate::harness::*;
use crate::staff::{ask, member, staffed};

/// What a Japanese regulator report must hold (APPI Art. 26 and its rules).
const APPI_ITEMS: [&str; 12] = [
    "APPI",
    "Preliminary report",
    "Final report",
    "1. Overview of the incident",
    "2. Items of personal data involved",
    "3. Number of persons affected",
    "4. Cause",
    "5. Secondary damage",
    "6. Response to the persons affected",
    "7. Public announcement",
    "8. Measures to prevent recurrence",
    "9. Other matters for reference",
];

/// What a Korean report and notice must hold (PIPA Art. 34).
const PIPA_ITEMS: [&str; 7] = [
    "PIPA",
    "within 72 hours",
    "1. The personal information items leaked",
    "2. When and how",
    "3. What the people affected can do",
    "4. The controller's countermeasures",
    "5. Where to report damage",
];

#[tokio::test]
async fn a_breach_is_scoped_from_the_ledger_with_drafts_for_people_and_regulators() {
    use kizuna_wire::staff::{BreachQuery, OrgKind, Purpose};
    let mut node = Node::start().await;
    let _alice = node.person("alice", "jp").await;
    let _bob = node.person("bob", "kr").await;
    let _carol = node.person("carol", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let mut acme = crate::staff::org("acme", OrgKind::Contractor, "JP", "127.0.0.0/8");
    acme.scope.regions = vec!["jp".into(), "kr".into()];
    acme.scope.fields = vec!["phone".into(), "email".into()];
    acme.scope.purposes = vec!["LEGAL_REQUEST".into()];
    admin.add_org(&acme).await.unwrap();
    let eng = member(&node, &admin, "eng", "acme", vec![Role::Support]).await;
    let sup = member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let mut both = ask("alice", &["phone"], 3600);
    both.subjects.push("bob".into());
    both.purpose = Purpose::LegalRequest;
    let g = eng.request_grant(&both).await.unwrap();
    admin.decide_grant(&g.grant_id, "approve").await.unwrap();
    eng.read("alice").await.unwrap();
    eng.read("alice").await.unwrap();
    eng.read("bob").await.unwrap();
    // Someone else's read is not acme's.
    let g = sup
        .request_grant(&ask("carol", &["email"], 3600))
        .await
        .unwrap();
    admin.decide_grant(&g.grant_id, "approve").await.unwrap();
    sup.read("carol").await.unwrap();

    // Bad questions: each its own error.
    let none = admin
        .breach_scope(&BreachQuery::default())
        .await
        .unwrap_err();
    assert_eq!(none.api_code(), Some(ErrorCode::BadRequest), "{none}");
    let q = |org: &str| BreachQuery {
        org_id: Some(org.into()),
        ..Default::default()
    };
    assert_eq!(
        admin
            .breach_scope(&q("nobody"))
            .await
            .unwrap_err()
            .api_code(),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        eng.breach_scope(&q("acme")).await.unwrap_err().api_code(),
        Some(ErrorCode::Forbidden)
    );

    admin.suspend_org("acme").await.unwrap();
    let scope = admin.breach_scope(&q("acme")).await.unwrap();
    let people: Vec<(&str, &str, Vec<String>, u64)> = scope
        .people
        .iter()
        .map(|p| {
            (
                p.handle.as_str(),
                p.region.as_str(),
                p.fields.clone(),
                p.reads,
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            ("alice", "jp", vec!["phone".to_string()], 2),
            ("bob", "kr", vec!["phone".to_string()], 1)
        ]
    );
    assert_eq!(scope.per_field.get("phone"), Some(&2));
    // A window before the reads holds nobody.
    let before = admin
        .breach_scope(&BreachQuery {
            to: Some(1),
            ..q("acme")
        })
        .await
        .unwrap();
    assert!(before.people.is_empty());
    // One staff member's credentials.
    let one = admin
        .breach_scope(&BreachQuery {
            staff_id: Some("sup".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.people.len(), 1);
    assert_eq!(one.people[0].handle, "carol");

    let drafts = tempfile::tempdir().unwrap();
    let aware = kizuna_wire::parse_utc("2026-11-24T00:00:00Z").unwrap();
    kizuna_console::breach::write_drafts(
        &scope,
        drafts.path(),
        kizuna_console::breach::Awareness {
            at: aware,
            malicious: true,
        },
        |_| {},
    )
    .unwrap();
    let alice = std::fs::read_to_string(drafts.path().join("people/alice.txt")).unwrap();
    for needed in [
        "What was read: phone",
        "acme",
        "was suspended",
        "kizuna me accesses",
    ] {
        assert!(alice.contains(needed), "{needed}: {alice}");
    }
    let jp = std::fs::read_to_string(drafts.path().join("reports/jp.md")).unwrap();
    for needed in APPI_ITEMS.iter().chain(&[
        "by 2026-11-29 00:00:00 UTC",
        "within 60 days",
        "by 2027-01-23 00:00:00 UTC",
        "2. Items of personal data involved: phone",
        "3. Number of persons affected: 1",
    ]) {
        assert!(jp.contains(needed), "{needed}: {jp}");
    }
    let kr = std::fs::read_to_string(drafts.path().join("reports/kr.md")).unwrap();
    for needed in PIPA_ITEMS.iter().chain(&[
        "by 2026-11-27 00:00:00 UTC",
        "1. The personal information items leaked: phone",
    ]) {
        assert!(kr.contains(needed), "{needed}: {kr}");
    }
    assert!(!drafts.path().join("people/carol.txt").exists());
}

/// T6: a million-entry ledger in which one organisation read 50,000 people
/// (and tried, and was refused, on others): the scope lists exactly those
/// people and fields, and the drafts hold every item the law asks for.
#[tokio::test]
async fn t6_a_million_entries_scope_exactly_the_people_one_organisation_read() {
    use kizuna_bench::breach::{generate, Spec, ORG};
    use kizuna_wire::staff::{BreachQuery, OrgKind};
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        entries: 1_000_000,
        affected: 50_000,
        others: 50_000,
    };
    let t = std::time::Instant::now();
    let expected = generate(dir.path(), &spec, &|_| {}).await.unwrap();
    eprintln!("generated in {:?}", t.elapsed());
    assert_eq!(expected.len(), 50_000);
    let mut node = Node::on(dir).await;
    let (admin, _) = staffed(&mut node).await;
    let mut acme = crate::staff::org(ORG, OrgKind::Contractor, "JP", "127.0.0.0/8");
    acme.scope.regions = vec!["jp".into(), "kr".into()];
    admin.add_org(&acme).await.unwrap();
    admin.suspend_org(ORG).await.unwrap();

    let t = std::time::Instant::now();
    let scope = admin
        .breach_scope(&BreachQuery {
            org_id: Some(ORG.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    eprintln!("scoped in {:?}", t.elapsed());
    assert!(scope.ledger_size >= 1_000_000, "{}", scope.ledger_size);
    let got: kizuna_bench::breach::Expected = scope
        .people
        .iter()
        .map(|p| (p.handle.clone(), (p.region.clone(), p.fields.clone())))
        .collect();
    assert!(got == expected, "the scope differs from what acme read");
    assert_eq!(scope.per_field.get("phone"), Some(&50_000));
    assert_eq!(scope.per_field.get("email"), Some(&16_667));
    let per_region: Vec<(String, u64)> = scope
        .regions
        .iter()
        .map(|r| (r.id.clone(), r.affected))
        .collect();
    assert_eq!(
        per_region,
        [("jp".to_string(), 25_000), ("kr".to_string(), 25_000)]
    );

    let drafts = tempfile::tempdir().unwrap();
    let d = kizuna_console::breach::write_drafts(
        &scope,
        drafts.path(),
        kizuna_console::breach::Awareness {
            at: kizuna_wire::now_ms(),
            malicious: false,
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(d.notifications, 50_000);
    assert_eq!(
        std::fs::read_dir(drafts.path().join("people"))
            .unwrap()
            .count(),
        50_000
    );
    let one = std::fs::read_to_string(drafts.path().join("people/g0000003.txt")).unwrap();
    assert!(one.contains("What was read: email, phone"), "{one}");
    let jp = std::fs::read_to_string(drafts.path().join("reports/jp.md")).unwrap();
    for needed in APPI_ITEMS
        .iter()
        .chain(&["within 30 days", "3. Number of persons affected: 25000"])
    {
        assert!(jp.contains(needed), "{needed}: {jp}");
    }
    let kr = std::fs::read_to_string(drafts.path().join("reports/kr.md")).unwrap();
    for needed in PIPA_ITEMS.iter().chain(&["required: 1,000 or more people"]) {
        assert!(kr.contains(needed), "{needed}: {kr}");
    }
}

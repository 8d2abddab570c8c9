//! Moderation end to end: moderators open reports only under a live grant
//! in a declared country, a suspension leaves only reading and appealing
//! it, retention deletes resolved reports on time, and the commands say
//! what went wrong.

use kizuna_client::Client;
use kizuna_console::staff::StaffClient;
use kizuna_wire::reports::*;
use kizuna_wire::staff::*;
use kizuna_wire::ErrorCode;

use crate::harness::*;
use crate::reports::alice_and_bob;
use crate::staff::{member, org, staff_url, staffed};

/// An operator moderator with a live grant over region jp's reports, and
/// the approver who approved it.
async fn moderator(node: &Node, admin: &StaffClient) -> StaffClient {
    let m = member(node, admin, "mod", "operator", vec![Role::Moderator]).await;
    let appr = member(node, admin, "appr", "operator", vec![Role::Approver]).await;
    let g = m.request_grant(&report_grant()).await.unwrap();
    appr.decide_grant(&g.grant_id, "approve").await.unwrap();
    m
}

fn report_grant() -> GrantRequest {
    GrantRequest {
        subjects: Vec::new(),
        fields: vec![REPORTS_FIELD.into()],
        purpose: Purpose::AbuseReportReview,
        ticket: "MOD-1".into(),
        reason: "the abuse report queue".into(),
        duration_secs: 3600,
        break_glass: false,
        regions: vec!["jp".into()],
    }
}

#[tokio::test]
async fn moderators_open_reports_only_under_a_grant_in_a_declared_country() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&node).await;
    alice
        .send(&chat, "please stop writing to me")
        .await
        .unwrap();
    bob.sync().await.unwrap();
    let sent = bob.send(&chat, "you will regret this").await.unwrap();
    alice.sync().await.unwrap();
    let filed = alice
        .report(&chat, sent.seq, ReportReason::Harassment, None, 1)
        .await
        .unwrap();
    let id = filed.report_id.clone();

    // T1: a contractor's moderator in a country region jp does not declare.
    let mut vn = org("vnmod", OrgKind::Contractor, "VN", "127.0.0.0/8");
    vn.scope.purposes = vec!["ABUSE_REPORT_REVIEW".into()];
    vn.scope.fields = vec![REPORTS_FIELD.into()];
    admin.add_org(&vn).await.unwrap();
    let vmod = member(&node, &admin, "vmod", "vnmod", vec![Role::Moderator]).await;
    let e = vmod.request_grant(&report_grant()).await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::Forbidden));
    assert!(e.to_string().contains("not declared"), "{e}");
    assert_eq!(code(vmod.reports(None).await), Some(ErrorCode::Forbidden));
    let e = vmod.report(&id).await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::Forbidden));
    assert!(e.to_string().contains("not declared"), "{e}");
    // A grant over people is not one over reports; nor is a grant's shape
    // bent: reports are granted by region, for ABUSE_REPORT_REVIEW only.
    let mut bent = report_grant();
    bent.purpose = Purpose::LegalRequest;
    assert_eq!(
        code(vmod.request_grant(&bent).await),
        Some(ErrorCode::BadRequest)
    );
    let mut glass = report_grant();
    glass.break_glass = true;
    assert_eq!(
        code(vmod.request_grant(&glass).await),
        Some(ErrorCode::BadRequest)
    );
    // Trying again and again: the fifth refusal within the hour raises an
    // alert and suspends the member.
    for _ in 0..3 {
        assert_eq!(code(vmod.report(&id).await), Some(ErrorCode::Forbidden));
    }
    assert_eq!(code(vmod.report(&id).await), Some(ErrorCode::Unauthorized));
    let alerts = admin.alerts().await.unwrap();
    assert!(alerts.iter().any(|a| a["staff_id"] == "vmod"), "{alerts:?}");

    // An operator moderator: nothing before approval, then the report.
    let m = member(&node, &admin, "mod", "operator", vec![Role::Moderator]).await;
    let appr = member(&node, &admin, "appr", "operator", vec![Role::Approver]).await;
    let g = m.request_grant(&report_grant()).await.unwrap();
    assert_eq!(code(m.report(&id).await), Some(ErrorCode::Forbidden));
    appr.decide_grant(&g.grant_id, "approve").await.unwrap();
    let queue = m.reports(None).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].report_id, id);
    let opened = m.report(&id).await.unwrap();
    assert_eq!(opened.reported_handle, "bob");
    let shown: Vec<(&str, &str)> = opened
        .messages
        .iter()
        .map(|m| (m.sender_handle.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (REPORTER, "please stop writing to me"),
            ("bob", "you will regret this")
        ]
    );
    // The reporter is not named to the moderator, not even by her own
    // message in the context.
    assert!(!serde_json::to_string(&opened).unwrap().contains("alice"));

    // Alice sees the opening, verified on her device against the ledger;
    // bob sees that his reported message was opened.
    let seen = alice.accesses().await.unwrap();
    let opening = seen
        .accesses
        .iter()
        .find(|a| a.entry.record.categories.iter().any(|c| c.contains(&id)))
        .expect("the opening is in alice's ledger entries");
    assert_eq!(opening.entry.staff.as_ref().unwrap().staff_id, "mod");
    assert_eq!(
        opening.entry.staff.as_ref().unwrap().purpose,
        "ABUSE_REPORT_REVIEW"
    );
    let refused = seen
        .accesses
        .iter()
        .filter(|a| !a.entry.record.allowed && a.entry.record.to_country == "VN")
        .count();
    assert!(refused >= 1, "vmod's attempt is recorded for alice");
    let bobs = bob.accesses().await.unwrap();
    assert!(bobs.accesses.iter().any(|a| a
        .entry
        .record
        .categories
        .iter()
        .any(|c| c.contains("your reported message") && c.contains(&id))));

    // A decision: bob may not send for a day, and is told which message
    // and why.
    let bad = m
        .resolve_report(
            &id,
            &ResolveRequest {
                action: ModerationAction::Warn,
                reason: "threats".into(),
                days: Some(3),
            },
        )
        .await;
    assert_eq!(code(bad), Some(ErrorCode::BadRequest));
    let done = m
        .resolve_report(
            &id,
            &ResolveRequest {
                action: ModerationAction::Restrict,
                reason: "a threat against another person".into(),
                days: Some(1),
            },
        )
        .await
        .unwrap();
    assert_eq!(done.state, ReportState::Resolved);
    let notices = bob.moderation().await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].message.text, "you will regret this");
    assert_eq!(notices[0].message.sender_handle, "bob");
    assert_eq!(notices[0].outcome.action, ModerationAction::Restrict);
    assert_eq!(notices[0].outcome.reason, "a threat against another person");
    assert_eq!(
        code(bob.send(&chat, "let me explain").await),
        Some(ErrorCode::SendingRestricted)
    );
    // Nor start a chat, or change one's members.
    assert_eq!(
        code(bob.create_chat(&["alice".into()], None).await),
        Some(ErrorCode::SendingRestricted)
    );
    assert_eq!(
        alice.my_reports().await.unwrap()[0]
            .outcome
            .as_ref()
            .unwrap()
            .action,
        ModerationAction::Restrict
    );
    assert_eq!(
        code(
            m.resolve_report(
                &id,
                &ResolveRequest {
                    action: ModerationAction::None,
                    reason: "again".into(),
                    days: None,
                },
            )
            .await
        ),
        Some(ErrorCode::BadRequest)
    );

    // Bob appeals; the report is back in the queue with his words, and a
    // decision on appeal lifts the restriction.
    assert_eq!(code(bob.appeal(&id, "").await), Some(ErrorCode::BadRequest));
    bob.appeal(&id, "it was a quote from a film").await.unwrap();
    assert_eq!(
        code(bob.appeal(&id, "twice").await),
        Some(ErrorCode::BadRequest)
    );
    let appealed = m.reports(Some("appealed")).await.unwrap();
    assert_eq!(appealed.len(), 1);
    let reopened = m.report(&id).await.unwrap();
    assert_eq!(reopened.state, ReportState::Appealed);
    assert_eq!(
        reopened.appeal.as_ref().unwrap().note,
        "it was a quote from a film"
    );
    m.resolve_report(
        &id,
        &ResolveRequest {
            action: ModerationAction::None,
            reason: "a quote, in context".into(),
            days: None,
        },
    )
    .await
    .unwrap();
    let n = &bob.moderation().await.unwrap()[0];
    assert!(n.outcome.on_appeal);
    assert_eq!(n.outcome.action, ModerationAction::None);
    bob.send(&chat, "thank you").await.unwrap();

    // The restriction and the decisions outlive a restart.
    node.restart().await;
    let mut bob = Client::open(&node.home("bob")).await.unwrap();
    assert_eq!(bob.moderation().await.unwrap().len(), 1);
    bob.send(&chat, "still here").await.unwrap();
}

#[tokio::test]
async fn a_suspension_stops_everything_but_reading_and_appealing_it() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&node).await;
    let sent = bob.send(&chat, "spam spam spam").await.unwrap();
    alice.sync().await.unwrap();
    let id = alice
        .report(&chat, sent.seq, ReportReason::Spam, None, 0)
        .await
        .unwrap()
        .report_id;
    let m = moderator(&node, &admin).await;
    // Bob is connected when the decision comes: his connection ends.
    let mut watcher = Client::open(&node.home("bob")).await.unwrap();
    let watch = watcher.watch(|_| {}, std::future::pending::<()>());
    tokio::pin!(watch);
    let server = node.server.as_ref().unwrap();
    let decide = async {
        while server.live_connections() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        m.resolve_report(
            &id,
            &ResolveRequest {
                action: ModerationAction::Suspend,
                reason: "a spam campaign".into(),
                days: None,
            },
        )
        .await
        .unwrap();
        std::future::pending::<()>().await
    };
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        tokio::select! {
            r = &mut watch => r,
            _ = decide => unreachable!(),
        }
    })
    .await
    .expect("a suspension ends the open connection");
    assert_eq!(code(ended), Some(ErrorCode::Suspended));
    assert_eq!(code(bob.sync().await), Some(ErrorCode::Suspended));
    assert_eq!(
        code(bob.lookup_phone(&phone_for("alice")).await),
        Some(ErrorCode::Suspended)
    );
    // His own data stays his to see and take with him.
    bob.data_map().await.unwrap();
    bob.export().await.unwrap();
    assert_eq!(bob.moderation().await.unwrap().len(), 1);
    bob.appeal(&id, "my account was stolen").await.unwrap();
    // Still suspended until a moderator decides again.
    assert_eq!(code(bob.sync().await), Some(ErrorCode::Suspended));
    // The reporter erases her account, and her report with it: a sanction
    // that rests on it, and could no longer be appealed, is lifted.
    alice.erase_account().await.unwrap();
    bob.sync().await.unwrap();
}

#[tokio::test]
async fn retention_deletes_resolved_reports_on_time() {
    let toml = kizuna_config::DEFAULT_TOML
        .replace("report_retention = \"90d\"", "report_retention = \"3s\"");
    let mut node = Node::with_regions(&toml).await;
    let (admin, _) = staffed(&mut node).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&node).await;
    let first = bob.send(&chat, "first insult").await.unwrap();
    let second = bob.send(&chat, "second insult").await.unwrap();
    let third = bob.send(&chat, "third insult").await.unwrap();
    alice.sync().await.unwrap();
    let resolved = alice
        .report(&chat, first.seq, ReportReason::Harassment, None, 0)
        .await
        .unwrap()
        .report_id;
    let open = alice
        .report(&chat, second.seq, ReportReason::Harassment, None, 0)
        .await
        .unwrap()
        .report_id;
    let sanctioned = alice
        .report(&chat, third.seq, ReportReason::Harassment, None, 0)
        .await
        .unwrap()
        .report_id;
    let m = moderator(&node, &admin).await;
    m.resolve_report(
        &sanctioned,
        &ResolveRequest {
            action: ModerationAction::Restrict,
            reason: "insults, again".into(),
            days: None,
        },
    )
    .await
    .unwrap();
    let at = std::time::Instant::now();
    m.resolve_report(
        &resolved,
        &ResolveRequest {
            action: ModerationAction::Warn,
            reason: "insults".into(),
            days: None,
        },
    )
    .await
    .unwrap();
    let ids =
        |rs: Vec<FiledReport>| -> Vec<String> { rs.into_iter().map(|r| r.report_id).collect() };
    // Kept for its retention period...
    assert!(ids(alice.my_reports().await.unwrap()).contains(&resolved));
    // ...and deleted soon after it; the open one stays.
    loop {
        let now = ids(alice.my_reports().await.unwrap());
        if !now.contains(&resolved) {
            assert!(at.elapsed() >= std::time::Duration::from_millis(2900));
            assert!(now.contains(&open));
            // Kept while the restriction it set is in force.
            assert!(now.contains(&sanctioned));
            break;
        }
        assert!(
            at.elapsed() < std::time::Duration::from_secs(30),
            "the resolved report was not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(m.report(&resolved).await.is_err());
    // The deletion is recorded for alice, in the ledger.
    let seen = alice.accesses().await.unwrap();
    assert!(seen
        .accesses
        .iter()
        .any(|a| a.entry.record.action == "erase"
            && a.entry
                .record
                .categories
                .iter()
                .any(|c| c.contains(&resolved))));
    // Bob keeps the decisions about his messages.
    assert_eq!(bob.moderation().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_commands_report_list_and_say_what_went_wrong() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&node).await;
    let sent = bob.send(&chat, "cheap watches here").await.unwrap();
    alice.sync().await.unwrap();
    let home = node.home("alice").display().to_string();
    let seq = sent.seq.to_string();

    let out = run(args(&[
        "report", "--home", &home, &chat, &seq, "--reason", "spam", "--note", "a bot", "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let filed: ReportFiled = serde_json::from_slice(&out.stdout).unwrap();

    // Again: the server refuses (exit 4) and says why.
    let out = run(args(&[
        "report", "--home", &home, &chat, &seq, "--reason", "spam",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already reported"));
    // A message this device does not have, and a reason that is not one.
    let out = run(args(&[
        "report", "--home", &home, &chat, "999", "--reason", "spam",
    ]))
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no message 999"));
    let out = run(args(&[
        "report", "--home", &home, &chat, &seq, "--reason", "rude",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));

    let out = run(args(&["me", "--home", &home, "reports"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&filed.report_id) && text.contains("spam (open)"),
        "{text}"
    );
    let out = run(args(&["me", "--home", &home, "data-map"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Abuse reports you filed"), "{text}");
    assert!(text.contains(&filed.report_id), "{text}");
    let out = run(args(&[
        "me",
        "--home",
        &node.home("bob").display().to_string(),
        "moderation",
    ]))
    .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("no moderator has decided"));

    // A moderator's side, by command: log in, ask for the queue of region
    // jp, and once someone else approved, list, open and decide.
    let creds = admin
        .add_member(&NewStaffMember {
            staff_id: "mod".into(),
            org_id: "operator".into(),
            roles: vec![Role::Moderator],
        })
        .await
        .unwrap();
    let appr = member(&node, &admin, "appr", "operator", vec![Role::Approver]).await;
    let staff_home = node.home("staff-cli").display().to_string();
    let staff = |parts: &[&str]| {
        let mut v = args(&["staff", "--staff-home", &staff_home]);
        v.extend(args(parts));
        v
    };
    let login = tokio::task::spawn_blocking({
        let mut a = staff(&["login", "--server", &staff_url(&node), "--staff-id", "mod"]);
        a.extend(args(&[
            "--totp",
            &kizuna_staff::totp_now(&creds.totp_secret).unwrap(),
        ]));
        let password = creds.password.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
                .args(&a)
                .env("KIZUNA_STAFF_PASSWORD", password)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let out = run(staff(&[
        "request",
        "--fields",
        "reports",
        "--region",
        "jp",
        "--purpose",
        "ABUSE_REPORT_REVIEW",
        "--ticket",
        "MOD-7",
        "--for",
        "1h",
        "--reason",
        "the queue",
        "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grant: Grant = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(grant.regions, ["jp"]);
    let out = run(staff(&["reports", "list"])).await;
    assert_eq!(out.status.code(), Some(4), "not before approval");
    appr.decide_grant(&grant.grant_id, "approve").await.unwrap();
    let out = run(staff(&["reports", "list"])).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains(&filed.report_id));
    let out = run(staff(&["reports", "show", &filed.report_id])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cheap watches here") && text.contains("a bot"),
        "{text}"
    );
    let out = run(staff(&[
        "reports",
        "resolve",
        &filed.report_id,
        "--action",
        "restrict",
        "--days",
        "2",
        "--reason",
        "selling watches",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(args(&[
        "me",
        "--home",
        &node.home("bob").display().to_string(),
        "moderation",
    ]))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("restrict until") && text.contains("selling watches"),
        "{text}"
    );
}

#[tokio::test]
async fn a_reported_file_opens_for_the_moderator_only_as_it_was_sent() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&node).await;
    let dir = tempfile::tempdir().unwrap();
    // Across two parts of the transfer, so chunks straddle them.
    let mut plain = vec![0u8; 1024 * 1024 + 70_000];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut plain);
    let path = dir.path().join("flyer.bin");
    std::fs::write(&path, &plain).unwrap();
    let sent = bob
        .send_file(&chat, &path, Some("look"), false, &mut |_, _| {})
        .await
        .unwrap();
    alice.sync().await.unwrap();
    let id = alice
        .report(&chat, sent.seq, ReportReason::Illegal, None, 0)
        .await
        .unwrap()
        .report_id;
    // No grant, no file.
    let outsider = member(&node, &admin, "nogrant", "operator", vec![Role::Moderator]).await;
    let e = outsider
        .save_report_file(&id, sent.seq, &dir.path().join("x"))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::Forbidden), "{e}");
    assert!(!dir.path().join("x").exists());

    let m = moderator(&node, &admin).await;
    let opened = m.report(&id).await.unwrap();
    let shown = opened.messages[0].file.clone().unwrap();
    assert_eq!(
        (shown.file_name.as_str(), shown.size),
        ("flyer.bin", plain.len() as u64)
    );
    // The report never shows the file's key.
    let raw = serde_json::to_string(&opened).unwrap();
    assert!(!raw.contains("\"key\""), "{raw}");
    let out = dir.path().join("evidence.bin");
    let size = m.save_report_file(&id, sent.seq, &out).await.unwrap();
    assert_eq!(size, plain.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), plain);
    // A message without a file has none to open.
    let e = m
        .save_report_file(&id, sent.seq + 1, &dir.path().join("y"))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::NotFound), "{e}");
    // Recorded: an event of its own, and the opening for both people.
    let events = admin.events().await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "report_file_opened" && e["detail"]["report"] == id.as_str()),
        "{events:?}"
    );
    for p in [&mut alice, &mut bob] {
        let seen = p.accesses().await.unwrap();
        assert!(
            seen.accesses
                .iter()
                .any(|a| a.entry.record.requester.contains("staff member mod")),
            "{:?}",
            seen.accesses
        );
    }

    // By command, as the moderator: the report says how to open the file,
    // and the command saves it under the given name.
    let staff_home = node.home("staff-mod").display().to_string();
    let staff = |parts: &[&str]| {
        let mut v = args(&["staff", "--staff-home", &staff_home]);
        v.extend(args(parts));
        v
    };
    let out = run(staff(&["reports", "show", &id])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let hint = format!("kizuna staff reports file {id} {}", sent.seq);
    assert!(text.contains(&hint) && text.contains("flyer.bin"), "{text}");
    let by_command = dir.path().join("by-command.bin");
    let out = run(staff(&[
        "reports",
        "file",
        &id,
        &sent.seq.to_string(),
        "--out",
        &by_command.display().to_string(),
        "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["size"], plain.len() as u64);
    assert_eq!(std::fs::read(&by_command).unwrap(), plain);

    // Bytes altered in the node's store are not passed off as the file.
    // Past its first part, the transfer breaks off and nothing is kept.
    let mut parts = files(&node.data_dir().join("files/jp"));
    parts.sort();
    assert_eq!(parts.len(), 2, "{parts:?}");
    let alter = |part: &std::path::Path| {
        let mut sealed = std::fs::read(part).unwrap();
        sealed[100] ^= 1;
        std::fs::write(part, &sealed).unwrap();
    };
    alter(&parts[1]);
    let bad = dir.path().join("altered.bin");
    let e = m.save_report_file(&id, sent.seq, &bad).await.unwrap_err();
    assert!(e.to_string().contains("nothing was kept"), "{e}");
    assert!(!bad.exists());
    assert!(!bad.with_extension("part").exists());
    // In its first part, the node refuses before answering anything.
    alter(&parts[1]);
    alter(&parts[0]);
    let e = m.save_report_file(&id, sent.seq, &bad).await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::FileAltered), "{e}");
    assert!(e.to_string().contains("nothing of it was sent"), "{e}");
    assert!(!bad.exists());
    assert!(!bad.with_extension("part").exists());
}

#[tokio::test]
async fn a_reported_file_outlives_its_retention_only_while_its_report_is_kept() {
    let toml = kizuna_config::DEFAULT_TOML
        .replace("report_retention = \"90d\"", "report_retention = \"3s\"")
        .replace("retention = \"365d\"", "retention = \"2s\"");
    let mut node = Node::with_regions(&toml).await;
    let (admin, _) = staffed(&mut node).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&node).await;
    let dir = tempfile::tempdir().unwrap();
    let mut sent = Vec::new();
    for name in ["reported.bin", "other.bin"] {
        let path = dir.path().join(name);
        std::fs::write(&path, name.repeat(1000)).unwrap();
        sent.push(
            bob.send_file(&chat, &path, None, false, &mut |_, _| {})
                .await
                .unwrap(),
        );
    }
    alice.sync().await.unwrap();
    let id = alice
        .report(&chat, sent[0].seq, ReportReason::Spam, None, 0)
        .await
        .unwrap()
        .report_id;
    let kept = node.data_dir().join("files/jp");
    let held_dir = |f: &kizuna_client::StoredMessage| {
        let fid = &f.file.as_ref().unwrap().file_id;
        kept.join(&fid[..2]).join(fid)
    };
    // The other file goes when its retention ends; the reported one stays,
    // and the moderator can still open it.
    let at = std::time::Instant::now();
    while held_dir(&sent[1]).exists() {
        assert!(
            at.elapsed() < std::time::Duration::from_secs(30),
            "not swept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(held_dir(&sent[0]).exists(), "the reported file was deleted");
    let m = moderator(&node, &admin).await;
    let out = dir.path().join("evidence.bin");
    m.save_report_file(&id, sent[0].seq, &out).await.unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        "reported.bin".repeat(1000).as_bytes()
    );

    // Decided, the report is deleted after its own retention, and the file
    // with it.
    m.resolve_report(
        &id,
        &ResolveRequest {
            action: ModerationAction::Warn,
            reason: "spam".into(),
            days: None,
        },
    )
    .await
    .unwrap();
    let at = std::time::Instant::now();
    while held_dir(&sent[0]).exists() {
        assert!(
            at.elapsed() < std::time::Duration::from_secs(30),
            "the reported file outlived its report"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(m.report(&id).await.is_err(), "the report is still kept");
}

//! Abuse reports: franked messages revealed by their recipient and checked
//! by the node, kept sealed in the reporter's region, opened by moderators
//! only under a live grant in a declared country, decided, appealed, and
//! deleted when their retention ends.

use kizuna_client::Client;
use kizuna_wire::reports::*;
use kizuna_wire::{Bytes, ErrorCode};

use crate::harness::*;

/// The message of `chat` numbered `seq` as its recipient would reveal it.
async fn revealed(c: &Client, chat: &str, seq: u64) -> RevealedMessage {
    let m = c
        .history(chat)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.seq == seq)
        .unwrap();
    let p = m.proof.expect("a franked message");
    RevealedMessage {
        group_seq: m.seq,
        sender_handle: m.sender,
        server_time: m.server_time,
        body: p.body,
        franking_key: Bytes(p.key.to_vec()),
        commitment: Bytes(p.commitment.to_vec()),
        binding: Bytes(p.binding.to_vec()),
    }
}

fn request(chat: &str, m: RevealedMessage) -> ReportRequest {
    ReportRequest {
        group_id: Bytes(hex::decode(chat).unwrap()),
        reason: ReportReason::Harassment,
        note: None,
        messages: vec![m],
    }
}

/// Alice and bob of region jp, in a chat alice made, both up to date.
pub(crate) async fn alice_and_bob(node: &Node) -> (Client, Client, String) {
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    (alice, bob, chat)
}

fn body(text: &str) -> String {
    serde_json::to_string(&kizuna_wire::ChatContent::Text {
        text: text.into(),
        name: None,
    })
    .unwrap()
}

#[tokio::test]
async fn a_genuine_report_verifies_and_forgeries_are_refused_and_recorded() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "kr").await;
    let with_bob = alice.create_chat(&["bob".into()], None).await.unwrap();
    let with_carol = alice.create_chat(&["carol".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    bob.send(&with_bob, "good morning").await.unwrap();
    let pills = bob.send(&with_bob, "buy my pills now").await.unwrap();
    bob.send(&with_bob, "an unreported secret 7431")
        .await
        .unwrap();
    let hello = carol.send(&with_carol, "hello from carol").await.unwrap();
    alice.sync().await.unwrap();

    // Forgeries first: each refused, nothing kept.
    let genuine = revealed(&alice, &with_bob, pills.seq).await;
    let altered = RevealedMessage {
        body: body("buy my pills now, or else"),
        ..genuine.clone()
    };
    let e = alice
        .send_report(&request(&with_bob, altered))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::ReportNotVerified), "{e}");
    assert!(e.to_string().contains("altered"), "{e}");
    let other_sender = RevealedMessage {
        sender_handle: "carol".into(),
        ..genuine.clone()
    };
    assert_eq!(
        code(alice.send_report(&request(&with_bob, other_sender)).await),
        Some(ErrorCode::ReportNotVerified)
    );
    // Carol's message, claimed to have been sent in the chat with bob.
    let elsewhere = revealed(&alice, &with_carol, hello.seq).await;
    assert_eq!(
        code(alice.send_report(&request(&with_bob, elsewhere)).await),
        Some(ErrorCode::ReportNotVerified)
    );
    // Words bob never sent, committed afresh, with a real binding of his.
    let text = body("bob never said this");
    let (key, commitment) =
        kizuna_franking::commit(text.as_bytes(), &hex::decode(&with_bob).unwrap(), "bob");
    let replayed = RevealedMessage {
        body: text,
        franking_key: Bytes(key.0.to_vec()),
        commitment: Bytes(commitment.0.to_vec()),
        ..genuine.clone()
    };
    let e = alice
        .send_report(&request(&with_bob, replayed))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::ReportNotVerified), "{e}");
    assert!(e.to_string().contains("not accepted"), "{e}");
    assert!(alice.my_reports().await.unwrap().is_empty());

    // Bad shapes are typed errors too.
    let mut short = request(&with_bob, genuine.clone());
    short.messages[0].binding = Bytes(vec![1; 5]);
    assert_eq!(
        code(alice.send_report(&short).await),
        Some(ErrorCode::BadRequest)
    );
    assert!(alice
        .report(&with_bob, 999, ReportReason::Spam, None, 0)
        .await
        .is_err());

    // The genuine one, with the message before it as context.
    let filed = alice
        .report(
            &with_bob,
            pills.seq,
            ReportReason::Spam,
            Some("keeps selling"),
            1,
        )
        .await
        .unwrap();
    assert_eq!(filed.region, "jp");
    assert_eq!(filed.messages, 2);
    assert_eq!(
        code(
            alice
                .report(&with_bob, pills.seq, ReportReason::Spam, None, 0)
                .await
        ),
        Some(ErrorCode::AlreadyReported)
    );

    // Nor does renumbering the same message make it another one.
    let renumbered = RevealedMessage {
        group_seq: 999,
        ..genuine.clone()
    };
    assert_eq!(
        code(alice.send_report(&request(&with_bob, renumbered)).await),
        Some(ErrorCode::AlreadyReported)
    );

    let mine = alice.my_reports().await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].reported_handle, "bob");
    let texts: Vec<&str> = mine[0].messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["good morning", "buy my pills now"]);
    let map = alice.data_map().await.unwrap();
    assert!(map
        .categories
        .iter()
        .any(|c| c.category == "reports" && c.region == "jp"));
    assert_eq!(map.reports.len(), 1);
    assert_eq!(map.reports[0].report_id, filed.report_id);
    // Each refused attempt is in alice's own records.
    let refused: Vec<_> = map
        .transfers
        .iter()
        .filter(|t| t.action == "report" && !t.allowed)
        .collect();
    assert_eq!(refused.len(), 4, "{:?}", map.transfers);
    // Each refusal is recorded, so a device may not send them without end:
    // past ten in an hour they are refused unrecorded.
    for i in 0..6 {
        let forged = RevealedMessage {
            body: body(&format!("forgery {i}")),
            ..genuine.clone()
        };
        assert_eq!(
            code(alice.send_report(&request(&with_bob, forged)).await),
            Some(ErrorCode::ReportNotVerified)
        );
    }
    let one_more = RevealedMessage {
        body: body("one forgery too many"),
        ..genuine.clone()
    };
    assert_eq!(
        code(alice.send_report(&request(&with_bob, one_more)).await),
        Some(ErrorCode::RateLimited)
    );
    let refused = alice
        .data_map()
        .await
        .unwrap()
        .transfers
        .iter()
        .filter(|t| t.action == "report" && !t.allowed)
        .count();
    assert_eq!(refused, 10);
    let export = alice.export().await.unwrap();
    assert_eq!(export.reports.len(), 1);
    assert_eq!(export.reports[0].note.as_deref(), Some("keeps selling"));

    // The node's files hold neither the reported text (sealed) nor any
    // message nobody reported.
    let mut node = node;
    node.stop().await;
    for f in files(node.data_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        for secret in [
            "an unreported secret 7431",
            "hello from carol",
            "buy my pills now",
        ] {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{secret} in {}",
                f.display()
            );
        }
    }
}

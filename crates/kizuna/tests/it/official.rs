//! Official accounts as an organisation, the operator's staff and a
//! resident use them, by command: the city applies with a claim its device
//! signs, two of the operator's people verify it (one alone cannot), the
//! resident's device checks the badge in the key log, a revocation shows
//! at the next look, and a badge altered on the node's disk is refused.

use kizuna_wire::staff::Role;

use crate::harness::*;
use crate::staff::{member, staffed};

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_city_is_verified_by_two_people_and_its_badge_is_checked_on_the_device() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let city = node.person("city.shibuya", "jp").await;
    city.close().await;
    let alice = node.person("alice", "jp").await;
    alice.close().await;
    let homes = node.home("").to_path_buf();
    let home = |who: &str| homes.join(who).display().to_string();
    let show = |who: &str| {
        args(&[
            "official",
            "show",
            "city.shibuya",
            "--json",
            "--home",
            &home(who),
        ])
    };

    // The city applies from its own device.
    let mut apply = args(&[
        "official",
        "apply",
        "--home",
        &home("city.shibuya"),
        "--json",
    ]);
    apply.extend(args(&[
        "--organisation",
        "Shibuya City",
        "--kind",
        "municipality",
        "--country",
        "jp",
        "--area",
        "Shibuya, Tokyo",
        "--keeps-data",
        "the city's own servers in its Tokyo data centre",
        "--keeps-data-country",
        "JP",
        "--contact",
        "privacy@city.shibuya.example.jp",
    ]));
    let app = json_of(&run(apply.clone()).await);
    let id = app["application_id"].as_str().unwrap().to_string();
    assert_eq!(app["state"], "submitted");
    // One application waits at a time; a made-up kind is a usage error.
    assert_eq!(run(apply.clone()).await.status.code(), Some(4));
    let mut bad = apply.clone();
    let k = bad.iter().position(|a| a == "municipality").unwrap();
    bad[k] = "embassy".into();
    assert_eq!(run(bad).await.status.code(), Some(2));

    let standing = json_of(&run(show("alice")).await);
    assert!(standing["official"].is_null(), "{standing}");

    // Two of the operator's people: the one who checked the evidence
    // cannot approve it too.
    member(
        &node,
        &admin,
        "both",
        "operator",
        vec![Role::Support, Role::Approver],
    )
    .await;
    member(&node, &admin, "apr", "operator", vec![Role::Approver]).await;
    let staff = |who: &str, parts: &[&str]| {
        let mut v = args(&[
            "staff",
            "--json",
            "--staff-home",
            &home(&format!("staff-{who}")),
            "official",
        ]);
        v.extend(args(parts));
        v
    };
    let proposed = json_of(
        &run(staff(
            "both",
            &[
                "propose",
                &id,
                "--evidence",
                "registry extract 2026-114; called the number the city publishes",
                "--ticket",
                "OA-1",
            ],
        ))
        .await,
    );
    assert_eq!(proposed["application"]["state"], "proposed");
    let alone = run(staff("both", &["approve", &id])).await;
    assert_eq!(alone.status.code(), Some(4), "{alone:?}");
    assert!(
        String::from_utf8_lossy(&alone.stdout).contains("a second person"),
        "{alone:?}"
    );
    let verified = json_of(&run(staff("apr", &["approve", &id])).await);
    assert_eq!(verified["application"]["state"], "verified");
    let entry = verified["application"]["key_entry"].as_u64().unwrap();

    // The resident's device checks the badge itself.
    let standing = json_of(&run(show("alice")).await);
    assert_eq!(
        standing["official"]["claim"]["organisation"], "Shibuya City",
        "{standing}"
    );
    assert_eq!(standing["official"]["index"], entry);
    let text = run(args(&[
        "official",
        "show",
        "city.shibuya",
        "--home",
        &home("alice"),
    ]))
    .await;
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(said.contains("OFFICIAL ACCOUNT of Shibuya City"), "{said}");
    assert!(said.contains("its Tokyo data centre"), "{said}");
    let status = json_of(
        &run(args(&[
            "official",
            "status",
            "--json",
            "--home",
            &home("city.shibuya"),
        ]))
        .await,
    );
    assert_eq!(status[0]["state"], "verified");

    // Revoked: the very next look shows it, with the reason.
    json_of(
        &run(staff(
            "apr",
            &["revoke", "city.shibuya", "--reason", "the city asked us to"],
        ))
        .await,
    );
    let standing = json_of(&run(show("alice")).await);
    assert!(standing["official"].is_null(), "{standing}");
    assert_eq!(standing["revoked"]["reason"], "the city asked us to");

    // Verified again, then someone with the node's disk changes what the
    // badge says: the device refuses it, loudly.
    let again = json_of(&run(apply).await);
    let id = again["application_id"].as_str().unwrap().to_string();
    json_of(
        &run(staff(
            "both",
            &[
                "propose",
                &id,
                "--evidence",
                "re-checked",
                "--ticket",
                "OA-2",
            ],
        ))
        .await,
    );
    json_of(&run(staff("apr", &["approve", &id])).await);
    json_of(&run(show("alice")).await);
    let addr = node.stop().await;
    let altered = run_sql(
        &node.data_dir().join("node.sqlite"),
        "UPDATE key_log SET entry = CAST(replace(CAST(entry AS TEXT), 'Shibuya City', 'Minato City!') AS BLOB) \
         WHERE handle = 'city.shibuya' AND CAST(entry AS TEXT) LIKE '%\"verified\"%'",
    )
    .await;
    assert_eq!(altered, 2);
    node.start_again(addr).await;
    let out = run(show("alice")).await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
}

/// A city verified through the API, as the first test does by command.
pub(crate) async fn verified_city(node: &mut Node) -> kizuna_client::Client {
    let (admin, _) = staffed(node).await;
    let mut city = node.person("city.shibuya", "jp").await;
    let app = city
        .apply_official(kizuna_client::OfficialDetails {
            organisation: "Shibuya City".into(),
            kind: kizuna_wire::OfficialKind::Municipality,
            country: "JP".into(),
            area: Some("Shibuya, Tokyo".into()),
            keeps_data: "the city's own servers in its Tokyo data centre".into(),
            keeps_data_country: "JP".into(),
            contact: "privacy@city.shibuya.example.jp".into(),
        })
        .await
        .unwrap();
    let sup = member(node, &admin, "sup", "operator", vec![Role::Support]).await;
    let apr = member(node, &admin, "apr", "operator", vec![Role::Approver]).await;
    sup.propose_official(
        &app.application_id,
        &kizuna_wire::staff::VerificationProposal {
            evidence: "registry extract".into(),
            ticket: "OA-1".into(),
        },
    )
    .await
    .unwrap();
    apr.approve_official(&app.application_id).await.unwrap();
    city
}

#[tokio::test]
async fn a_resident_follows_the_city_books_with_a_button_and_unfollows_asking_for_erasure() {
    use kizuna_wire::{Choice, FollowerRequest, Structured};
    let mut node = Node::start().await;
    let mut city = verified_city(&mut node).await;
    let mut bob = node.person("bob", "jp").await;
    let alice_home = node.home("alice").display().to_string();
    node.person("alice", "jp").await.close().await;
    let cli = |parts: &[&str]| {
        let mut v = args(parts);
        v.extend(args(&["--home", &alice_home]));
        v
    };

    // Only a verified account is followed.
    let e = bob.follow("alice").await.unwrap_err();
    assert!(e.to_string().contains("not an official account"), "{e}");
    bob.close().await;

    let followed = json_of(&run(cli(&["official", "follow", "city.shibuya", "--json"])).await);
    let chat = followed["chat"].as_str().unwrap().to_string();
    assert_eq!(followed["claim"]["organisation"], "Shibuya City");

    // The city's device takes the chat (a request, unless alice is one of
    // its contacts) and offers slots as buttons.
    city.sync().await.unwrap();
    match city.accept_chat(&chat).await {
        Ok(_) | Err(kizuna_client::ClientError::Unchanged(_)) => {}
        Err(e) => panic!("{e}"),
    }
    let card = city
        .send_structured(
            &chat,
            "Choose a vaccination slot",
            Structured::Card {
                buttons: vec![
                    Choice {
                        id: "slot-1".into(),
                        label: "Mon 10:00".into(),
                    },
                    Choice {
                        id: "slot-2".into(),
                        label: "Tue 14:30".into(),
                    },
                ],
                fields: Vec::new(),
            },
        )
        .await
        .unwrap();
    let synced = run(cli(&["sync"])).await;
    let said = String::from_utf8_lossy(&synced.stdout);
    assert!(said.contains("[slot-2] Tue 14:30"), "{said}");
    assert!(said.contains("kizuna answer"), "{said}");

    // A button the card does not have is refused, sending nothing.
    let seq = card.seq.to_string();
    let wrong = run(cli(&["answer", &chat, &seq, "--choice", "slot-9"])).await;
    assert!(!wrong.status.success(), "{wrong:?}");
    let answered = json_of(
        &run(cli(&[
            "answer", &chat, &seq, "--choice", "slot-2", "--json",
        ]))
        .await,
    );
    assert_eq!(answered["text"], "Tue 14:30");
    let secret = "my insurance number is 8841-2291";
    json_of(&run(cli(&["send", &chat, secret, "--json"])).await);
    let got = city.sync().await.unwrap();
    let ms = messages(&got);
    assert_eq!(
        ms[0].structured.as_deref(),
        Some(&Structured::Answer {
            to: card.seq,
            choice: Some("slot-2".into()),
            values: Default::default()
        })
    );
    assert_eq!(ms[1].text, secret);

    // The data map names whom alice follows, who runs it and where it
    // keeps what she sends; the operator's files hold none of it.
    let map = json_of(&run(cli(&["me", "data-map", "--json"])).await);
    assert_eq!(map["follows"][0]["handle"], "city.shibuya");
    assert_eq!(
        map["follows"][0]["claim"]["keeps_data"],
        "the city's own servers in its Tokyo data centre"
    );
    for f in files(node.data_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        for s in [secret, "Tue 14:30", "slot-2"] {
            assert!(!contains(&bytes, s.as_bytes()), "{s} in {}", f.display());
        }
    }

    // Unfollowing with an erasure request: the city's device receives the
    // request; alice follows nothing and has left the chat.
    let gone = json_of(
        &run(cli(&[
            "official",
            "unfollow",
            "city.shibuya",
            "--erase",
            "--json",
        ]))
        .await,
    );
    assert_eq!(gone["erasure_requested"], true);
    let got = city.sync().await.unwrap();
    assert!(
        messages(&got).iter().any(
            |m| m.structured.as_deref() == Some(&Structured::Request(FollowerRequest::Erasure))
        ),
        "{got:?}"
    );
    let follows = json_of(&run(cli(&["official", "follows", "--json"])).await);
    assert_eq!(follows, serde_json::json!([]));
    let again = run(cli(&["official", "unfollow", "city.shibuya"])).await;
    assert_eq!(again.status.code(), Some(8), "{again:?}");
    city.close().await;
}

#[tokio::test]
async fn unfollowing_leaves_only_a_chat_that_holds_the_person_and_the_account_alone() {
    let mut node = Node::start().await;
    let city = verified_city(&mut node).await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    // A family chat the city is also in, which the node names as the chat
    // alice follows the city through.
    let family = alice
        .create_chat(&["bob".into(), "city.shibuya".into()], Some("family"))
        .await
        .unwrap();
    let token = alice.bearer_token().await.unwrap();
    let name_chat = |chat: &str| {
        reqwest::Client::new()
            .put(format!("{}/v1/official/city.shibuya/follow", node.url))
            .bearer_auth(&token)
            .json(
                &serde_json::json!({ "group_id": kizuna_wire::Bytes(hex::decode(chat).unwrap()) }),
            )
            .send()
    };
    assert_eq!(name_chat(&family).await.unwrap().status(), 200);
    assert!(!alice.only_with(&family, "city.shibuya").await);

    // Asking for erasure there is refused, sending nothing; unfollowing
    // ends the follow and leaves the family chat alone.
    let e = alice.unfollow("city.shibuya", true).await.unwrap_err();
    assert!(e.to_string().contains("holds others too"), "{e}");
    alice.unfollow("city.shibuya", false).await.unwrap();
    assert!(alice.follows().await.unwrap().is_empty());
    alice.send(&family, "still here").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["still here"]);

    // A chat where alice is alone is not the city's either.
    let lone = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.remove_member(&lone, "bob").await.unwrap();
    assert!(!alice.only_with(&lone, "city.shibuya").await);
    // Following again opens a chat of the city's own, which is.
    let (chat, _) = alice.follow("city.shibuya").await.unwrap();
    assert!(chat != family && chat != lone);
    assert!(alice.only_with(&chat, "city.shibuya").await);
    alice.close().await;
    bob.close().await;
    city.close().await;
}

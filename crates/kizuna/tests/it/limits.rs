use kizuna_server::Limits;
use kizuna_wire::ErrorCode;

use crate::harness::*;

#[tokio::test]
async fn group_size_is_limited() {
    let node = Node::with_limits(Limits {
        max_group_devices: 3,
        ..Limits::default()
    })
    .await;
    let mut alice = node.person("alice", "jp").await;
    for h in ["bob", "carol", "dave"] {
        node.person(h, "jp").await;
    }
    let chat = alice
        .create_chat(&["bob".into(), "carol".into()], None)
        .await
        .unwrap();
    let err = alice.add_member(&chat, "dave").await.unwrap_err();
    assert_eq!(err.api_code(), Some(ErrorCode::GroupTooLarge), "{err}");
    // The refused commit changed nothing: the group still works.
    alice.send(&chat, "three of us").await.unwrap();
    assert_eq!(alice.members(&chat).await.unwrap().len(), 3);
}

#[tokio::test]
async fn requests_per_device_are_rate_limited() {
    let node = Node::with_limits(Limits {
        requests_per_second: 1,
        request_burst: 5,
        ..Limits::default()
    })
    .await;
    let mut alice = node.person("alice", "jp").await;
    let token = alice.bearer_token().await.unwrap();
    let mut codes = Vec::new();
    for _ in 0..12 {
        let r = node
            .http()
            .get(format!("{}/v1/devices/me/key-packages", node.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
    }
    assert!(codes.contains(&429), "{codes:?}");
}

#[tokio::test]
async fn phone_lookup_reveals_only_a_handle_and_is_rate_limited() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    node.register("bob", "jp", "+819011112222").await;
    let token = alice.bearer_token().await.unwrap();
    let r = node
        .http()
        .post(format!("{}/v1/lookup/phone", node.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"phone": "+81 90-1111-2222"}))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert_eq!(body, r#"{"handle":"bob"}"#);
    // The profile of another person is not reachable at all.
    let r = node
        .http()
        .get(format!("{}/v1/accounts/bob", node.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !r.contains("1111") && !r.contains("example.jp") && !r.contains("Person"),
        "{r}"
    );
    let mut refused = None;
    for _ in 0..node.limits.phone_lookups_per_minute + 1 {
        if let Err(e) = alice.lookup_phone("+819099998888").await {
            refused = e.api_code();
        }
    }
    assert_eq!(refused, Some(ErrorCode::RateLimited));
}

#[tokio::test]
async fn key_packages_are_consumed_then_last_resort_and_replenished() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let token = alice.bearer_token().await.unwrap();
    let bob_token = bob.bearer_token().await.unwrap();
    let http = node.http();
    let status = |t: String| {
        let http = http.clone();
        let url = node.url.clone();
        async move {
            http.get(format!("{url}/v1/devices/me/key-packages"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .json::<kizuna_wire::KeyPackageStatus>()
                .await
                .unwrap()
        }
    };
    let start = status(bob_token.clone()).await;
    assert!(start.has_last_resort && !start.low);
    let mut claimed = std::collections::HashSet::new();
    for _ in 0..start.remaining + 3 {
        let r: kizuna_wire::ClaimResponse = http
            .post(format!("{}/v1/key-packages/claim", node.url))
            .bearer_auth(&token)
            .json(&serde_json::json!({"handles": ["bob"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        claimed.insert(r.key_packages[0].key_package.0.clone());
    }
    // Each one-time package was handed out once; then the same last-resort one.
    assert_eq!(claimed.len() as u32, start.remaining + 1);
    let empty = status(bob_token.clone()).await;
    assert_eq!(empty.remaining, 0);
    assert!(empty.low && empty.has_last_resort);
    // Bob is told on sync and uploads more.
    bob.sync().await.unwrap();
    let after = status(bob_token).await;
    assert!(!after.low, "{after:?}");
    // A chat can still be made with Bob, from the fresh packages.
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.send(&chat, "fresh").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["fresh"]);
}

#[tokio::test]
async fn key_packages_per_device_are_limited() {
    let node = Node::with_limits(Limits {
        max_key_packages: 10,
        ..Limits::default()
    })
    .await;
    let err = kizuna_client::Client::register(
        &node.home("alice"),
        &node.url,
        kizuna_client::RegisterOptions {
            handle: "alice",
            name: "Alice",
            phone: "+819012345678",
            phone_code: &node.phone_code("+819012345678", "jp").await,
            email: None,
            region: "jp",
            device_label: "t",
            agreed_disclosures: Some(&node.agreed("jp").await),
        },
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.api_code(), Some(ErrorCode::TooManyKeyPackages), "{err}");
}

#[tokio::test]
async fn new_accounts_from_one_address_are_rate_limited() {
    let node = Node::with_limits(Limits {
        // A person's code and their account each count.
        signups_per_minute: 4,
        ..Limits::default()
    })
    .await;
    let mut alice = node.person("alice", "jp").await;
    node.person("bob", "jp").await;
    let agreed = node.agreed("jp").await;
    let e =
        kizuna_client::Client::send_phone_code(&node.url, &phone_for("carol"), "jp", Some(&agreed))
            .await
            .expect_err("no code is sent past the limit");
    assert_eq!(e.api_code(), Some(ErrorCode::RateLimited), "{e}");
    let e = kizuna_client::Client::register(
        &node.home("carol"),
        &node.url,
        kizuna_client::RegisterOptions {
            handle: "carol",
            name: "Carol",
            phone: &phone_for("carol"),
            phone_code: "000000",
            email: None,
            region: "jp",
            device_label: "test",
            agreed_disclosures: Some(&node.agreed("jp").await),
        },
    )
    .await
    .err()
    .expect("a third account from this address is refused");
    assert_eq!(e.api_code(), Some(ErrorCode::RateLimited), "{e}");
    assert!(e.to_string().contains("network address"), "{e}");
    // Nothing of carol was kept: nobody has her handle.
    let e = alice.account("carol").await.expect_err("no account carol");
    assert_eq!(e.api_code(), Some(ErrorCode::UnknownAccount), "{e}");
}

#[tokio::test]
async fn a_phone_lookup_that_finds_nobody_says_so() {
    let node = Node::start().await;
    node.person("alice", "jp").await;
    let home = node.home("alice");
    let out = run(args(&[
        "lookup",
        "--home",
        home.to_str().unwrap(),
        "--phone",
        "+819099990000",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("nobody with that number"), "{said}");
    assert!(!said.contains("chat"), "{said}");
}

#[tokio::test]
async fn registering_cannot_probe_phone_numbers_past_the_lookup_limit() {
    // One look-up a minute, so the allowance does not refill while the
    // test runs, however slow the machine.
    let node = Node::with_limits(Limits {
        phone_lookups_per_minute: 1,
        ..Limits::default()
    })
    .await;
    let mut alice = node.person("alice", "jp").await;
    let taken = phone_for("alice");
    assert_eq!(
        alice.lookup_phone(&taken).await.unwrap().as_deref(),
        Some("alice")
    );
    // The address that used its look-ups cannot go on probing by
    // registering: a taken number and a free one get the same refusal,
    // and nothing is created.
    let token = alice.bearer_token().await.unwrap();
    for (handle, phone) in [("mallory", taken.as_str()), ("trent", "+819077770000")] {
        let probe = kizuna_client::Client::register(
            &node.home(handle),
            &node.url,
            kizuna_client::RegisterOptions {
                handle,
                name: "Probe",
                phone,
                phone_code: "000000",
                email: None,
                region: "jp",
                device_label: "test",
                agreed_disclosures: Some(&node.agreed("jp").await),
            },
        )
        .await;
        assert_eq!(code(probe), Some(ErrorCode::RateLimited));
        let r = node
            .http()
            .get(format!("{}/v1/accounts/{handle}", node.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}

//! Consent and disclosure: a person is told, before anything is created,
//! every foreign country that may reach their data and what the law says
//! they are owed about it, and agrees to exactly that text; the data map
//! says what the serving node keeps in its own country and never calls it
//! home when it is not; the agreement is recorded, shown, withdrawn with
//! its consequence applied, and asked again after a region move.

use kizuna_client::{Client, RegisterOptions};
use kizuna_server::admin::Admin;
use kizuna_wire::{ConsentStep, ErrorCode, Standing};

use crate::harness::*;

/// How many people a region's store holds.
async fn people_in(node: &Node, region: &str) -> i64 {
    let path = node.data_dir().join(format!("regions/{region}.sqlite"));
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subjects")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// Whether `handle` has an account, as `witness` finds it.
async fn account_exists(witness: &mut Client, handle: &str) -> bool {
    match witness.account(handle).await {
        Ok(_) => true,
        Err(e) if e.api_code() == Some(ErrorCode::UnknownAccount) => false,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_korean_person_on_a_japanese_node_is_told_what_japan_keeps_and_why() {
    let node = Node::start().await;
    let mut bob = node.person("bob", "kr").await;
    let map = bob.data_map().await.unwrap();
    assert_eq!(
        (map.home_region.as_str(), map.node_region.as_str()),
        ("kr", "jp")
    );
    // Nothing kept in Japan is described as his home region.
    for c in map.categories.iter().filter(|c| c.country == "JP") {
        for a in &c.accessible_from {
            assert!(
                !a.why.contains("Your home region"),
                "{}: {}",
                c.category,
                a.why
            );
            assert_eq!(a.country, "JP");
            let d = a.disclosure.as_ref().expect("Japan is foreign to Korea");
            assert_eq!(d.country_name, "Japan");
            assert!(d.transfer_basis.contains("PIPA"), "{}", d.transfer_basis);
        }
    }
    let abroad = map
        .kept_abroad
        .as_ref()
        .expect("the node is abroad for bob");
    assert_eq!(
        (abroad.region.as_str(), abroad.country.as_str()),
        ("jp", "JP")
    );
    for kept in ["account", "messages_in_transit", "block_hashes"] {
        assert!(abroad.categories.iter().any(|c| c == kept), "{kept}");
    }
    assert!(abroad.why.contains("route your messages"), "{}", abroad.why);
    let d = abroad.disclosure.as_ref().unwrap();
    assert!(
        d.protection_system.contains("APPI"),
        "{}",
        d.protection_system
    );
    // Korea itself is his home, and is said to be.
    let profile = map
        .categories
        .iter()
        .find(|c| c.category == "profile")
        .unwrap();
    assert_eq!(profile.country, "KR");
    assert!(profile
        .accessible_from
        .iter()
        .any(|a| a.country == "KR" && a.why.contains("Your home region")));

    // The same, as `kizuna me data-map` prints it.
    let out = run(args(&[
        "me",
        "data-map",
        "--home",
        &node.home("bob").display().to_string(),
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Your home region is kr (Korea, KR)"),
        "{text}"
    );
    assert!(text.contains("Kept by this node in Japan (JP)"), "{text}");
    assert!(!text.contains("Your home region is jp"), "{text}");

    // For a person at home in Japan, nothing is abroad.
    let mut alice = node.person("alice", "jp").await;
    assert!(alice.data_map().await.unwrap().kept_abroad.is_none());
}

#[tokio::test]
async fn registration_without_agreement_to_the_current_disclosures_creates_nothing() {
    let node = Node::start().await;
    let mut witness = node.person("alice", "jp").await;
    let d = Client::disclosures(&node.url, "kr").await.unwrap();
    // A Korean person's data may be reached from Japan, and they are told
    // all the law asks for.
    let jp = d.foreign.iter().find(|a| a.country == "JP").unwrap();
    assert_eq!(jp.disclosure.as_ref().unwrap().country_name, "Japan");
    assert!(d.foreign.iter().all(|a| a.country != "KR"));
    let code = node.phone_code("+821033334444", "kr").await;
    let register = |agreed: Option<&'static str>, home: &'static str| {
        let url = node.url.clone();
        let home = node.home(home);
        let code = code.clone();
        async move {
            Client::register(
                &home,
                &url,
                RegisterOptions {
                    handle: "bob",
                    name: "Bob Kim",
                    phone: "+821033334444",
                    phone_code: &code,
                    email: None,
                    region: "kr",
                    device_label: "t",
                    agreed_disclosures: agreed,
                },
            )
            .await
        }
    };
    for (agreed, home) in [(None, "b1"), (Some("0123456789abcdef"), "b2")] {
        let e = register(agreed, home).await.err().expect("refused");
        assert_eq!(e.api_code(), Some(ErrorCode::AgreementRequired), "{e}");
        assert!(!account_exists(&mut witness, "bob").await);
        assert_eq!(people_in(&node, "kr").await, 0);
    }
    let version: &'static str = Box::leak(d.version.clone().into_boxed_str());
    let mut bob = register(Some(version), "b3").await.unwrap();
    assert!(account_exists(&mut witness, "bob").await);

    // The agreement is recorded, with its version, time and countries, and
    // shown in the data map and the export.
    let c = bob.consent().await.unwrap();
    assert_eq!(c.standing, Standing::Agreed);
    assert_eq!(c.history.len(), 1);
    let e = &c.history[0];
    assert_eq!(
        (e.step, e.region.as_str(), e.version.as_str()),
        (ConsentStep::Agreed, "kr", version)
    );
    assert_eq!(e.countries, vec!["JP"]);
    assert!(e.at > 0);
    assert!(c
        .if_withdrawn
        .as_deref()
        .unwrap()
        .contains("serves you only"));
    let map = bob.data_map().await.unwrap();
    let shown = map.consent.as_ref().unwrap();
    assert_eq!((shown.standing, shown.history.len()), (Standing::Agreed, 1));
    let export = bob.export().await.unwrap();
    let exported = export.data_map.consent.as_ref().unwrap();
    assert_eq!(exported.history[0].version, version);
    assert!(map
        .categories
        .iter()
        .any(|c| c.category == "consent" && c.country == "KR"));
}

#[tokio::test]
async fn withdrawing_is_recorded_and_a_node_abroad_then_serves_only_the_persons_rights() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "kr").await;
    let w = bob.withdraw_agreement().await.unwrap();
    assert_eq!(w.standing, Standing::Withdrawn);
    assert!(
        w.consequence.contains("serves you only"),
        "{}",
        w.consequence
    );
    let steps: Vec<_> = w.history.iter().map(|e| e.step).collect();
    assert_eq!(steps, vec![ConsentStep::Agreed, ConsentStep::Withdrawn]);

    // The node in Japan no longer serves him beyond his rights…
    let e = bob.contacts().await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::AgreementRequired), "{e}");
    let e = bob.create_chat(&["alice".into()], None).await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::AgreementRequired), "{e}");
    // …which stay his: to see, take and erase his data, and agree again.
    assert_eq!(bob.me().await.unwrap().handle, "bob");
    let map = bob.data_map().await.unwrap();
    assert_eq!(map.consent.unwrap().standing, Standing::Withdrawn);
    assert_eq!(
        bob.export()
            .await
            .unwrap()
            .data_map
            .consent
            .unwrap()
            .history
            .len(),
        2
    );
    let again = bob
        .agree_to_disclosures(&w.disclosures.version)
        .await
        .unwrap();
    assert_eq!(again.standing, Standing::Agreed);
    bob.contacts().await.unwrap();
    // An agreement to a text other than the current one is refused.
    let e = bob.agree_to_disclosures("stale").await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::AgreementRequired), "{e}");

    // At home in Japan, withdrawing keeps Korea out, and the node serves on.
    let w = alice.withdraw_agreement().await.unwrap();
    assert_eq!(w.standing, Standing::Withdrawn);
    assert!(
        w.consequence.contains("serves you as before"),
        "{}",
        w.consequence
    );
    alice.contacts().await.unwrap();
}

#[tokio::test]
async fn a_region_move_asks_for_agreement_to_the_new_regions_disclosures() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let addr = node.stop().await;
    let admin = Admin::open(node.data_dir(), node.regions.clone())
        .await
        .unwrap();
    let moved = admin.move_subject("alice", "kr").await.unwrap();
    assert!(moved.agreement_needed);
    admin.close().await;
    node.start_again(addr).await;

    let c = alice.consent().await.unwrap();
    assert_eq!(c.standing, Standing::Needed);
    assert_eq!(c.disclosures.region, "kr");
    // Her agreement to Japan's disclosures moved with her, as history.
    assert_eq!(c.history.len(), 1);
    assert_eq!(c.history[0].region, "jp");
    let e = alice.contacts().await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::AgreementRequired), "{e}");
    let agreed = alice
        .agree_to_disclosures(&c.disclosures.version)
        .await
        .unwrap();
    assert_eq!(agreed.standing, Standing::Agreed);
    assert_eq!(agreed.history.last().unwrap().region, "kr");
    alice.contacts().await.unwrap();
}

#[tokio::test]
async fn kizuna_register_prints_the_disclosures_and_needs_agree() {
    let node = Node::start().await;
    let mut witness = node.person("alice", "jp").await;
    let home = node.home("bob").display().to_string();
    let register = |extra: &[&str]| {
        let mut a = args(&[
            "register",
            "--home",
            &home,
            "--server",
            &node.url,
            "--handle",
            "bob",
            "--name",
            "Bob Kim",
            "--phone",
            "+821033334444",
            "--region",
            "kr",
        ]);
        a.extend(args(extra));
        run(a)
    };
    let out = register(&[]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Japan") && text.contains("APPI"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agree"));
    assert!(!account_exists(&mut witness, "bob").await);
    let out = register(&["--json"]).await;
    assert_eq!(out.status.code(), Some(2));
    // One object per line: the disclosures, then the refusal.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let d: kizuna_wire::Disclosures = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(d.region, "kr");
    let refusal: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(refusal["error"]["code"], "usage");
    assert!(!account_exists(&mut witness, "bob").await);

    // Agreed, but the number is not proven yet: a code goes to it, and
    // nothing is created until it is typed back.
    let out = register(&["--agree"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--phone-code"));
    assert!(!account_exists(&mut witness, "bob").await);
    let code = node.sent_code("+821033334444").unwrap();
    let out = register(&["--agree", "--phone-code", &code]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(account_exists(&mut witness, "bob").await);
    let me = |parts: &[&str]| {
        let mut a = args(&["me", "consent", "--home", &home]);
        a.extend(args(parts));
        run(a)
    };
    let out = me(&[]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains(&d.version));
    // Withdrawing says what would follow first, and changes nothing.
    let out = me(&["withdraw"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serves you only"));
    let out = me(&["--json"]).await;
    let c: kizuna_wire::Consent = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c.standing, Standing::Agreed);
    let out = me(&["withdraw", "--yes"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("WITHDRAWN"));
    let out = me(&["agree"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("agreed"));
}

#[tokio::test]
async fn withdrawing_ends_the_open_connections_of_a_node_abroad() {
    let node = Node::start().await;
    let mut bob = node.person("bob", "kr").await;
    let (mut other, _) = link(&node, &mut bob, "bob-tablet").await;
    let mut watcher = Client::open(&node.home("bob")).await.unwrap();
    let watch = watcher.watch(|_| {}, std::future::pending::<()>());
    tokio::pin!(watch);
    let server = node.server.as_ref().unwrap();
    let withdraw = async {
        while server.live_connections() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        other.withdraw_agreement().await.unwrap();
        std::future::pending::<()>().await
    };
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        tokio::select! {
            r = &mut watch => r,
            _ = withdraw => unreachable!(),
        }
    })
    .await
    .expect("a withdrawal ends the open connection");
    let e = ended.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::AgreementRequired), "{e}");
}

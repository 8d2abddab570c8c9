//! Knowing who you are talking to: safety numbers that both sides see
//! alike, confirmed once compared, and a warning when a confirmed
//! contact's keys change.

use kizuna_client::KeyStanding;

use crate::harness::*;

#[tokio::test]
async fn safety_numbers_match_on_both_sides_and_a_changed_key_warns_until_confirmed() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let e = alice.safety_number("bob").await.unwrap_err();
    assert!(e.to_string().contains("no chat with bob"), "{e}");
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();

    // Both sides see one number, from the keys the chat uses.
    let a = alice.safety_number("bob").await.unwrap();
    let b = bob.safety_number("alice").await.unwrap();
    assert_eq!((&a.digits, &a.text), (&b.digits, &b.text));
    assert_eq!(a.digits.split(' ').count(), 12);
    assert!(a.digits.split(' ').all(|g| g.len() == 5));
    assert_eq!(a.standing, KeyStanding::Unverified);
    let n = alice
        .confirm_safety_number("bob", Some(&a.digits))
        .await
        .unwrap();
    assert!(matches!(n.standing, KeyStanding::Verified { .. }));
    assert!(alice.changed_keys().await.unwrap().is_empty());

    // Bob links a second device, which joins the chat: Alice's number with
    // him changes, and so does where his keys stand.
    let (bob_phone, _) = link(&node, &mut bob, "bob-phone").await;
    bob_phone.close().await;
    alice.sync().await.unwrap();
    let after = alice.safety_number("bob").await.unwrap();
    assert_ne!(after.digits, a.digits);
    assert!(matches!(after.standing, KeyStanding::Changed { .. }));
    let b = bob.safety_number("alice").await.unwrap();
    assert_eq!(b.digits, after.digits, "both sides still agree");
    // The number compared before the change confirms nothing now.
    let e = alice
        .confirm_safety_number("bob", Some(&a.digits))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("changed since it was shown"), "{e}");
    assert!(alice.changed_keys().await.unwrap().len() == 1);

    // The CLI warns in `sync` and `history` until confirmed again.
    alice.close().await;
    let home = node.home("alice").display().to_string();
    let warned = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stderr).contains("bob's keys changed since you verified them")
    };
    let out = run(args(&["sync", "--home", &home])).await;
    assert!(out.status.success() && warned(&out), "{out:?}");
    let out = run(args(&["history", "--home", &home, &chat])).await;
    assert!(out.status.success() && warned(&out), "{out:?}");
    let out = run(args(&["history", "--home", &home, &chat, "--json"])).await;
    let changed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["type"] == "keys_changed")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["handle"], "bob");
    let out = run(args(&["verify", "--home", &home, "bob"])).await;
    assert!(out.status.success() && warned(&out), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(after.digits.split(' ').next().unwrap()));
    let out = run(args(&[
        "verify",
        "--home",
        &home,
        "bob",
        "--confirm",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["standing"]["state"], "verified");
    assert_eq!(v["digits"], after.digits);
    let out = run(args(&["sync", "--home", &home])).await;
    assert!(out.status.success() && !warned(&out), "{out:?}");
}

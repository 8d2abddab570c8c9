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

#[tokio::test]
async fn a_device_added_behind_a_persons_back_is_caught_by_their_contacts_and_their_own_device() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    bob.sync().await.unwrap();
    // A device bob linked himself is in the log, vouched for by his phone,
    // so alice may add it; the phone approved it, so it is told nothing.
    let (mut bob_laptop, _) = link(&node, &mut bob, "bob-laptop").await;
    let linked = |events: Vec<kizuna_client::Event>| -> Vec<(String, String)> {
        events
            .into_iter()
            .filter_map(|e| match e {
                kizuna_client::Event::DeviceLinked { device_id, by, .. } => Some((device_id, by)),
                _ => None,
            })
            .collect()
    };
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    assert_eq!(linked(bob.sync().await.unwrap()), []);
    // A device the laptop links is shown on the phone once, as the laptop's.
    let (bob_tablet, _) = link(&node, &mut bob_laptop, "bob-tablet").await;
    let tablet = bob_tablet.identity().device_id.clone();
    let laptop = bob_laptop.identity().device_id.clone();
    bob_tablet.close().await;
    bob_laptop.close().await;
    assert_eq!(linked(bob.sync().await.unwrap()), [(tablet, laptop)]);
    assert_eq!(linked(bob.sync().await.unwrap()), []);
    let logged = alice.logged_keys("bob").await.unwrap();
    assert_eq!(logged.devices.len(), 3);

    // The node adds a device to bob's account on its own.
    let rogue = rogue_device(&node, "bob").await;
    let e = alice
        .create_chat(&["bob".into()], Some("again"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, kizuna_client::ClientError::KeysNotLogged(_)),
        "{e}"
    );
    assert!(e.to_string().contains(&rogue), "{e}");
    let e = alice.add_member(&chat, "bob").await.unwrap_err();
    assert!(
        matches!(e, kizuna_client::ClientError::KeysNotLogged(_)),
        "{e}"
    );
    // Bob's own device finds it at its next sync, and the CLI exits 6.
    let e = bob.sync().await.unwrap_err();
    assert!(
        matches!(e, kizuna_client::ClientError::KeysNotLogged(_)),
        "{e}"
    );
    assert!(e.to_string().contains("behind your back"), "{e}");
    bob.close().await;
    let out = run(args(&[
        "sync",
        "--home",
        &node.home("bob").display().to_string(),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEYS NOT IN THE KEY LOG"));
}

#[tokio::test]
async fn a_handle_registered_again_is_a_new_person_in_the_key_log() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut dave = node.person("dave", "jp").await;
    let first = dave.identity().account_id.clone();
    alice.create_chat(&["dave".into()], None).await.unwrap();
    let before = alice.logged_keys("dave").await.unwrap();
    assert_eq!(before.account_id.as_deref(), Some(first.as_str()));
    dave.erase_account().await.unwrap();
    dave.close().await;
    // Someone else takes the handle, on a device of their own.
    std::fs::remove_dir_all(node.home("dave")).unwrap();

    let again = node.register("dave", "jp", "+819012399999").await;
    let second = again.identity().account_id.clone();
    assert_ne!(first, second);
    let now = alice.logged_keys("dave").await.unwrap();
    assert_eq!(now.account_id.as_deref(), Some(second.as_str()));
    assert_eq!(now.earlier_accounts, std::slice::from_ref(&first));
    assert_eq!(now.replaced_account.as_deref(), Some(first.as_str()));
    let dev = &again.identity().device_id;
    assert!(now.key_of(dev).is_some());
    assert!(before
        .devices
        .iter()
        .all(|d| now.key_of(&d.device_id).is_none()));
}

#[tokio::test]
async fn people_registered_before_the_key_log_are_entered_into_it_once() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    // As a node from before the key log held them: accounts, no entries.
    let addr = node.stop().await;
    let db = node.data_dir().join("node.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM key_log")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // Nor did its ledger file any leaf in the key directory, or sign
    // heads that commit to one.
    forget_key_directory(&node);
    node.start_again(addr).await;

    // Upgraded, they reach each other and check their own accounts.
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    let logged = alice.logged_keys("bob").await.unwrap();
    assert_eq!(logged.devices.len(), 1);
    assert!(logged.devices[0].adopted);
    bob.send(&chat, "still here").await.unwrap();

    // Entered once: a device the node adds later is not adopted, and is
    // caught as before.
    let rogue = rogue_device(&node, "bob").await;
    let addr = node.stop().await;
    node.start_again(addr).await;
    let e = bob.sync().await.unwrap_err();
    assert!(
        matches!(e, kizuna_client::ClientError::KeysNotLogged(_)),
        "{e}"
    );
    assert!(e.to_string().contains(&rogue), "{e}");
}

#[tokio::test]
async fn a_node_that_leaves_an_entry_out_of_a_handles_history_is_caught() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let (bob_laptop, _) = link(&node, &mut bob, "bob-laptop").await;
    let laptop = bob_laptop.identity().device_id.clone();
    bob_laptop.close().await;
    assert_eq!(alice.logged_keys("bob").await.unwrap().devices.len(), 2);
    // The laptop is stolen; bob revokes it.
    bob.revoke_device(&laptop).await.unwrap();
    // His phone checks his account, under a head that covers the
    // revocation.
    bob.sync().await.unwrap();
    assert_eq!(bob.logged_keys("bob").await.unwrap().devices.len(), 1);
    let addr = node.stop().await;
    // The node hides the revocation from the key log it serves, so that
    // alice would go on encrypting to the thief's laptop.
    let hidden = run_sql(
        &node.data_dir().join("node.sqlite"),
        "DELETE FROM key_log WHERE handle = 'bob' \
         AND idx = (SELECT MAX(idx) FROM key_log WHERE handle = 'bob')",
    )
    .await;
    assert_eq!(hidden, 1);
    node.start_again(addr).await;

    // Every entry it serves is in the ledger, but the signed head's key
    // directory holds a longer history for bob: alice refuses it.
    let e = alice.logged_keys("bob").await.unwrap_err();
    assert!(
        matches!(e, kizuna_client::ClientError::LedgerTampered(_)),
        "{e}"
    );
    assert!(e.to_string().contains("left entries out"), "{e}");
    // So does a device that never asked about bob before, and the CLI.
    let mut carol = node.person("carol", "jp").await;
    let e = carol.logged_keys("bob").await.unwrap_err();
    assert!(e.to_string().contains("left entries out"), "{e}");
    carol.close().await;
    let out = run(args(&[
        "chat",
        "new",
        "--with",
        "bob",
        "--home",
        &node.home("carol").display().to_string(),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    // Alice's own history, untouched, still checks.
    alice.logged_keys("alice").await.unwrap();
    alice.close().await;
    bob.close().await;

    // An auditor of the data directory finds the leaf the directory files
    // under bob with no key-log entry behind it.
    node.stop().await;
    let out = audit_data_dir(&node);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("filed in the key directory, but no key-log entry holds it"),
        "{said}"
    );
}

#[tokio::test]
async fn key_log_entries_from_before_the_key_directory_are_filed_in_it_at_start() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let (bob_laptop, _) = link(&node, &mut bob, "bob-laptop").await;
    bob_laptop.close().await;
    assert_eq!(alice.logged_keys("bob").await.unwrap().devices.len(), 2);
    // As a ledger kept before the key directory: no keys file, and no head
    // that commits to one.
    let addr = node.stop().await;
    forget_key_directory(&node);
    node.start_again(addr).await;

    // Every history is proven whole as before, and the audit agrees.
    assert_eq!(alice.logged_keys("bob").await.unwrap().devices.len(), 2);
    bob.sync().await.unwrap();
    alice.logged_keys("alice").await.unwrap();
    alice.close().await;
    bob.close().await;
    node.stop().await;
    let out = audit_data_dir(&node);
    assert!(out.status.success(), "{out:?}");
}

/// `kizuna audit verify --data-dir` on a stopped node's data directory.
fn audit_data_dir(node: &Node) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["audit", "verify", "--data-dir"])
        .arg(node.data_dir())
        .output()
        .unwrap()
}

/// Makes a stopped node's ledger one kept before the key directory: no
/// keys file, and no head that commits to one.
fn forget_key_directory(node: &Node) {
    let ledger = node.data_dir().join("ledger");
    std::fs::remove_file(ledger.join("keys")).unwrap();
    let _ = std::fs::remove_file(ledger.join("heads"));
}

/// The events of kind `KeyNotLogged`, as (chat, handle, device).
fn not_logged(events: &[kizuna_client::Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            kizuna_client::Event::KeyNotLogged {
                chat,
                handle,
                device_id,
                ..
            } => Some((chat.clone(), handle.clone(), device_id.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_chat_member_the_key_log_does_not_bind_to_its_person_is_told_loudly() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    // Members a Welcome brings, and a device added by a commit, that the
    // log binds to their person: nothing to tell.
    alice.create_chat(&["bob".into()], None).await.unwrap();
    assert_eq!(not_logged(&bob.sync().await.unwrap()), []);
    let (laptop, _) = link(&node, &mut alice, "alice-laptop").await;
    let laptop_id = laptop.identity().device_id.clone();
    laptop.close().await;
    assert_eq!(not_logged(&bob.sync().await.unwrap()), []);
    // Nor a device revoked after the chat took it in, met by a device that
    // was away meanwhile: carol, added while alice's laptop was a member,
    // syncs only after alice revoked it.
    let with_carol = alice
        .create_chat(&["bob".into(), "carol".into()], Some("trio"))
        .await
        .unwrap();
    alice.revoke_device(&laptop_id).await.unwrap();
    let events = carol.sync().await.unwrap();
    assert_eq!(not_logged(&events), [], "{with_carol}");

    // The node adds a device to alice's account on its own, and speaks
    // as alice from it.
    let rogue_id = rogue_device(&node, "alice").await;
    let mut rogue = rogue_client(&node).await;
    let chat = rogue
        .create_chat(&["bob".into()], Some("new phone"))
        .await
        .unwrap();
    rogue.send(&chat, "it's me, alice").await.unwrap();
    let events = bob.sync().await.unwrap();
    assert_eq!(
        not_logged(&events),
        [(chat.clone(), "alice".to_string(), rogue_id.clone())]
    );
    // Told once; bob's chats go on, and the finding is kept on his device
    // (for the app to show again) until he compares alice's safety number.
    assert_eq!(not_logged(&bob.sync().await.unwrap()), []);
    assert_eq!(
        not_logged(&bob.members_not_logged().await.unwrap()),
        [(chat.clone(), "alice".to_string(), rogue_id.clone())]
    );
    let n = bob.safety_number("alice").await.unwrap();
    bob.confirm_safety_number("alice", Some(&n.digits))
        .await
        .unwrap();
    assert_eq!(not_logged(&bob.members_not_logged().await.unwrap()), []);

    // Carol, at the command line, is told it loudly and the sync exits 6.
    rogue
        .create_chat(&["carol".into()], Some("hi carol"))
        .await
        .unwrap();
    carol.close().await;
    let out = run(args(&[
        "sync",
        "--home",
        &node.home("carol").display().to_string(),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("may not be alice"), "{said}");
    assert!(said.contains(&rogue_id), "{said}");
}

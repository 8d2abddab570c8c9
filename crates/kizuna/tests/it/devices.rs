use kizuna_client::Client;

use crate::harness::*;

#[tokio::test]
async fn a_linked_device_receives_every_message() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "kr").await;
    // A chat that exists before the second device.
    let old_chat = carol.create_chat(&["alice".into()], None).await.unwrap();
    alice.sync().await.unwrap();

    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let home = node.home("alice-laptop");
    let url = node.url.clone();
    let linking = tokio::spawn(async move {
        let mut code_tx = Some(code_tx);
        Client::link_device(
            &home,
            &url,
            "alice",
            "laptop",
            move |c| {
                if let Some(tx) = code_tx.take() {
                    let _ = tx.send(c.to_string());
                }
            },
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap()
    });
    let code = code_rx.await.unwrap();
    // A wrong code approves nothing.
    assert!(alice.approve_device("WRONGCODE").await.is_err());
    let (device, chats) = alice.approve_device(&code).await.unwrap();
    assert_eq!(chats.len(), 1);
    let mut laptop = linking.await.unwrap();
    assert_eq!(laptop.identity().device_id, device);
    assert_eq!(laptop.identity().account_id, alice.identity().account_id);
    assert_eq!(alice.me().await.unwrap().devices.len(), 2);

    // The old chat reaches the new device from now on.
    laptop.sync().await.unwrap();
    carol.sync().await.unwrap();
    carol.send(&old_chat, "to both of you").await.unwrap();
    assert_eq!(texts(&laptop.sync().await.unwrap()), ["to both of you"]);
    assert_eq!(texts(&alice.sync().await.unwrap()), ["to both of you"]);

    // A new chat with alice includes both her devices.
    let chat = bob.create_chat(&["alice".into()], None).await.unwrap();
    bob.send(&chat, "hi alice").await.unwrap();
    assert_eq!(texts(&alice.sync().await.unwrap()), ["hi alice"]);
    assert_eq!(texts(&laptop.sync().await.unwrap()), ["hi alice"]);

    // What one device sends, the other device of the account receives too.
    laptop.send(&chat, "from my laptop").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["from my laptop"]);
    let on_phone = messages(&alice.sync().await.unwrap());
    assert_eq!(on_phone.len(), 1);
    assert_eq!(on_phone[0].sender, "alice");
    assert_eq!(on_phone[0].sender_device, device);
}

#[tokio::test]
async fn a_signed_challenge_is_exchanged_for_a_token_once() {
    use ed25519_dalek::Signer;
    use kizuna_wire::*;
    let node = Node::start().await;
    let http = node.http();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let public = key.verifying_key().to_bytes().to_vec();
    let r = http
        .post(format!("{}/v1/accounts", node.url))
        .json(&RegisterRequest {
            handle: "alice".into(),
            name: "Alice".into(),
            phone: phone_for("alice"),
            phone_code: node.phone_code(&phone_for("alice"), "jp").await,
            email: None,
            region: "jp".into(),
            agreed_disclosures: Some(node.agreed("jp").await),
            device: NewDevice {
                signature: Bytes(
                    key.sign(&register_signing_input("alice", &public))
                        .to_bytes()
                        .to_vec(),
                ),
                signature_key: Bytes(public),
                label: "phone".into(),
            },
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let device_id = r.json::<RegisterResponse>().await.unwrap().device_id;
    let challenge = http
        .post(format!("{}/v1/auth/challenge", node.url))
        .json(&ChallengeRequest {
            device_id: device_id.clone(),
        })
        .send()
        .await
        .unwrap()
        .json::<ChallengeResponse>()
        .await
        .unwrap()
        .challenge;
    let answer = TokenRequest {
        device_id: device_id.clone(),
        signature: Bytes(
            key.sign(&auth_signing_input(&device_id, &challenge))
                .to_bytes()
                .to_vec(),
        ),
        challenge,
    };
    let send = || {
        http.post(format!("{}/v1/auth/token", node.url))
            .json(&answer)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    // The same signed answer, captured and sent again, gets no token.
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), 401);
    let body: ErrorBody = replay.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::Unauthorized);
    assert!(
        body.message.contains("already answered"),
        "{}",
        body.message
    );
}

/// Everything under `root` (itself included) that anyone but its owner may
/// reach, with its mode.
#[cfg(unix)]
fn readable_by_others(root: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let owner_only = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode & 0o077 != 0 || (meta.is_dir() && mode != owner_only) {
            open.push((p.clone(), mode));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    open
}

#[cfg(unix)]
#[tokio::test]
async fn the_device_home_and_the_data_directory_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.send(&chat, "hello").await.unwrap();
    bob.sync().await.unwrap();
    let home = node.home("alice");
    assert!(home.join("device.sqlite").exists());
    assert_eq!(readable_by_others(&home), vec![]);
    assert_eq!(readable_by_others(node.data_dir()), vec![]);

    // What an earlier version left open is closed when next opened.
    drop(alice);
    let addr = node.stop().await;
    let loosen = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    loosen(&home, 0o755);
    loosen(&home.join("device.sqlite"), 0o644);
    loosen(node.data_dir(), 0o755);
    loosen(&node.files().node_store(), 0o644);
    loosen(&node.data_dir().join("keys"), 0o755);
    loosen(&node.files().staff_store(), 0o644);
    node.start_again(addr).await;
    let alice = kizuna_client::Client::open(&home).await.unwrap();
    drop(alice);
    assert_eq!(readable_by_others(&home), vec![]);
    assert_eq!(readable_by_others(node.data_dir()), vec![]);
}

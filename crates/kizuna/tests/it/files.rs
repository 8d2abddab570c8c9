//! Files end to end: sealed on the sender's device, kept as ciphertext in
//! the sender's home region, fetched only by the chat's devices, resumed
//! across a crash of the node, bounded by size and quota, listed in the
//! data map, and moved with their sender.

use std::path::Path;

use kizuna_wire::ErrorCode;

use crate::harness::*;

/// `n` bytes nobody could guess or find by chance in a store.
/// Alice (in Japan) and Bob (in `bob_region`) in a chat of their own,
/// both devices in it.
async fn chat_of_two(
    node: &Node,
    bob_region: &str,
) -> (kizuna_client::Client, kizuna_client::Client, String) {
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", bob_region).await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    (alice, bob, chat)
}

fn random_file(dir: &Path, name: &str, n: usize) -> (std::path::PathBuf, Vec<u8>) {
    let mut bytes = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// Whether any 32-byte window of `plain` (sampled) is in a file under `dir`.
fn plaintext_under(dir: &Path, plain: &[u8]) -> Option<std::path::PathBuf> {
    let step = (plain.len() / 64).max(32);
    let needles: Vec<&[u8]> = (0..plain.len().saturating_sub(32))
        .step_by(step)
        .map(|i| &plain[i..i + 32])
        .collect();
    files(dir).into_iter().find(|p| {
        let hay = std::fs::read(p).unwrap_or_default();
        needles.iter().any(|n| contains(&hay, n))
    })
}

fn no_progress() -> impl FnMut(u64, u64) {
    |_, _| {}
}

#[tokio::test]
async fn a_file_goes_end_to_end_sealed_and_only_the_chats_devices_fetch_it() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "kr").await;
    let mut carol = node.person("carol", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, plain) = random_file(dir.path(), "report.pdf", 3 * 1024 * 1024 + 12345);

    let sent = alice
        .send_file(
            &chat,
            &path,
            Some("the quarterly report"),
            false,
            &mut no_progress(),
        )
        .await
        .unwrap();
    let f = sent.file.clone().unwrap();
    assert_eq!(
        (f.file_name.as_str(), f.size),
        ("report.pdf", plain.len() as u64)
    );
    assert_eq!(sent.text, "the quarterly report");

    // Bob sees it in his history and saves it: byte for byte the file.
    let got = messages(&bob.sync().await.unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].file.as_ref().unwrap().file_id, f.file_id);
    let saved = bob
        .save_file(&chat, got[0].seq, Some(dir.path()), &mut no_progress())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&saved.path).unwrap(), plain);
    assert_eq!(saved.path, dir.path().join("report.pdf"));

    // The node keeps ciphertext only, in the sender's home region's store.
    assert_eq!(plaintext_under(node.data_dir(), &plain), None);
    let kept = files(&node.data_dir().join("files/jp"));
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert!(files(&node.data_dir().join("files/kr")).is_empty());

    // Carol, not in the chat, is told nothing about it, whatever she asks.
    let token = carol.bearer_token().await.unwrap();
    let http = node.http();
    for path in [
        format!("/v1/files/{}", f.file_id),
        format!("/v1/files/{}/parts/0", f.file_id),
        format!("/v1/files/{}/parts/0", "0".repeat(32)),
    ] {
        let r = http
            .get(format!("{}{path}", node.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let e: kizuna_wire::ErrorBody = r.json().await.unwrap();
        assert_eq!(e.code, ErrorCode::UnknownFile, "{path}");
    }
    // Nor can she name it in a message of her own to get it attached.
    let theirs = carol.create_chat(&["alice".into()], None).await.unwrap();
    let r = http
        .post(format!("{}/v1/groups/{theirs}/messages", node.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "message": "AAAA", "commitment": hex::encode([0u8; 32]), "files": [f.file_id] }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    // Carol, added later, cannot fetch what was sent before she came.
    alice.add_member(&chat, "carol").await.unwrap();
    carol.sync().await.unwrap();
    let r = http
        .get(format!("{}/v1/files/{}/parts/0", node.url, f.file_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Reported, the file is provably the one sent: the moderator's copy of
    // the message names its hash.
    let filed = bob
        .report(
            &chat,
            got[0].seq,
            kizuna_wire::reports::ReportReason::Spam,
            None,
            0,
        )
        .await
        .unwrap();
    assert_eq!(filed.messages, 1);
}

#[tokio::test]
async fn a_photo_leaves_without_its_location() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = chat_of_two(&node, "jp").await;
    let seg = |marker: u8, body: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let photo = [
        vec![0xFF, 0xD8],
        seg(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
        seg(
            0xE1,
            b"Exif\0\0GPSLatitude 35.6812 N GPSLongitude 139.7671 E",
        ),
        seg(0xDB, &[0u8; 65]),
        seg(0xDA, &[1, 1, 0, 0, 0x3F, 0]),
        vec![0x12, 0x34, 0x56, 0xFF, 0xD9],
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("IMG_0001.JPG");
    std::fs::write(&path, &photo).unwrap();
    alice
        .send_file(&chat, &path, None, false, &mut no_progress())
        .await
        .unwrap();
    let got = messages(&bob.sync().await.unwrap());
    assert_eq!(got[0].file.as_ref().unwrap().media_type, "image/jpeg");
    let out = dir.path().join("received.jpg");
    bob.save_file(&chat, got[0].seq, Some(&out), &mut no_progress())
        .await
        .unwrap();
    let received = std::fs::read(&out).unwrap();
    assert!(!contains(&received, b"GPS"), "the location was sent");
    assert!(received.starts_with(&[0xFF, 0xD8]) && received.ends_with(&[0xFF, 0xD9]));
    // Asked to keep it, the photo goes as it is.
    alice
        .send_file(&chat, &path, None, true, &mut no_progress())
        .await
        .unwrap();
    let got = messages(&bob.sync().await.unwrap());
    let out = dir.path().join("as-is.jpg");
    bob.save_file(&chat, got[0].seq, Some(&out), &mut no_progress())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), photo);
}

#[tokio::test]
async fn too_large_over_quota_and_bad_parts_are_refused_and_keep_nothing() {
    let toml = kizuna_config::DEFAULT_TOML
        .replace("max_size = \"100MiB\"", "max_size = \"2MiB\"")
        .replace("quota = \"2GiB\"", "quota = \"3MiB\"");
    let node = Node::with_regions(&toml).await;
    let (mut alice, mut bob, chat) = chat_of_two(&node, "jp").await;
    let dir = tempfile::tempdir().unwrap();
    let (big, _) = random_file(dir.path(), "big.bin", 2 * 1024 * 1024 + 1);
    let e = alice
        .send_file(&chat, &big, None, false, &mut no_progress())
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::FileTooLarge), "{e}");
    let (one, _) = random_file(dir.path(), "one.bin", 2 * 1024 * 1024 - 100);
    alice
        .send_file(&chat, &one, None, false, &mut no_progress())
        .await
        .unwrap();
    let e = alice
        .send_file(&chat, &one, None, false, &mut no_progress())
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::QuotaExceeded), "{e}");
    assert!(e.to_string().contains("3 MiB"), "{e}");
    // The one file sent: 2 MiB sealed is three parts. Nothing of the
    // refused ones.
    assert_eq!(files(&node.data_dir().join("files/jp")).len(), 3);

    // Raw HTTP, as a hostile client would send it (bob's, whose quota is
    // untouched).
    let token = bob.bearer_token().await.unwrap();
    let http = node.http();
    let start = |size: u64| {
        http.post(format!("{}/v1/groups/{chat}/files", node.url))
            .bearer_auth(&token)
            .json(&kizuna_wire::FileUpload { size })
            .send()
    };
    let r = start(15).await.unwrap();
    assert_eq!(r.status(), 400, "a size no sealed file has");
    // 17 chunks of 64 KiB, the last of 256 bytes, each with its 16-byte tag.
    let r = start(16 * 65536 + 256 + 17 * 16).await.unwrap();
    let p: kizuna_wire::FileProgress = r.json().await.unwrap();
    assert_eq!((p.parts, p.received), (2, 0));
    let put = |n: u32, body: Vec<u8>, digest: Option<String>| {
        let mut req = http
            .put(format!("{}/v1/files/{}/parts/{n}", node.url, p.file_id))
            .bearer_auth(&token)
            .body(body);
        if let Some(d) = digest {
            req = req.header("content-digest", d);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let e: kizuna_wire::ErrorBody = r.json().await.unwrap_or(kizuna_wire::ErrorBody {
                code: ErrorCode::Internal,
                message: String::new(),
            });
            (status, e.code)
        }
    };
    let part = vec![7u8; 1024 * 1024];
    let good = kizuna_wire::content_digest(&part);
    let second = vec![7u8; 256 + 17 * 16];
    assert_eq!(put(0, part.clone(), None).await, (400, ErrorCode::BadPart));
    assert_eq!(
        put(0, part.clone(), Some(kizuna_wire::content_digest(b"other"))).await,
        (400, ErrorCode::BadPart)
    );
    assert_eq!(
        put(0, part[1..].to_vec(), Some(good.clone())).await.1,
        ErrorCode::BadPart
    );
    assert_eq!(
        put(
            2,
            second.clone(),
            Some(kizuna_wire::content_digest(&second))
        )
        .await,
        (400, ErrorCode::BadPart),
        "a part past the last"
    );
    let progress = |file: &str| {
        http.get(format!("{}/v1/files/{file}", node.url))
            .bearer_auth(&token)
            .send()
    };
    let now: kizuna_wire::FileProgress = progress(&p.file_id).await.unwrap().json().await.unwrap();
    assert_eq!(now.received, 0, "nothing of a refused part is kept");
    assert_eq!(put(0, part.clone(), Some(good.clone())).await.0, 200);
    // Sent again (its answer lost): answered as kept, once.
    assert_eq!(put(0, part, Some(good)).await.0, 200);
    // A message naming an upload not finished is refused.
    let r = http
        .post(format!("{}/v1/groups/{chat}/messages", node.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "message": "AAAA", "commitment": hex::encode([0u8; 32]), "files": [p.file_id] }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    // A part too large for any request is refused before it is read whole.
    let (status, _) = put(1, vec![0u8; 3 * 1024 * 1024], Some("sha-256=:x:".into())).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn parts_may_run_a_few_ahead_of_the_first_the_node_lacks_and_no_further() {
    let node = Node::start().await;
    let alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = bob.create_chat(&["alice".into()], None).await.unwrap();
    drop(alice);
    let token = bob.bearer_token().await.unwrap();
    let http = node.http();
    // 12 MiB sealed in 64 KiB chunks: 13 parts.
    let r = http
        .post(format!("{}/v1/groups/{chat}/files", node.url))
        .bearer_auth(&token)
        .json(&kizuna_wire::FileUpload {
            size: 192 * (65536 + 16),
        })
        .send()
        .await
        .unwrap();
    let big: kizuna_wire::FileProgress = r.json().await.unwrap();
    assert_eq!(big.parts, 13);
    let part = vec![7u8; 1024 * 1024];
    let put = |n: u32| {
        http.put(format!("{}/v1/files/{}/parts/{n}", node.url, big.file_id))
            .bearer_auth(&token)
            .header("content-digest", kizuna_wire::content_digest(&part))
            .body(part.clone())
            .send()
    };
    let received = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 200);
        r.json::<kizuna_wire::FileProgress>()
            .await
            .unwrap()
            .received
    };
    assert_eq!(
        received(put(2).await.unwrap()).await,
        0,
        "kept, not counted"
    );
    let r = put(1 + kizuna_wire::FILE_PARTS_AHEAD).await.unwrap();
    assert_eq!(r.status(), 400, "a part too far ahead");
    let e: kizuna_wire::ErrorBody = r.json().await.unwrap();
    assert_eq!(e.code, ErrorCode::BadPart);
    assert_eq!(received(put(0).await.unwrap()).await, 1);
    // The gap filled, the count runs past every part kept after it.
    assert_eq!(received(put(1).await.unwrap()).await, 3);
    assert_eq!(received(put(2).await.unwrap()).await, 3, "a repeat");
    let on_disk = files(&node.data_dir().join("files/jp"));
    assert_eq!(on_disk.len(), 3, "{on_disk:?}");
}

#[tokio::test]
async fn an_upload_and_a_download_go_on_after_the_node_is_killed() {
    use crate::durability::{free_port, register_at, spawn_serve};
    let dir = tempfile::tempdir().unwrap();
    let homes = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = Some(spawn_serve(dir.path(), port).await);
    let mut alice = register_at(&homes.path().join("alice"), &url, dir.path(), "alice").await;
    let mut bob = register_at(&homes.path().join("bob"), &url, dir.path(), "bob").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    let files_dir = tempfile::tempdir().unwrap();
    let (path, plain) = random_file(files_dir.path(), "video.mp4", 50 * 1024 * 1024);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let upload = tokio::spawn({
        let chat = chat.clone();
        async move {
            let mut told = false;
            let m = alice
                .send_file(&chat, &path, None, false, &mut |done, _| {
                    if done >= 20 * 1024 * 1024 && !told {
                        told = true;
                        let _ = tx.send(());
                    }
                })
                .await;
            (alice, m)
        }
    });
    rx.recv().await.unwrap();
    // SIGKILL mid-upload: no shutdown path runs.
    drop(server.take());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server = Some(spawn_serve(dir.path(), port).await);
    let (_alice, sent) = upload.await.unwrap();
    let sent = sent.unwrap();

    let got = messages(&bob.sync().await.unwrap());
    assert_eq!(got[0].seq, sent.seq);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let out = files_dir.path().join("saved.mp4");
    let download = tokio::spawn({
        let out = out.clone();
        let chat = chat.clone();
        let seq = sent.seq;
        async move {
            let mut told = false;
            bob.save_file(&chat, seq, Some(&out), &mut |done, _| {
                if done >= 20 * 1024 * 1024 && !told {
                    told = true;
                    let _ = tx.send(());
                }
            })
            .await
        }
    });
    rx.recv().await.unwrap();
    drop(server.take());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _server = spawn_serve(dir.path(), port).await;
    download.await.unwrap().unwrap();
    assert!(
        std::fs::read(&out).unwrap() == plain,
        "the saved file differs"
    );
    assert_eq!(plaintext_under(dir.path(), &plain), None);
}

#[tokio::test]
async fn the_data_map_says_where_files_are_and_a_region_move_takes_them_along() {
    let mut node = Node::start().await;
    let (mut alice, mut bob, chat) = chat_of_two(&node, "kr").await;
    let dir = tempfile::tempdir().unwrap();
    let (path, plain) = random_file(dir.path(), "notes.txt", 200_000);
    let sent = alice
        .send_file(&chat, &path, None, false, &mut no_progress())
        .await
        .unwrap();
    bob.sync().await.unwrap();

    let map = alice.data_map().await.unwrap();
    let sent_cat = map
        .categories
        .iter()
        .find(|c| c.category == "files_sent")
        .unwrap();
    assert_eq!(sent_cat.region, "jp");
    assert!(sent_cat
        .accessible_from
        .iter()
        .any(|a| a.country == "KR" && a.disclosure.is_some()));
    let map = bob.data_map().await.unwrap();
    let received: Vec<_> = map
        .categories
        .iter()
        .filter(|c| c.category == "files_received")
        .map(|c| c.region.as_str())
        .collect();
    assert_eq!(
        received,
        ["jp"],
        "bob's files from alice are kept in her region"
    );

    // Alice moves to region kr: her file goes with her, nothing stays.
    let addr = node.stop().await;
    let regions = node.regions.clone();
    let admin = kizuna_server::admin::Admin::open(node.data_dir(), regions)
        .await
        .unwrap();
    let moved = admin.move_subject("alice", "kr").await.unwrap();
    assert_eq!(moved.files, 1);
    drop(admin);
    node.start_again(addr).await;
    assert!(files(&node.data_dir().join("files/jp")).is_empty());
    assert_eq!(files(&node.data_dir().join("files/kr")).len(), 1);
    let out = dir.path().join("again.txt");
    bob.save_file(&chat, sent.seq, Some(&out), &mut no_progress())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), plain);
    let map = alice.data_map().await.unwrap();
    let sent_cat = map
        .categories
        .iter()
        .find(|c| c.category == "files_sent")
        .unwrap();
    assert_eq!(sent_cat.region, "kr");
}

#[tokio::test]
async fn the_cli_sends_lists_and_saves_a_file() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let mut bob = node.person("bob", "jp").await;
    let mut alice = kizuna_client::Client::open(&node.home("alice"))
        .await
        .unwrap();
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.close().await;
    bob.sync().await.unwrap();
    bob.close().await;
    let dir = tempfile::tempdir().unwrap();
    let (path, plain) = random_file(dir.path(), "plan.pdf", 70_000);
    let home = |who: &str| node.home(who).display().to_string();
    let out = run(args(&[
        "send",
        "--home",
        &home("alice"),
        &chat,
        "--file",
        path.to_str().unwrap(),
        "--caption",
        "the plan",
        "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sent["file"]["file_name"], "plan.pdf");
    assert!(sent["file"].get("key").is_none(), "the key is printed");
    let seq = sent["seq"].as_u64().unwrap().to_string();
    let out = run(args(&["sync", "--home", &home("bob")])).await;
    assert!(out.status.success());
    let out = run(args(&["history", "--home", &home("bob"), &chat])).await;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("[file plan.pdf, application/pdf, 68.4 KiB") && shown.contains("the plan"),
        "{shown}"
    );
    let target = dir.path().join("saved.pdf");
    let out = run(args(&[
        "save",
        "--home",
        &home("bob"),
        &chat,
        &seq,
        "--out",
        target.to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&target).unwrap(), plain);
    // A message without a file, or a text and a file at once: refused with
    // a clear word and exit code.
    let out = run(args(&["save", "--home", &home("bob"), &chat, "1"])).await;
    assert!(!out.status.success());
    let out = run(args(&[
        "send",
        "--home",
        &home("alice"),
        &chat,
        "hello",
        "--file",
        "x",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
}

/// Creates `bucket` on the S3-compatible store the tests use (started by
/// `scripts/services-up`; an unsigned PUT, which it accepts).
async fn s3_bucket(bucket: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let endpoint =
        std::env::var("KIZUNA_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:7549".into());
    let host = endpoint.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap_or_else(|e| {
        panic!("no S3-compatible store at {endpoint} ({e}): run scripts/services-up, which starts one")
    });
    s.write_all(
        format!("PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    endpoint
}

#[tokio::test]
async fn a_region_can_keep_its_files_in_an_s3_bucket() {
    let bucket = format!("kizuna-it-{}", rand::random::<u32>());
    let endpoint = s3_bucket(&bucket).await;
    // The keys come from the environment only; these are the test store's.
    std::env::set_var("KZ_IT_S3_KEY", "test");
    std::env::set_var("KZ_IT_S3_SECRET", "test");
    let toml = kizuna_config::DEFAULT_TOML.replace(
        "files = { dir = \"files/jp\" }",
        &format!(
            "files = {{ s3 = {{ endpoint = \"{endpoint}\", bucket = \"{bucket}\", region = \"ap-northeast-1\", prefix = \"jp\", access_key_env = \"KZ_IT_S3_KEY\", secret_key_env = \"KZ_IT_S3_SECRET\" }} }}"
        ),
    );
    let node = Node::with_regions(&toml).await;
    let (mut alice, mut bob, chat) = chat_of_two(&node, "jp").await;
    let dir = tempfile::tempdir().unwrap();
    let (path, plain) = random_file(dir.path(), "photo.bin", 1_500_000);
    let sent = alice
        .send_file(&chat, &path, None, false, &mut no_progress())
        .await
        .unwrap();
    bob.sync().await.unwrap();
    let out = dir.path().join("got.bin");
    bob.save_file(&chat, sent.seq, Some(&out), &mut no_progress())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), plain);
    // Nothing of it on the node's disk: the bucket holds it.
    assert!(!node.data_dir().join("files/jp").exists());
    assert_eq!(plaintext_under(node.data_dir(), &plain), None);
}

#[tokio::test]
async fn the_files_benchmark_reports_its_rates_beside_the_disk_and_the_nodes_memory() {
    let work = tempfile::tempdir().unwrap();
    let out = run(args(&[
        "bench",
        "--files",
        "--file-mib",
        "3",
        "--no-pin",
        "--json",
        "--work-dir",
        work.path().join("run").to_str().unwrap(),
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["size_mib"], 3);
    for field in [
        "disk_copy_mib_s",
        "disk_read_mib_s",
        "send_mib_s",
        "save_mib_s",
        "server_rss_before_mib",
        "server_rss_peak_mib",
    ] {
        assert!(r[field].as_f64().unwrap() > 0.0, "{field}: {r}");
    }
    assert!(r["server_rss_peak_mib"].as_f64() >= r["server_rss_before_mib"].as_f64());
}

#[tokio::test]
async fn files_past_their_retention_and_uploads_never_sent_are_deleted_and_the_sender_told() {
    let toml = kizuna_config::DEFAULT_TOML
        .replace("retention = \"365d\"", "retention = \"3s\"")
        .replace("unfinished = \"24h\"", "unfinished = \"2s\"");
    let node = Node::with_regions(&toml).await;
    let (mut alice, mut bob, chat) = chat_of_two(&node, "jp").await;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "photo.bin", 1500 * 1024);
    let sent = alice
        .send_file(&chat, &path, None, false, &mut no_progress())
        .await
        .unwrap();
    let at = std::time::Instant::now();
    let f = sent.file.unwrap();
    // An upload begun over raw HTTP and never sent.
    let token = alice.bearer_token().await.unwrap();
    let begun: kizuna_wire::FileProgress = node
        .http()
        .post(format!("{}/v1/groups/{chat}/files", node.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "size": 100 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The data map says how long files are kept.
    let map = alice.data_map().await.unwrap();
    let sent_files = map
        .categories
        .iter()
        .find(|c| c.category == "files_sent")
        .unwrap();
    assert!(
        sent_files
            .protection
            .contains("deleted 3 seconds after it was sent"),
        "{}",
        sent_files.protection
    );

    // Bob still has it within the period...
    let got = messages(&bob.sync().await.unwrap());
    bob.save_file(&chat, got[0].seq, Some(dir.path()), &mut no_progress())
        .await
        .unwrap();
    // ...and the node deletes it soon after.
    while !files(&node.data_dir().join("files/jp")).is_empty() {
        assert!(
            at.elapsed() < std::time::Duration::from_secs(30),
            "the file outlived its retention: {:?}",
            files(&node.data_dir().join("files/jp"))
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(at.elapsed() >= std::time::Duration::from_millis(2900));
    let e = bob
        .save_file(&chat, got[0].seq, Some(dir.path()), &mut no_progress())
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::UnknownFile), "{e}");
    // Alice is told of both deletions, in the ledger, and why.
    let seen = alice.accesses().await.unwrap();
    let erased = |id: &str| {
        seen.accesses
            .iter()
            .find(|a| {
                a.entry.record.action == "erase"
                    && a.entry.record.categories == [format!("file {id}")]
            })
            .unwrap_or_else(|| panic!("no erasure of {id} in {:?}", seen.accesses))
            .entry
            .record
            .clone()
    };
    let kept = erased(&f.file_id);
    assert!(kept
        .basis
        .unwrap()
        .contains("retention period of files (3 seconds)"));
    assert_eq!(
        kept.requester,
        "the retention period of files sent in chats"
    );
    assert!(erased(&begun.file_id)
        .basis
        .unwrap()
        .contains("not finished and sent within 2 seconds"));
}

#[tokio::test]
async fn a_picture_carries_a_thumbnail_made_on_the_sending_device() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = chat_of_two(&node, "jp").await;
    // A valid 1×1 PNG.
    let png: kizuna_wire::Bytes = serde_json::from_str(
        "\"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\"",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("dot.png");
    std::fs::write(&picture, &png.0).unwrap();
    let (other, _) = random_file(dir.path(), "notes.bin", 5000);
    for p in [&picture, &other] {
        alice
            .send_file(&chat, p, None, false, &mut no_progress())
            .await
            .unwrap();
    }
    let got = messages(&bob.sync().await.unwrap());
    let thumb = got[0].file.as_ref().unwrap().thumbnail.clone().unwrap();
    assert!(thumb.0.starts_with(&[0xFF, 0xD8, 0xFF]), "not a JPEG");
    assert!(thumb.0.len() <= kizuna_media::THUMBNAIL_MAX_BYTES);
    assert_eq!(got[1].file.as_ref().unwrap().thumbnail, None);
    // It travels inside the message: the node never holds it.
    assert_eq!(plaintext_under(node.data_dir(), &thumb.0), None);
}

/// The parts the node keeps under `dir`, by the upload they belong to.
fn uploads_under(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, usize> {
    let mut by_upload = std::collections::BTreeMap::new();
    for p in files(dir) {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            *by_upload
                .entry(p.parent().unwrap().to_path_buf())
                .or_default() += 1;
        }
    }
    by_upload
}

#[tokio::test]
async fn a_send_and_a_save_killed_midway_go_on_where_they_stopped_when_run_again() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let mut bob = node.person("bob", "jp").await;
    let mut alice = kizuna_client::Client::open(&node.home("alice"))
        .await
        .unwrap();
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.close().await;
    bob.sync().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, plain) = random_file(dir.path(), "holiday.mov", 40 * 1024 * 1024 + 321);
    let send = args(&[
        "send",
        "--home",
        &node.home("alice").display().to_string(),
        &chat,
        "--file",
        path.to_str().unwrap(),
        "--json",
    ]);
    let kept = node.data_dir().join("files/jp");
    // The sending process dies (kill -9) once the node keeps a part.
    let mut first = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args(&send)
            .env("KIZUNA_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let at = std::time::Instant::now();
    while uploads_under(&kept).values().sum::<usize>() == 0 {
        assert!(
            first.0.try_wait().unwrap().is_none(),
            "the send ended before any part was kept"
        );
        assert!(at.elapsed() < std::time::Duration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let before = uploads_under(&kept);
    assert_eq!(before.len(), 1, "{before:?}");
    let parts = (40 * 1024 * 1024 + 321) / (1024 * 1024) + 1;
    assert!(
        before.values().all(|n| *n < parts),
        "the first send was not stopped midway: {before:?}"
    );

    // Run again, the same command: it goes on with the same upload.
    let out = run(send).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = uploads_under(&kept);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "a second upload was begun"
    );
    let got = messages(&bob.sync().await.unwrap());
    assert_eq!(got.len(), 1);
    let saved = bob
        .save_file(&chat, got[0].seq, Some(dir.path()), &mut no_progress())
        .await
        .unwrap();
    assert!(
        std::fs::read(&saved.path).unwrap() == plain,
        "the file differs"
    );

    // Sent once, the same file sent again is a new upload and a new message.
    let out = run(args(&[
        "send",
        "--home",
        &node.home("alice").display().to_string(),
        &chat,
        "--file",
        path.to_str().unwrap(),
    ]))
    .await;
    assert!(out.status.success());
    assert_eq!(uploads_under(&kept).len(), 2);

    // Saving it, killed midway, goes on from what it wrote when run again;
    // and what it wrote is checked with the rest.
    bob.close().await;
    let saved_to = tempfile::tempdir().unwrap();
    let target = saved_to.path().join("copy.mov");
    let save = args(&[
        "save",
        "--home",
        &node.home("bob").display().to_string(),
        &chat,
        &got[0].seq.to_string(),
        "--out",
        target.to_str().unwrap(),
    ]);
    let killed_midway = || {
        let save = save.clone();
        let dir = saved_to.path().to_path_buf();
        async move {
            let mut saving = KillOnDrop(
                std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
                    .args(&save)
                    .env("KIZUNA_LOG", "error")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            let at = std::time::Instant::now();
            let written = loop {
                let part = files(&dir).into_iter().find(|p| {
                    std::fs::metadata(p).is_ok_and(|m| m.len() >= 1024 * 1024)
                        && p.extension().is_some_and(|e| e == "part")
                });
                if let Some(p) = part {
                    break p;
                }
                assert!(
                    saving.0.try_wait().unwrap().is_none(),
                    "the save ended before it wrote a MiB"
                );
                assert!(at.elapsed() < std::time::Duration::from_secs(60));
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            };
            saving.0.kill().unwrap();
            saving.0.wait().unwrap();
            written
        }
    };
    let written = killed_midway().await;
    assert!(!target.exists());
    // A byte of what it wrote changed: that does not check with the rest,
    // so the save starts again from nothing, and still saves the file.
    let mut bytes = std::fs::read(&written).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&written, bytes).unwrap();
    let mut json = save.clone();
    json.push("--json".into());
    let out = run(json.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(saved["resumed"], 0, "a changed byte was taken as opened");
    assert!(std::fs::read(&target).unwrap() == plain, "the file differs");
    assert!(!written.exists());
    std::fs::remove_file(&target).unwrap();

    let written_again = killed_midway().await;
    assert_eq!(written_again, written, "the same name, to go on from");
    // Another save of it into the same place, while one runs: refused,
    // and what the running one wrote is left alone.
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&written)
        .unwrap();
    held.lock().unwrap();
    let out = run(save.clone()).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("being saved by another process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(written.exists());
    drop(held);
    let out = run(json).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        saved["resumed"].as_u64().unwrap() >= 1024 * 1024,
        "it did not go on from what it wrote: {saved}"
    );
    assert!(std::fs::read(&target).unwrap() == plain, "the file differs");
    assert_eq!(files(saved_to.path()), vec![target.clone()], "a leftover");
}

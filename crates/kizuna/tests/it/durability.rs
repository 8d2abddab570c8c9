//! Nothing a client was told is stored is lost: across a clean restart, and
//! across a crash of the server process.

use std::process::{Child, Command, Stdio};

use crate::harness::*;

#[tokio::test]
async fn restart_between_send_and_sync_loses_nothing() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    for i in 0..10 {
        alice.send(&chat, &format!("m{i}")).await.unwrap();
    }
    node.restart().await;
    let got = texts(&bob.sync().await.unwrap());
    assert_eq!(got, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // And the group goes on at the right epoch after the restart.
    bob.send(&chat, "after restart").await.unwrap();
    assert_eq!(texts(&alice.sync().await.unwrap()), ["after restart"]);
}

pub(crate) struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn spawn_serve(dir: &std::path::Path, port: u16) -> Serve {
    spawn_serve_with_staff(dir, port, 0).await
}

/// A node process whose staff listener is on `staff_port` (any, if 0).
async fn spawn_serve_with_staff(dir: &std::path::Path, port: u16, staff_port: u16) -> Serve {
    let child = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--staff-listen", &format!("127.0.0.1:{staff_port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let url = format!("http://127.0.0.1:{port}/health");
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() {
                return serve;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("kizuna serve did not come up");
}

/// A person registered against `url` (a node process on `data_dir`, or a
/// relay to one), with the code the node left in its outbox.
pub(crate) async fn register_at(
    home: &std::path::Path,
    url: &str,
    data_dir: &std::path::Path,
    handle: &str,
) -> kizuna_client::Client {
    let phone = phone_for(handle);
    let agreed = kizuna_client::Client::disclosures(url, "jp")
        .await
        .unwrap()
        .version;
    kizuna_client::Client::send_phone_code(url, &phone, "jp", Some(&agreed))
        .await
        .unwrap();
    let phone_code =
        kizuna_server::PhoneOutbox::latest_code(&data_dir.join("phone-outbox"), &phone).unwrap();
    let mut c = kizuna_client::Client::register(
        home,
        url,
        kizuna_client::RegisterOptions {
            handle,
            name: handle,
            phone: &phone,
            phone_code: &phone_code,
            email: None,
            region: "jp",
            device_label: "t",
            agreed_disclosures: Some(&agreed),
        },
    )
    .await
    .unwrap();
    c.set_contacts(&crate::harness::friends()).await.unwrap();
    c
}

#[tokio::test]
async fn crash_of_the_server_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let homes = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = spawn_serve(dir.path(), port).await;
    let mut alice = register_at(&homes.path().join("alice"), &url, dir.path(), "alice").await;
    let mut bob = register_at(&homes.path().join("bob"), &url, dir.path(), "bob").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    let sent: Vec<String> = (0..25).map(|i| format!("durable {i}")).collect();
    for s in &sent {
        alice.send(&chat, s).await.unwrap();
    }
    // SIGKILL: no shutdown path runs.
    drop(server);
    let _server = spawn_serve(dir.path(), port).await;
    assert_eq!(texts(&bob.sync().await.unwrap()), sent);
}

/// A relay between a client and the node that can swallow the answer to a
/// commit (or, with `drop_send_answers`, to a message), as a dropped
/// connection or a crash of the client would.
struct LossyRelay {
    url: String,
    drop_commit_answers: std::sync::Arc<std::sync::atomic::AtomicBool>,
    drop_send_answers: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn lossy_relay(upstream: std::net::SocketAddr) -> LossyRelay {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let send_flag = std::sync::Arc::new(AtomicBool::new(false));
    let drop_answers = flag.clone();
    let drop_sends = send_flag.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let drop_answers = drop_answers.clone();
            let drop_sends = drop_sends.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let armed = std::sync::Arc::new(AtomicBool::new(false));
                let armed_up = armed.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if (drop_answers.load(Ordering::SeqCst)
                            && text.contains("/commits HTTP/1.1"))
                            || (drop_sends.load(Ordering::SeqCst)
                                && text.contains("/messages HTTP/1.1"))
                        {
                            armed_up.store(true, Ordering::SeqCst);
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if armed.load(Ordering::SeqCst) {
                        // The node answered; the client never hears it.
                        break;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    LossyRelay {
        url,
        drop_commit_answers: flag,
        drop_send_answers: send_flag,
    }
}

#[tokio::test]
async fn a_send_whose_answer_was_lost_is_delivered_once() {
    use std::sync::atomic::Ordering;
    let node = Node::start().await;
    let relay = lossy_relay(node.server.as_ref().unwrap().addr).await;
    let mut alice = register_at(&node.home("alice"), &relay.url, node.dir.path(), "alice").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();

    // The node keeps the message, but its answer never reaches Alice.
    relay.drop_send_answers.store(true, Ordering::SeqCst);
    assert!(alice.send(&chat, "only once").await.is_err());
    relay.drop_send_answers.store(false, Ordering::SeqCst);
    // Her next step sends it again, with its id: the node answers as it did.
    alice.send(&chat, "and then this").await.unwrap();
    // Delivered twice, the second copy would not open (its ratchet step was
    // used): nothing unopened, nothing twice.
    let got = bob.sync().await.unwrap();
    assert!(
        !got.iter()
            .any(|e| matches!(e, kizuna_client::Event::Undecryptable(_))),
        "{got:?}"
    );
    assert_eq!(texts(&got), ["only once", "and then this"]);
    let mine = history_texts(&alice, &chat).await;
    assert_eq!(mine, ["only once", "and then this"]);
}

#[tokio::test]
async fn sends_cut_by_a_crash_of_the_node_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let homes = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = spawn_serve(dir.path(), port).await;
    let mut alice = register_at(&homes.path().join("alice"), &url, dir.path(), "alice").await;
    let mut bob = register_at(&homes.path().join("bob"), &url, dir.path(), "bob").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    let mut attempted = Vec::new();
    let mut crashes = 0;
    for i in 0..40u64 {
        let text = format!("m{i}");
        attempted.push(text.clone());
        if i % 8 != 4 {
            // A send the node may not have answered is sent again first.
            alice.send(&chat, &text).await.unwrap();
            continue;
        }
        // SIGKILL while the send is in flight, at a moment that moves
        // through the request's life from one crash to the next.
        let delay = std::time::Duration::from_micros(300 * i);
        let kill = async {
            tokio::time::sleep(delay).await;
            let _ = server.0.kill();
            let _ = server.0.wait();
        };
        let _ = tokio::join!(kill, alice.send(&chat, &text));
        crashes += 1;
        server = spawn_serve(dir.path(), port).await;
    }
    alice.sync().await.unwrap();
    assert!(crashes >= 4);
    let got = bob.sync().await.unwrap();
    assert!(
        !got.iter()
            .any(|e| matches!(e, kizuna_client::Event::Undecryptable(_))),
        "{got:?}"
    );
    assert_eq!(texts(&got), attempted);
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_settled_later() {
    use std::sync::atomic::Ordering;
    let node = Node::start().await;
    let relay = lossy_relay(node.server.as_ref().unwrap().addr).await;
    let mut alice = register_at(&node.home("alice"), &relay.url, node.dir.path(), "alice").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();

    // The node takes Alice's commit adding Carol, but the answer is lost.
    relay.drop_commit_answers.store(true, Ordering::SeqCst);
    assert!(alice.add_member(&chat, "carol").await.is_err());
    relay.drop_commit_answers.store(false, Ordering::SeqCst);

    // Her next operation finds the commit was taken and merges it, so she
    // is in the group's current epoch and everyone reads her.
    alice.send(&chat, "did it work?").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["did it work?"]);
    assert_eq!(texts(&carol.sync().await.unwrap()), ["did it work?"]);
    assert_eq!(alice.members(&chat).await.unwrap().len(), 3);
}

struct Quiet;
impl kizuna_vault::Progress for Quiet {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// Kills of the node while the staff realm records events as fast as it
/// can (each a ledger entry, written, appended, then numbered): the
/// offline audit of each crashed data directory finds entries not yet
/// numbered, or never appended, and tells them from deleted ones, with no
/// tamper alarm; the next start numbers them.
#[tokio::test]
async fn crashes_under_load_never_raise_a_false_tamper_alarm() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let (port, staff_port) = (free_port(), free_port());
    let login = format!("http://127.0.0.1:{staff_port}/staff/v1/login");
    let http = reqwest::Client::new();
    let audit = || async {
        kizuna_server::audit::verify(dir.path(), kizuna_config::Regions::embedded(), &[], &Quiet)
            .await
            .unwrap()
    };
    let mut unfinished = 0;
    for crash in 0..5u64 {
        let mut server = spawn_serve_with_staff(dir.path(), port, staff_port).await;
        // Failed logins of unknown staff ids: each is recorded, in the
        // ledger first, and none is slowed by a password hash.
        let stop = Arc::new(AtomicBool::new(false));
        let load: Vec<_> = (0..4)
            .map(|t| {
                let (http, login, stop) = (http.clone(), login.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let attempt = serde_json::json!({
                            "staff_id": format!("nobody{t}"),
                            "password": "wrong",
                            "totp": "000000",
                        });
                        if http.post(&login).json(&attempt).send().await.is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        // A moment that moves from one crash to the next.
        tokio::time::sleep(std::time::Duration::from_millis(100 + 37 * crash)).await;
        // SIGKILL: no shutdown path runs.
        let _ = server.0.kill();
        let _ = server.0.wait();
        stop.store(true, Ordering::SeqCst);
        for l in load {
            let _ = l.await;
        }
        let r = audit().await;
        assert!(
            r.is_clean(),
            "crash {crash}: a false tamper alarm: {:?}",
            r.problems
        );
        unfinished += r.pending_entries + r.unappended_entries;
    }
    // The next start settles what the last crash left, and stops cleanly.
    let server = spawn_serve_with_staff(dir.path(), port, staff_port).await;
    drop(server);
    let r = audit().await;
    assert!(r.is_clean(), "{:?}", r.problems);
    assert!(r.entries > 0);
    eprintln!("{unfinished} entries were left unfinished by the crashes");
}

/// The messaging benchmark, small: every message delivered, and the node's
/// own account of its group commits (what each waited for and wrote to the
/// WAL) in the report. Figures are printed, not asserted.
#[tokio::test]
async fn the_messaging_benchmark_says_what_each_group_commit_waited_for_and_wrote() {
    let work = tempfile::tempdir().unwrap();
    let out = run(args(&[
        "bench",
        "--devices",
        "12",
        "--group-size",
        "4",
        "--messages",
        "120",
        "--rate",
        "60",
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
    println!("{r:#}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["delivered"], r["expected_deliveries"], "{r}");
    let c = &r["commits"];
    let commits = c["group_commits"].as_u64().unwrap();
    assert!(commits > 0, "{r}");
    // Every message went through some commit, which wrote to the WAL.
    assert!(c["wal_bytes_mean"].as_f64().unwrap() > 0.0, "{r}");
    let by_size: u64 = c["by_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["commits"].as_u64().unwrap())
        .sum();
    // Counted once by its size (the node is read while acknowledgements
    // still commit, so a few may fall between its two counts).
    assert!(
        by_size.abs_diff(commits) <= 5,
        "{by_size} commits by size, {commits} in all: {r}"
    );
}

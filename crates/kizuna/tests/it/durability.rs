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

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn_serve(dir: &std::path::Path, port: u16) -> Serve {
    let child = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
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

#[tokio::test]
async fn crash_of_the_server_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let homes = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = spawn_serve(dir.path(), port).await;
    let reg = |h: &'static str| {
        let home = homes.path().join(h);
        let url = url.clone();
        async move {
            kizuna_client::Client::register(
                &home,
                &url,
                kizuna_client::RegisterOptions {
                    handle: h,
                    name: h,
                    phone: &phone_for(h),
                    email: None,
                    region: "jp",
                    device_label: "t",
                },
            )
            .await
            .unwrap()
        }
    };
    let mut alice = reg("alice").await;
    let mut bob = reg("bob").await;
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

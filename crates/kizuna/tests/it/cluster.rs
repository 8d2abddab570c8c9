//! Many nodes, one service: nodes sharing the PostgreSQL at 127.0.0.1:5432
//! (each test makes and drops its own databases) and the NATS at
//! 127.0.0.1:4222 (each test with a cluster name, so subjects, of its own).
//! A test that cannot reach them fails saying so.

use kizuna_client::{Client, Event, RegisterOptions, ServerAddress};
use kizuna_config::{DataDir, Regions};
use kizuna_server::{RunningServer, ServerConfig};
use kizuna_store::postgres::scratch::ScratchDatabase;

use crate::harness::*;

/// Nodes of one cluster, each on its own data directory with a copy of the
/// cluster's keys, all on the same databases.
pub struct Cluster {
    pub nodes: Vec<RunningServer>,
    _dirs: Vec<tempfile::TempDir>,
    homes: tempfile::TempDir,
    _databases: Vec<ScratchDatabase>,
}

/// The default configuration with every store in `databases` (node, jp, kr)
/// and the cluster named `name`.
pub fn cluster_toml(name: &str, databases: &[ScratchDatabase]) -> String {
    let regions = kizuna_config::DEFAULT_TOML
        .replace(
            "{ sqlite = \"regions/jp.sqlite\" }",
            &format!("{{ postgres = \"{}\" }}", databases[1].url()),
        )
        .replace(
            "{ sqlite = \"regions/kr.sqlite\" }",
            &format!("{{ postgres = \"{}\" }}", databases[2].url()),
        );
    let at = regions.find("[regions.jp]").unwrap();
    format!(
        "{}node_store = {{ postgres = \"{}\" }}\n\n[cluster]\nname = \"{name}\"\nnats = [\"nats://127.0.0.1:4222\"]\n\n{}",
        &regions[..at],
        databases[0].url(),
        &regions[at..]
    )
}

impl Cluster {
    pub async fn start(n: usize) -> Cluster {
        log_buffer();
        let name = format!("t{:012x}", rand::random::<u64>() >> 16);
        let databases = vec![
            ScratchDatabase::create("node").await,
            ScratchDatabase::create("jp").await,
            ScratchDatabase::create("kr").await,
        ];
        let regions = Regions::parse(&cluster_toml(&name, &databases), "cluster test").unwrap();
        // As an operator does it: the schema and the keys once, then a copy
        // of the keys for every node.
        let first = tempfile::tempdir().unwrap();
        let first_dir = DataDir::new(first.path());
        kizuna_server::stores::migrate(&first_dir, &regions)
            .await
            .unwrap();
        kizuna_server::stores::init_keys(&first_dir, &regions)
            .await
            .unwrap();
        let mut dirs = vec![first];
        for _ in 1..n {
            let d = tempfile::tempdir().unwrap();
            copy_dir(&dirs[0].path().join("keys"), &d.path().join("keys"));
            dirs.push(d);
        }
        let mut nodes = Vec::new();
        for d in &dirs {
            let mut config = ServerConfig::new(d.path(), any_port());
            config.regions = regions.clone();
            // Only wake-ups deliver live here: a connection's own re-reads
            // would hide a lost one.
            config.limits.cluster_reread = std::time::Duration::from_secs(3600);
            config.staff_listen = Some(any_port());
            nodes.push(RunningServer::start(config).await.unwrap());
        }
        Cluster {
            nodes,
            _dirs: dirs,
            homes: tempfile::tempdir().unwrap(),
            _databases: databases,
        }
    }

    pub fn url(&self, node: usize) -> String {
        self.nodes[node].url()
    }

    /// A person registered through node `node`, who keeps [`FRIENDS`] as
    /// contacts.
    pub async fn person(&self, handle: &str, region: &str, node: usize) -> Client {
        let server = ServerAddress::new(&self.url(node));
        let version = Client::disclosures(server.clone(), region)
            .await
            .unwrap()
            .version;
        let mut c = Client::register(
            &self.homes.path().join(handle),
            server,
            RegisterOptions {
                handle,
                name: &format!("{handle} Person"),
                phone: &phone_for(handle),
                email: None,
                region,
                device_label: "test",
                agreed_disclosures: Some(&version),
            },
        )
        .await
        .unwrap();
        c.set_contacts(&friends()).await.unwrap();
        c
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Watches `c` until stopped, passing each message's text on.
fn watching(
    mut c: Client,
) -> (
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Client>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        c.watch(
            move |e| {
                if let Event::Message(m) = e {
                    let _ = tx.send(m.text.clone());
                }
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
        .unwrap();
        c
    });
    (rx, stop_tx, task)
}

#[tokio::test]
async fn a_message_sent_through_one_node_reaches_a_device_on_another_live() {
    let cluster = Cluster::start(3).await;
    let mut alice = cluster.person("alice", "jp", 0).await;
    let bob = cluster.person("bob", "kr", 1).await;
    let mut carol = cluster.person("carol", "jp", 2).await;
    let chat = alice
        .create_chat(&["bob".into(), "carol".into()], None)
        .await
        .unwrap();

    // Bob is connected to node 1; Alice sends through node 0.
    let (mut live, stop, watcher) = watching(bob);
    for i in 0..5 {
        alice.send(&chat, &format!("live {i}")).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let text = tokio::time::timeout(std::time::Duration::from_secs(20), live.recv())
            .await
            .expect("a message sent through node 0 arrives live on node 1")
            .unwrap();
        got.push(text);
    }
    assert_eq!(got, ["live 0", "live 1", "live 2", "live 3", "live 4"]);
    stop.send(()).unwrap();
    let mut bob = watcher.await.unwrap();

    // Carol was offline on node 2: she catches up there.
    assert_eq!(
        texts(&carol.sync().await.unwrap()),
        ["live 0", "live 1", "live 2", "live 3", "live 4"]
    );

    // Members sending at once through three nodes see one order.
    let (a, b, c) = tokio::join!(
        async {
            for i in 0..10 {
                alice.send(&chat, &format!("a{i}")).await.unwrap();
            }
        },
        async {
            for i in 0..10 {
                bob.send(&chat, &format!("b{i}")).await.unwrap();
            }
        },
        async {
            for i in 0..10 {
                carol.send(&chat, &format!("c{i}")).await.unwrap();
            }
        }
    );
    let _ = (a, b, c);
    for p in [&mut alice, &mut bob, &mut carol] {
        p.sync().await.unwrap();
    }
    let order = history_texts(&alice, &chat).await;
    assert_eq!(order.len(), 35);
    assert_eq!(history_texts(&bob, &chat).await, order);
    assert_eq!(history_texts(&carol, &chat).await, order);
}

/// Nodes of one cluster as separate processes, which a test can kill -9.
struct Processes {
    nodes: Vec<Option<KillOnDrop>>,
    urls: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
    _config: tempfile::TempDir,
    _databases: Vec<ScratchDatabase>,
    homes: tempfile::TempDir,
}

impl Processes {
    async fn start(n: usize) -> Processes {
        let name = format!("t{:012x}", rand::random::<u64>() >> 16);
        let databases = vec![
            ScratchDatabase::create("node").await,
            ScratchDatabase::create("jp").await,
            ScratchDatabase::create("kr").await,
        ];
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("kizuna.toml");
        std::fs::write(&file, cluster_toml(&name, &databases)).unwrap();
        let first = tempfile::tempdir().unwrap();
        for step in ["migrate", "init-keys"] {
            let out = run(vec![
                "admin".into(),
                step.into(),
                "--config".into(),
                file.display().to_string(),
                "--data-dir".into(),
                first.path().display().to_string(),
            ])
            .await;
            assert!(out.status.success(), "admin {step}: {out:?}");
        }
        let mut dirs = vec![first];
        for _ in 1..n {
            let d = tempfile::tempdir().unwrap();
            copy_dir(&dirs[0].path().join("keys"), &d.path().join("keys"));
            dirs.push(d);
        }
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for d in &dirs {
            let (listen, staff) = (free_port(), free_port());
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
                .args(["serve", "--config"])
                .arg(&file)
                .arg("--data-dir")
                .arg(d.path())
                .args(["--listen", &listen.to_string()])
                .args(["--staff-listen", &staff.to_string()])
                .env("KIZUNA_LOG", "error")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            nodes.push(Some(KillOnDrop(child)));
            urls.push(format!("http://{listen}"));
        }
        for u in &urls {
            assert!(
                wait_until_up(&format!("{u}/v1/ledger/head")).await,
                "{u} did not start"
            );
        }
        Processes {
            nodes,
            urls,
            _dirs: dirs,
            _config: config,
            _databases: databases,
            homes: tempfile::tempdir().unwrap(),
        }
    }

    /// The addresses of these nodes, as a device is given them.
    fn servers(&self, nodes: &[usize]) -> String {
        nodes
            .iter()
            .map(|&i| self.urls[i].as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn kill(&mut self, node: usize) {
        if let Some(mut n) = self.nodes[node].take() {
            n.0.kill().unwrap();
            n.0.wait().unwrap();
        }
    }

    async fn person(&self, handle: &str, region: &str, servers: &str) -> Client {
        let server = ServerAddress::new(servers);
        let version = Client::disclosures(server.clone(), region)
            .await
            .unwrap()
            .version;
        let mut c = Client::register(
            &self.homes.path().join(handle),
            server,
            RegisterOptions {
                handle,
                name: &format!("{handle} Person"),
                phone: &phone_for(handle),
                email: None,
                region,
                device_label: "test",
                agreed_disclosures: Some(&version),
            },
        )
        .await
        .unwrap();
        c.set_contacts(&friends()).await.unwrap();
        c
    }
}

#[tokio::test]
async fn killing_nodes_under_load_loses_no_acknowledged_message() {
    let mut cluster = Processes::start(3).await;
    // Alice sends through node 0, and node 2 after it; Bob listens on node
    // 1, and node 2 after it.
    let mut alice = cluster
        .person("alice", "jp", &cluster.servers(&[0, 2]))
        .await;
    let bob = cluster.person("bob", "kr", &cluster.servers(&[1, 2])).await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    let (mut live, stop, watcher) = watching(bob);

    let mut acknowledged = Vec::new();
    for i in 0..60 {
        if i == 20 {
            // The node Bob is connected to dies.
            cluster.kill(1);
        }
        if i == 40 {
            // The node Alice sends through dies.
            cluster.kill(0);
        }
        let text = format!("m{i}");
        if alice.send(&chat, &text).await.is_ok() {
            acknowledged.push(text);
        }
    }
    assert!(
        acknowledged.len() >= 55,
        "sends moved on to the surviving node: {acknowledged:?}"
    );
    let mut got = Vec::new();
    while !acknowledged.iter().all(|t| got.contains(t)) {
        let text = tokio::time::timeout(std::time::Duration::from_secs(30), live.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "Bob's device moved to node 2 and has every acknowledged message; has {got:?}"
                )
            })
            .unwrap();
        got.push(text);
    }
    stop.send(()).unwrap();
    let bob = watcher.await.unwrap();
    // In the order they were sent, each once.
    let history = history_texts(&bob, &chat).await;
    let mut seen = std::collections::HashSet::new();
    assert!(
        history.iter().all(|t| seen.insert(t.clone())),
        "{history:?}"
    );
    let order: Vec<&String> = history
        .iter()
        .filter(|t| acknowledged.contains(t))
        .collect();
    assert_eq!(order, acknowledged.iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn shared_databases_are_migrated_once_by_the_operator_and_checked_by_every_node() {
    let databases = vec![
        ScratchDatabase::create("node").await,
        ScratchDatabase::create("jp").await,
        ScratchDatabase::create("kr").await,
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kizuna.toml");
    std::fs::write(&file, cluster_toml("migrating", &databases)).unwrap();
    let data = dir.path().join("data");
    let admin = |step: &str, json: bool| {
        let mut a = args(&["admin", step, "--config"]);
        a.push(file.display().to_string());
        a.push("--data-dir".into());
        a.push(data.display().to_string());
        if json {
            a.push("--json".into());
        }
        run(a)
    };
    // Before the schemas exist, nothing opens the databases.
    let out = admin("init-keys", false).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("kizuna admin migrate"), "{said}");

    let out = admin("migrate", true).await;
    assert!(out.status.success(), "{out:?}");
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stores: Vec<&str> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["store"].as_str().unwrap())
        .collect();
    assert_eq!(stores, ["node", "region jp", "region kr"]);
    assert!(first
        .as_array()
        .unwrap()
        .iter()
        .all(|m| !m["applied"].as_array().unwrap().is_empty()));
    // No password ever shows, and running it again changes nothing.
    let out = admin("migrate", false).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.matches("up to date").count(), 3, "{said}");

    let out = admin("init-keys", true).await;
    assert!(out.status.success(), "{out:?}");
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Six keys of the node's, and one per region.
    assert_eq!(made["made"].as_array().unwrap().len(), 8, "{made}");
    let out = admin("init-keys", false).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing was made"));

    // A node given a copy of the configuration but not the keys refuses to
    // make its own.
    let other = dir.path().join("other");
    let mut a = args(&["serve", "--config"]);
    a.push(file.display().to_string());
    a.push("--data-dir".into());
    a.push(other.display().to_string());
    a.extend(args(&["--listen", &free_port().to_string()]));
    let out = run(a).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("kizuna admin init-keys"), "{said}");
}

#[tokio::test]
async fn one_ledger_for_the_cluster_survives_a_writer_killed_mid_append() {
    let mut cluster = Processes::start(3).await;
    // People register through every node at once (each registration is
    // recorded in the ledger before it happens); node 0 dies among them.
    let mut victim = cluster.nodes[0].take().unwrap();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        victim.0.kill().unwrap();
        victim.0.wait().unwrap();
    });
    let handles: Vec<String> = (0..12).map(|i| format!("person{i}")).collect();
    let registering = handles.iter().enumerate().map(|(i, h)| {
        let servers = cluster.servers(&[i % 3]);
        let cluster = &cluster;
        async move {
            let server = ServerAddress::new(&servers);
            let Ok(d) = Client::disclosures(server.clone(), "jp").await else {
                return false;
            };
            Client::register(
                &cluster.homes.path().join(h),
                server,
                RegisterOptions {
                    handle: h,
                    name: "Someone",
                    phone: &phone_for(h),
                    email: None,
                    region: "jp",
                    device_label: "test",
                    agreed_disclosures: Some(&d.version),
                },
            )
            .await
            .is_ok()
        }
    });
    let registered = futures_util::future::join_all(registering).await;
    killer.await.unwrap();
    assert!(
        registered.iter().filter(|r| **r).count() >= 8,
        "{registered:?}"
    );

    // The survivors go on appending, whoever held the ledger's lock.
    cluster.person("alice", "jp", &cluster.servers(&[1])).await;
    cluster.person("bob", "kr", &cluster.servers(&[2])).await;

    // Every node serves the same heads, and the ledger verifies from each.
    let http = reqwest::Client::new();
    let heads = |url: String| {
        let http = http.clone();
        async move {
            http.get(format!("{url}/v1/ledger/heads"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let _ = heads(cluster.urls[1].clone()).await;
    let mut same = false;
    for _ in 0..50 {
        let (a, b) = (
            heads(cluster.urls[1].clone()).await,
            heads(cluster.urls[2].clone()).await,
        );
        if a == b {
            same = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(same, "nodes 1 and 2 serve the same signed heads");
    for node in [1, 2] {
        let out = run(args(&["audit", "verify", "--server", &cluster.urls[node]])).await;
        assert!(
            out.status.success(),
            "audit verify --server {}: {}{}",
            cluster.urls[node],
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn what_one_node_enforces_from_memory_reaches_every_node() {
    let cluster = Cluster::start(3).await;
    // A block made through node 2 holds on node 0, which had never heard
    // of anyone blocking Mallory.
    let mut carol = cluster.person("carol", "jp", 2).await;
    let mut mallory = cluster.person("mallory", "jp", 0).await;
    carol.block("mallory").await.unwrap();
    let mut refused = false;
    for _ in 0..50 {
        match mallory.create_chat(&["carol".into()], None).await {
            Err(e) if e.refusal() == Some(kizuna_wire::ErrorCode::Refused) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert!(refused, "node 0 learnt of the block made through node 2");

    // A device revoked through node 0 is cut off on node 1 at once.
    let mut alice = cluster.person("alice", "jp", 0).await;
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let home = cluster.homes.path().join("alice-phone");
    let url = cluster.url(1);
    let linking = tokio::spawn(async move {
        let mut code_tx = Some(code_tx);
        Client::link_device(
            &home,
            &url,
            "alice",
            "phone",
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
    alice.approve_device(&code).await.unwrap();
    let phone = linking.await.unwrap();
    let phone_id = phone.identity().device_id.clone();
    let (_live, _stop, watcher) = watching(phone);
    // The phone's WebSocket on node 1 is open before it is revoked.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    alice.revoke_device(&phone_id).await.unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), watcher).await;
    assert!(
        matches!(ended, Ok(Err(_))),
        "the revoked device's watch on node 1 ended with a refusal"
    );
}

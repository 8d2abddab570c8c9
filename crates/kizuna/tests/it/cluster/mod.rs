//! Many nodes, one service: nodes sharing the PostgreSQL at 127.0.0.1:5432
//! (each test makes and drops its own databases) and the NATS at
//! 127.0.0.1:4222 (each test with a cluster name, so subjects, of its own).
//! A test that cannot reach them fails saying so.

mod harness;
mod official;

use kizuna_client::{Client, RegisterOptions, ServerAddress};
use kizuna_store::postgres::scratch::ScratchDatabase;

use crate::harness::*;
use harness::*;

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
    let (mut live, stop, watcher) = watching(bob).await;
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
    // The operator sees it on node 1's operations listener.
    let ops = format!("http://{}", cluster.nodes[1].ops_addr.unwrap());
    let get = |path: &str| reqwest::get(format!("{ops}{path}"));
    assert_eq!(get("/healthz").await.unwrap().text().await.unwrap(), "ok");
    let ready = get("/readyz").await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "node 1 is ready: store and NATS answer"
    );
    let read = |metrics: &str, name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .parse()
            .unwrap()
    };
    // A delivery is counted once its frame is written, which the device
    // may read first: the count is looked at again until it is there.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = get("/metrics").await.unwrap().text().await.unwrap();
        if read(&metrics, "kizuna_deliveries_total") >= 5.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let value = |name: &str| read(&metrics, name);
    assert!(value("kizuna_deliveries_total") >= 5.0, "{metrics}");
    assert!(value("kizuna_delivery_latency_seconds_count") >= 5.0);
    assert_eq!(value("kizuna_connections"), 1.0);
    assert!(value("kizuna_ledger_entries") > 0.0);
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
    let (mut live, stop, watcher) = watching(bob).await;

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
    let mut complete = true;
    while !acknowledged.iter().all(|t| got.contains(t)) {
        match tokio::time::timeout(std::time::Duration::from_secs(30), live.recv()).await {
            Ok(Some(text)) => got.push(text),
            _ => {
                complete = false;
                break;
            }
        }
    }
    stop.send(()).unwrap();
    let bob = watcher.await.unwrap();
    if !complete {
        // What the device holds says whether a message never came or came
        // and could not be opened.
        let timeline = bob.timeline(&chat).await.unwrap();
        panic!(
            "Bob's device moved to node 2 and has every acknowledged message; shown live {got:?}; on the device {timeline:?}"
        );
    }
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
    assert_eq!(stores, ["node", "staff", "region jp", "region kr"]);
    assert!(first
        .as_array()
        .unwrap()
        .iter()
        .all(|m| !m["applied"].as_array().unwrap().is_empty()));
    // No password ever shows, and running it again changes nothing.
    let out = admin("migrate", false).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.matches("up to date").count(), 4, "{said}");

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
            let phone = phone_for(h);
            if Client::send_phone_code(server.clone(), &phone, "jp", Some(&d.version))
                .await
                .is_err()
            {
                return false;
            }
            let Some(phone_code) = cluster.sent_code(&phone) else {
                return false;
            };
            Client::register(
                &cluster.homes.path().join(h),
                server,
                RegisterOptions {
                    handle: h,
                    name: "Someone",
                    phone: &phone,
                    phone_code: &phone_code,
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
        let tried = mallory.create_chat(&["carol".into()], None).await;
        match code(tried) {
            Some(kizuna_wire::ErrorCode::Refused) => {
                refused = true;
                break;
            }
            Some(other) => panic!("refused with {other:?}"),
            None => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
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
    let (_live, _stop, watcher) = watching(phone).await;
    // The phone's WebSocket on node 1 is open before it is revoked.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    alice.revoke_device(&phone_id).await.unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), watcher).await;
    assert!(
        matches!(ended, Ok(Err(_))),
        "the revoked device's watch on node 1 ended with a refusal"
    );
}

#[tokio::test]
async fn residency_holds_across_the_cluster_and_a_move_runs_while_nodes_serve() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.person("alice", "jp", 0).await;
    let mut bob = cluster.person("bob", "kr", 1).await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.send(&chat, "hello").await.unwrap();
    bob.sync().await.unwrap();
    let bob_id = bob.me().await.unwrap().account_id;
    let bob_phone = phone_for("bob");
    let digits: String = bob_phone.chars().filter(|c| c.is_ascii_digit()).collect();

    // Nothing of Bob, a person of kr, is in the jp database: not his id,
    // name or phone, not even sealed.
    let jp = database_text(&cluster.databases[1]).await;
    let kr = database_text(&cluster.databases[2]).await;
    assert!(kr.contains(&bob_id), "the kr database holds Bob");
    for needle in [bob_id.as_str(), "bob Person", digits.as_str()] {
        assert!(!jp.contains(needle), "{needle} found in the jp database");
    }
    // And the node database holds no one's name or phone at all.
    let node_db = database_text(&cluster.databases[0]).await;
    for needle in ["bob Person", "alice Person", digits.as_str()] {
        assert!(
            !node_db.contains(needle),
            "{needle} found in the node database"
        );
    }

    // The operator moves Bob to jp from a machine of their own, while both
    // nodes serve and Alice keeps talking to him.
    let admin_dir = tempfile::tempdir().unwrap();
    copy_dir(
        &cluster.dirs[0].path().join("keys"),
        &admin_dir.path().join("keys"),
    );
    let talking = async {
        for i in 0..10 {
            alice.send(&chat, &format!("during {i}")).await.unwrap();
        }
    };
    let moving = async {
        let admin = kizuna_server::admin::Admin::open(admin_dir.path(), cluster.regions.clone())
            .await
            .unwrap();
        let moved = admin.move_subject("bob", "jp").await.unwrap();
        admin.close().await;
        moved
    };
    let ((), moved) = tokio::join!(talking, moving);
    assert_eq!((moved.from.as_str(), moved.to.as_str()), ("kr", "jp"));
    // Every message arrived, and Bob's data is read from jp on the node he
    // uses, which did not restart.
    let got = texts(&bob.sync().await.unwrap());
    assert_eq!(got.len(), 10, "{got:?}");
    assert_eq!(bob.me().await.unwrap().region, "jp");
    let kr = database_text(&cluster.databases[2]).await;
    assert!(!kr.contains(&bob_id), "Bob is still in the kr database");
    let jp = database_text(&cluster.databases[1]).await;
    assert!(jp.contains(&bob_id), "the jp database holds Bob now");
}

#[tokio::test]
async fn the_staff_realm_is_one_for_the_cluster() {
    use kizuna_wire::staff::{NewStaffMember, Role};
    let cluster = Cluster::start(3).await;
    // The first admin is made while the nodes serve.
    let (_operator, root) = cluster.first_admin().await;
    let staff_url = |n: usize| format!("http://{}", cluster.nodes[n].staff_addr.unwrap());
    let admin = cluster.staff_login(0, &root, 0).await.unwrap();
    let support = admin
        .add_member(&NewStaffMember {
            staff_id: "support".into(),
            org_id: "operator".into(),
            roles: vec![Role::Support],
        })
        .await
        .unwrap();
    // A session opened on node 1 is good on every node.
    let session = cluster.staff_login(1, &support, 0).await.unwrap();
    let token = session.session().token.clone();
    let me_on = |n: usize| {
        reqwest::Client::new()
            .get(format!("{}/staff/v1/me", staff_url(n)))
            .bearer_auth(&token)
            .send()
    };
    for n in 0..3 {
        assert_eq!(me_on(n).await.unwrap().status(), 200, "node {n}");
    }
    // Suspended through node 0: refused by every node from that moment,
    // with nothing to wait for.
    admin.suspend_member("support").await.unwrap();
    for n in 0..3 {
        assert_eq!(me_on(n).await.unwrap().status(), 401, "node {n}");
    }
    // Every node records into the one staff realm: the logins made through
    // nodes 0, 1 and 2 are all in the events node 2 lists.
    let kinds: Vec<String> = cluster
        .staff_login(2, &root, 1)
        .await
        .unwrap()
        .events()
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "login").count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "staff_suspended"), "{kinds:?}");
    // Nothing of the staff realm is in the user realm's tables.
    let user_realm = database_text(&cluster.databases[0]).await;
    assert!(
        !user_realm.contains("support"),
        "staff rows in the node's tables"
    );
}

#[tokio::test]
async fn a_key_rotation_and_an_offline_audit_run_while_nodes_serve() {
    let cluster = Cluster::start(3).await;
    let mut alice = cluster.person("alice", "jp", 0).await;
    let mut bob = cluster.person("bob", "jp", 1).await;
    let mut carol = cluster.person("carol", "jp", 2).await;
    let chat = alice
        .create_chat(&["bob".into(), "carol".into()], None)
        .await
        .unwrap();
    alice.send(&chat, "before").await.unwrap();
    bob.sync().await.unwrap();
    let operator = tempfile::tempdir().unwrap();
    copy_dir(
        &cluster.dirs[0].path().join("keys"),
        &operator.path().join("keys"),
    );
    let config = cluster.config.path().display().to_string();
    let op = operator.path().display().to_string();
    let rotate = || {
        run(args(&[
            "admin",
            "rotate-key",
            "--config",
            &config,
            "--data-dir",
            &op,
            "--region",
            "jp",
            "--json",
        ]))
    };
    // First run: the new version is only staged; nothing is wrapped under
    // it, so the nodes, which do not hold it yet, read everything.
    let out = rotate().await;
    assert!(out.status.success(), "{out:?}");
    let staged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(staged["staged"], true, "{staged}");
    assert_eq!(staged["key_version"], 2);
    assert_eq!(staged["rewrapped"], 0);
    for c in [&mut alice, &mut bob, &mut carol] {
        c.me().await.unwrap();
    }
    // The operator gives every node the staged file, then re-wraps while
    // the nodes serve and people keep talking.
    for d in &cluster.dirs {
        std::fs::copy(
            operator.path().join("keys/region-jp.key"),
            d.path().join("keys/region-jp.key"),
        )
        .unwrap();
    }
    let talking = async {
        for i in 0..5 {
            bob.send(&chat, &format!("during {i}")).await.unwrap();
        }
    };
    let ((), out) = tokio::join!(talking, rotate());
    assert!(out.status.success(), "{out:?}");
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["staged"], false, "{done}");
    assert_eq!(done["key_version"], 2);
    assert_eq!(done["rewrapped"], 3, "{done}");
    assert_eq!(done["retired_versions"], serde_json::json!([1]));
    // Each node, none restarted, opens what is now wrapped under version 2,
    // and seals what comes next under it.
    for c in [&mut alice, &mut bob, &mut carol] {
        assert!(c.me().await.unwrap().name.ends_with("Person"));
    }
    let mut dave = cluster.person("dave", "jp", 2).await;
    dave.me().await.unwrap();
    assert_eq!(
        texts(&carol.sync().await.unwrap()).len(),
        6,
        "every message reached carol"
    );
    let _ = alice.sync().await.unwrap();

    // The offline audit of the cluster reads the log the nodes share.
    let out = run(args(&[
        "audit",
        "verify",
        "--config",
        &config,
        "--data-dir",
        &op,
        "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["verified_entries"].as_u64().unwrap() > 0,
        "the audit checked the shared log's entries: {report}"
    );
}

#[tokio::test]
async fn phone_look_ups_are_limited_for_the_cluster_as_one() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.person("alice", "jp", 0).await;
    let mut bob = cluster.person("bob", "jp", 1).await;
    // Both look up from one address, through two nodes: the address's
    // limit is counted once, in the cluster's Redis.
    let limit = kizuna_server::Limits::default().phone_lookups_per_minute;
    let mut answered = 0;
    let mut refused = Vec::new();
    for i in 0..limit + 3 {
        let c = if i % 2 == 0 { &mut alice } else { &mut bob };
        match c.lookup_phone("+819099998888").await {
            Ok(_) => answered += 1,
            Err(e) => refused.push(code(Err::<(), _>(e))),
        }
    }
    assert_eq!(answered, limit, "{refused:?}");
    assert!(refused
        .iter()
        .all(|c| *c == Some(kizuna_wire::ErrorCode::RateLimited)));
}

//! Clusters for the tests: nodes in this process or as processes of their
//! own, each with a data directory holding a copy of the cluster's keys, all
//! on databases made for the test.

use kizuna_client::{Client, Event, RegisterOptions, ServerAddress};
use kizuna_config::{DataDir, Regions};
use kizuna_server::{RunningServer, ServerConfig};
use kizuna_store::postgres::scratch::ScratchDatabase;

use crate::harness::*;

/// Nodes of one cluster, each on its own data directory with a copy of the
/// cluster's keys, all on the same databases.
pub struct Cluster {
    pub nodes: Vec<RunningServer>,
    pub regions: Regions,
    pub dirs: Vec<tempfile::TempDir>,
    pub homes: tempfile::TempDir,
    /// The node database, then jp's, then kr's.
    pub databases: Vec<ScratchDatabase>,
    /// The cluster's configuration, as a file the operator's commands read.
    pub config: tempfile::NamedTempFile,
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
        "{}node_store = {{ postgres = \"{}\" }}\n\n[cluster]\nname = \"{name}\"\nnats = [\"nats://127.0.0.1:4222\"]\nredis = \"{}\"\n\n{}",
        &regions[..at],
        databases[0].url(),
        redis_url(),
        &regions[at..]
    )
}

/// The Redis the tests' clusters count shared limits in
/// (`KIZUNA_TEST_REDIS`, by default the local one); each cluster's keys are
/// under its own name.
pub fn redis_url() -> String {
    std::env::var("KIZUNA_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
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
        let toml = cluster_toml(&name, &databases);
        let regions = Regions::parse(&toml, "cluster test").unwrap();
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), &toml).unwrap();
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
            config.ops_listen = Some(any_port());
            nodes.push(RunningServer::start(config).await.unwrap());
        }
        Cluster {
            nodes,
            regions,
            dirs,
            homes: tempfile::tempdir().unwrap(),
            databases,
            config,
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
        let phone = phone_for(handle);
        Client::send_phone_code(server.clone(), &phone, region, Some(&version))
            .await
            .unwrap();
        let outbox = self.dirs[node].path().join("phone-outbox");
        let phone_code = kizuna_server::PhoneOutbox::latest_code(&outbox, &phone).unwrap();
        let mut c = Client::register(
            &self.homes.path().join(handle),
            server,
            RegisterOptions {
                handle,
                name: &format!("{handle} Person"),
                phone: &phone,
                phone_code: &phone_code,
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

pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

impl Cluster {
    /// The first staff admin, made while the nodes serve from a data
    /// directory of the operator's own that holds the cluster's keys (kept
    /// as long as the answer is).
    pub async fn first_admin(&self) -> (tempfile::TempDir, kizuna_wire::staff::StaffCredentials) {
        let operator = tempfile::tempdir().unwrap();
        copy_dir(
            &self.dirs[0].path().join("keys"),
            &operator.path().join("keys"),
        );
        let root = kizuna_server::admin::bootstrap_staff(
            operator.path(),
            &self.regions,
            "root",
            vec!["127.0.0.0/8".into()],
        )
        .await
        .unwrap();
        (operator, root)
    }

    /// Logs `c` in through node `n`, each node with a home of its own;
    /// `step` picks the authenticator code, as each opens one session.
    pub async fn staff_login(
        &self,
        n: usize,
        c: &kizuna_wire::staff::StaffCredentials,
        step: u64,
    ) -> Result<kizuna_console::staff::StaffClient, kizuna_console::ConsoleError> {
        let home = self.homes.path().join(format!("staff-{}-{n}", c.staff_id));
        let url = format!("http://{}", self.nodes[n].staff_addr.unwrap());
        let code = kizuna_staff::totp_at(&c.totp_secret, kizuna_wire::now_ms() / 1000 + 30 * step)
            .unwrap();
        kizuna_console::staff::StaffClient::login(
            &home,
            &url,
            None,
            &c.staff_id,
            &c.password,
            &code,
        )
        .await
    }
}

/// Watches `c` until stopped, passing each message's text on.
pub async fn watching(
    mut c: Client,
) -> (
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Client>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (up_tx, up_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut up = Some(up_tx);
        c.watch_connected(
            move |e| {
                if let Event::Message(m) = e {
                    let _ = tx.send(m.text.clone());
                }
            },
            move |connected| {
                if connected {
                    if let Some(up) = up.take() {
                        let _ = up.send(());
                    }
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
    // What is sent from here on reaches the device live, not in the
    // catch-up of a connection still being made.
    let _ = up_rx.await;
    (rx, stop_tx, task)
}

/// Nodes of one cluster as separate processes, which a test can kill -9.
pub struct Processes {
    pub nodes: Vec<Option<KillOnDrop>>,
    pub urls: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    _config: tempfile::TempDir,
    _databases: Vec<ScratchDatabase>,
    pub homes: tempfile::TempDir,
}

impl Processes {
    pub async fn start(n: usize) -> Processes {
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
                .args(["--ops-listen", "127.0.0.1:0"])
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
            dirs,
            _config: config,
            _databases: databases,
            homes: tempfile::tempdir().unwrap(),
        }
    }

    /// The addresses of these nodes, as a device is given them.
    /// The code a node of the cluster sent to `phone`, whichever node it
    /// was: a device that asked through several may have reached any.
    pub fn sent_code(&self, phone: &str) -> Option<String> {
        self.dirs.iter().find_map(|d| {
            kizuna_server::PhoneOutbox::latest_code(&d.path().join("phone-outbox"), phone)
        })
    }

    pub fn servers(&self, nodes: &[usize]) -> String {
        nodes
            .iter()
            .map(|&i| self.urls[i].as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn kill(&mut self, node: usize) {
        if let Some(mut n) = self.nodes[node].take() {
            n.0.kill().unwrap();
            n.0.wait().unwrap();
        }
    }

    pub async fn person(&self, handle: &str, region: &str, servers: &str) -> Client {
        let server = ServerAddress::new(servers);
        let version = Client::disclosures(server.clone(), region)
            .await
            .unwrap()
            .version;
        let phone = phone_for(handle);
        Client::send_phone_code(server.clone(), &phone, region, Some(&version))
            .await
            .unwrap();
        let phone_code = self.sent_code(&phone).unwrap();
        let mut c = Client::register(
            &self.homes.path().join(handle),
            server,
            RegisterOptions {
                handle,
                name: &format!("{handle} Person"),
                phone: &phone,
                phone_code: &phone_code,
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

/// Everything a PostgreSQL database holds, as text (binary columns in hex).
pub async fn database_text(db: &ScratchDatabase) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut all = String::new();
    for t in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{t}\" t"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        all.push_str(&rows.join("\n"));
    }
    all
}

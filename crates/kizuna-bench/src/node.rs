//! A `kizuna serve` started for a run, and the people registered on it:
//! what every benchmark that talks to a node sets up first.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use kizuna_client::{Client, RegisterOptions};

use crate::{governed, BenchError, Progress};

/// A node stopped by [`Node::stop`].
pub(crate) struct Stopped {
    ports: (u16, u16),
    pub(crate) data_dir: std::path::PathBuf,
}

impl Stopped {
    /// Starts it again on the same data and ports: its devices find it
    /// where they left it.
    pub(crate) async fn start(
        &self,
        kizuna_bin: &std::path::Path,
        pin: bool,
    ) -> Result<Node, BenchError> {
        Node::spawn_at(kizuna_bin, &self.data_dir, None, pin, false, self.ports).await
    }
}

/// Keep-alive HTTP connections opened before the clock starts.
pub(crate) const WARM_CONNECTIONS: usize = 256;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A `kizuna serve` started for a run, with its staff realm bootstrapped
/// when governed reads are part of it.
pub(crate) struct Node {
    // Held so the node is stopped when the run ends.
    _server: Server,
    port: u16,
    staff_port: u16,
    pub(crate) pid: u32,
    pub(crate) pinned: bool,
    pub(crate) url: String,
    /// Its operations listener, whose metrics say where the sequencer's
    /// time went.
    pub(crate) ops_url: String,
    /// Where its phone outbox is, to read the codes registration needs.
    pub(crate) data_dir: std::path::PathBuf,
    pub(crate) staff_url: String,
    pub(crate) root: Option<kizuna_wire::staff::StaffCredentials>,
    pub(crate) http: reqwest::Client,
}

fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BenchError::Server(e.to_string()))
}

impl Node {
    pub(crate) async fn start(
        kizuna_bin: &std::path::Path,
        work_dir: &std::path::Path,
        pin: bool,
        staff: bool,
    ) -> Result<Node, BenchError> {
        let _ = std::fs::remove_dir_all(work_dir);
        std::fs::create_dir_all(work_dir).map_err(|e| BenchError::Setup(e.to_string()))?;
        Self::start_on(kizuna_bin, work_dir, pin, staff).await
    }

    /// Starts a node on whatever `work_dir/server` already holds.
    pub(crate) async fn start_on(
        kizuna_bin: &std::path::Path,
        work_dir: &std::path::Path,
        pin: bool,
        staff: bool,
    ) -> Result<Node, BenchError> {
        Self::spawn(kizuna_bin, &work_dir.join("server"), None, pin, staff).await
    }

    /// Starts `kizuna serve` on `data_dir`; with `cluster`, on that
    /// configuration file, with those variables in its environment.
    pub(crate) async fn spawn(
        kizuna_bin: &std::path::Path,
        data_dir: &std::path::Path,
        cluster: Option<(&std::path::Path, &[(&str, String)])>,
        pin: bool,
        staff: bool,
    ) -> Result<Node, BenchError> {
        let ports = (free_port()?, free_port()?);
        Self::spawn_at(kizuna_bin, data_dir, cluster, pin, staff, ports).await
    }

    /// Stops the node, keeping where it was: its data and ports.
    pub(crate) fn stop(self) -> Stopped {
        Stopped {
            ports: (self.port, self.staff_port),
            data_dir: self.data_dir.clone(),
        }
    }

    async fn spawn_at(
        kizuna_bin: &std::path::Path,
        data_dir: &std::path::Path,
        cluster: Option<(&std::path::Path, &[(&str, String)])>,
        pin: bool,
        staff: bool,
        (port, staff_port): (u16, u16),
    ) -> Result<Node, BenchError> {
        let root = if staff {
            Some(governed::bootstrap(kizuna_bin, data_dir)?)
        } else {
            None
        };
        let url = format!("http://127.0.0.1:{port}");
        let staff_url = format!("http://127.0.0.1:{staff_port}");
        let ops_port = free_port()?;
        let ops_url = format!("http://127.0.0.1:{ops_port}");
        let pinned = pin && std::path::Path::new("/usr/bin/taskset").exists();
        let mut cmd = if pinned {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(kizuna_bin);
            c
        } else {
            Command::new(kizuna_bin)
        };
        cmd.arg("serve");
        if let Some((config, env)) = cluster {
            cmd.arg("--config")
                .arg(config)
                .envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--rate-limit",
                "1000000",
                // Every benchmark device registers from this one address.
                "--signups-per-minute",
                "100000000",
                "--staff-listen",
                &format!("127.0.0.1:{staff_port}"),
                // A free port: the one two after --listen may be taken.
                "--ops-listen",
                &format!("127.0.0.1:{ops_port}"),
                // One member reads every benchmark person, many times over.
                "--staff-max-people-per-hour",
                "1000000000",
            ])
            .env("KIZUNA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let server = Server(cmd.spawn().map_err(|e| BenchError::Server(e.to_string()))?);
        let pid = server.0.id();
        if pinned {
            let _ = Command::new("taskset")
                .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
                .stdout(Stdio::null())
                .status();
        }
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(WARM_CONNECTIONS)
            .build()
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        // A node opening a large store (millions of imported people to
        // enter into the key log) takes its time; one that exited does not
        // come up at all.
        let mut server = server;
        let deadline = std::time::Instant::now() + Duration::from_secs(900);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = server.0.try_wait() {
                return Err(BenchError::Server(format!("kizuna serve exited: {status}")));
            }
            if http.get(format!("{url}/health")).send().await.is_ok() {
                return Ok(Node {
                    _server: server,
                    port,
                    staff_port,
                    pid,
                    pinned,
                    url,
                    ops_url,
                    data_dir: data_dir.to_path_buf(),
                    staff_url,
                    root,
                    http,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BenchError::Server("kizuna serve did not come up".into()))
    }

    /// A staff member with live grants over `subjects`.
    pub(crate) async fn reader(
        &self,
        work_dir: &std::path::Path,
        subjects: Vec<String>,
    ) -> Result<governed::Reader, BenchError> {
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| BenchError::Setup("the staff realm was not bootstrapped".into()))?;
        governed::Reader::set_up(work_dir, &self.staff_url, root, subjects).await
    }
}

pub(crate) fn handle(i: usize) -> String {
    format!("b{i:05}")
}

/// Registers `n` people with one device each, in region jp, device `i`
/// through node `urls[i mod urls.len()]`, which it stays with.
pub(crate) async fn register(
    work_dir: &std::path::Path,
    nodes: &[Node],
    n: usize,
    progress: &impl Fn(Progress<'_>),
) -> Result<Vec<Client>, BenchError> {
    let homes = work_dir.join("devices");
    // Every registration carries agreement to the region's disclosures.
    let agreed = &Client::disclosures(nodes[0].url.as_str(), "jp")
        .await?
        .version;
    let mut clients: Vec<Option<Client>> = (0..n).map(|_| None).collect();
    let mut stream = futures_util::stream::iter((0..n).map(|i| {
        let home = homes.join(format!("d{i}"));
        let node = &nodes[i % nodes.len()];
        let url = node.url.as_str();
        async move {
            let handle = handle(i);
            let phone = format!("+8170{i:08}");
            // Each person proves their number with the code the node left
            // in its outbox, as a person types the one their phone shows.
            let phone_code = match Client::send_phone_code(url, &phone, "jp", Some(agreed)).await {
                Ok(_) => kizuna_server::PhoneOutbox::latest_code(
                    &node.data_dir.join("phone-outbox"),
                    &phone,
                )
                .unwrap_or_default(),
                Err(e) => return (i, Err(e)),
            };
            let c = Client::register(
                &home,
                url,
                RegisterOptions {
                    handle: &handle,
                    name: &handle,
                    phone: &phone,
                    phone_code: &phone_code,
                    email: None,
                    region: "jp",
                    device_label: "bench",
                    agreed_disclosures: Some(agreed),
                },
            )
            .await;
            (i, c)
        }
    }))
    .buffer_unordered(8);
    while let Some((i, c)) = stream.next().await {
        clients[i] = Some(c?);
        progress(Progress::Done(1));
    }
    drop(stream);
    Ok(clients.into_iter().flatten().collect())
}

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use kizuna_client::{Client, Event, RegisterOptions, StoredMessage};
use kizuna_config::Regions;
use kizuna_server::{Limits, RunningServer, ServerConfig};

/// Everything the server logs during the tests, to check it for plaintext.
pub fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || LogWriter(w.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Node {
    pub dir: tempfile::TempDir,
    pub server: Option<RunningServer>,
    pub url: String,
    pub limits: Limits,
    pub regions: Regions,
    homes: tempfile::TempDir,
    /// Kept across restarts, so staff sessions find their listener again.
    staff_listen: std::net::SocketAddr,
    /// TLS, proxies, connection limits and timeouts, kept across restarts.
    pub edge: kizuna_server::Edge,
    /// The authority the node's certificate comes from, when it serves TLS.
    pub ca_cert: Option<Vec<u8>>,
}

impl Node {
    pub async fn start() -> Node {
        Self::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Node {
        Self::with(limits, Regions::embedded()).await
    }

    /// A node with this region configuration (TOML).
    pub async fn with_regions(toml: &str) -> Node {
        Self::with(Limits::default(), Regions::parse(toml, "test").unwrap()).await
    }

    /// A node on a data directory prepared beforehand.
    pub async fn on(dir: tempfile::TempDir) -> Node {
        Self::with_dir(dir, Limits::default(), Regions::embedded()).await
    }

    async fn with(limits: Limits, regions: Regions) -> Node {
        Self::with_dir(tempfile::tempdir().unwrap(), limits, regions).await
    }

    async fn with_dir(dir: tempfile::TempDir, limits: Limits, regions: Regions) -> Node {
        Self::build(dir, limits, regions, kizuna_server::Edge::default(), None).await
    }

    /// A node with these listener settings (TLS, proxies, limits,
    /// timeouts); `ca_cert` is the authority its people's devices trust.
    pub async fn with_edge(
        limits: Limits,
        edge: kizuna_server::Edge,
        ca_cert: Option<Vec<u8>>,
    ) -> Node {
        let dir = tempfile::tempdir().unwrap();
        Self::build(dir, limits, Regions::embedded(), edge, ca_cert).await
    }

    async fn build(
        dir: tempfile::TempDir,
        limits: Limits,
        regions: Regions,
        edge: kizuna_server::Edge,
        ca_cert: Option<Vec<u8>>,
    ) -> Node {
        log_buffer();
        // A port found free may be taken by another test before the node
        // binds it: then the node starts on others.
        let mut tries = 0;
        let (server, staff_listen) = loop {
            let mut config = ServerConfig::new(dir.path(), any_port());
            config.limits = limits.clone();
            config.regions = regions.clone();
            config.edge = edge.clone();
            let staff_listen = any_port();
            config.staff_listen = Some(staff_listen);
            match RunningServer::start(config).await {
                Ok(server) => break (server, staff_listen),
                Err(kizuna_server::ServerError::Listen { source, .. })
                    if source.kind() == std::io::ErrorKind::AddrInUse && tries < 5 =>
                {
                    tries += 1
                }
                Err(e) => panic!("the node did not start: {e}"),
            }
        };
        let url = server.url();
        Node {
            dir,
            server: Some(server),
            url,
            limits,
            regions,
            homes: tempfile::tempdir().unwrap(),
            staff_listen,
            edge,
            ca_cert,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The node's files, as the node names them.
    pub fn files(&self) -> kizuna_config::DataDir {
        kizuna_config::DataDir::new(self.dir.path())
    }

    pub fn home(&self, name: &str) -> PathBuf {
        self.homes.path().join(name)
    }

    /// Stops the node cleanly and starts it again on the same port and data.
    pub async fn restart(&mut self) {
        self.restart_with(None).await
    }

    /// Stops the node and starts it again on the same port and data, with
    /// the region configuration `toml` if given.
    pub async fn restart_with(&mut self, toml: Option<&str>) {
        let addr = self.stop().await;
        if let Some(t) = toml {
            self.regions = Regions::parse(t, "test").unwrap();
        }
        self.start_again(addr).await;
    }

    /// Stops the node (to run offline admin work on its data directory).
    pub async fn stop(&mut self) -> std::net::SocketAddr {
        let server = self.server.take().unwrap();
        let addr = server.addr;
        if let Some(staff) = server.staff_addr {
            self.staff_listen = staff;
        }
        server.shutdown().await;
        addr
    }

    pub async fn start_again(&mut self, addr: std::net::SocketAddr) {
        let mut config = ServerConfig::new(self.dir.path(), addr);
        config.limits = self.limits.clone();
        config.regions = self.regions.clone();
        config.staff_listen = Some(self.staff_listen);
        config.edge = self.edge.clone();
        self.server = Some(RunningServer::start(config).await.unwrap());
    }

    pub async fn person(&self, handle: &str, region: &str) -> Client {
        self.register(handle, region, &phone_for(handle)).await
    }

    /// A person registered here, who keeps everyone in [`FRIENDS`] as a
    /// contact: a chat one of them starts is a normal chat, not a request.
    pub async fn register(&self, handle: &str, region: &str, phone: &str) -> Client {
        let mut c = self.stranger(handle, region, phone).await;
        c.set_contacts(&friends()).await.unwrap();
        c
    }

    /// The version of `region`'s disclosures, which a person registering
    /// there reads and agrees to.
    pub async fn agreed(&self, region: &str) -> String {
        let server =
            kizuna_client::ServerAddress::new(&self.url).with_ca_cert(self.ca_cert.clone());
        Client::disclosures(server, region).await.unwrap().version
    }

    /// Has the node send a code to `phone` for `region`, and reads it off
    /// the node's outbox, as its holder reads it off their phone.
    pub async fn phone_code(&self, phone: &str, region: &str) -> String {
        let server =
            kizuna_client::ServerAddress::new(&self.url).with_ca_cert(self.ca_cert.clone());
        let agreed = self.agreed(region).await;
        Client::send_phone_code(server, phone, region, Some(&agreed))
            .await
            .unwrap();
        self.sent_code(phone)
            .unwrap_or_else(|| panic!("no code for {phone} in the outbox"))
    }

    /// The latest code the node sent to `phone`, if any.
    pub fn sent_code(&self, phone: &str) -> Option<String> {
        kizuna_server::PhoneOutbox::latest_code(&self.dir.path().join("phone-outbox"), phone)
    }

    /// A person registered here with no contacts.
    pub async fn stranger(&self, handle: &str, region: &str, phone: &str) -> Client {
        let phone_code = self.phone_code(phone, region).await;
        Client::register(
            &self.home(handle),
            kizuna_client::ServerAddress::new(&self.url).with_ca_cert(self.ca_cert.clone()),
            RegisterOptions {
                handle,
                name: &format!("{handle} Person"),
                phone,
                phone_code: &phone_code,
                email: Some(&format!("{handle}@example.jp")),
                region,
                device_label: "test",
                agreed_disclosures: Some(&self.agreed(region).await),
            },
        )
        .await
        .unwrap()
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
}

/// The handles the tests' people know one another by; anyone else (say
/// "mallory") is a stranger to them.
pub const FRIENDS: [&str; 10] = [
    "alice", "bob", "carol", "dave", "erin", "amy", "ben", "cai", "dan", "eve",
];

pub fn friends() -> kizuna_wire::Contacts {
    kizuna_wire::Contacts {
        handles: FRIENDS.iter().map(|h| h.to_string()).collect(),
    }
}

/// Loopback on a port the system picks, so tests can run side by side.
/// A free port below the system's range for outgoing connections, so a
/// node restarted on it cannot find it taken by some test's client socket
/// in the meantime (a port the system handed out could be).
/// Each is handed out once per run: a node stopped for a restart leaves its
/// port free, and another test's node must not take it meanwhile.
pub fn any_port() -> std::net::SocketAddr {
    use rand::Rng;
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = rand::thread_rng().gen_range(20_000..32_000);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if !handed.contains(&port) && std::net::TcpListener::bind(addr).is_ok() {
            handed.push(port);
            return addr;
        }
    }
}

/// A distinct, valid phone number per handle.
pub fn phone_for(handle: &str) -> String {
    let n: u64 = handle
        .bytes()
        .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64))
        % 100_000_000;
    format!("+8190{n:08}")
}

/// The server's refusal code of a failed call, from the device client or
/// the staff console alike, so one helper serves tests that use both.
pub trait Refused {
    fn refusal(&self) -> Option<kizuna_wire::ErrorCode>;
}

impl Refused for kizuna_client::ClientError {
    fn refusal(&self) -> Option<kizuna_wire::ErrorCode> {
        self.api_code()
    }
}

impl Refused for kizuna_console::ConsoleError {
    fn refusal(&self) -> Option<kizuna_wire::ErrorCode> {
        self.api_code()
    }
}

pub fn code<T, E: Refused>(r: Result<T, E>) -> Option<kizuna_wire::ErrorCode> {
    r.err().and_then(|e| e.refusal())
}

pub fn texts(events: &[Event]) -> Vec<String> {
    messages(events).into_iter().map(|m| m.text).collect()
}

pub fn messages(events: &[Event]) -> Vec<StoredMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The texts of a chat's history on this device, in order.
pub async fn history_texts(c: &Client, chat: &str) -> Vec<String> {
    c.history(chat)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect()
}

/// The handle of each member device of a chat, as this device sees it.
pub async fn member_handles(c: &mut Client, chat: &str) -> Vec<String> {
    c.members(chat)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.0)
        .collect()
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `kizuna` as a person runs it, against a node.
pub async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args(&args)
            .env("KIZUNA_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A new device for `approver`'s account, linked as a person does it: the
/// new device asks, `approver` approves its code and adds it to its chats.
pub async fn link(
    node: &Node,
    approver: &mut Client,
    home_name: &str,
) -> (Client, Vec<kizuna_client::MembershipChange>) {
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let home = node.home(home_name);
    let url = node.url.clone();
    let handle = approver.identity().handle.clone();
    let linking = tokio::spawn(async move {
        let mut code_tx = Some(code_tx);
        Client::link_device(
            &home,
            &url,
            &handle,
            "linked",
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
    let (_, changes) = approver.approve_device(&code).await.unwrap();
    (linking.await.unwrap(), changes)
}

/// A device the node lets into `handle`'s account without any of their
/// devices approving it, and so without the key log: written straight
/// into the node's store, as an insider or a compromised node would.
pub async fn rogue_device(node: &Node, handle: &str) -> String {
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let home = node.home("rogue");
    let (url, owner) = (node.url.clone(), handle.to_string());
    tokio::spawn(async move {
        let mut code_tx = Some(code_tx);
        let _ = kizuna_client::Client::link_device(
            &home,
            &url,
            &owner,
            "rogue",
            move |c| {
                if let Some(tx) = code_tx.take() {
                    let _ = tx.send(c.to_string());
                }
            },
            std::time::Duration::from_secs(30),
        )
        .await;
    });
    code_rx.await.unwrap();
    let path = node.data_dir().join("node.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let (link_id, account_id, key, label): (String, String, Vec<u8>, String) = sqlx::query_as(
        "SELECT link_id, account_id, signature_key, label FROM link_requests WHERE approved_device IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    let store = kizuna_store::SqliteStore::open(&path).await.unwrap();
    let device_id = kizuna_wire::device_id_for_key(&key);
    kizuna_store::Store::approve_link(
        &store,
        &link_id,
        kizuna_store::Device {
            device_id: device_id.clone(),
            account_id,
            handle: handle.to_string(),
            signature_key: key,
            label,
        },
    )
    .await
    .unwrap();
    kizuna_store::Store::close(&store).await;
    device_id
}

/// The device [`rogue_device`] let in, once it finished joining: whoever
/// slipped it into the account holds its key and speaks from it.
pub async fn rogue_client(node: &Node) -> Client {
    for _ in 0..300 {
        if let Ok(c) = Client::open(&node.home("rogue")).await {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the rogue device never finished joining");
}

/// A port nothing listens on now, for a node in another process.
pub fn free_port() -> std::net::SocketAddr {
    any_port()
}

/// A node process that ends with the test, however the test ends.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers at all (a node process starting), for at most
/// 30 s.
pub async fn wait_until_up(url: &str) -> bool {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(url).send().await.is_ok() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Runs one statement on a stopped node's SQLite file, as someone with
/// the disk would; answers the rows it changed.
pub async fn run_sql(db: &Path, statement: &str) -> u64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let changed = sqlx::query(statement)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    pool.close().await;
    changed
}

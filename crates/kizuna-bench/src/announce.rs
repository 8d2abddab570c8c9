//! An official account's announcement to a national number of followers
//! on one node, and its targeted end-to-end encrypted notices.
//!
//! A real node and a real official account: registered through the API,
//! verified by two staff members, announcing from its own device. Its
//! followers are imported into the stopped node's store in bulk (an
//! account, a device key, a follow each), as an operator imports people;
//! the node then starts with all of them, and enters their devices into
//! the key log as it does for any import. Some followers' devices sign in
//! and hold a WebSocket; the clock starts when the city announces and
//! stops when the last of them has read the announcement and checked its
//! signature. Then devices that were offline sign in and read it, every
//! one of them checked. Targeted notices go to followers with real MLS
//! chats, one end-to-end encrypted message each, as `kizuna bot` sends
//! them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use futures_util::StreamExt;
use kizuna_client::Client;
use kizuna_store::{Account, Device, Follow, NewAccount, SqliteStore, Store};
use kizuna_wire::staff::{NewStaffMember, Role, VerificationProposal};
use kizuna_wire::{
    auth_signing_input, device_id_for_key, AnnouncementPage, ChallengeRequest, ChallengeResponse,
    OfficialKind, Severity, TokenRequest, TokenResponse,
};
use sha2::Digest;

use crate::node::Node;
use crate::{governed, BenchError, Progress};

const IMPORT_BATCH: u64 = 10_000;
const TEXT: &str = "Typhoon: evacuate the riverside by 18:00";

#[derive(Clone, Debug)]
pub struct AnnounceOptions {
    pub kizuna_bin: PathBuf,
    pub work_dir: PathBuf,
    /// Followers in all.
    pub followers: u64,
    /// Of them, devices connected when the announcement is made.
    pub online: usize,
    /// Of them, devices that sign in afterwards and read it.
    pub late: usize,
    /// Followers with real chats who get a targeted notice each.
    pub notices: usize,
    pub pin: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AnnounceReport {
    pub followers: u64,
    pub import_secs: f64,
    /// The node's start with every follower imported (their devices
    /// entered into the key log).
    pub start_secs: f64,
    pub online: usize,
    pub online_received: usize,
    /// From the announcement's send until the last connected device had
    /// read and checked it.
    pub online_last_ms: f64,
    pub online_p50_ms: f64,
    pub late: usize,
    pub late_received: usize,
    /// Devices signing in afterwards and reading it, per second.
    pub late_per_sec: f64,
    pub notices: usize,
    pub notices_per_sec: f64,
    pub server_rss_kib: u64,
}

impl std::fmt::Display for AnnounceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "followers           {} imported in {:.1}s; the node started with them in {:.1}s",
            self.followers, self.import_secs, self.start_secs
        )?;
        writeln!(
            f,
            "announcement        {}/{} connected devices had it, signature checked: last after {:.0} ms (p50 {:.0} ms)",
            self.online_received, self.online, self.online_last_ms, self.online_p50_ms
        )?;
        writeln!(
            f,
            "offline devices     {}/{} signed in afterwards and had it, {:.0} devices/s",
            self.late_received, self.late, self.late_per_sec
        )?;
        writeln!(
            f,
            "targeted notices    {} end-to-end encrypted, {:.0} notices/s",
            self.notices, self.notices_per_sec
        )?;
        write!(f, "server memory       {} MiB", self.server_rss_kib / 1024)
    }
}

fn setup(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(e.to_string())
}

/// The signing key of imported follower `i`: its device can sign in.
fn follower_key(i: u64) -> SigningKey {
    let seed: [u8; 32] = sha2::Sha256::digest(format!("kizuna bench follower {i}")).into();
    SigningKey::from_bytes(&seed)
}

/// Imports `n` followers of `official`, with their devices and follows,
/// into a stopped node's store.
async fn import(
    data_dir: &std::path::Path,
    official: &str,
    n: u64,
    progress: &impl Fn(Progress<'_>),
) -> Result<(), BenchError> {
    let dir = kizuna_config::DataDir::new(data_dir);
    let store = SqliteStore::open(&dir.node_store()).await.map_err(setup)?;
    progress(Progress::Stage {
        name: "importing followers",
        steps: Some(n),
    });
    let now = kizuna_wire::now_ms();
    let mut start = 0;
    while start < n {
        let end = (start + IMPORT_BATCH).min(n);
        let mut accounts = Vec::with_capacity((end - start) as usize);
        let mut follows = Vec::with_capacity(accounts.capacity());
        for i in start..end {
            let key = follower_key(i).verifying_key().to_bytes().to_vec();
            let account_id = format!("follower{i:010}");
            accounts.push(NewAccount {
                account: Account {
                    account_id: account_id.clone(),
                    handle: format!("f{i:07}"),
                    region: "jp".into(),
                    created_at: now,
                },
                device: Device {
                    device_id: device_id_for_key(&key),
                    account_id: account_id.clone(),
                    handle: format!("f{i:07}"),
                    signature_key: key,
                    label: "import".into(),
                },
            });
            follows.push(Follow {
                official_id: official.to_string(),
                follower_id: account_id,
                group_id: i.to_be_bytes().to_vec(),
                since: now,
            });
        }
        store.create_accounts(accounts).await.map_err(setup)?;
        store.follow_many(&follows).await.map_err(setup)?;
        progress(Progress::Done(end - start));
        start = end;
    }
    store.close().await;
    Ok(())
}

/// A token for imported follower `i`'s device, signed in as any device is.
async fn sign_in(http: &reqwest::Client, url: &str, i: u64) -> Result<String, BenchError> {
    let key = follower_key(i);
    let device_id = device_id_for_key(&key.verifying_key().to_bytes());
    let c: ChallengeResponse = http
        .post(format!("{url}/v1/auth/challenge"))
        .json(&ChallengeRequest {
            device_id: device_id.clone(),
        })
        .send()
        .await
        .map_err(setup)?
        .json()
        .await
        .map_err(setup)?;
    let signature = key.sign(&auth_signing_input(&device_id, &c.challenge));
    let t: TokenResponse = http
        .post(format!("{url}/v1/auth/token"))
        .json(&TokenRequest {
            device_id,
            challenge: c.challenge,
            signature: kizuna_wire::Bytes(signature.to_bytes().to_vec()),
        })
        .send()
        .await
        .map_err(setup)?
        .json()
        .await
        .map_err(setup)?;
    Ok(t.token)
}

/// Reads the announcements after 0 and checks the one expected: signed by
/// the city's device over exactly its bytes.
async fn read_checked(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    city: &VerifyingKey,
) -> Result<bool, BenchError> {
    let page: AnnouncementPage = http
        .get(format!("{url}/v1/announcements?after=0"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(setup)?
        .json()
        .await
        .map_err(setup)?;
    Ok(page.announcements.iter().any(|a| {
        let sig = ed25519_dalek::Signature::from_slice(&a.signature.0);
        sig.is_ok_and(|s| {
            city.verify(&kizuna_wire::announce_signing_input(&a.announcement.0), &s)
                .is_ok()
        }) && String::from_utf8_lossy(&a.announcement.0).contains(TEXT)
    }))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run_announce(
    o: AnnounceOptions,
    progress: impl Fn(Progress<'_>),
) -> Result<AnnounceReport, BenchError> {
    if (o.online + o.late) as u64 > o.followers {
        return Err(BenchError::Setup(
            "--online and --late are followers: at most --followers together".into(),
        ));
    }
    // The city, verified by two people, on a node of its own first.
    let node = Node::start(&o.kizuna_bin, &o.work_dir, o.pin, true).await?;
    progress(Progress::Stage {
        name: "registering the city and the notices' followers",
        steps: Some(1 + o.notices as u64),
    });
    let mut people = crate::node::register(
        &o.work_dir,
        std::slice::from_ref(&node),
        1 + o.notices,
        &progress,
    )
    .await?;
    let mut city = people.remove(0);
    let app = city
        .apply_official(kizuna_client::OfficialDetails {
            organisation: "Bench City".into(),
            kind: OfficialKind::Municipality,
            country: "JP".into(),
            area: None,
            keeps_data: "the city's own servers".into(),
            keeps_data_country: "JP".into(),
            contact: "privacy@city.example.jp".into(),
        })
        .await?;
    let root = node
        .root
        .as_ref()
        .ok_or_else(|| setup("the staff realm was not bootstrapped"))?;
    let admin = governed::login(&o.work_dir.join("staff-root"), &node.staff_url, root).await?;
    let checker = admin
        .add_member(&NewStaffMember {
            staff_id: "checker".into(),
            org_id: "operator".into(),
            roles: vec![Role::Support],
        })
        .await?;
    let checker =
        governed::login(&o.work_dir.join("staff-checker"), &node.staff_url, &checker).await?;
    checker
        .propose_official(
            &app.application_id,
            &VerificationProposal {
                evidence: "benchmark".into(),
                ticket: "BENCH-1".into(),
            },
        )
        .await?;
    admin.approve_official(&app.application_id).await?;
    // The notices' followers, through real chats.
    let mut chats = Vec::with_capacity(o.notices);
    for p in people.iter_mut() {
        chats.push(p.follow(&city.identity().handle.clone()).await?.0);
    }
    // The city's daemon takes every chat its followers open.
    city.sync().await?;
    for chat in &chats {
        match city.accept_chat(chat).await {
            Ok(_) | Err(kizuna_client::ClientError::Unchanged(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let city_key = {
        let keys = city.logged_keys(&city.identity().handle.clone()).await?;
        let hex_key = keys
            .key_of(&city.identity().device_id)
            .ok_or_else(|| setup("the city's device is not in the key log"))?
            .to_string();
        let bytes: [u8; 32] = hex::decode(hex_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| setup("the city's key"))?;
        VerifyingKey::from_bytes(&bytes).map_err(setup)?
    };
    let official = city.identity().account_id.clone();
    let city_home = o.work_dir.join("devices").join("d0");
    city.close().await;
    for p in people {
        p.close().await;
    }

    // The national number of followers, imported while the node is down.
    let stopped = node.stop();
    let t = Instant::now();
    import(&stopped.data_dir, &official, o.followers, &progress).await?;
    let import_secs = t.elapsed().as_secs_f64();
    progress(Progress::Stage {
        name: "starting the node with every follower",
        steps: None,
    });
    let t = Instant::now();
    let node = stopped.start(&o.kizuna_bin, o.pin).await?;
    let start_secs = t.elapsed().as_secs_f64();
    let url = node.url.clone();
    let http = node.http.clone();

    progress(Progress::Stage {
        name: "connecting followers' devices",
        steps: Some(o.online as u64),
    });
    let received = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let (go_tx, go_rx) = tokio::sync::watch::channel::<Option<Instant>>(None);
    let mut readers = Vec::with_capacity(o.online);
    for i in 0..o.online as u64 {
        let token = sign_in(&http, &url, i).await?;
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("{}/v1/ws?after=0", url.replace("http://", "ws://")).as_str(),
            )
            .map_err(setup)?;
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .map_err(|_| setup("token"))?,
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.map_err(setup)?;
        let (http, url, received, go) =
            (http.clone(), url.clone(), received.clone(), go_rx.clone());
        readers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let tokio_tungstenite::tungstenite::Message::Text(t) = frame else {
                    continue;
                };
                if !t.as_str().contains("\"announcements\"") {
                    continue;
                }
                if let Ok(true) = read_checked(&http, &url, &token, &city_key).await {
                    if let Some(start) = *go.borrow() {
                        received
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(start.elapsed().as_secs_f64() * 1000.0);
                    }
                    return;
                }
            }
        }));
        progress(Progress::Done(1));
    }

    // The announcement.
    progress(Progress::Stage {
        name: "announcing",
        steps: None,
    });
    let mut city = Client::open(&city_home).await?;
    let _ = go_tx.send(Some(Instant::now()));
    city.announce(TEXT, Severity::Emergency).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    for r in readers {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, r).await;
    }
    let mut online_ms = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
    online_ms.sort_by(f64::total_cmp);

    // Devices that were offline sign in and read it.
    progress(Progress::Stage {
        name: "offline devices coming online",
        steps: Some(o.late as u64),
    });
    let t = Instant::now();
    let late_from = o.online as u64;
    let mut late = futures_util::stream::iter((late_from..late_from + o.late as u64).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let token = sign_in(&http, &url, i).await?;
            read_checked(&http, &url, &token, &city_key).await
        }
    }))
    .buffer_unordered(32);
    let mut late_received = 0;
    while let Some(got) = late.next().await {
        if got? {
            late_received += 1;
        }
        progress(Progress::Done(1));
    }
    let late_secs = t.elapsed().as_secs_f64();

    // Targeted notices: one end-to-end encrypted message in each chat.
    progress(Progress::Stage {
        name: "targeted notices",
        steps: Some(o.notices as u64),
    });
    let t = Instant::now();
    for chat in &chats {
        city.send(chat, "Ward 3: water off on Friday 9:00-12:00")
            .await?;
        progress(Progress::Done(1));
    }
    let notices_secs = t.elapsed().as_secs_f64();
    city.close().await;
    let report = AnnounceReport {
        followers: o.followers,
        import_secs,
        start_secs,
        online: o.online,
        online_received: online_ms.len(),
        online_last_ms: online_ms.last().copied().unwrap_or(0.0),
        online_p50_ms: percentile(&online_ms, 0.5),
        late: o.late,
        late_received,
        late_per_sec: o.late as f64 / late_secs.max(1e-9),
        notices: o.notices,
        notices_per_sec: o.notices as f64 / notices_secs.max(1e-9),
        server_rss_kib: crate::node::rss_kib(node.pid, "VmHWM:"),
    };
    drop(node);
    Ok(report)
}

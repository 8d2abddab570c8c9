//! The messaging run: devices in groups send through a node over HTTP and
//! receive over WebSockets, measured for throughput, latency, losses and the
//! server's memory, optionally with governed reads made beside it. With many
//! nodes the devices are spread over a cluster of them, so that most
//! deliveries cross from the sender's node to the receiver's.

mod commits;
mod report;

pub use report::Report;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use kizuna_wire::{ClientFrame, ServerFrame};
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::{ClusterOptions, Deployment};
use crate::node::{handle, register, rss_kib, Node, WARM_CONNECTIONS};
use crate::{BenchError, Progress};

/// Arrivals per acknowledgement a receiving device sends.
const ACK_EVERY: u32 = 1;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The `kizuna` executable, started as `kizuna serve` for the run.
    pub kizuna_bin: PathBuf,
    pub work_dir: PathBuf,
    pub devices: usize,
    pub group_size: usize,
    pub messages: usize,
    /// Messages sent per second (each is delivered to group_size - 1 devices).
    pub rate: f64,
    /// Pin the server to core 0 and the load generator to core 1.
    pub pin: bool,
    /// Groups in which one receiving device decrypts its arrivals.
    pub sample_groups: usize,
    /// Governed staff reads per second made while the messages are sent
    /// (0: none), to show what governance costs messaging.
    pub governed_reads: f64,
    /// Nodes to spread the devices over: 1 is one node on its own data
    /// directory; more is a cluster set up for the run on `cluster`.
    pub nodes: usize,
    pub cluster: ClusterOptions,
}

/// Why the node refused a send: its status and error code.
async fn refusal(r: reqwest::Response) -> String {
    let status = r.status().as_u16();
    let code = r
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|b| b.get("code").and_then(|c| c.as_str()).map(str::to_string));
    match code {
        Some(c) => format!("HTTP {status} {c}"),
        None => format!("HTTP {status}"),
    }
}

/// The innermost cause of a failed request, which names what went wrong
/// (the outer ones name the request, different for every group).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// What an acknowledged message is, in the report's words.
fn durability(synchronous_commit: Option<&str>) -> String {
    match synchronous_commit {
        None => "acknowledged = on disk: SQLite WAL with synchronous=FULL, group commit, before the sender is answered".into(),
        Some(s) => format!(
            "acknowledged = committed in PostgreSQL (synchronous_commit = {s}, as the server has it) before the sender is answered"
        ),
    }
}

fn payload_key(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// What one receiving device saw.
struct Arrivals {
    hist: Histogram<u64>,
    seen: HashSet<u32>,
    last_seq: HashMap<Vec<u8>, u64>,
    duplicated: u64,
    out_of_order: u64,
    kept: Vec<KeptArrival>,
}

/// A message index and the ciphertext that arrived for it.
type KeptArrival = (u32, Vec<u8>);

pub async fn run(
    opts: BenchOptions,
    progress: impl Fn(Progress<'_>),
) -> Result<Report, BenchError> {
    let stage = |name: &str, steps: Option<usize>| {
        progress(Progress::Stage {
            name,
            steps: steps.map(|n| n as u64),
        })
    };
    if opts.group_size < 2 || opts.devices < opts.group_size {
        return Err(BenchError::Setup(
            "need at least one group of two or more devices".into(),
        ));
    }
    if opts.nodes == 0 {
        return Err(BenchError::Setup("--nodes is 1 or more".into()));
    }
    if opts.nodes > 1 && opts.governed_reads > 0.0 {
        return Err(BenchError::Setup(
            "governed reads are measured on one node: leave out --nodes or --governed-reads".into(),
        ));
    }
    let deployment = if opts.nodes > 1 {
        stage(
            &format!("setting up a cluster of {} nodes", opts.nodes),
            None,
        );
        Deployment::cluster(&opts.kizuna_bin, &opts.work_dir, opts.nodes, &opts.cluster).await?
    } else {
        let node = Node::start(
            &opts.kizuna_bin,
            &opts.work_dir,
            opts.pin,
            opts.governed_reads > 0.0,
        )
        .await?;
        Deployment {
            nodes: vec![node],
            databases: None,
            synchronous_commit: None,
        }
    };
    let nodes = &deployment.nodes;
    let pids: Vec<u32> = nodes.iter().map(|n| n.pid).collect();
    let rss = |field: &str| pids.iter().map(|&p| rss_kib(p, field)).sum::<u64>();
    let pinned = nodes.len() == 1 && nodes[0].pinned;
    let http = nodes[0].http.clone();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    // Device d is served by node d mod N: the members of a group, and so a
    // sender and most of its receivers, are on different nodes.
    let url_of = |d: usize| urls[d % urls.len()].as_str();

    // Devices.
    let n = opts.devices - opts.devices % opts.group_size;
    stage("registering devices", Some(n));
    let mut clients = register(&opts.work_dir, nodes, n, &progress).await?;
    let reader = if opts.governed_reads > 0.0 {
        stage("requesting and approving staff grants", None);
        Some(
            nodes[0]
                .reader(&opts.work_dir, (0..n.min(1000)).map(handle).collect())
                .await?,
        )
    } else {
        None
    };

    // Groups: devices [g*M, (g+1)*M) form group g.
    let groups = n / opts.group_size;
    stage(
        &format!("creating groups of {}", opts.group_size),
        Some(groups),
    );
    let mut chats = Vec::with_capacity(groups);
    for g in 0..groups {
        let base = g * opts.group_size;
        let with: Vec<String> = (base + 1..base + opts.group_size).map(handle).collect();
        chats.push(clients[base].create_chat(&with, None).await?);
        progress(Progress::Done(1));
    }
    stage("members join (processing their Welcome)", Some(n));
    let mut stream =
        futures_util::stream::iter(clients.iter_mut().map(|c| async move { c.sync().await }))
            .buffer_unordered(8);
    while let Some(r) = stream.next().await {
        r?;
        progress(Progress::Done(1));
    }
    drop(stream);

    // Connect every device over WebSocket and measure what idle connections cost.
    let mut tokens = Vec::with_capacity(n);
    for c in clients.iter_mut() {
        tokens.push(c.bearer_token().await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss("RssAnon:");
    stage("connecting WebSockets", Some(n));
    let mut sockets = Vec::with_capacity(n);
    let mut rss_half = rss_before;
    for (k, t) in tokens.iter().enumerate() {
        if k == n / 2 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss_half = rss("RssAnon:");
        }
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("{}/v1/ws?after=0", url_of(k).replace("http://", "ws://")).as_str(),
            )
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {t}")
                .parse()
                .map_err(|_| BenchError::Setup("token".into()))?,
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| BenchError::Setup(format!("websocket: {e}")))?;
        sockets.push(ws);
        progress(Progress::Done(1));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss("RssAnon:");
    // The second half of the connections, so one-time growth (tables,
    // allocator arenas) is not charged to each connection.
    let idle_bytes = (rss_idle.saturating_sub(rss_half) as f64 * 1024.0) / (n - n / 2) as f64;

    // Prepare every message before the clock starts.
    stage("encrypting messages", Some(opts.messages));
    let mut per_sender: Vec<Vec<u32>> = vec![Vec::new(); n];
    for i in 0..opts.messages {
        per_sender[i % n].push(i as u32);
    }
    let mut prepared: Vec<Option<(usize, kizuna_wire::SendRequest)>> =
        (0..opts.messages).map(|_| None).collect();
    let mut index: HashMap<u64, u32> = HashMap::with_capacity(opts.messages);
    for (s, ids) in per_sender.iter().enumerate() {
        if ids.is_empty() {
            continue;
        }
        let texts: Vec<String> = ids.iter().map(|i| format!("bench message {i}")).collect();
        let cts = clients[s]
            .prepare_messages(&chats[s / opts.group_size], &texts)
            .await?;
        for (i, req) in ids.iter().zip(cts) {
            index.insert(payload_key(&req.message.0), *i);
            prepared[*i as usize] = Some((s, req));
        }
        progress(Progress::Done(ids.len() as u64));
    }
    let index = Arc::new(index);

    // Open the HTTP connections the senders will reuse, as clients that stay
    // connected would have them; otherwise the first second measures TCP
    // set-up of a connection pool rather than the node.
    let warm: Vec<_> = (0..WARM_CONNECTIONS * urls.len())
        .map(|k| {
            let http = http.clone();
            let url = format!("{}/health", url_of(k));
            tokio::spawn(async move { http.get(url).send().await.map(|_| ()) })
        })
        .collect();
    for w in warm {
        let _ = w.await;
    }

    // Receivers.
    let start = Instant::now() + Duration::from_millis(300);
    let interval = Duration::from_secs_f64(1.0 / opts.rate);
    let delivered = Arc::new(AtomicU64::new(0));
    let last_arrival = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sample: HashSet<usize> = (0..groups.min(opts.sample_groups))
        .map(|g| g * opts.group_size + 1)
        .collect();
    let mut readers = Vec::with_capacity(n);
    for (d, mut ws) in sockets.into_iter().enumerate() {
        let index = index.clone();
        let delivered = delivered.clone();
        let last_arrival = last_arrival.clone();
        let mut stop = stop_rx.clone();
        let keep = sample.contains(&d);
        readers.push(tokio::spawn(async move {
            let mut a = Arrivals {
                hist: Histogram::new_with_bounds(1, 120_000_000, 3)
                    .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
                seen: HashSet::new(),
                last_seq: HashMap::new(),
                duplicated: 0,
                out_of_order: 0,
                kept: Vec::new(),
            };
            let mut unacked = 0u32;
            let mut last_env = 0u64;
            loop {
                let msg = tokio::select! {
                    m = ws.next() => m,
                    _ = stop.changed() => break,
                };
                let Some(Ok(Message::Text(t))) = msg else {
                    if matches!(msg, None | Some(Err(_))) {
                        break;
                    } else {
                        continue;
                    }
                };
                let now = Instant::now();
                let Ok(ServerFrame::Envelope(env)) =
                    serde_json::from_str::<ServerFrame>(t.as_str())
                else {
                    continue;
                };
                last_env = env.seq;
                if let Some(&i) = index.get(&payload_key(&env.payload.0)) {
                    let scheduled = start + interval * i;
                    let us = now.saturating_duration_since(scheduled).as_micros() as u64;
                    let _ = a.hist.record(us.max(1));
                    if !a.seen.insert(i) {
                        a.duplicated += 1;
                    } else {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        last_arrival.fetch_max(
                            now.saturating_duration_since(start).as_micros() as u64,
                            Ordering::Relaxed,
                        );
                    }
                    let last = a.last_seq.entry(env.group_id.0.clone()).or_insert(0);
                    if env.group_seq <= *last {
                        a.out_of_order += 1;
                    }
                    *last = env.group_seq;
                    if keep {
                        a.kept.push((i, env.payload.0));
                    }
                }
                // Like the client library: every arrival is acknowledged
                // (the node coalesces them).
                unacked += 1;
                if unacked >= ACK_EVERY {
                    unacked = 0;
                    let ack = serde_json::to_string(&ClientFrame::Ack { up_to: last_env })
                        .unwrap_or_default();
                    if ws.send(Message::Text(ack.into())).await.is_err() {
                        break;
                    }
                }
            }
            let ack =
                serde_json::to_string(&ClientFrame::Ack { up_to: last_env }).unwrap_or_default();
            let _ = ws.send(Message::Text(ack.into())).await;
            let _ = ws.close(None).await;
            a
        }));
    }

    // Open-loop sending.
    stage(
        &format!("sending at {:.0}/s", opts.rate),
        Some(opts.messages),
    );
    let (governed_stop, governed_stopped) = tokio::sync::watch::channel(false);
    let governed = reader.map(|r| tokio::spawn(r.open_loop(opts.governed_reads, governed_stopped)));
    let send_errors = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
    let mut senders = Vec::with_capacity(opts.messages);
    for (i, p) in prepared.into_iter().enumerate() {
        let Some((s, req)) = p else { continue };
        tokio::time::sleep_until((start + interval * i as u32).into()).await;
        progress(Progress::Done(1));
        let http = http.clone();
        let url = format!(
            "{}/v1/groups/{}/messages",
            url_of(s),
            chats[s / opts.group_size]
        );
        let token = tokens[s].clone();
        let errors = send_errors.clone();
        let refusals = refusals.clone();
        let scheduled = start + interval * i as u32;
        senders.push(tokio::spawn(async move {
            let r = http.post(url).bearer_auth(token).json(&req).send().await;
            let refused = match r {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(refusal(r).await),
                Err(e) => Some(format!("no answer ({})", root_cause(&e))),
            };
            if let Some(why) = refused {
                errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = refusals.lock() {
                    *m.entry(why).or_insert(0) += 1;
                }
            }
            Instant::now()
                .saturating_duration_since(scheduled)
                .as_micros() as u64
        }));
    }
    let mut acked = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    for s in senders {
        if let Ok(us) = s.await {
            let _ = acked.record(us.max(1));
        }
    }
    let _ = governed_stop.send(true);
    let governed = match governed {
        Some(g) => Some(
            g.await
                .map_err(|e| BenchError::Setup(format!("governed reads: {e}")))??,
        ),
        None => None,
    };
    let sent = opts.messages as u64;
    let errors = send_errors.load(Ordering::Relaxed);
    let expected = (sent - errors) * (opts.group_size as u64 - 1);
    let drain_deadline = Instant::now() + Duration::from_secs(20);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let (mut dup, mut ooo) = (0, 0);
    let mut kept: Vec<(usize, Vec<KeptArrival>)> = Vec::new();
    for (d, r) in readers.into_iter().enumerate() {
        if let Ok(a) = r.await {
            let _ = hist.add(&a.hist);
            dup += a.duplicated;
            ooo += a.out_of_order;
            if !a.kept.is_empty() {
                kept.push((d, a.kept));
            }
        }
    }
    let got = delivered.load(Ordering::Relaxed);
    let elapsed = Duration::from_micros(last_arrival.load(Ordering::Relaxed))
        .as_secs_f64()
        .max(1e-9);
    let peak = rss("VmHWM:");
    let synchronous_commit = deployment.synchronous_commit.clone();
    let nodes = deployment.nodes.len();
    let commits = match deployment.nodes.as_slice() {
        [node] => match node
            .http
            .get(format!("{}/metrics", node.ops_url))
            .send()
            .await
        {
            Ok(r) => r
                .text()
                .await
                .ok()
                .and_then(|t| commits::CommitBreakdown::from_metrics(&t)),
            Err(_) => None,
        },
        _ => None,
    };
    deployment.stop().await?;

    // Prove arrivals are real: the receivers' own MLS state opens them.
    stage("decrypting a sample of arrivals", None);
    let (mut tried, mut ok) = (0, 0);
    for (d, arrivals) in kept {
        let chat = chats[d / opts.group_size].clone();
        for (i, ct) in arrivals.into_iter().take(20) {
            tried += 1;
            if let Ok(text) = clients[d].open_ciphertext(&chat, &ct).await {
                if text == format!("bench message {i}") {
                    ok += 1;
                }
            }
        }
    }
    Ok(Report {
        devices: n,
        group_size: opts.group_size,
        messages_sent: sent,
        send_errors: errors,
        send_refusals: refusals.lock().map(|m| m.clone()).unwrap_or_default(),
        expected_deliveries: expected,
        delivered: got,
        lost: expected.saturating_sub(got),
        duplicated: dup,
        out_of_order: ooo,
        offered_rate: opts.rate,
        delivered_per_sec: got as f64 / elapsed,
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        p999_ms: hist.value_at_quantile(0.999) as f64 / 1000.0,
        max_ms: hist.max() as f64 / 1000.0,
        send_p50_ms: acked.value_at_quantile(0.5) as f64 / 1000.0,
        send_p99_ms: acked.value_at_quantile(0.99) as f64 / 1000.0,
        server_peak_rss_kib: peak,
        idle_bytes_per_connection: idle_bytes,
        decrypted_sample: tried,
        decrypted_ok: ok,
        pinned,
        nodes,
        durability: durability(synchronous_commit.as_deref()),
        commits,
        governed,
    })
}

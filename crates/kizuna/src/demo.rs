//! `kizuna demo`: a server and three people in one process, on a temporary
//! data directory, walking through the core story step by step.

use std::path::{Path, PathBuf};

use kizuna_client::{Client, Event, RegisterOptions};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether the story is told as JSON, one object per line (`--json`).
static AS_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One line of the story, as text or as `{"say": "…"}`.
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        if AS_JSON.load(std::sync::atomic::Ordering::Relaxed) {
            out!("{}", serde_json::json!({ "say": line }));
        } else {
            out!("{line}");
        }
    }};
}

mod city;

fn step(n: u32, what: &str) {
    say!("\n== {n}. {what}");
}

fn show(who: &str, events: &[Event]) {
    let mut any = false;
    for e in events {
        match e {
            Event::Message(m) => {
                any = true;
                say!(
                    "   {who} received from {}: {:?} (#{} in chat {})",
                    m.sender,
                    m.text,
                    m.seq,
                    &m.chat[..8]
                );
            }
            Event::Joined { by, chat } => {
                say!("   {who} was added to chat {} by {by}", &chat[..8])
            }
            Event::Request { by, chat } => {
                say!("   {who} got a chat request from {by}: chat {}", &chat[..8])
            }
            Event::Removed { by, chat } => say!(
                "   {who} learned {by} removed them from chat {}",
                &chat[..8]
            ),
            Event::Renamed { name, .. } => say!("   {who} sees the chat is named {name:?}"),
            Event::Undecryptable(u) => {
                say!("   {who} could not open a message: {}", u.reason)
            }
            Event::MembersChanged { by, .. } => {
                say!("   {who} processed a membership change by {by}")
            }
            Event::DeviceRevoked { handle, .. } => {
                say!("   {who} sees a device of {handle} was revoked")
            }
            Event::AccountDeleted { handle, .. } => {
                say!("   {who} sees {handle} deleted their account")
            }
            Event::NotSent { reason, .. } => {
                say!("   {who}'s message was not delivered: {reason}")
            }
            Event::DeviceLinked { device_id, .. } => {
                say!("   {who} sees device {device_id} was linked to their account")
            }
            Event::KeyNotLogged {
                handle, device_id, ..
            } => say!("   {who} is warned: {handle}'s device {device_id} is not in the key log"),
            Event::Announcement(a) => {
                any = true;
                say!(
                    "   {who} received {}'s announcement ({:?}), its signature checked: {:?}",
                    a.organisation,
                    a.severity,
                    a.text
                )
            }
            Event::AnnouncementRefused { handle, why, .. } => {
                say!("   {who} refused an announcement said to be {handle}'s: {why}")
            }
        }
    }
    if !any {
        say!("   {who} has no new messages");
    }
}

async fn person(
    dir: &Path,
    outbox: &Path,
    server: &str,
    handle: &str,
    name: &str,
    phone: &str,
    region: &str,
) -> anyhow::Result<Client> {
    // Each person reads their region's disclosures and agrees, as
    // `kizuna register --agree` does.
    let disclosures = Client::disclosures(server, region).await?;
    // Each proves their number: the node sends a code (to its outbox, as
    // no SMS gateway is configured) and they type it back.
    Client::send_phone_code(server, phone, region, Some(&disclosures.version)).await?;
    let phone_code = kizuna_server::PhoneOutbox::latest_code(outbox, phone)
        .ok_or_else(|| anyhow::anyhow!("no code for {phone} in {}", outbox.display()))?;
    // The outbox stands in for the person's phone: once read, the message
    // is gone from the server's files, as a text message would never have
    // been in them.
    std::fs::remove_file(kizuna_server::PhoneOutbox::message_file(outbox, phone))?;
    let c = Client::register(
        &dir.join(handle),
        server,
        RegisterOptions {
            handle,
            name,
            phone,
            phone_code: &phone_code,
            email: None,
            region,
            device_label: "demo",
            agreed_disclosures: Some(&disclosures.version),
        },
    )
    .await?;
    say!(
        "   {handle} proved {phone} with the code sent to it, and registered in region {region}, device {}",
        c.identity().device_id
    );
    Ok(c)
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                if b.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p);
                }
            }
        }
    }
    hits
}

pub async fn run(json: bool) -> anyhow::Result<()> {
    AS_JSON.store(json, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp =
        TempDir(std::env::temp_dir().join(format!("kizuna-demo-{}-{nanos}", std::process::id())));
    let data = tmp.0.join("server");
    let homes = tmp.0.join("devices");
    let started = std::time::Instant::now();

    step(1, "A Kizuna node starts on a temporary data directory");
    // The operator's first staff member, made before the node starts.
    let root = kizuna_server::admin::bootstrap_staff(
        &data,
        &kizuna_config::Regions::embedded(),
        "root",
        vec!["127.0.0.0/8".into()],
    )
    .await?;
    let mut config = kizuna_server::ServerConfig::new(&data, "127.0.0.1:0".parse()?);
    config.staff_listen = Some("127.0.0.1:0".parse()?);
    let server = kizuna_server::RunningServer::start(config).await?;
    let url = format!("http://{}", server.addr);
    let staff_url = server
        .staff_addr
        .map(|a| format!("http://{a}"))
        .ok_or_else(|| anyhow::anyhow!("the node opened no staff listener"))?;
    say!("   listening on {url}");

    step(
        2,
        "Three people register, each with an MLS identity on their device",
    );
    let outbox = &data.join("phone-outbox");
    let mut alice = person(
        &homes,
        outbox,
        &url,
        "alice",
        "Alice Sato",
        "+819012345678",
        "jp",
    )
    .await?;
    let mut bob = person(
        &homes,
        outbox,
        &url,
        "bob",
        "Bob Kim",
        "+821012345678",
        "kr",
    )
    .await?;
    let mut carol = person(
        &homes,
        outbox,
        &url,
        "carol",
        "Carol Ito",
        "+819087654321",
        "jp",
    )
    .await?;
    carol
        .set_contacts(&kizuna_wire::Contacts {
            handles: vec!["alice".into(), "bob".into()],
        })
        .await?;
    say!(
        "   carol keeps alice and bob as contacts (sealed in her home region); bob keeps none yet"
    );

    step(3, "Alice finds Bob by phone number and starts a 1:1 chat");
    let found = alice.lookup_phone("+821012345678").await?;
    say!("   the server answers only with a handle: {found:?}");
    let dm = alice.create_chat(&["bob".into()], None).await?;
    say!("   chat {} created (an MLS group of two)", &dm[..8]);
    alice.send(&dm, "Hi Bob, lunch tomorrow?").await?;
    let e = bob.sync().await?;
    show("bob", &e);
    let request = bob.accept_chat(&dm).await?;
    say!(
        "   alice is not in bob's contacts, so the chat waited as a request; bob accepts it \
         ({} message waiting) and adds alice to his contacts",
        request.messages
    );
    bob.set_contacts(&kizuna_wire::Contacts {
        handles: vec!["alice".into()],
    })
    .await?;
    bob.send(&dm, "Sure, noon at the usual place").await?;
    show("alice", &alice.sync().await?);

    step(
        4,
        "Alice creates the group \"Trip\" with Bob and Carol; Carol is offline",
    );
    let trip = alice
        .create_chat(&["bob".into(), "carol".into()], Some("Trip"))
        .await?;
    say!("   chat {} created", &trip[..8]);
    show("bob", &bob.sync().await?);
    alice.send(&trip, "Train leaves at 9:00").await?;
    bob.send(&trip, "I'll bring snacks").await?;
    alice.send(&trip, "Carol, are you in?").await?;
    say!("   three messages sent while Carol is away");

    step(5, "Carol comes online and catches up, in order");
    show("carol", &carol.sync().await?);
    carol.send(&trip, "In! See you at the station").await?;
    show("alice", &alice.sync().await?);
    show("bob", &bob.sync().await?);

    step(6, "Alice removes Carol; Carol can no longer read the group");
    alice.remove_member(&trip, "carol").await?;
    alice
        .send(&trip, "Change of plan: we leave at 8:30")
        .await?;
    show("bob", &bob.sync().await?);
    show("carol", &carol.sync().await?);
    match carol.send(&trip, "Wait, what?").await {
        Err(e) => say!("   carol cannot send either: {e}"),
        Ok(_) => anyhow::bail!("a removed member could still send"),
    }

    step(7, "The server only ever held ciphertext");
    let secrets = [
        "Hi Bob, lunch tomorrow?",
        "Train leaves at 9:00",
        "Change of plan: we leave at 8:30",
    ];
    let mut leaks = 0;
    for s in secrets {
        let hits = files_containing(&data, s.as_bytes());
        leaks += hits.len();
        say!("   {:?} found in {} server file(s)", s, hits.len());
    }
    if leaks > 0 {
        anyhow::bail!("plaintext found in the server's files");
    }

    step(
        8,
        "Personal data stays at home, sealed, and people can see where it is",
    );
    let map = bob.data_map().await?;
    let profile = map
        .categories
        .iter()
        .find(|c| c.category == "profile")
        .ok_or_else(|| anyhow::anyhow!("the data map has no profile"))?;
    let from: Vec<&str> = profile
        .accessible_from
        .iter()
        .map(|a| a.country.as_str())
        .collect();
    say!(
        "   bob's profile is in region {} ({}), reachable from {}; {} recorded transfer(s) to this node in {}",
        profile.region,
        profile.country,
        from.join(", "),
        map.transfers.len(),
        map.node_country
    );
    if let Some(k) = &map.kept_abroad {
        out!(
            "   this node keeps bob's {} in {} ({}), abroad for his data, and tells him so",
            k.categories.join(", "),
            k.region_name,
            k.country
        );
    }
    if let Some(c) = &map.consent {
        if let Some(e) = c.history.last() {
            out!(
                "   bob agreed to region {}'s disclosures (version {}, for {}) before his account existed",
                e.region,
                e.version,
                e.countries.join(", ")
            );
        }
    }
    let me = bob.me().await?;
    let fields = [me.name.as_str(), me.phone.as_str()];
    let found: usize = fields
        .iter()
        .map(|f| files_containing(&data, f.as_bytes()).len())
        .sum();
    say!("   bob's name and phone found in {found} server file(s)");
    if found > 0 {
        anyhow::bail!("personal data found in plaintext in the server's files");
    }

    step(
        9,
        "Alice reports a message; the node checks it is what Bob really sent",
    );
    let spam = bob
        .send(&dm, "Cheap watches at watches.example.invalid")
        .await?;
    alice.sync().await?;
    let filed = alice
        .report(
            &dm,
            spam.seq,
            kizuna_wire::reports::ReportReason::Spam,
            Some("this is not like Bob"),
            0,
        )
        .await?;
    say!(
        "   report {} kept sealed in alice's region {}",
        filed.report_id,
        filed.region
    );
    let history = alice.history(&dm).await?;
    let mut forged = None;
    if let Some(m) = history.iter().find(|m| m.seq == spam.seq) {
        if let Some(p) = &m.proof {
            let text = serde_json::to_string(&kizuna_wire::ChatContent::Text {
                name: None,
                text: "Bob says he will hurt you".into(),
            })?;
            forged = Some(kizuna_wire::reports::ReportRequest {
                group_id: kizuna_wire::Bytes(hex::decode(&dm)?),
                reason: kizuna_wire::reports::ReportReason::Harassment,
                note: None,
                messages: vec![kizuna_wire::reports::RevealedMessage {
                    group_seq: m.seq,
                    sender_handle: m.sender.clone(),
                    server_time: m.server_time,
                    body: text,
                    franking_key: kizuna_wire::Bytes(p.key.to_vec()),
                    commitment: kizuna_wire::Bytes(p.commitment.to_vec()),
                    binding: kizuna_wire::Bytes(p.binding.to_vec()),
                }],
            });
        }
    }
    let forged = forged.ok_or_else(|| anyhow::anyhow!("the message came without franking"))?;
    match alice.send_report(&forged).await {
        Err(e) => say!("   the same message with other words is refused: {e}"),
        Ok(_) => anyhow::bail!("an altered report was accepted"),
    }
    let held = files_containing(&data, b"Cheap watches").len();
    say!("   the reported text found in {held} server file(s): it is sealed");
    if held > 0 {
        anyhow::bail!("a reported message found in plaintext in the server's files");
    }

    step(
        10,
        "A city's vaccination booking over an official account, end to end",
    );
    let city = person(
        &homes,
        outbox,
        &url,
        "city.shibuya",
        "Shibuya City",
        "+81354000000",
        "jp",
    )
    .await?;
    city::run(city, &mut alice, &root, &homes, &staff_url, &data).await?;

    server.shutdown().await;
    for c in [alice, bob, carol] {
        c.close().await;
    }
    say!("\ndone in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

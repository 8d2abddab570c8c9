//! The demo's city: an official account verified by two of the operator's
//! people, its daemon on the city's side with a vaccination-booking service
//! behind its webhook (the same story as `examples/vaccination-bot`), a
//! resident who follows it, books with a button and is reminded, and a
//! signed disaster warning every follower's device checks.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use kizuna_bot::{BotConfig, RunningBot, WebhookEvent};
use kizuna_client::{Client, Event, OfficialDetails};
use kizuna_console::staff::StaffClient;
use kizuna_wire::staff::{NewStaffMember, Role, StaffCredentials, VerificationProposal};
use kizuna_wire::{OfficialKind, Severity, Structured};

use super::AS_JSON;

const SLOTS: [(&str, &str); 2] = [
    ("mon-1000", "Mon 10:00, Shibuya Health Centre"),
    ("tue-1430", "Tue 14:30, Shibuya Health Centre"),
];

/// The booking service the city runs behind its webhook: offers the slots
/// to a new follower, books the one chosen, reminds a second later.
async fn booking_service(
    secret: String,
    api: Arc<std::sync::OnceLock<String>>,
) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
        let (secret, api, http) = (secret.clone(), api.clone(), http.clone());
        async move {
            let authed = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(format!("Bearer {secret}").as_str());
            if !authed {
                return StatusCode::UNAUTHORIZED;
            }
            let Ok(event) = serde_json::from_slice::<WebhookEvent>(&body) else {
                return StatusCode::BAD_REQUEST;
            };
            let Some(api) = api.get().cloned() else {
                return StatusCode::SERVICE_UNAVAILABLE;
            };
            let send = |body: serde_json::Value| {
                let (http, api, secret) = (http.clone(), api.clone(), secret.clone());
                async move {
                    http.post(format!("{api}/v1/messages"))
                        .bearer_auth(secret)
                        .json(&body)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false)
                }
            };
            let ok = match event {
                WebhookEvent::Followed { chat, .. } => {
                    send(serde_json::json!({
                        "chat": chat,
                        "text": "Book your vaccination: choose a slot.",
                        "buttons": SLOTS.iter().map(|(id, label)| serde_json::json!({"id": id, "label": label})).collect::<Vec<_>>(),
                    }))
                    .await
                }
                WebhookEvent::Message {
                    chat,
                    structured: Some(Structured::Answer { choice: Some(slot), .. }),
                    ..
                } => {
                    let label = SLOTS.iter().find(|(id, _)| *id == slot).map_or("?", |(_, l)| *l);
                    let booked = send(serde_json::json!({"chat": chat, "text": format!("Booked: {label}.")})).await;
                    let remind = send(serde_json::json!({"chat": chat, "text": format!("Reminder: your vaccination is {label}.")}));
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        remind.await;
                    });
                    booked
                }
                WebhookEvent::Message { .. } => true,
            };
            if ok {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::BAD_GATEWAY
            }
        }
    };
    let app = axum::Router::new().route("/kizuna", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/kizuna", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn staff_member(
    admin: &StaffClient,
    homes: &Path,
    server: &str,
    id: &str,
    role: Role,
) -> anyhow::Result<StaffClient> {
    let c: StaffCredentials = admin
        .add_member(&NewStaffMember {
            staff_id: id.into(),
            org_id: "operator".into(),
            roles: vec![role],
        })
        .await?;
    Ok(StaffClient::login(
        &homes.join(format!("staff-{id}")),
        server,
        None,
        id,
        &c.password,
        &kizuna_server::totp_now(&c.totp_secret)?,
    )
    .await?)
}

/// Syncs `who` until a message containing `wanted` arrives.
async fn until(who: &mut Client, wanted: &str) -> anyhow::Result<kizuna_client::StoredMessage> {
    for _ in 0..100 {
        for e in who.sync().await? {
            if let Event::Message(m) = e {
                if m.text.contains(wanted) {
                    return Ok(m);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("no message with {wanted:?} arrived")
}

pub async fn run(
    mut city: Client,
    alice: &mut Client,
    root: &StaffCredentials,
    homes: &Path,
    staff_url: &str,
    data: &Path,
) -> anyhow::Result<()> {
    let app = city
        .apply_official(OfficialDetails {
            organisation: "Shibuya City".into(),
            kind: OfficialKind::Municipality,
            country: "JP".into(),
            area: Some("Shibuya, Tokyo".into()),
            keeps_data: "the city's own servers in Tokyo".into(),
            keeps_data_country: "JP".into(),
            contact: "privacy@city.shibuya.example.jp".into(),
        })
        .await?;
    say!(
        "   Shibuya City applies from its own device: {}",
        app.application_id
    );
    let admin = StaffClient::login(
        &homes.join("staff-root"),
        staff_url,
        None,
        &root.staff_id,
        &root.password,
        &kizuna_server::totp_now(&root.totp_secret)?,
    )
    .await?;
    let sup = staff_member(&admin, homes, staff_url, "sup", Role::Support).await?;
    let lead = staff_member(&admin, homes, staff_url, "lead", Role::Approver).await?;
    sup.propose_official(
        &app.application_id,
        &VerificationProposal {
            evidence: "registry extract 2026-114; called the city's published number".into(),
            ticket: "OA-1".into(),
        },
    )
    .await?;
    match sup.approve_official(&app.application_id).await {
        Err(e) => say!("   sup checked the evidence; sup alone cannot approve it: {e}"),
        Ok(_) => anyhow::bail!("one person verified an official account"),
    }
    let verified = lead.approve_official(&app.application_id).await?;
    say!(
        "   lead approves: the badge is key-log entry {}",
        verified.application.key_entry.unwrap_or_default()
    );
    let badge = alice.official("city.shibuya").await?;
    say!(
        "   alice's device checks the badge in the key log: {}",
        badge
            .official
            .as_ref()
            .map_or("NOT official".into(), |b| b.claim.organisation.clone())
    );
    let home = city.identity().handle.clone();
    city.close().await;

    // Made for the city's eyes only, as `kizuna bot` makes it.
    let secret = kizuna_bot::secret_from(&homes.join("bot-secret"))?;
    let api = Arc::new(std::sync::OnceLock::new());
    let webhook = booking_service(secret.clone(), api.clone()).await?;
    let bot = RunningBot::start(BotConfig {
        home: homes.join(&home),
        webhook,
        listen: "127.0.0.1:0".parse()?,
        secret,
    })
    .await?;
    let _ = api.set(format!("http://{}", bot.addr));
    say!("   the city's daemon runs on the city's machine, its booking service behind the webhook");

    let (chat, _) = alice.follow("city.shibuya").await?;
    let card = until(alice, "choose a slot").await?;
    if let Some(Structured::Card { buttons, .. }) = card.structured.as_deref() {
        let offered: Vec<&str> = buttons.iter().map(|b| b.label.as_str()).collect();
        say!("   alice follows the city and is offered {offered:?}");
    }
    alice
        .answer(&chat, card.seq, Some("tue-1430"), Default::default())
        .await?;
    say!("   alice taps \"Tue 14:30\"");
    say!(
        "   the city answers: {:?}",
        until(alice, "Booked").await?.text
    );
    say!(
        "   and reminds her: {:?}",
        until(alice, "Reminder").await?.text
    );

    let mut city = Client::open(&homes.join(&home)).await?;
    bot.stop().await;
    city.announce(
        "Typhoon: evacuate the riverside by 18:00",
        Severity::Emergency,
    )
    .await?;
    for e in alice.sync().await? {
        if let Event::Announcement(a) = e {
            say!(
                "   a signed warning reaches alice, checked on her device: {} says {:?}",
                a.organisation,
                a.text
            );
        }
    }
    city.close().await;
    let found = super::files_containing(data, b"Tue 14:30").len();
    say!("   what alice told the city found in {found} server file(s)");
    if found > 0 {
        anyhow::bail!("a resident's booking found in plaintext in the operator's files");
    }
    Ok(())
}

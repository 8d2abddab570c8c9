//! `kizuna register` and `kizuna device …`: an account, and the devices
//! that act for it.

use kizuna_client::{Client, RegisterOptions, ServerAddress};

use crate::cli::{DeviceCommand, RegisterArgs};
use crate::messages::{print_seen, when};

/// `kizuna register`: a new account and this device's identity, once the
/// person has read and agreed to the disclosures of their region.
pub async fn register(a: RegisterArgs) -> anyhow::Result<()> {
    let server = ServerAddress::new(&a.server).with_ca_cert(a.trust.read()?);
    let d = Client::disclosures(&server, &a.region).await?;
    if a.json && !a.agree {
        // One object per line: the disclosures, then the refusal.
        out!("{}", serde_json::to_string(&d)?);
    } else if !a.json {
        crate::consent::print_disclosures(&d);
    }
    if !a.agree && !d.foreign.is_empty() {
        return Err(crate::exit::Usage(format!(
            "nothing was created: your data in region {} may be reached from the countries above; \
             run again with --agree once you have read their disclosures and agree to them",
            d.region
        ))
        .into());
    }
    let phone_code = match &a.phone_code {
        Some(code) => code.clone(),
        None => ask_for_phone_code(&a, &server, &d.version).await?,
    };
    let c = Client::register(
        &a.home.home,
        server,
        RegisterOptions {
            handle: &a.handle,
            name: &a.name,
            phone: &a.phone,
            phone_code: &phone_code,
            email: a.email.as_deref(),
            region: &a.region,
            device_label: &a.device_label,
            agreed_disclosures: Some(&d.version),
        },
    )
    .await?;
    let id = c.identity();
    if a.json {
        out!(
            "{}",
            serde_json::json!({
                "handle": id.handle,
                "account_id": id.account_id,
                "device_id": id.device_id,
                "server": id.server,
                "agreed_disclosures": d.version,
            })
        );
    } else {
        out!(
            "registered {} (device {}) on {}",
            id.handle,
            id.device_id,
            id.server
        );
        if !d.foreign.is_empty() {
            out!(
                "you agreed to region {}'s disclosures (version {}); `kizuna me consent` shows it, `kizuna me consent withdraw` withdraws it",
                d.region, d.version
            );
        }
    }
    Ok(())
}

/// Has the node send a code to the phone, and reads it from the person at
/// a terminal; a script is told to run the command again with it.
async fn ask_for_phone_code(
    a: &RegisterArgs,
    server: &ServerAddress,
    agreed: &str,
) -> anyhow::Result<String> {
    let sent = Client::send_phone_code(server.clone(), &a.phone, &a.region, Some(agreed)).await?;
    let minutes = sent.expires_at.saturating_sub(kizuna_wire::now_ms()) / 60_000;
    use std::io::IsTerminal;
    if a.json || !std::io::stdin().is_terminal() {
        if a.json {
            out!(
                "{}",
                serde_json::json!({ "phone_code_sent_to": a.phone, "expires_at": sent.expires_at })
            );
        }
        return Err(crate::exit::Usage(format!(
            "nothing was created yet: a code was sent to {}; run the same command again with --phone-code CODE within {minutes} minutes",
            a.phone
        ))
        .into());
    }
    eprint!(
        "a code was sent to {}; type it here (it works for {minutes} minutes): ",
        a.phone
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

pub async fn run(cmd: DeviceCommand) -> anyhow::Result<()> {
    match cmd {
        DeviceCommand::Link {
            home,
            server,
            trust,
            handle,
            device_label,
            timeout,
            json,
        } => {
            let c = Client::link_device(
                &home.home,
                ServerAddress::new(&server).with_ca_cert(trust.read()?),
                &handle,
                &device_label,
                |code| {
                    if json {
                        out!("{}", serde_json::json!({ "approve_with": code }));
                    } else {
                        out!(
                            "on one of your other devices run:\n\n    kizuna device approve {code}\n"
                        );
                        out!("waiting for approval...");
                    }
                },
                std::time::Duration::from_secs(timeout),
            )
            .await?;
            if json {
                out!(
                    "{}",
                    serde_json::json!({
                        "device": c.identity().device_id,
                        "handle": c.identity().handle,
                        "linked": true,
                    })
                );
                return Ok(());
            }
            out!(
                "this device ({}) is now linked to {}",
                c.identity().device_id,
                c.identity().handle
            );
            Ok(())
        }
        DeviceCommand::List { home, json } => {
            let mut c = Client::open(&home.home).await?;
            for d in c.devices().await? {
                if json {
                    out!("{}", serde_json::to_string(&d)?);
                } else {
                    out!(
                        "{}  {:<16} linked {}  last seen {}{}",
                        d.device_id,
                        d.label,
                        when(d.linked_at),
                        d.last_seen.map(when).unwrap_or_else(|| "never".into()),
                        if d.this_device { "  (this device)" } else { "" }
                    );
                }
            }
            Ok(())
        }
        DeviceCommand::Revoke { home, device, json } => {
            let mut c = Client::open(&home.home).await?;
            c.revoke_device(&device).await?;
            if json {
                out!("{}", serde_json::json!({ "revoked": device }));
                return Ok(());
            }
            out!("device {device} revoked: it is being taken out of every chat, and can no longer sign in");
            Ok(())
        }
        DeviceCommand::Approve { home, code, json } => {
            let mut c = Client::open(&home.home).await?;
            let r = c.approve_device(&code).await;
            print_seen(&mut c);
            let (device, chats) = r?;
            if json {
                let chats: Vec<&str> = chats.iter().map(|m| m.chat.as_str()).collect();
                out!(
                    "{}",
                    serde_json::json!({ "approved": device, "added_to": chats })
                );
                return Ok(());
            }
            out!(
                "device {device} approved and added to {} chat(s)",
                chats.len()
            );
            Ok(())
        }
    }
}

//! `kizuna register` and `kizuna device …`: an account, and the devices
//! that act for it.

use kizuna_client::{Client, RegisterOptions, ServerAddress};

use crate::cli::{DeviceCommand, RegisterArgs};
use crate::messages::{print_seen, when};

/// `kizuna register`: a new account and this device's identity.
pub async fn register(a: RegisterArgs) -> anyhow::Result<()> {
    let c = Client::register(
        &a.home.home,
        ServerAddress::new(&a.server).with_ca_cert(a.trust.read()?),
        RegisterOptions {
            handle: &a.handle,
            name: &a.name,
            phone: &a.phone,
            email: a.email.as_deref(),
            region: &a.region,
            device_label: &a.device_label,
        },
    )
    .await?;
    let id = c.identity();
    if a.json {
        out!("{}", serde_json::to_string(id)?);
        return Ok(());
    }
    out!(
        "registered {} (device {}) on {}",
        id.handle,
        id.device_id,
        id.server
    );
    Ok(())
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

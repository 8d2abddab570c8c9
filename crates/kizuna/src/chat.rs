//! `kizuna chat …`: creating chats, changing who is in them, and
//! answering chat requests; `kizuna lookup`: finding someone's handle;
//! `kizuna block …`: whom the node refuses on my behalf.

use clap::Subcommand;
use kizuna_client::{Client, KeyStanding};

use crate::cli::Home;
use crate::exit::NotFound;
use crate::messages::{print_seen, short, when};

#[derive(Subcommand)]
pub enum ChatCommand {
    /// Create a chat (1:1 with one --with, a group with more); prints its id.
    New {
        #[command(flatten)]
        home: Home,
        /// Handle of a person to chat with; repeat for a group.
        #[arg(long = "with", required = true)]
        with: Vec<String>,
        /// A name for the chat, shared end-to-end encrypted with its members.
        #[arg(long)]
        name: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Add a person (all their devices) to a chat.
    Add {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// Handle of the person.
        #[arg(long)]
        member: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Remove a person (all their devices) from a chat.
    Remove {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// Handle of the person.
        #[arg(long)]
        member: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Leave a chat: the others see that you left; your history stays on
    /// this device.
    Leave {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List a chat's member devices.
    Members {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Chats someone not in your contacts put you into: nothing of them is
    /// shown as a normal chat until you accept.
    Requests {
        #[command(flatten)]
        home: Home,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Accept a chat request: it becomes a normal chat, with what was sent
    /// in it while it waited.
    Accept {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Decline a chat request: you leave it and what was sent in it is
    /// deleted from this device.
    Decline {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// Also block the person who started it.
        #[arg(long)]
        block: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: ChatCommand) -> anyhow::Result<()> {
    match cmd {
        ChatCommand::New {
            home,
            with,
            name,
            json,
        } => {
            let mut c = Client::open(&home.home).await?;
            let id = c.create_chat(&with, name.as_deref()).await?;
            if json {
                out!(
                    "{}",
                    serde_json::json!({ "chat": id, "with": with, "name": name })
                );
            } else {
                out!("{id}");
            }
        }
        ChatCommand::Add {
            home,
            chat,
            member,
            json,
        } => {
            let mut c = Client::open(&home.home).await?;
            let r = c.add_member(&chat, &member).await;
            print_seen(&mut c);
            let changed = r?;
            if json {
                out!("{}", serde_json::to_string(&changed)?);
                return Ok(());
            }
            out!(
                "added {} ({} device{}) to chat {}",
                changed.handle,
                changed.added.len(),
                if changed.added.len() == 1 { "" } else { "s" },
                changed.chat
            );
        }
        ChatCommand::Remove {
            home,
            chat,
            member,
            json,
        } => {
            let mut c = Client::open(&home.home).await?;
            let r = c.remove_member(&chat, &member).await;
            print_seen(&mut c);
            let changed = r?;
            if json {
                out!("{}", serde_json::to_string(&changed)?);
                return Ok(());
            }
            out!(
                "removed {} ({} device{}) from chat {}",
                changed.handle,
                changed.removed.len(),
                if changed.removed.len() == 1 { "" } else { "s" },
                changed.chat
            );
        }
        ChatCommand::Leave { home, chat, json } => {
            let mut c = Client::open(&home.home).await?;
            let r = c.leave(&chat).await;
            print_seen(&mut c);
            r?;
            if json {
                out!("{}", serde_json::json!({ "left": chat }));
            } else {
                out!("you left chat {chat}; its history stays on this device");
            }
        }
        ChatCommand::Members { home, chat, json } => {
            let mut c = Client::open(&home.home).await?;
            let members = c.members(&chat).await?;
            if json {
                let list: Vec<serde_json::Value> = members
                    .iter()
                    .map(|(h, d)| serde_json::json!({ "handle": h, "device": d }))
                    .collect();
                out!("{}", serde_json::Value::Array(list));
                return Ok(());
            }
            for (h, d) in members {
                out!("{h}\t{d}");
            }
        }
        ChatCommand::Requests { home, json } => {
            let c = Client::open(&home.home).await?;
            let requests = c.chat_requests().await?;
            for r in &requests {
                if json {
                    out!("{}", serde_json::to_string(r)?);
                } else {
                    out!(
                        "{}  {:<20} from {:<20} {:>5} messages",
                        r.chat,
                        r.name.as_deref().unwrap_or("-"),
                        r.from,
                        r.messages
                    );
                }
            }
            if !json && !requests.is_empty() {
                eprintln!(
                    "answer with `kizuna chat accept CHAT` or `kizuna chat decline CHAT [--block]`"
                );
            }
        }
        ChatCommand::Accept { home, chat, json } => {
            let mut c = Client::open(&home.home).await?;
            let r = c.accept_chat(&chat).await?;
            if json {
                out!("{}", serde_json::to_string(&r)?);
                return Ok(());
            }
            out!(
                "accepted chat {} from {} ({} message{} waiting); `kizuna history {}` shows them",
                r.chat,
                r.from,
                r.messages,
                if r.messages == 1 { "" } else { "s" },
                short(&r.chat)
            );
        }
        ChatCommand::Decline {
            home,
            chat,
            block,
            json,
        } => {
            let mut c = Client::open(&home.home).await?;
            let r = c.decline_chat(&chat, block).await;
            print_seen(&mut c);
            let r = r?;
            if json {
                out!(
                    "{}",
                    serde_json::json!({ "declined": r.chat, "from": r.from, "blocked": block })
                );
                return Ok(());
            }
            out!("declined chat {} from {}", r.chat, r.from);
            if block {
                out!("blocked {}", r.from);
            }
        }
    }
    Ok(())
}

/// `kizuna lookup`: the handle registered with a phone number, if its
/// owner lets themselves be found.
pub async fn lookup(home: &Home, phone: &str, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    match c.lookup_phone(phone).await? {
        Some(h) if json => out!("{}", serde_json::json!({ "phone": phone, "handle": h })),
        Some(h) => out!("{h}"),
        None => {
            return Err(NotFound("nobody with that number lets themselves be found".into()).into());
        }
    }
    Ok(())
}

/// `kizuna block`, `unblock`, `blocked`.
pub enum BlockAction {
    Block(String),
    Unblock(String),
    List,
}

pub async fn blocks(home: &Home, action: BlockAction, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let (list, said) = match &action {
        BlockAction::Block(h) => (c.block(h).await?, Some(format!("blocked {h}: their invitations and their messages in one-to-one chats with you are refused; they are not told"))),
        BlockAction::Unblock(h) => (c.unblock(h).await?, Some(format!("unblocked {h}"))),
        BlockAction::List => (c.blocked().await?, None),
    };
    if json {
        out!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    match said {
        Some(s) => out!("{s}"),
        None => {
            for b in &list.blocked {
                out!("{:<32} since {}", b.handle, when(b.since));
            }
        }
    }
    Ok(())
}

/// `kizuna verify`: a confirmed contact whose keys change is a warning in
/// `sync` and `history` until confirmed again.
#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub home: Home,
    /// Their handle.
    pub handle: String,
    /// The numbers matched: remember their keys as they are now (only if
    /// the number is still the one last shown).
    #[arg(long)]
    pub confirm: bool,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna verify H [--confirm]`: the safety number with H, and whether it
/// was confirmed.
pub async fn verify(home: &Home, handle: &str, confirm: bool, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let n = if confirm {
        c.confirm_safety_number(handle, None).await?
    } else {
        c.safety_number(handle).await?
    };
    // What the key log binds the handle to, checked here: exit 6 if the
    // node hands out keys it does not log.
    let logged = c.logged_keys(handle).await?;
    if json {
        let mut v = serde_json::to_value(&n)?;
        v["key_log"] = serde_json::to_value(&logged)?;
        out!("{v}");
        return Ok(());
    }
    if let Some(before) = &logged.replaced_account {
        eprintln!(
            "warning: {handle} is a new person: the {handle} you knew (account {before}) erased their account, and the handle now belongs to account {}; compare the number before trusting them, then `kizuna verify {handle} --confirm`",
            logged.account_id.as_deref().unwrap_or("none")
        );
    }
    out!(
        "{handle}'s {} device key(s) are in the key log, account {}",
        logged.devices.len(),
        logged.account_id.as_deref().unwrap_or("none")
    );
    out!("safety number with {handle}:");
    let groups: Vec<&str> = n.digits.split(' ').collect();
    for row in groups.chunks(4) {
        out!("    {}", row.join(" "));
    }
    out!("as text (for a QR code): {}", n.text);
    match n.standing {
        KeyStanding::Verified { at } if confirm => {
            out!("confirmed: {handle}'s keys as they are now are remembered (at {})", when(at))
        }
        KeyStanding::Verified { at } => out!("verified at {}", when(at)),
        KeyStanding::Unverified => out!(
            "not verified: compare it with {handle}'s, in person or over another channel; if it matches, `kizuna verify {handle} --confirm`"
        ),
        KeyStanding::Changed { verified_at } => eprintln!(
            "warning: {handle}'s keys changed since you verified them at {}; compare the number again before trusting this chat, then `kizuna verify {handle} --confirm`",
            when(verified_at)
        ),
    }
    Ok(())
}

/// Warns of each confirmed contact whose keys changed since (on stderr, or
/// as a `keys_changed` line for scripts).
pub async fn warn_changed_keys(c: &mut Client, json: bool) -> anyhow::Result<()> {
    for n in c.changed_keys().await? {
        let KeyStanding::Changed { verified_at } = n.standing else {
            continue;
        };
        if json {
            out!(
                "{}",
                serde_json::json!({ "type": "keys_changed", "handle": n.handle, "verified_at": verified_at })
            );
        } else {
            eprintln!(
                "warning: {}'s keys changed since you verified them at {}; compare safety numbers again: `kizuna verify {}`",
                n.handle,
                when(verified_at),
                n.handle
            );
        }
    }
    Ok(())
}

//! `kizuna send`, `report`, `sync`, `watch`, `chats` and `history`: a
//! device's messages, and how events, chat ids and times print.

use kizuna_client::{Client, Event, StoredMessage};

use crate::cli::{Home, ReasonArg};
use crate::exit::Unopened;
use crate::serve::shutdown_signal;

/// `kizuna send`: encrypts and sends one message.
pub async fn send(home: &Home, chat: &str, text: &str, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let sent = c.send(chat, text).await;
    let n = print_seen(&mut c);
    let m = sent?;
    if json {
        out!("{}", serde_json::json!({ "chat": m.chat, "seq": m.seq }));
    } else {
        out!("sent to {} as #{}", m.chat, m.seq);
    }
    match n {
        0 => Ok(()),
        n => Err(Unopened(n).into()),
    }
}

/// A byte count as people read it.
fn size_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / (1u64 << 10) as f64),
        n => format!("{n} bytes"),
    }
}

/// `kizuna send --file`: seals a file, uploads it and sends the message
/// that carries it.
pub async fn send_file(
    home: &Home,
    chat: &str,
    path: &std::path::Path,
    caption: Option<&str>,
    keep_metadata: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let bar = crate::admin::Bar::bytes("uploading");
    let sent = c
        .send_file(chat, path, caption, keep_metadata, &mut |done, total| {
            bar.at(done, total)
        })
        .await;
    bar.finish();
    let n = print_seen(&mut c);
    let m = sent?;
    let f = m.file.as_ref();
    if json {
        out!(
            "{}",
            serde_json::json!({ "chat": m.chat, "seq": m.seq, "file": f })
        );
    } else if let Some(f) = f {
        out!(
            "sent {} ({}, {}) to {} as #{}",
            f.file_name,
            f.media_type,
            size_text(f.size),
            m.chat,
            m.seq
        );
    }
    match n {
        0 => Ok(()),
        n => Err(Unopened(n).into()),
    }
}

/// `kizuna save`: fetches, opens and checks the file of one message.
pub async fn save(
    home: &Home,
    chat: &str,
    message: u64,
    out: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let bar = crate::admin::Bar::bytes("downloading");
    let saved = c
        .save_file(chat, message, out, &mut |done, total| bar.at(done, total))
        .await;
    bar.finish();
    let saved = saved?;
    if json {
        out!("{}", serde_json::to_string(&saved)?);
    } else {
        out!(
            "saved {} ({}, {}) to {}; it is the file the message describes (SHA-256 {})",
            saved.file_name,
            saved.media_type,
            size_text(saved.size),
            saved.path.display(),
            &saved.sha256[..16]
        );
    }
    Ok(())
}

/// `kizuna report`: reveals one message (and, if asked, those before it)
/// to the service as an abuse report.
pub async fn report(
    home: &Home,
    chat: &str,
    message: u64,
    reason: ReasonArg,
    note: Option<&str>,
    preceding: usize,
    json: bool,
) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let filed = c
        .report(chat, message, reason.into(), note, preceding)
        .await?;
    if json {
        out!("{}", serde_json::to_string(&filed)?);
    } else {
        out!(
            "reported as {} ({} message(s) revealed); it is kept sealed in your home region {}; `kizuna me reports` shows what becomes of it",
            filed.report_id, filed.messages, filed.region
        );
    }
    Ok(())
}

/// `kizuna sync`: receives, stores and prints what waits for this device.
pub async fn sync(home: &Home, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let (mut messages, mut unopened, mut not_logged) = (0, 0, 0);
    c.sync_with(|e| {
        match e {
            Event::Message(_) => messages += 1,
            Event::Undecryptable(_) => unopened += 1,
            Event::KeyNotLogged { .. } | Event::AnnouncementRefused { .. } => not_logged += 1,
            _ => {}
        }
        print_event(e, json);
    })
    .await?;
    if !json && messages == 0 && unopened == 0 {
        eprintln!("no new messages");
    }
    crate::chat::warn_changed_keys(&mut c, json).await?;
    if not_logged > 0 {
        return Err(kizuna_client::ClientError::KeysNotLogged(format!(
            "{not_logged} device(s) in your chats, or announcements, are not bound to their person in the key log (shown above)"
        ))
        .into());
    }
    if unopened > 0 {
        return Err(Unopened(unopened).into());
    }
    Ok(())
}

/// `kizuna watch`: like sync, then prints messages as they arrive.
pub async fn watch(home: &Home, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    if !json {
        eprintln!("watching for messages; Ctrl-C to stop");
    }
    c.watch(|e| print_event(e, json), shutdown_signal()).await?;
    Ok(())
}

/// `kizuna chats`: my chats as this device keeps them.
pub async fn chats(home: &Home, json: bool) -> anyhow::Result<()> {
    let c = Client::open(&home.home).await?;
    for s in c.chats().await? {
        if json {
            out!("{}", serde_json::to_string(&s)?);
        } else {
            out!(
                "{}  {:<20} {:>5} messages{}",
                s.chat,
                s.name.as_deref().unwrap_or("-"),
                s.messages,
                if s.active { "" } else { "  (you left)" }
            );
        }
    }
    Ok(())
}

/// `kizuna history`: a chat's messages, and in their places the entries
/// this device could not open.
pub async fn history(home: &Home, chat: &str, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let timeline = c.timeline(chat).await?;
    let id = c.resolve_chat(chat).await?;
    if let Some(r) = c.chat_requests().await?.into_iter().find(|r| r.chat == id) {
        eprintln!(
            "chat {} is a chat request from {}: `kizuna chat accept {}` or `kizuna chat decline {}`",
            id,
            r.from,
            short(&id),
            short(&id)
        );
    }
    for e in &timeline {
        match e {
            _ if json => out!("{}", serde_json::to_string(e)?),
            Event::Message(m) => out!(
                "#{:<5} {} ({}): {}",
                m.seq,
                m.sender,
                m.sender_device,
                shown(m, short(&id))
            ),
            Event::Undecryptable(u) => out!(
                "#{:<5} {} ({}): [could not be opened: {}]",
                u.seq,
                u.sender,
                u.sender_device,
                u.reason
            ),
            _ => {}
        }
    }
    crate::chat::warn_changed_keys(&mut c, json).await?;
    match unopened(&timeline) {
        0 => Ok(()),
        n => Err(Unopened(n).into()),
    }
}

/// A message as a line shows it: its text, or what file it carries and
/// how to save it.
fn shown(m: &StoredMessage, chat: &str) -> String {
    if let Some(s) = &m.structured {
        return structured(m, s, chat);
    }
    match &m.file {
        None => m.text.clone(),
        Some(f) => {
            let mut line = format!(
                "[file {}, {}, {}: `kizuna save {chat} {}`]",
                f.file_name,
                f.media_type,
                size_text(f.size),
                m.seq
            );
            if !m.text.is_empty() {
                line.push(' ');
                line.push_str(&m.text);
            }
            line
        }
    }
}

/// A card with its buttons or form and how to answer it; an answer with
/// the card it answers; a follower's request as what it asks.
fn structured(m: &StoredMessage, s: &kizuna_wire::Structured, chat: &str) -> String {
    use kizuna_wire::{FieldKind, FollowerRequest, Structured};
    match s {
        Structured::Card { buttons, fields } => {
            let mut text = m.text.clone();
            for b in buttons {
                text.push_str(&format!("\n    [{}] {}", b.id, b.label));
            }
            if !buttons.is_empty() {
                text.push_str(&format!(
                    "\n    answer: kizuna answer {chat} {} --choice ID",
                    m.seq
                ));
            }
            for f in fields {
                let takes = match f.kind {
                    FieldKind::Choice => f
                        .options
                        .iter()
                        .map(|o| format!("{} ({})", o.id, o.label))
                        .collect::<Vec<_>>()
                        .join(", "),
                    FieldKind::Date => "a date, YYYY-MM-DD".into(),
                    FieldKind::Text => "text".into(),
                };
                text.push_str(&format!("\n    {} = {}: {takes}", f.id, f.label));
            }
            if !fields.is_empty() {
                text.push_str(&format!(
                    "\n    answer: kizuna answer {chat} {} --field ID=VALUE ...",
                    m.seq
                ));
            }
            text
        }
        Structured::Answer { to, .. } => format!("(to #{to}) {}", m.text),
        Structured::Request(FollowerRequest::Erasure) => {
            format!("(asks to erase what was sent) {}", m.text)
        }
        Structured::Request(FollowerRequest::Segments { segments }) => {
            format!(
                "(asks for the notices of {}) {}",
                segments.join(", "),
                m.text
            )
        }
    }
}

pub fn print_message(m: &StoredMessage, json: bool, chat_label: &str) {
    if json {
        out!("{}", serde_json::to_string(m).unwrap_or_default());
    } else {
        out!(
            "[{chat_label}] {} ({}): {}",
            m.sender,
            m.sender_device,
            shown(m, short(&m.chat))
        );
    }
}

/// A time (milliseconds since the Unix epoch) as `YYYY-MM-DD HH:MM UTC`.
pub fn when(ms: u64) -> String {
    // To the minute: the wire's UTC time without its seconds.
    let full = kizuna_wire::utc(ms);
    match full.rsplit_once(':') {
        Some((minutes, _)) => format!("{minutes} UTC"),
        None => full,
    }
}

pub fn short(chat: &str) -> &str {
    &chat[..8.min(chat.len())]
}

/// An event as a line: with --json, one object with its `type`.
fn print_event(e: &Event, json: bool) {
    if json {
        out!("{}", serde_json::to_string(e).unwrap_or_default());
        return;
    }
    match e {
        Event::Message(m) => print_message(m, false, short(&m.chat)),
        Event::Joined { chat, by } => eprintln!("* {by} added you to chat {chat}"),
        Event::Request { chat, by } => eprintln!(
            "* {by}, who is not in your contacts, added you to chat {chat}: a chat request; \
             `kizuna chat accept {}` to read it, or `kizuna chat decline {}`",
            short(chat),
            short(chat)
        ),
        Event::Removed { chat, by } => eprintln!("* {by} removed you from chat {chat}"),
        Event::MembersChanged {
            chat,
            by,
            added,
            removed,
            left,
        } => {
            let c = short(chat);
            for h in added {
                eprintln!("* [{c}] {by} added {h}");
            }
            for h in removed {
                eprintln!("* [{c}] {by} removed {h}");
            }
            for h in left {
                eprintln!("* [{c}] {h} left");
            }
            if added.is_empty() && removed.is_empty() && left.is_empty() {
                eprintln!("* [{c}] {by} renewed the chat's keys");
            }
        }
        Event::Renamed { chat, name, by } => eprintln!("* {by} named chat {chat} \"{name}\""),
        Event::DeviceRevoked { chat, handle } => {
            eprintln!(
                "* [{}] a device of {handle} was revoked and leaves the chat",
                short(chat)
            )
        }
        Event::AccountDeleted { chat, handle } => {
            eprintln!("* [{}] {handle} deleted their account", short(chat))
        }
        Event::NotSent {
            chat,
            content,
            reason,
        } => eprintln!(
            "! [{}] a message of yours was not delivered ({reason}): {content}",
            short(chat)
        ),
        Event::DeviceLinked { device_id, by, at } => eprintln!(
            "! device {device_id} was linked to your account at {}, vouched for by your device {by}; \
             if you did not link it, revoke it: `kizuna device revoke {device_id}`",
            when(*at)
        ),
        Event::KeyNotLogged {
            chat,
            handle,
            device_id,
            why,
        } => eprintln!(
            "!! [{}] a device in this chat calls itself {handle}'s ({device_id}), but {why}: it may not be {handle} at all. \
             Trust nothing it sends until you compare safety numbers with {handle} in person (`kizuna verify {handle}`)",
            short(chat)
        ),
        Event::Announcement(a) => out!(
            "[announcement] {} ({}){}: {}",
            a.organisation,
            a.handle,
            match a.severity {
                kizuna_wire::Severity::Emergency => " EMERGENCY",
                kizuna_wire::Severity::Warning => " warning",
                kizuna_wire::Severity::Info => "",
            },
            a.text
        ),
        Event::AnnouncementRefused { handle, pos, why } => eprintln!(
            "!! an announcement said to be {handle}'s (#{pos}) was refused and not kept: {why}. \
             The node may have altered or made it up"
        ),
        Event::Undecryptable(u) => out!(
            "[{}] #{} from {} ({}) could not be opened: {}",
            short(&u.chat),
            u.seq,
            u.sender,
            u.sender_device,
            u.reason
        ),
    }
}

/// Prints what a command found waiting and processed on its way.
pub fn print_seen(c: &mut Client) -> usize {
    let seen = c.take_seen();
    for e in &seen {
        print_event(e, false);
    }
    unopened(&seen)
}

fn unopened(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Undecryptable(_)))
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_to_the_minute_in_utc() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_700_000_000_000), "2023-11-14 22:13 UTC");
    }
}

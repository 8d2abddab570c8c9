//! How the staff commands print what the staff listener answers: as text,
//! or with --json for scripts.

use kizuna_wire::staff::{BreachScope, Grant, OfficialReview, StaffCredentials};

pub fn print_opened(r: &kizuna_wire::reports::OpenedReport) {
    out!(
        "{}  {} ({}), filed {} in region {}, under grant {}",
        r.report_id,
        r.reason.name(),
        r.state.name(),
        kizuna_wire::utc(r.created_at),
        r.region,
        r.grant_id
    );
    out!("  reported   {} in chat {}", r.reported_handle, r.chat);
    if let Some(n) = &r.note {
        out!("  note       \"{n}\"");
    }
    for (i, m) in r.messages.iter().enumerate() {
        let mark = if i + 1 == r.messages.len() { ">" } else { " " };
        out!(
            "  {mark} #{:<5} {}  {}: {}",
            m.group_seq,
            kizuna_wire::utc(m.server_time),
            m.sender_handle,
            m.text
        );
        if m.file.is_some() {
            out!(
                "           open it: kizuna staff reports file {} {}",
                r.report_id,
                m.group_seq
            );
        }
    }
    if let Some(o) = &r.outcome {
        out!(
            "  decided    {} ({}){}: {}",
            o.action.name(),
            kizuna_wire::utc(o.decided_at),
            o.until
                .map(|u| format!(" until {}", kizuna_wire::utc(u)))
                .unwrap_or_default(),
            o.reason
        );
    }
    if let Some(a) = &r.appeal {
        out!("  appeal     ({}) \"{}\"", kizuna_wire::utc(a.at), a.note);
    }
}

pub fn print_grant(g: &Grant) {
    let state = g.state.name();
    out!(
        "{}  {:<8} {} of {} for {}: {} of {} (ticket {}){}",
        g.grant_id,
        state,
        g.staff_id,
        g.org_id,
        g.purpose.code(),
        g.fields.join(","),
        if g.regions.is_empty() {
            g.subjects.join(",")
        } else {
            format!("region {}", g.regions.join(","))
        },
        g.ticket,
        g.expires_at
            .map(|e| format!(", until {}", kizuna_wire::utc(e)))
            .unwrap_or_default()
    );
}

pub fn show<T: serde::Serialize>(json: bool, v: &T, text: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        out!("{}", serde_json::to_string(v)?);
    } else {
        text(v);
    }
    Ok(())
}

pub fn spinner(what: &str) -> indicatif::ProgressBar {
    let b = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    b.set_message(what.to_string());
    b.enable_steady_tick(std::time::Duration::from_millis(120));
    b
}

pub fn print_scope(s: &BreachScope) {
    out!(
        "credentials: {}; window {} to {}",
        s.orgs
            .iter()
            .map(|o| format!("organisation {} ({})", o.org_id, o.country))
            .chain(s.query.staff_id.iter().map(|m| format!("staff member {m}")))
            .collect::<Vec<_>>()
            .join(", "),
        kizuna_wire::utc(s.query.from.unwrap_or(0)),
        kizuna_wire::utc(s.query.to.unwrap_or(s.scoped_at))
    );
    out!("people affected: {}", s.people.len());
    for r in s.regions.iter().filter(|r| r.affected > 0) {
        out!("  region {} ({}): {}", r.id, r.country, r.affected);
    }
    for (f, n) in &s.per_field {
        out!("  field {f}: {n} people");
    }
    for p in s.people.iter().take(20) {
        out!(
            "  {} ({}): {} — {} read(s), {} to {}",
            p.handle,
            p.region,
            p.fields.join(", "),
            p.reads,
            kizuna_wire::utc(p.first_at),
            kizuna_wire::utc(p.last_at)
        );
    }
    if s.people.len() > 20 {
        out!(
            "  … and {} more (--json lists them all)",
            s.people.len() - 20
        );
    }
}

pub fn print_credentials(c: &StaffCredentials) {
    out!("staff id        {}", c.staff_id);
    out!("password        {}", c.password);
    out!("authenticator   {}", c.totp_secret);
    out!("                {}", c.totp_uri);
    out!("These are shown once. Hand them over in person; nothing else can show them again.");
}

pub fn print_review(r: &OfficialReview) {
    let a = &r.application;
    let c = &a.claim;
    out!(
        "{}  {:<9} {} ({}, {}{}) as {}",
        a.application_id,
        a.state.name(),
        c.organisation,
        c.kind.name(),
        c.country,
        c.area
            .as_deref()
            .map(|x| format!(", {x}"))
            .unwrap_or_default(),
        c.handle
    );
    out!(
        "  keeps what people send it: {} ({}); contact {}",
        c.keeps_data,
        c.keeps_data_country,
        c.contact
    );
    out!("  applied {}", kizuna_wire::utc(a.submitted_at));
    if let (Some(by), Some(at)) = (&r.proposed_by, r.proposed_at) {
        out!(
            "  checked by {by} at {} (ticket {}): {}",
            kizuna_wire::utc(at),
            r.ticket.as_deref().unwrap_or("-"),
            r.evidence.as_deref().unwrap_or("")
        );
    }
    if let (Some(by), Some(at)) = (&r.decided_by, a.decided_at) {
        out!(
            "  {} by {by} at {}{}{}",
            a.state.name(),
            kizuna_wire::utc(at),
            a.key_entry
                .map(|i| format!(", key-log entry {i}"))
                .unwrap_or_default(),
            a.reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        );
    }
}

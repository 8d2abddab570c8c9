//! `kizuna me` and `kizuna me …`: my account, what the service holds about
//! me, where, and erasure.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use kizuna_client::Client;
use kizuna_wire::{Contacts, DataMap, TransferRecord};

#[derive(Subcommand)]
pub enum MeCommand {
    /// Each category of my data: where it is stored, from which countries it
    /// may be reached and why, what the law requires I be told about each
    /// foreign country, and the transfers that happened.
    DataMap {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// My agreement to the foreign countries that may reach my data: the
    /// disclosures of my home region, whether I agreed, what follows, and
    /// every agreement and withdrawal. `agree` agrees to the current ones
    /// (after a region move, a change of their text, or a withdrawal);
    /// `withdraw --yes` withdraws.
    Consent {
        #[command(subcommand)]
        action: Option<crate::consent::ConsentCommand>,
        /// Print JSON for scripts.
        #[arg(long, global = true)]
        json: bool,
    },
    /// All my personal data as JSON, with where it is stored and its
    /// transfers (GDPR Art. 15 and 20).
    Export {
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON for scripts (the export is JSON already; with --out,
        /// where it was written).
        #[arg(long)]
        json: bool,
    },
    /// Show or replace my contact list (kept sealed in my home region).
    Contacts {
        /// Replace the list with these handles (comma-separated; empty clears).
        #[arg(long, value_delimiter = ',')]
        set: Option<Vec<String>>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Every access to my data in the transparency ledger, each verified on
    /// this device by its inclusion proof against a signed tree head that
    /// must extend the last one this device saw. Exits with 6 if the ledger
    /// fails verification (altered, forked or rolled back).
    Accesses {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Staff requests for my data that wait for my agreement.
    Requests {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Agree to a staff request for my data.
    Agree {
        grant: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Decline a staff request for my data; nothing is readable under it.
    Decline {
        grant: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The abuse reports I filed and what became of them.
    Reports {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// What moderators decided about my messages: which message, why, and
    /// what follows from it.
    Moderation {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Appeal a moderator's decision about one of my messages; it goes back
    /// to the moderators with my words.
    Appeal {
        /// The report id `kizuna me moderation` shows.
        report: String,
        /// Why the decision is wrong.
        #[arg(long)]
        note: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Erase my account: my data key is destroyed (nothing sealed under it
    /// can be opened again), then my account, devices and queues go.
    Delete {
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// `kizuna me`: my account as the server holds it.
pub async fn show(home: &Path, json: bool) -> anyhow::Result<()> {
    let mut c = Client::open(home).await?;
    let me = c.me().await?;
    if json {
        out!("{}", serde_json::to_string(&me)?);
    } else {
        out!(
            "handle:  {}\nname:    {}\nphone:   {}\nemail:   {}\nregion:  {}\ndevices: {}",
            me.handle,
            me.name,
            me.phone,
            me.email.as_deref().unwrap_or("-"),
            me.region,
            me.devices.join(", ")
        );
    }
    Ok(())
}

pub async fn run(home: &Path, what: MeCommand) -> anyhow::Result<()> {
    let mut c = Client::open(home).await?;
    match what {
        MeCommand::DataMap { json } => {
            let map = c.data_map().await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&map)?);
            } else {
                print_data_map(&map);
            }
        }
        MeCommand::Consent { action, json } => crate::consent::run(&mut c, action, json).await?,
        MeCommand::Accesses { json } => {
            let v = c.accesses().await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_accesses(&v);
            }
        }
        MeCommand::Export { out, json } => {
            let export = c.export().await?;
            let text = serde_json::to_string_pretty(&export)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text + "\n")
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    if json {
                        out!(
                            "{}",
                            serde_json::json!({ "written": path.display().to_string() })
                        );
                    } else {
                        eprintln!("wrote all your data to {}", path.display());
                    }
                }
                None if json => out!("{}", serde_json::to_string(&export)?),
                None => out!("{text}"),
            }
        }
        MeCommand::Contacts { set, json } => {
            if let Some(handles) = set {
                let handles = handles
                    .into_iter()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .collect();
                c.set_contacts(&Contacts { handles }).await?;
            }
            let contacts = c.contacts().await?;
            if json {
                out!("{}", serde_json::to_string(&contacts)?);
            } else {
                for h in &contacts.handles {
                    out!("{h}");
                }
            }
        }
        MeCommand::Requests { json } => {
            let rs = c.access_requests().await?;
            if json {
                out!("{}", serde_json::to_string(&rs)?);
            } else if rs.is_empty() {
                out!("no requests for your data wait for you");
            } else {
                for r in &rs {
                    out!(
                        "{}  {}: {} of {} ({}) asks for your {} for {} (ticket {}, {} min): \"{}\"",
                        r.grant_id,
                        r.my_answer,
                        r.staff_id,
                        r.org_id,
                        r.country,
                        r.fields.join(", "),
                        r.purpose.code(),
                        r.ticket,
                        r.duration_secs / 60,
                        r.reason
                    );
                }
                out!("answer with `kizuna me agree GRANT` or `kizuna me decline GRANT`");
            }
        }
        MeCommand::Reports { json } => {
            let rs = c.my_reports().await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&rs)?);
            } else if rs.is_empty() {
                out!("you have not reported anything");
            } else {
                for r in &rs {
                    out!(
                        "{}  {} ({}) about {}'s message #{} in chat {}, filed {}",
                        r.report_id,
                        r.reason.name(),
                        r.state.name(),
                        r.reported_handle,
                        r.messages.last().map_or(0, |m| m.group_seq),
                        r.chat,
                        kizuna_wire::utc(r.created_at)
                    );
                    if let Some(o) = &r.outcome {
                        out!("    decided: {} ({})", o.action.name(), o.reason);
                    }
                }
            }
        }
        MeCommand::Moderation { json } => {
            let ns = c.moderation().await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&ns)?);
            } else if ns.is_empty() {
                out!("no moderator has decided anything about your messages");
            } else {
                for n in &ns {
                    print_notice(n);
                }
                out!("appeal with `kizuna me appeal REPORT --note \"why\"`");
            }
        }
        MeCommand::Appeal { report, note, json } => {
            let n = c.appeal(&report, &note).await?;
            if json {
                out!("{}", serde_json::to_string(&n)?);
                c.close().await;
                return Ok(());
            }
            out!(
                "appealed {}: a moderator will decide again, and you will see it in `kizuna me moderation`",
                n.report_id
            );
        }
        MeCommand::Agree { grant, json } => {
            c.answer_access_request(&grant, true).await?;
            if json {
                out!("{}", serde_json::json!({ "grant": grant, "agreed": true }));
            } else {
                out!("you agreed to {grant}");
            }
        }
        MeCommand::Decline { grant, json } => {
            c.answer_access_request(&grant, false).await?;
            if json {
                out!("{}", serde_json::json!({ "grant": grant, "agreed": false }));
            } else {
                out!("you declined {grant}; nothing is readable under it");
            }
        }
        MeCommand::Delete { yes, json } => {
            if !yes {
                return Err(crate::exit::Usage(
                    "erasing your account cannot be undone; run again with --yes to confirm".into(),
                )
                .into());
            }
            let erased = c.erase_account().await?;
            if json {
                out!("{}", serde_json::to_string(&erased)?);
                c.close().await;
                return Ok(());
            }
            out!(
                "erased account {}: its data key in region {} is destroyed; this device's local history is still here",
                erased.account_id, erased.region
            );
        }
    }
    c.close().await;
    Ok(())
}

fn print_notice(n: &kizuna_wire::reports::ModerationNotice) {
    let o = &n.outcome;
    out!(
        "{}  {}{}: your message #{} in chat {} ({}), reported as {}",
        n.report_id,
        o.action.name(),
        o.until
            .map(|u| format!(" until {}", kizuna_wire::utc(u)))
            .unwrap_or_default(),
        n.message.group_seq,
        n.chat,
        kizuna_wire::utc(n.message.server_time),
        n.report_reason.name()
    );
    out!("    message: \"{}\"", n.message.text);
    out!("    why:     {}", o.reason);
    if let Some(a) = &n.appeal {
        out!(
            "    your appeal ({}): \"{}\"",
            kizuna_wire::utc(a.at),
            a.note
        );
    }
}

fn print_transfer(t: &TransferRecord, prefix: &str) {
    let outcome = if t.allowed {
        format!("allowed: {}", t.basis.as_deref().unwrap_or("-"))
    } else {
        format!("REFUSED: {}", t.refusal.as_deref().unwrap_or("-"))
    };
    out!(
        "  {prefix}{}  {} {} (region {}) from {}, for {}\n      {}",
        kizuna_wire::utc(t.at),
        t.action,
        t.categories.join(", "),
        t.region,
        t.to_country,
        t.requester,
        outcome
    );
}

fn print_accesses(v: &kizuna_client::VerifiedAccesses) {
    out!(
        "Verified against the ledger head of {} entries signed at {} (this device saw {} before; the new head extends it).",
        v.head.size,
        kizuna_wire::utc(v.head.timestamp_ms),
        v.previous_size
    );
    if v.accesses.is_empty() && v.unproven.is_empty() {
        out!("No access to your data is recorded.");
        return;
    }
    for a in &v.accesses {
        print_transfer(&a.entry.record, &format!("#{}  ", a.index));
    }
    if !v.unproven.is_empty() {
        out!("Recorded before the ledger existed (not provable):");
        for t in &v.unproven {
            print_transfer(t, "");
        }
    }
}

fn print_data_map(m: &DataMap) {
    if m.home_region == m.node_region {
        out!(
            "Your home region is {} ({}, {}); this node runs there.",
            m.home_region,
            m.home_region_name,
            m.home_country
        );
    } else {
        out!(
            "Your home region is {} ({}, {}), where your personal data is sealed. \
             The node that serves you runs in region {} ({}).",
            m.home_region,
            m.home_region_name,
            m.home_country,
            m.node_region,
            m.node_country
        );
    }
    if let Some(k) = &m.kept_abroad {
        out!();
        out!(
            "Kept by this node in {} ({}): {}",
            k.region_name,
            k.country,
            k.categories.join(", ")
        );
        out!("  {}", k.why);
        if let Some(d) = &k.disclosure {
            out!("    country             {}", d.country_name);
            out!("    protection system   {}", d.protection_system);
            out!("    recipient measures  {}", d.recipient_measures);
            out!("    transfer basis      {}", d.transfer_basis);
        }
    }
    // Categories kept in the same place under the same rules are shown once.
    let mut shown: Vec<usize> = Vec::new();
    for (i, c) in m.categories.iter().enumerate() {
        if shown.contains(&i) {
            continue;
        }
        let group: Vec<usize> = (i..m.categories.len())
            .filter(|&j| {
                let o = &m.categories[j];
                o.region == c.region && o.protection == c.protection
            })
            .collect();
        shown.extend(&group);
        out!();
        for &j in &group {
            let g = &m.categories[j];
            out!("{}: {}", g.category, g.fields.join(", "));
        }
        out!(
            "  stored in   region {} ({}, {})",
            c.region,
            c.region_name,
            c.country
        );
        out!("  protection  {}", c.protection);
        for a in &c.accessible_from {
            out!("  reachable from {}: {}", a.country, a.why);
            if let Some(d) = &a.disclosure {
                out!("    country             {}", d.country_name);
                out!("    protection system   {}", d.protection_system);
                out!("    recipient measures  {}", d.recipient_measures);
                out!("    transfer basis      {}", d.transfer_basis);
            }
        }
    }
    out!();
    if let Some(c) = &m.consent {
        crate::consent::print_consent(c);
        out!();
    }
    if !m.follows.is_empty() {
        out!("Official accounts you follow (what you send them is end-to-end encrypted to their own devices):");
        for f in &m.follows {
            match &f.claim {
                Some(c) => out!(
                    "  {}  {}: keeps what you send it on {} ({}); ask about your data: {}",
                    f.handle,
                    c.organisation,
                    c.keeps_data,
                    c.keeps_data_country,
                    c.contact
                ),
                None => out!("  {}  no longer verified: its badge was revoked", f.handle),
            }
        }
        out!();
    }
    if !m.reports.is_empty() {
        out!("Abuse reports you filed:");
        for r in &m.reports {
            out!(
                "  {}  {} in region {}, filed {}{}",
                r.report_id,
                r.state,
                r.region,
                kizuna_wire::utc(r.created_at),
                r.resolved_at
                    .map(|t| format!(", resolved {}", kizuna_wire::utc(t)))
                    .unwrap_or_default()
            );
        }
        out!();
    }
    if m.transfers.is_empty() {
        out!("Transfers of your data: none.");
        return;
    }
    out!("Transfers of your data (`kizuna me accesses` proves each one):");
    for t in &m.transfers {
        print_transfer(t, "");
    }
}

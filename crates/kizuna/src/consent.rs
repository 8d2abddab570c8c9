//! `kizuna me consent`, and the disclosures `kizuna register` prints: what
//! a person is told about the countries abroad that may reach their data,
//! and their agreement to it.

use clap::Subcommand;
use kizuna_client::Client;
use kizuna_wire::{Consent, Disclosures};

#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Agree to the current disclosures of my home region, printed first.
    Agree,
    /// Withdraw my agreement: no country abroad reaches my data any more.
    /// Without --yes, says what would follow and changes nothing.
    Withdraw {
        /// Confirm, having read what follows.
        #[arg(long)]
        yes: bool,
    },
}

pub(crate) async fn run(
    c: &mut Client,
    action: Option<ConsentCommand>,
    json: bool,
) -> anyhow::Result<()> {
    let now = c.consent().await?;
    let show = |v: &Consent| -> anyhow::Result<()> {
        if json {
            out!("{}", serde_json::to_string_pretty(v)?);
        } else {
            print_consent(v);
        }
        Ok(())
    };
    match action {
        None => show(&now)?,
        Some(ConsentCommand::Agree) => {
            if !json {
                print_disclosures(&now.disclosures);
            }
            // The version shown is the one agreed to: a text changed since
            // is refused by the node, not agreed to unseen.
            let v = c.agree_to_disclosures(&now.disclosures.version).await?;
            show(&v)?;
        }
        Some(ConsentCommand::Withdraw { yes: false }) => {
            let what = now
                .if_withdrawn
                .as_deref()
                .unwrap_or("there is no agreement of yours standing to withdraw");
            return Err(crate::exit::Usage(format!(
                "{what}\nnothing was changed; run again with --yes to withdraw"
            ))
            .into());
        }
        Some(ConsentCommand::Withdraw { yes: true }) => {
            let v = c.withdraw_agreement().await?;
            show(&v)?;
        }
    }
    Ok(())
}

/// The disclosures a person of a region is owed, as they read them before
/// agreeing.
pub(crate) fn print_disclosures(d: &Disclosures) {
    if let Some(g) = &d.phone_gateway {
        out!(
            "To prove your phone number, it is sent to the SMS gateway {} run by {} in {}, which texts you a one-time code.",
            g.host, g.operator, g.country
        );
    }
    if d.foreign.is_empty() {
        out!(
            "No country outside {} may reach your data in region {} ({}): there is nothing to agree to.",
            d.country,
            d.region,
            d.region_name
        );
        return;
    }
    out!(
        "Your personal data will be kept sealed in region {} ({}, {}). These countries outside it may reach it \
         (disclosures version {}):",
        d.region,
        d.region_name,
        d.country,
        d.version
    );
    for a in &d.foreign {
        out!();
        out!("{}: {}", a.country, a.why);
        if let Some(x) = &a.disclosure {
            out!("    country             {}", x.country_name);
            out!("    protection system   {}", x.protection_system);
            out!("    recipient measures  {}", x.recipient_measures);
            out!("    transfer basis      {}", x.transfer_basis);
        }
    }
    out!();
}

pub(crate) fn print_consent(v: &Consent) {
    let d = &v.disclosures;
    out!(
        "Agreement to region {}'s disclosures (version {}{}): {}",
        d.region,
        d.version,
        if d.foreign.is_empty() {
            String::new()
        } else {
            format!(
                ", for {}",
                d.foreign
                    .iter()
                    .map(|a| a.country.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        match v.standing {
            kizuna_wire::Standing::Agreed => "agreed",
            kizuna_wire::Standing::NotNeeded => "not needed",
            kizuna_wire::Standing::Needed => "NEEDED",
            kizuna_wire::Standing::Withdrawn => "WITHDRAWN",
        }
    );
    out!("  {}", v.consequence);
    for e in &v.history {
        out!(
            "  {}  {} region {}'s disclosures version {} ({}), from device {}",
            kizuna_wire::utc(e.at),
            match e.step {
                kizuna_wire::ConsentStep::Agreed => "agreed to",
                kizuna_wire::ConsentStep::Withdrawn => "withdrew from",
            },
            e.region,
            e.version,
            e.countries.join(", "),
            e.device_id
        );
    }
}

//! Drafts that follow a breach's scope: one notification per affected
//! person (what was read, when, by whom, what was done) and one report per
//! region to its regulator, with the items its law asks for and the
//! deadlines counted from when the operator became aware.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kizuna_wire::staff::{AffectedPerson, BreachRegion, BreachScope};
use kizuna_wire::utc;

use crate::{ConsoleError, Result};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

/// Countries whose people GDPR speaks for (the EU and the EEA).
const GDPR_COUNTRIES: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// The law a region's regulator report follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// Japan: Act on the Protection of Personal Information, Art. 26.
    Appi,
    /// Korea: Personal Information Protection Act, Art. 34.
    Pipa,
    /// The EU and EEA: GDPR Art. 33.
    Gdpr,
    /// No template: the facts, for the operator's counsel.
    Other,
}

impl Law {
    pub fn of(country: &str) -> Law {
        match country {
            "JP" => Law::Appi,
            "KR" => Law::Pipa,
            c if GDPR_COUNTRIES.contains(&c) => Law::Gdpr,
            _ => Law::Other,
        }
    }
}

/// When the operator became aware, and whether the access was malicious
/// (APPI gives 60 days instead of 30 for the final report then).
#[derive(Clone, Copy, Debug)]
pub struct Awareness {
    pub at: u64,
    pub malicious: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Drafted {
    pub dir: PathBuf,
    pub notifications: u64,
    pub reports: Vec<PathBuf>,
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| ConsoleError::Local {
        path: path.to_path_buf(),
        reason: format!("cannot write a draft: {e}"),
    })
}

fn who(scope: &BreachScope) -> String {
    scope
        .orgs
        .iter()
        .map(|o| {
            format!(
                "{} ({}, working from {})",
                o.org_id,
                o.kind.name(),
                o.country
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What was done about the credentials, as they stand now.
fn measures(scope: &BreachScope) -> String {
    let mut done = Vec::new();
    for o in &scope.orgs {
        match o.suspended_at {
            Some(t) => done.push(format!(
                "organisation {} was suspended at {}: all its sessions ended and its grants were revoked at once",
                o.org_id,
                utc(t)
            )),
            None => done.push(format!("organisation {} is not suspended (yet)", o.org_id)),
        }
    }
    for m in &scope.staff {
        if let Some(t) = m.suspended_at {
            done.push(format!(
                "staff member {} was suspended at {}",
                m.staff_id,
                utc(t)
            ));
        }
    }
    done.push(format!(
        "the scope was computed from the transparency ledger ({} entries) at {}",
        scope.ledger_size,
        utc(scope.scoped_at)
    ));
    done.join("; ")
}

fn notification(scope: &BreachScope, p: &AffectedPerson) -> String {
    let staff = if p.staff.is_empty() {
        String::new()
    } else {
        format!(", staff member(s) {}", p.staff.join(", "))
    };
    format!(
        "To: {handle}\n\
         Subject: Your personal data was read under credentials that were misused\n\
         \n\
         What was read: {fields}\n\
         When: {reads} time(s), between {first} and {last}\n\
         By: organisation {orgs}{staff}\n\
         What we did: {measures}\n\
         \n\
         Each of these reads is an entry of our transparency ledger ({entries}).\n\
         Run `kizuna me accesses` to see them and check, on your own device, that\n\
         they are in the ledger as it was signed.\n\
         \n\
         What you can do: be wary of messages or calls that use the details above;\n\
         you can ask us for everything we hold about you with `kizuna me export`.\n",
        handle = p.handle,
        fields = p.fields.join(", "),
        reads = p.reads,
        first = utc(p.first_at),
        last = utc(p.last_at),
        orgs = p.orgs.join(", "),
        measures = measures(scope),
        entries = p
            .entries
            .iter()
            .map(|e| format!("#{e}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The facts every report states, in one place.
struct Facts {
    people: u64,
    records: u64,
    fields: String,
    first: String,
    last: String,
}

fn facts(scope: &BreachScope, region: &BreachRegion) -> Facts {
    let in_region: Vec<&AffectedPerson> = scope
        .people
        .iter()
        .filter(|p| p.region == region.id)
        .collect();
    let mut fields: Vec<String> = in_region
        .iter()
        .flat_map(|p| p.fields.iter().cloned())
        .collect();
    fields.sort();
    fields.dedup();
    Facts {
        people: in_region.len() as u64,
        records: in_region.iter().map(|p| p.reads).sum(),
        fields: if fields.is_empty() {
            "none".into()
        } else {
            fields.join(", ")
        },
        first: in_region
            .iter()
            .map(|p| p.first_at)
            .min()
            .map_or("-".into(), utc),
        last: in_region
            .iter()
            .map(|p| p.last_at)
            .max()
            .map_or("-".into(), utc),
    }
}

pub fn regulator_report(scope: &BreachScope, region: &BreachRegion, aware: Awareness) -> String {
    let f = facts(scope, region);
    let mut t = String::new();
    let orgs = who(scope);
    let measures = measures(scope);
    let overview = format!(
        "Personal data of {} people whose home region is {} ({}) was read under the credentials of {orgs} between {} and {}, {} read(s) in all.",
        f.people, region.name, region.id, f.first, f.last, f.records
    );
    let _ = writeln!(
        t,
        "# Personal data breach report: region {} ({})\n",
        region.name, region.id
    );
    let _ = writeln!(t, "Became aware: {}", utc(aware.at));
    match Law::of(&region.country) {
        Law::Appi => {
            let final_days = if aware.malicious { 60 } else { 30 };
            let _ = writeln!(t, "Law: Japan, Act on the Protection of Personal Information (APPI), Art. 26; to the Personal Information Protection Commission\n");
            let _ = writeln!(t, "## Deadlines");
            let _ = writeln!(t, "- Preliminary report (sokuhō): promptly, within 3 to 5 days of becoming aware: by {}", utc(aware.at + 5 * DAY));
            let _ = writeln!(
                t,
                "- Final report (kakuhō): within {final_days} days of becoming aware{}: by {}",
                if aware.malicious {
                    " (60, as the access was for an unjust purpose)"
                } else {
                    ""
                },
                utc(aware.at + final_days * DAY)
            );
            let _ = writeln!(
                t,
                "- Notify each affected person promptly ({} drafts written)\n",
                f.people
            );
            let _ = writeln!(t, "## Report items (preliminary and final)");
            let _ = writeln!(t, "1. Overview of the incident: {overview}");
            let _ = writeln!(t, "2. Items of personal data involved: {}", f.fields);
            let _ = writeln!(t, "3. Number of persons affected: {}", f.people);
            let _ = writeln!(t, "4. Cause: access with the credentials of {orgs}; to be completed by the investigation");
            let _ = writeln!(t, "5. Secondary damage, or its risk: to be completed; none known at the time of this draft");
            let _ = writeln!(t, "6. Response to the persons affected: a notification drafted for each of the {} people", f.people);
            let _ = writeln!(t, "7. Public announcement: to be decided");
            let _ = writeln!(t, "8. Measures to prevent recurrence: {measures}");
            let _ = writeln!(t, "9. Other matters for reference: every read is an entry of the transparency ledger, verifiable by each person and by auditors");
        }
        Law::Pipa => {
            let _ = writeln!(t, "Law: Korea, Personal Information Protection Act (PIPA), Art. 34; to the Personal Information Protection Commission (PIPC)\n");
            let _ = writeln!(t, "## Deadlines");
            let _ = writeln!(
                t,
                "- Notify each affected person within 72 hours of becoming aware: by {}",
                utc(aware.at + 72 * HOUR)
            );
            let _ = writeln!(
                t,
                "- Report to the PIPC within 72 hours: by {} ({})\n",
                utc(aware.at + 72 * HOUR),
                if f.people >= 1000 {
                    "required: 1,000 or more people"
                } else {
                    "required if the leak came from an outside intrusion or involves sensitive or unique identifiers"
                }
            );
            let _ = writeln!(t, "## Items to notify and report (Art. 34(1))");
            let _ = writeln!(t, "1. The personal information items leaked: {}", f.fields);
            let _ = writeln!(t, "2. When and how it was leaked: {overview}");
            let _ = writeln!(t, "3. What the people affected can do to minimise the damage: be wary of contact that uses the details above; ask for their data with `kizuna me export`");
            let _ = writeln!(
                t,
                "4. The controller's countermeasures and remedy procedures: {measures}"
            );
            let _ = writeln!(t, "5. Where to report damage and ask for help: the operator's privacy desk (to be filled in)");
            let _ = writeln!(t, "\nPeople affected: {}; reads: {}", f.people, f.records);
        }
        Law::Gdpr => {
            let _ = writeln!(
                t,
                "Law: GDPR Art. 33; to the competent supervisory authority\n"
            );
            let _ = writeln!(t, "## Deadlines");
            let _ = writeln!(t, "- Notify the supervisory authority without undue delay and within 72 hours of becoming aware: by {}", utc(aware.at + 72 * HOUR));
            let _ = writeln!(t, "- Art. 34: tell the people affected without undue delay when the risk to them is high ({} drafts written)\n", f.people);
            let _ = writeln!(t, "## Art. 33(3) items");
            let _ = writeln!(t, "(a) Nature of the breach, with the categories and approximate number of data subjects and of records: {overview} Categories: {}. Data subjects: {}. Records: {}.", f.fields, f.people, f.records);
            let _ = writeln!(t, "(b) Name and contact details of the data protection officer or other contact point: to be filled in");
            let _ = writeln!(t, "(c) Likely consequences: the data above may be used to contact, impersonate or profile the people affected");
            let _ = writeln!(t, "(d) Measures taken or proposed, including to mitigate possible adverse effects: {measures}");
        }
        Law::Other => {
            let _ = writeln!(
                t,
                "Law: no template for country {}; the facts for counsel\n",
                region.country
            );
            let _ = writeln!(t, "- Overview: {overview}");
            let _ = writeln!(t, "- Items involved: {}", f.fields);
            let _ = writeln!(t, "- People affected: {}; reads: {}", f.people, f.records);
            let _ = writeln!(t, "- Measures: {measures}");
        }
    }
    t
}

/// Writes `people/<handle>.txt` for every affected person, one report per
/// region in `reports/`, and the scope itself as `scope.json`.
pub fn write_drafts(
    scope: &BreachScope,
    dir: &Path,
    aware: Awareness,
    progress: impl Fn(u64),
) -> Result<Drafted> {
    let people = dir.join("people");
    let reports = dir.join("reports");
    for d in [&people, &reports] {
        std::fs::create_dir_all(d).map_err(|e| ConsoleError::Local {
            path: d.clone(),
            reason: e.to_string(),
        })?;
    }
    for p in &scope.people {
        // Handles are safe in paths; an erased account's stand-in is not.
        let name: String = p
            .handle
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        write(&people.join(format!("{name}.txt")), &notification(scope, p))?;
        progress(1);
    }
    let mut written = Vec::new();
    for r in scope.regions.iter().filter(|r| r.affected > 0) {
        let path = reports.join(format!("{}.md", r.id));
        write(&path, &regulator_report(scope, r, aware))?;
        written.push(path);
    }
    let json =
        serde_json::to_vec_pretty(scope).map_err(|e| ConsoleError::Protocol(e.to_string()))?;
    std::fs::write(dir.join("scope.json"), json).map_err(|e| ConsoleError::Local {
        path: dir.join("scope.json"),
        reason: e.to_string(),
    })?;
    Ok(Drafted {
        dir: dir.to_path_buf(),
        notifications: scope.people.len() as u64,
        reports: written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_wire::staff::{Org, OrgKind, OrgScope};

    fn scope() -> BreachScope {
        BreachScope {
            query: Default::default(),
            scoped_at: 1_800_000_000_000,
            scoped_by: "sec".into(),
            orgs: vec![Org {
                org_id: "acme".into(),
                kind: OrgKind::Affiliate,
                country: "DE".into(),
                networks: vec![],
                scope: OrgScope {
                    regions: vec![],
                    purposes: vec![],
                    fields: vec![],
                },
                suspended_at: Some(1_799_000_000_000),
            }],
            staff: vec![],
            regions: vec![BreachRegion {
                id: "eu".into(),
                name: "Europe".into(),
                country: "DE".into(),
                affected: 1,
            }],
            per_field: Default::default(),
            people: vec![AffectedPerson {
                handle: "erika".into(),
                region: "eu".into(),
                fields: vec!["email".into()],
                first_at: 1_798_000_000_000,
                last_at: 1_798_000_000_000,
                reads: 1,
                orgs: vec!["acme".into()],
                staff: vec![],
                entries: vec![7],
            }],
            ledger_size: 10,
        }
    }

    #[test]
    fn a_gdpr_report_holds_every_article_33_item_and_its_deadline() {
        let s = scope();
        let aware = kizuna_wire::parse_utc("2027-01-01T00:00:00Z").unwrap();
        let r = regulator_report(
            &s,
            &s.regions[0],
            Awareness {
                at: aware,
                malicious: false,
            },
        );
        for needed in [
            "GDPR Art. 33",
            "within 72 hours of becoming aware: by 2027-01-04 00:00:00 UTC",
            "(a) Nature of the breach",
            "Categories: email. Data subjects: 1. Records: 1.",
            "(b) Name and contact details of the data protection officer",
            "(c) Likely consequences",
            "(d) Measures taken or proposed",
            "organisation acme was suspended",
        ] {
            assert!(r.contains(needed), "{needed}: {r}");
        }
        assert_eq!(Law::of("FR"), Law::Gdpr);
        assert_eq!(Law::of("JP"), Law::Appi);
        assert_eq!(Law::of("US"), Law::Other);
    }
}

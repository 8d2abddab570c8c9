//! A national-scale ledger to scope a breach in: people in both regions,
//! an organisation ("acme") whose credentials read some of them, refused
//! attempts of the same organisation that read nothing, and the operator's
//! own reads filling the ledger to its size — all written through the
//! vault's bulk paths, so every entry is sealed in its person's region and
//! in the ledger, as the node writes them. Then the benchmark itself: one
//! organisation's breach scoped from that ledger through the staff API, and
//! its drafts written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kizuna_config::Regions;
use kizuna_store::{Account, Device, NewAccount, SqliteStore, Store};
use kizuna_vault::{Profile, Requester};
use kizuna_wire::{StaffRef, TransferRecord};

use crate::node::Node;
use crate::{governed, BenchError, Progress};

/// The organisation whose credentials the generated breach concerns.
pub const ORG: &str = "acme";
const BATCH: u64 = 10_000;

#[derive(Clone, Debug)]
pub struct Spec {
    /// Ledger entries in all (at least one per person registered abroad and
    /// one per read).
    pub entries: u64,
    /// People acme read.
    pub affected: u64,
    /// People acme did not read (some of whom it tried to).
    pub others: u64,
}

/// What acme read, person by person: the answer a breach scope must give.
pub type Expected = BTreeMap<String, (String, Vec<String>)>;

fn handle(i: u64) -> String {
    format!("g{i:07}")
}

fn account_id(i: u64) -> String {
    format!("gen{i:013}")
}

fn region(i: u64) -> &'static str {
    if i.is_multiple_of(2) {
        "jp"
    } else {
        "kr"
    }
}

fn staff(org: &str, n: u64) -> Requester {
    Requester::Staff(StaffRef {
        staff_id: format!("{org}-staff-{}", n % 7),
        org_id: org.to_string(),
        country: "JP".into(),
        grant_id: format!("grant-{}", n % 101),
        purpose: "LEGAL_REQUEST".into(),
        ticket: "T-GEN".into(),
        roles: vec!["support".into()],
    })
}

fn read(region: &str, fields: &[&str], who: &Requester, allowed: bool, at: u64) -> TransferRecord {
    TransferRecord {
        at,
        action: "read".into(),
        categories: fields.iter().map(|f| f.to_string()).collect(),
        region: region.to_string(),
        to_country: "JP".into(),
        basis: allowed
            .then(|| "a grant approved by a second person, allowed by the access policy".into()),
        requester: who.describe(),
        allowed,
        refusal: (!allowed).then(|| "no live, approved grant covers this person".into()),
    }
}

fn fail(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(e.to_string())
}

/// Fills the (new) data directory `data_dir` and returns what acme read.
pub async fn generate(
    data_dir: &Path,
    spec: &Spec,
    progress: &impl Fn(Progress<'_>),
) -> Result<Expected, BenchError> {
    let data_dir = kizuna_config::DataDir::new(data_dir);
    let vault = kizuna_server::open_vault(&data_dir, Regions::embedded())
        .await
        .map_err(fail)?;
    let store = SqliteStore::open(&data_dir.node_store())
        .await
        .map_err(fail)?;
    let people = spec.affected + spec.others;
    let operator = Requester::Operator {
        command: "import".into(),
    };
    let now = kizuna_wire::now_ms();

    progress(Progress::Stage {
        name: "registering people",
        steps: Some(people),
    });
    let mut start = 0;
    while start < people {
        let end = (start + BATCH).min(people);
        let mut accounts = Vec::new();
        let mut by_region: BTreeMap<&str, Vec<(String, Profile)>> = BTreeMap::new();
        for i in start..end {
            by_region.entry(region(i)).or_default().push((
                account_id(i),
                Profile {
                    name: handle(i),
                    phone: format!("+8190{i:08}"),
                    email: Some(format!("{}@example.com", handle(i))),
                },
            ));
            accounts.push(NewAccount {
                account: Account {
                    account_id: account_id(i),
                    handle: handle(i),
                    region: region(i).to_string(),
                    created_at: now,
                },
                device: Device {
                    device_id: format!("dev{i:013}"),
                    account_id: account_id(i),
                    handle: handle(i),
                    signature_key: i.to_be_bytes().to_vec(),
                    label: "import".into(),
                },
            });
        }
        for (r, batch) in &by_region {
            vault
                .register_many(r, batch, false, &operator)
                .await
                .map_err(fail)?;
        }
        store.create_accounts(accounts).await.map_err(fail)?;
        progress(Progress::Done(end - start));
        start = end;
    }

    let ledger = vault.ledger().map_err(fail)?.clone();
    progress(Progress::Stage {
        name: "recording accesses",
        steps: Some(spec.entries.saturating_sub(ledger.size())),
    });
    let mut expected = Expected::new();
    // acme's reads, then its refused attempts on people it did not read,
    // then the operator's reads until the ledger has its size.
    let mut n = 0u64;
    let mut queued: BTreeMap<&'static str, Vec<(String, TransferRecord, Requester)>> =
        BTreeMap::new();
    // One access a millisecond, ending before now: all of it in the past
    // when the breach is scoped.
    let base = now.saturating_sub(spec.entries + 1);
    loop {
        let at = base + n;
        let (i, rec, who) = if n < spec.affected {
            let i = n;
            let fields: &[&str] = if i.is_multiple_of(3) {
                &["phone", "email"]
            } else {
                &["phone"]
            };
            let mut listed: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            listed.sort();
            expected.insert(handle(i), (region(i).to_string(), listed));
            let who = staff(ORG, i);
            (i, read(region(i), fields, &who, true, at), who)
        } else if n < spec.affected + spec.others / 10 {
            let i = spec.affected + (n - spec.affected) * 10 % spec.others.max(1);
            let who = staff(ORG, i);
            (i, read(region(i), &["phone"], &who, false, at), who)
        } else {
            if ledger.size() + queued.values().map(|v| v.len() as u64).sum::<u64>() >= spec.entries
            {
                break;
            }
            // The operator works through people a few reads at a time.
            let i = (n / 8).wrapping_mul(7919) % people.max(1);
            let who = staff("operator", i);
            (i, read(region(i), &["name"], &who, true, at), who)
        };
        queued
            .entry(region(i))
            .or_default()
            .push((account_id(i), rec, who));
        n += 1;
        if queued.values().map(|v| v.len() as u64).sum::<u64>() >= BATCH {
            for (r, batch) in std::mem::take(&mut queued) {
                let k = batch.len() as u64;
                vault.record_many(r, batch).await.map_err(fail)?;
                progress(Progress::Done(k));
            }
        }
    }
    for (r, batch) in std::mem::take(&mut queued) {
        let k = batch.len() as u64;
        vault.record_many(r, batch).await.map_err(fail)?;
        progress(Progress::Done(k));
    }
    ledger.sign_head().map_err(fail)?;
    vault.close().await;
    store.close().await;
    Ok(expected)
}

/// Options of the breach-scope benchmark.
#[derive(Clone, Debug)]
pub struct BreachOptions {
    pub kizuna_bin: PathBuf,
    pub work_dir: PathBuf,
    pub spec: Spec,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BreachReport {
    pub ledger_entries: u64,
    pub affected: usize,
    pub generate_secs: f64,
    pub scope_secs: f64,
    pub drafts_secs: f64,
    pub exact: bool,
}

impl std::fmt::Display for BreachReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ledger             {} entries (generated in {:.0} s)",
            self.ledger_entries, self.generate_secs
        )?;
        writeln!(
            f,
            "breach scope       {} people in {:.1} s ({})",
            self.affected,
            self.scope_secs,
            if self.exact {
                "exactly the people and fields read"
            } else {
                "NOT what was read"
            }
        )?;
        write!(
            f,
            "drafts             {} notifications and the regulator reports in {:.1} s",
            self.affected, self.drafts_secs
        )
    }
}

/// A national-scale ledger, then one organisation's breach scoped from it
/// through the staff API, and its drafts written.
pub async fn run_breach(
    opts: BreachOptions,
    progress: impl Fn(Progress<'_>),
) -> Result<BreachReport, BenchError> {
    let _ = std::fs::remove_dir_all(&opts.work_dir);
    let data_dir = opts.work_dir.join("server");
    std::fs::create_dir_all(&data_dir).map_err(|e| BenchError::Setup(e.to_string()))?;
    let t = Instant::now();
    let expected = generate(&data_dir, &opts.spec, &progress).await?;
    let generate_secs = t.elapsed().as_secs_f64();
    let node = Node::start_on(&opts.kizuna_bin, &opts.work_dir, false, true).await?;
    let root = node
        .root
        .as_ref()
        .ok_or_else(|| BenchError::Setup("the staff realm was not bootstrapped".into()))?;
    let admin = governed::login(&opts.work_dir.join("staff-root"), &node.staff_url, root).await?;
    use kizuna_wire::staff::*;
    admin
        .add_org(&Org {
            org_id: ORG.into(),
            kind: OrgKind::Contractor,
            country: "JP".into(),
            networks: vec!["127.0.0.0/8".into()],
            scope: OrgScope {
                regions: vec!["jp".into(), "kr".into()],
                purposes: vec!["LEGAL_REQUEST".into()],
                fields: vec!["phone".into(), "email".into()],
            },
            suspended_at: None,
        })
        .await?;
    admin.suspend_org(ORG).await?;
    progress(Progress::Stage {
        name: "scoping the breach",
        steps: None,
    });
    let t = Instant::now();
    let scope = admin
        .breach_scope(&BreachQuery {
            org_id: Some(ORG.into()),
            ..Default::default()
        })
        .await?;
    let scope_secs = t.elapsed().as_secs_f64();
    let exact = scope.people.len() == expected.len()
        && scope.people.iter().all(|p| {
            expected
                .get(&p.handle)
                .is_some_and(|(r, f)| r == &p.region && f == &p.fields)
        });
    progress(Progress::Stage {
        name: "writing drafts",
        steps: Some(scope.people.len() as u64),
    });
    let t = Instant::now();
    kizuna_console::breach::write_drafts(
        &scope,
        &opts.work_dir.join("drafts"),
        kizuna_console::breach::Awareness {
            at: kizuna_wire::now_ms(),
            malicious: false,
        },
        |n| progress(Progress::Done(n)),
    )?;
    let drafts_secs = t.elapsed().as_secs_f64();
    drop(node);
    Ok(BreachReport {
        ledger_entries: scope.ledger_size,
        affected: scope.people.len(),
        generate_secs,
        scope_secs,
        drafts_secs,
        exact,
    })
}

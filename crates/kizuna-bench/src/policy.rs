//! How long one access decision of the staff realm takes: the shipped Cedar
//! policy, validated as at start, asked a mix of the questions a node asks
//! (allowed reads, reads refused by jurisdiction or for lack of a grant,
//! requests, approvals).

use hdrhistogram::Histogram;
use kizuna_policy::{Action, GrantFacts, PersonFacts, Policy, StaffFacts};

#[derive(Clone, Debug, serde::Serialize)]
pub struct PolicyReport {
    pub decisions: u64,
    pub allowed: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub decisions_per_sec: f64,
}

fn staff(i: u64) -> StaffFacts {
    let foreign = i.is_multiple_of(4);
    StaffFacts {
        staff_id: format!("staff-{}", i % 97),
        roles: vec!["support".into(), "approver".into()],
        org_id: if foreign {
            "acme".into()
        } else {
            "operator".into()
        },
        org_kind: if foreign {
            "contractor".into()
        } else {
            "operator".into()
        },
        org_country: if foreign { "CN".into() } else { "JP".into() },
        org_regions: vec!["jp".into(), "kr".into()],
        org_purposes: vec!["CUSTOMER_SUPPORT".into(), "ABUSE_REPORT_REVIEW".into()],
        org_fields: vec!["name".into(), "phone".into(), "email".into()],
    }
}

pub fn run(decisions: u64) -> Result<PolicyReport, kizuna_policy::PolicyError> {
    let policy = Policy::load(None)?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3)
        .map_err(|e| kizuna_policy::PolicyError::Query(e.to_string()))?;
    let mut allowed = 0;
    let started = std::time::Instant::now();
    for i in 0..decisions {
        let person = PersonFacts {
            subject: format!("person-{}", i % 10_007),
            region: if i.is_multiple_of(2) {
                "jp".into()
            } else {
                "kr".into()
            },
            region_countries: vec!["JP".into(), "KR".into()],
        };
        let action = match i % 5 {
            0 => Action::RequestGrant,
            1 => Action::ApproveGrant,
            _ => Action::Read,
        };
        let grant = GrantFacts {
            purpose: "CUSTOMER_SUPPORT".into(),
            fields: vec!["phone".into()],
            duration_secs: 3600,
            break_glass: false,
            live: !i.is_multiple_of(3),
            consented: !i.is_multiple_of(7),
            requester: format!("staff-{}", (i + 1) % 97),
            requester_org: "operator".into(),
        };
        let s = staff(i);
        let t = std::time::Instant::now();
        let v = policy.decide(action, &s, &person, &grant)?;
        let ns = t.elapsed().as_nanos() as u64;
        let _ = hist.record(ns.max(1));
        allowed += v.allowed as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(PolicyReport {
        decisions,
        allowed,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: hist.max() as f64 / 1000.0,
        decisions_per_sec: decisions as f64 / secs,
    })
}

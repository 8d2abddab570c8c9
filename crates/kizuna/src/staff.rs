//! `kizuna staff …`: the staff realm's commands, on its own listener and
//! with its own session, apart from any user identity.

mod cli;
mod print;

use std::io::BufRead;

use kizuna_console::staff::StaffClient;
use kizuna_wire::staff::*;

pub use cli::StaffArgs;
use cli::{BreachCommand, OfficialCommand, OrgCommand, ReportsCommand, StaffCommand};
use print::{
    print_credentials, print_grant, print_opened, print_review, print_scope, show, spinner,
};

pub async fn run(a: StaffArgs) -> anyhow::Result<()> {
    let json = a.json;
    match a.command {
        StaffCommand::Bootstrap {
            data_dir,
            config,
            staff_id,
            networks,
        } => {
            let regions = crate::admin::regions(config.as_deref())?;
            let c = kizuna_server::admin::bootstrap_staff(&data_dir, &regions, &staff_id, networks)
                .await?;
            show(json, &c, print_credentials)?;
        }
        StaffCommand::Login {
            server,
            trust,
            staff_id,
            totp,
        } => {
            let ca_cert = trust
                .read()?
                .map(|pem| String::from_utf8_lossy(&pem).into_owned());
            let password = match std::env::var("KIZUNA_STAFF_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprint!("password: ");
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
            };
            let c = StaffClient::login(
                &a.staff_home,
                &server,
                ca_cert.as_deref(),
                &staff_id,
                &password,
                &totp,
            )
            .await?;
            let s = c.session();
            show(json, s, |s| {
                out!(
                    "logged in as {} of {}; the session ends at {}",
                    s.staff_id,
                    s.org_id,
                    kizuna_wire::utc(s.expires_at * 1000)
                )
            })?;
        }
        StaffCommand::Console {
            server,
            trust,
            open,
            port,
        } => {
            let ca_cert = trust
                .read()?
                .map(|pem| String::from_utf8_lossy(&pem).into_owned());
            // With no server named and no session kept, the local node's.
            let server = server.or_else(|| {
                StaffClient::open(&a.staff_home)
                    .is_err()
                    .then(|| "http://127.0.0.1:7481".to_string())
            });
            let console = kizuna_app::start_console(&a.staff_home, server, ca_cert, port).await?;
            crate::app::serve_until_stopped(console, open, json).await?;
        }
        StaffCommand::Logout => {
            let ended = StaffClient::open(&a.staff_home)?
                .logout(&a.staff_home)
                .await?;
            show(json, &ended, |e| {
                out!(
                    "logged out {}; the session ended at {}",
                    e.staff_id,
                    kizuna_wire::utc(e.ended_at * 1000)
                )
            })?;
        }
        StaffCommand::Whoami => {
            let me = StaffClient::open(&a.staff_home)?.me().await?;
            out!("{}", serde_json::to_string_pretty(&me)?);
        }
        StaffCommand::Org(o) => {
            let c = StaffClient::open(&a.staff_home)?;
            match o {
                OrgCommand::Add {
                    id,
                    kind,
                    country,
                    networks,
                    regions,
                    purposes,
                    fields,
                } => {
                    let org = c
                        .add_org(&Org {
                            org_id: id,
                            kind,
                            country,
                            networks,
                            scope: OrgScope {
                                regions,
                                purposes,
                                fields,
                            },
                            suspended_at: None,
                        })
                        .await?;
                    show(json, &org, |o| out!("added organisation {}", o.org_id))?;
                }
                OrgCommand::Suspend { org } => {
                    let s = c.suspend_org(&org).await?;
                    show(json, &s, |s| {
                        out!(
                            "suspended organisation {}; {} session(s) ended",
                            s.id,
                            s.sessions_ended
                        )
                    })?;
                }
                OrgCommand::List => {
                    let orgs = c.orgs().await?;
                    show(json, &orgs, |orgs| {
                        for o in orgs {
                            out!(
                                "{:<16} {:<11} {}  networks {}{}",
                                o.org_id,
                                o.kind.name(),
                                o.country,
                                o.networks.join(","),
                                if o.suspended_at.is_some() {
                                    "  SUSPENDED"
                                } else {
                                    ""
                                }
                            );
                        }
                    })?;
                }
            }
        }
        StaffCommand::Add {
            staff_id,
            org,
            roles,
        } => {
            let c = StaffClient::open(&a.staff_home)?;
            let creds = c
                .add_member(&NewStaffMember {
                    staff_id,
                    org_id: org,
                    roles,
                })
                .await?;
            show(json, &creds, print_credentials)?;
        }
        StaffCommand::Suspend { staff_id } => {
            let s = StaffClient::open(&a.staff_home)?
                .suspend_member(&staff_id)
                .await?;
            show(json, &s, |s| {
                out!("suspended {}; {} session(s) ended", s.id, s.sessions_ended)
            })?;
        }
        StaffCommand::List => {
            let members = StaffClient::open(&a.staff_home)?.members().await?;
            show(json, &members, |ms| {
                for m in ms {
                    let roles: Vec<String> = m.roles.iter().map(Role::name).collect();
                    out!(
                        "{:<20} {:<16} {}{}",
                        m.staff_id,
                        m.org_id,
                        roles.join(","),
                        if m.suspended_at.is_some() {
                            "  SUSPENDED"
                        } else {
                            ""
                        }
                    );
                }
            })?;
        }
        StaffCommand::Request {
            subjects,
            fields,
            purpose,
            ticket,
            duration,
            reason,
            break_glass,
            regions,
        } => {
            let g = StaffClient::open(&a.staff_home)?
                .request_grant(&GrantRequest {
                    subjects,
                    fields,
                    purpose,
                    ticket,
                    reason,
                    duration_secs: duration,
                    break_glass,
                    regions,
                })
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Approve { grant } => {
            let g = StaffClient::open(&a.staff_home)?
                .decide_grant(&grant, "approve")
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Deny { grant } => {
            let g = StaffClient::open(&a.staff_home)?
                .decide_grant(&grant, "deny")
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Revoke { grant } => {
            let g = StaffClient::open(&a.staff_home)?
                .decide_grant(&grant, "revoke")
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Reports(ReportsCommand::List { state }) => {
            let rs = StaffClient::open(&a.staff_home)?
                .reports(state.as_deref())
                .await?;
            show(json, &rs, |rs| {
                if rs.is_empty() {
                    out!("no reports in this state");
                }
                for r in rs {
                    out!(
                        "{}  {:<8} {:<10} region {}  filed {}",
                        r.report_id,
                        r.state.name(),
                        r.reason.name(),
                        r.region,
                        kizuna_wire::utc(r.created_at)
                    );
                }
            })?;
        }
        StaffCommand::Reports(ReportsCommand::Show { report }) => {
            let r = StaffClient::open(&a.staff_home)?.report(&report).await?;
            show(json, &r, print_opened)?;
        }
        StaffCommand::Reports(ReportsCommand::File { report, seq, out }) => {
            let staff = StaffClient::open(&a.staff_home)?;
            let out = match out {
                Some(o) => o,
                None => {
                    // The name its sender gave, reduced to one safe path
                    // component: a report's file cannot write elsewhere.
                    let r = staff.report(&report).await?;
                    let name = r
                        .messages
                        .iter()
                        .find(|m| m.group_seq == seq)
                        .and_then(|m| m.file.as_ref())
                        .and_then(|f| kizuna_wire::safe_file_name(&f.file_name))
                        .unwrap_or_else(|| format!("{report}-{seq}"));
                    std::path::PathBuf::from(name)
                }
            };
            let size = staff.save_report_file(&report, seq, &out).await?;
            show(
                json,
                &serde_json::json!({ "report": report, "seq": seq, "path": out, "size": size }),
                |_| {
                    out!(
                        "saved {} ({size} bytes), checked against its sender's hash",
                        out.display()
                    )
                },
            )?;
        }
        StaffCommand::Reports(ReportsCommand::Resolve {
            report,
            action,
            reason,
            days,
        }) => {
            let r = StaffClient::open(&a.staff_home)?
                .resolve_report(
                    &report,
                    &kizuna_wire::reports::ResolveRequest {
                        action: action.into(),
                        reason,
                        days,
                    },
                )
                .await?;
            show(json, &r, print_opened)?;
        }
        StaffCommand::Official(o) => {
            let c = StaffClient::open(&a.staff_home)?;
            let r = match o {
                OfficialCommand::List => {
                    let rs = c.official_applications().await?;
                    return show(json, &rs, |rs| {
                        if rs.is_empty() {
                            out!("no applications for official accounts");
                        }
                        for r in rs {
                            print_review(r);
                        }
                    });
                }
                OfficialCommand::Propose {
                    application,
                    evidence,
                    ticket,
                } => {
                    c.propose_official(&application, &VerificationProposal { evidence, ticket })
                        .await?
                }
                OfficialCommand::Approve { application } => {
                    c.approve_official(&application).await?
                }
                OfficialCommand::Reject {
                    application,
                    reason,
                } => {
                    c.reject_official(&application, &VerificationDecision { reason })
                        .await?
                }
                OfficialCommand::Revoke { handle, reason } => {
                    c.revoke_official(&handle, &VerificationDecision { reason })
                        .await?
                }
            };
            show(json, &r, print_review)?;
        }
        StaffCommand::Grants => {
            let gs = StaffClient::open(&a.staff_home)?.grants().await?;
            show(json, &gs, |gs| gs.iter().for_each(print_grant))?;
        }
        StaffCommand::Read { subject } => {
            let r = StaffClient::open(&a.staff_home)?.read(&subject).await?;
            show(json, &r, |r| {
                out!(
                    "{} (region {}), under grant {}",
                    r.subject,
                    r.region,
                    r.grant_id
                );
                out!(
                    "  name      {}",
                    r.name.as_deref().unwrap_or("(not granted)")
                );
                out!(
                    "  phone     {}",
                    r.phone.as_deref().unwrap_or("(not granted)")
                );
                out!(
                    "  email     {}",
                    r.email.as_deref().unwrap_or("(not granted)")
                );
                match &r.contacts {
                    Some(c) => out!("  contacts  {}", c.join(", ")),
                    None => out!("  contacts  (not granted)"),
                }
            })?;
        }
        StaffCommand::Policy { schema } => {
            print!(
                "{}",
                if schema {
                    kizuna_server::POLICY_SCHEMA
                } else {
                    kizuna_server::DEFAULT_POLICY
                }
            );
        }
        StaffCommand::Breach(BreachCommand::Scope {
            org,
            staff,
            from,
            to,
            notify_drafts,
            aware_at,
            malicious,
        }) => {
            let c = StaffClient::open(&a.staff_home)?;
            let waiting = spinner("scoping from the ledger");
            let scope = c
                .breach_scope(&BreachQuery {
                    org_id: org,
                    staff_id: staff,
                    from,
                    to,
                })
                .await;
            waiting.finish_and_clear();
            let scope = scope?;
            let drafted = match notify_drafts {
                Some(dir) => {
                    use kizuna_vault::Progress as _;
                    let bar = crate::admin::Bar::new("writing drafts");
                    bar.total(scope.people.len() as u64);
                    let d = kizuna_console::breach::write_drafts(
                        &scope,
                        &dir,
                        kizuna_console::breach::Awareness {
                            at: aware_at.unwrap_or_else(kizuna_wire::now_ms),
                            malicious,
                        },
                        |n| bar.advance(n),
                    );
                    bar.finish();
                    Some(d?)
                }
                None => None,
            };
            if json {
                out!(
                    "{}",
                    serde_json::to_string(
                        &serde_json::json!({ "scope": scope, "drafts": drafted })
                    )?
                );
            } else {
                print_scope(&scope);
                if let Some(d) = drafted {
                    out!(
                        "drafts: {} notifications in {}, reports: {}",
                        d.notifications,
                        d.dir.join("people").display(),
                        d.reports
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        StaffCommand::Reviews => {
            let rs = StaffClient::open(&a.staff_home)?.reviews().await?;
            show(json, &rs, |rs| {
                if rs.is_empty() {
                    out!("no break-glass reviews");
                }
                for r in rs {
                    let state = match (r.completed_by.as_deref(), r.justified) {
                        (Some(by), Some(true)) => format!("justified (by {by})"),
                        (Some(by), _) => format!("NOT justified (by {by})"),
                        (None, _) => "OPEN".into(),
                    };
                    out!(
                        "{}  {} of {} at {}: {}",
                        r.grant_id,
                        r.staff_id,
                        r.org_id,
                        kizuna_wire::utc(r.opened_at),
                        state
                    );
                }
            })?;
        }
        StaffCommand::Review {
            grant,
            justified,
            unjustified: _,
            note,
        } => {
            let r = StaffClient::open(&a.staff_home)?
                .complete_review(&grant, &ReviewCompletion { justified, note })
                .await?;
            show(json, &r, |r| out!("review of {} complete", r.grant_id))?;
        }
        StaffCommand::Alerts => {
            let alerts = StaffClient::open(&a.staff_home)?.alerts().await?;
            show(json, &alerts, |es| {
                if es.is_empty() {
                    out!("no alerts");
                }
                for e in es {
                    out!(
                        "{}  {:<10} {:<12} {:<12} {}",
                        kizuna_wire::utc(e["at"].as_u64().unwrap_or(0)),
                        e["kind"].as_str().unwrap_or(""),
                        e["staff_id"].as_str().unwrap_or("-"),
                        e["org_id"].as_str().unwrap_or("-"),
                        e["detail"]["why"].as_str().unwrap_or("")
                    );
                }
            })?;
        }
        StaffCommand::Events => {
            let events = StaffClient::open(&a.staff_home)?.events().await?;
            show(json, &events, |es| {
                for e in es {
                    out!(
                        "{}  {:<16} {:<12} {:<12} {}",
                        kizuna_wire::utc(e["at"].as_u64().unwrap_or(0)),
                        e["kind"].as_str().unwrap_or(""),
                        e["staff_id"].as_str().unwrap_or("-"),
                        e["org_id"].as_str().unwrap_or("-"),
                        e["detail"]
                    );
                }
            })?;
        }
    }
    Ok(())
}

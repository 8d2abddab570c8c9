//! The staff realm: its own listener, store and tokens; login with password,
//! TOTP and a network of the organisation; one command suspends an
//! organisation and ends its sessions; no token crosses realms.

use kizuna_console::staff::StaffClient;
use kizuna_server::admin::bootstrap_staff;
use kizuna_wire::staff::*;
use kizuna_wire::ErrorCode;

use crate::harness::*;

pub(crate) async fn login(
    node: &Node,
    who: &str,
    c: &StaffCredentials,
) -> kizuna_console::Result<StaffClient> {
    StaffClient::login(
        &node.home(&format!("staff-{who}")),
        &staff_url(node),
        node.ca_cert
            .as_deref()
            .map(|pem| std::str::from_utf8(pem).unwrap()),
        &c.staff_id,
        &c.password,
        &kizuna_staff::totp_now(&c.totp_secret).unwrap(),
    )
    .await
}

pub(crate) fn staff_url(node: &Node) -> String {
    let server = node.server.as_ref().unwrap();
    format!("{}://{}", server.scheme, server.staff_addr.unwrap())
}

pub(crate) fn org(id: &str, kind: OrgKind, country: &str, net: &str) -> Org {
    Org {
        org_id: id.into(),
        kind,
        country: country.into(),
        networks: vec![net.into()],
        scope: OrgScope {
            regions: vec!["jp".into()],
            purposes: vec!["CUSTOMER_SUPPORT".into()],
            fields: vec!["name".into()],
        },
        suspended_at: None,
    }
}

#[tokio::test]
async fn the_staff_realm_is_separate_and_an_organisation_is_stopped_by_one_command() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let server = node.server.as_ref().unwrap();
    assert_ne!(server.staff_addr.unwrap(), server.addr);
    admin
        .add_org(&org("acme", OrgKind::Contractor, "CN", "127.0.0.0/8"))
        .await
        .unwrap();
    admin
        .add_org(&org("faraway", OrgKind::Affiliate, "KR", "10.0.0.0/8"))
        .await
        .unwrap();
    let eng = admin
        .add_member(&NewStaffMember {
            staff_id: "eng".into(),
            org_id: "acme".into(),
            roles: vec![Role::Support],
        })
        .await
        .unwrap();
    let far = admin
        .add_member(&NewStaffMember {
            staff_id: "far".into(),
            org_id: "faraway".into(),
            roles: vec![Role::Support],
        })
        .await
        .unwrap();

    // A login from outside the organisation's networks fails, as a wrong
    // password does.
    assert_eq!(
        code(login(&node, "far", &far).await),
        Some(ErrorCode::InvalidCredentials)
    );
    let mut wrong = eng.clone();
    wrong.password = "guess".into();
    assert_eq!(
        code(login(&node, "eng", &wrong).await),
        Some(ErrorCode::InvalidCredentials)
    );

    let contractor = login(&node, "eng", &eng).await.unwrap();
    // A contractor cannot widen its own reach.
    assert_eq!(code(contractor.orgs().await), Some(ErrorCode::Forbidden));
    assert_eq!(
        code(
            contractor
                .add_org(&org("mine", OrgKind::Operator, "CN", "0.0.0.0/0"))
                .await
        ),
        Some(ErrorCode::Forbidden)
    );

    // No token crosses realms.
    let http = node.http();
    let staff_token = contractor.session().token.clone();
    let r = http
        .get(format!("{}/v1/me", node.url))
        .bearer_auth(&staff_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: kizuna_wire::ErrorBody = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::WrongRealm);
    let user_token = alice.bearer_token().await.unwrap();
    let r = http
        .get(format!("{}/staff/v1/me", staff_url(&node)))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    let body: kizuna_wire::ErrorBody = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::WrongRealm);
    // The user API does not serve staff routes, nor the staff API user ones.
    let r = http
        .get(format!("{}/staff/v1/me", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{}/v1/me", staff_url(&node)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // One command stops the organisation: its sessions end at once.
    let s = admin.suspend_org("acme").await.unwrap();
    assert_eq!(s.sessions_ended, 1);
    assert_eq!(code(contractor.me().await), Some(ErrorCode::Unauthorized));
    assert_eq!(
        code(login(&node, "eng", &eng).await),
        Some(ErrorCode::Suspended)
    );

    // Bad input gets its own error and changes nothing.
    let before = admin.orgs().await.unwrap();
    assert_eq!(
        code(
            admin
                .add_org(&org("bad-net", OrgKind::Affiliate, "KR", "10.0.0.999/8"))
                .await
        ),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(
            admin
                .add_org(&org("acme", OrgKind::Affiliate, "KR", "10.0.0.0/8"))
                .await
        ),
        Some(ErrorCode::AlreadyExists)
    );
    let r = http
        .post(format!("{}/staff/v1/orgs", staff_url(&node)))
        .bearer_auth(&admin.session().token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let body: kizuna_wire::ErrorBody = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::MalformedJson);
    assert_eq!(admin.orgs().await.unwrap(), before);

    // Every step is an event of the staff realm.
    let kinds: Vec<String> = admin
        .events()
        .await
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    for k in [
        "bootstrap",
        "login",
        "org_added",
        "staff_added",
        "org_suspended",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // Nothing of the staff realm is in the user realm's store.
    let node_db = std::fs::read(node.files().node_store()).unwrap();
    assert!(!contains(&node_db, b"acme"));
}

#[tokio::test]
async fn a_logout_ends_the_session_on_the_node_for_every_copy_of_its_token() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let sup = member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let copy = sup.session().token.clone();
    let home = node.home("staff-sup");
    let ended = sup.logout(&home).await.unwrap();
    assert_eq!(ended.staff_id, "sup");
    assert!(StaffClient::open(&home).is_err(), "the kept session stays");

    let http = node.http();
    let me = |token: String| {
        let req = http
            .get(format!("{}/staff/v1/me", staff_url(&node)))
            .bearer_auth(token);
        async move {
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<kizuna_wire::ErrorBody>().await.unwrap(),
            )
        }
    };
    let (status, body) = me(copy.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(body.code, ErrorCode::Unauthorized);
    assert!(body.message.contains("ended"), "{}", body.message);
    // A second logout with the copy is refused the same way and changes
    // nothing.
    let r = http
        .post(format!("{}/staff/v1/logout", staff_url(&node)))
        .bearer_auth(&copy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The end is an event of the staff realm, one for the one logout.
    let logouts: Vec<serde_json::Value> = admin
        .events()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e["kind"] == "logout")
        .collect();
    assert_eq!(logouts.len(), 1, "{logouts:?}");
    assert_eq!(logouts[0]["staff_id"], "sup", "{logouts:?}");
    // The admin's own session is untouched.
    admin.me().await.unwrap();
}

#[tokio::test]
async fn staff_logins_refused_alike_and_counted_per_window() {
    let mut node = Node::start().await;
    let (admin, root) = staffed(&mut node).await;
    admin
        .add_org(&org("faraway", OrgKind::Affiliate, "KR", "10.0.0.0/8"))
        .await
        .unwrap();
    let far = admin
        .add_member(&NewStaffMember {
            staff_id: "far".into(),
            org_id: "faraway".into(),
            roles: vec![Role::Support],
        })
        .await
        .unwrap();
    let http = node.http();
    let url = format!("{}/staff/v1/login", staff_url(&node));
    let attempt = |staff_id: &str, password: &str, totp: String| {
        let req = http.post(&url).json(&StaffLogin {
            staff_id: staff_id.into(),
            password: password.into(),
            totp,
        });
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let now = || kizuna_wire::now_ms() / 1000;
    // An unknown staff id, a known one from outside its organisation's
    // networks with its right password and code, and a wrong password:
    // one answer, word for word.
    let unknown = attempt("nobody", "guess", "123456".into()).await;
    let outside = attempt(
        "far",
        &far.password,
        kizuna_staff::totp_now(&far.totp_secret).unwrap(),
    )
    .await;
    let wrong = attempt("root", "guess", "123456".into()).await;
    assert_eq!(unknown.0, 401);
    assert!(unknown.1.contains("invalid_credentials"), "{}", unknown.1);
    assert_eq!(unknown, outside);
    assert_eq!(unknown, wrong);

    // A code opens one session: sent again, it is refused like a wrong one.
    let code = kizuna_staff::totp_at(&root.totp_secret, now() + 30).unwrap();
    assert_eq!(attempt("root", &root.password, code.clone()).await.0, 200);
    assert_eq!(attempt("root", &root.password, code).await, unknown);

    // Four failures, one event: recorded when the window closes or the
    // node stops, with how many, which ids and from where.
    node.stop().await;
    let store = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        node.files().staff_store().display()
    ))
    .await
    .unwrap();
    let failures: Vec<serde_json::Value> =
        sqlx::query_scalar::<_, String>("SELECT detail FROM events WHERE kind = 'login_failures'")
            .fetch_all(&store)
            .await
            .unwrap()
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
    store.close().await;
    let count: u64 = failures.iter().map(|f| f["count"].as_u64().unwrap()).sum();
    assert_eq!(count, 4, "{failures:?}");
    assert!(failures.len() <= 2, "{failures:?}");
    for id in ["nobody", "far", "root"] {
        assert!(
            failures.iter().any(|f| f["staff_ids"].get(id).is_some()),
            "{id}: {failures:?}"
        );
    }
    assert!(failures
        .iter()
        .any(|f| f["sources"].get("127.0.0.1").is_some()));
}

/// A node with a bootstrapped staff realm: the admin's credentials, the
/// admin logged in, and a staff member of `org` with `roles`, logged in.
pub(crate) async fn staffed(node: &mut Node) -> (StaffClient, StaffCredentials) {
    let addr = node.stop().await;
    let root = bootstrap_staff(
        node.data_dir(),
        &node.regions,
        "root",
        vec!["127.0.0.0/8".into()],
    )
    .await
    .unwrap();
    node.start_again(addr).await;
    let admin = login(node, "root", &root).await.unwrap();
    (admin, root)
}

pub(crate) async fn member(
    node: &Node,
    admin: &StaffClient,
    id: &str,
    org: &str,
    roles: Vec<Role>,
) -> StaffClient {
    let c = admin
        .add_member(&NewStaffMember {
            staff_id: id.into(),
            org_id: org.into(),
            roles,
        })
        .await
        .unwrap();
    login(node, id, &c).await.unwrap()
}

pub(crate) fn ask(subject: &str, fields: &[&str], secs: u64) -> GrantRequest {
    GrantRequest {
        subjects: vec![subject.into()],
        fields: fields.iter().map(|f| f.to_string()).collect(),
        purpose: Purpose::LegalRequest,
        ticket: "T-123".into(),
        reason: "a court order for this account".into(),
        duration_secs: secs,
        break_glass: false,
        regions: Vec::new(),
    }
}

#[tokio::test]
async fn t1_a_contractor_abroad_cannot_read_and_every_attempt_is_recorded() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let mut acme = org("acme", OrgKind::Contractor, "CN", "127.0.0.0/8");
    acme.scope.fields = vec!["phone".into(), "email".into()];
    admin.add_org(&acme).await.unwrap();
    let eng = member(&node, &admin, "eng", "acme", vec![Role::Support]).await;

    let e = eng
        .request_grant(&ask("alice", &["phone", "email"], 3600))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::Forbidden));
    assert!(
        e.to_string()
            .contains("not declared for the person's home region"),
        "{e}"
    );
    let e = eng.read("alice").await.unwrap_err();
    assert!(e.to_string().contains("not declared"), "{e}");

    let kinds: Vec<String> = admin
        .events()
        .await
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"grant_refused".into()) && kinds.contains(&"read_denied".into()));
    // Alice sees the refused attempt, from China, in her own records.
    let map = alice.data_map().await.unwrap();
    let refused: Vec<_> = map.transfers.iter().filter(|t| !t.allowed).collect();
    // The refused request and the refused read, both from China.
    assert_eq!(refused.len(), 2, "{:?}", map.transfers);
    assert!(refused.iter().all(|t| t.to_country == "CN"));
    assert!(refused.iter().all(|t| t.requester.contains("eng of acme")));
}

#[tokio::test]
async fn reads_need_a_live_grant_approved_by_someone_else_and_show_only_its_fields() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let sup = member(
        &node,
        &admin,
        "sup",
        "operator",
        vec![Role::Support, Role::Approver],
    )
    .await;

    // Bad requests: each its own error, nothing stored.
    assert_eq!(
        code(sup.request_grant(&ask("nobody", &["phone"], 60)).await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(sup.request_grant(&ask("alice", &["salary"], 60)).await),
        Some(ErrorCode::BadRequest)
    );
    let e = sup
        .request_grant(&ask("alice", &["phone"], 9 * 3600))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at most 8 hours"), "{e}");
    assert!(sup.grants().await.unwrap().is_empty());

    let g = sup
        .request_grant(&ask("alice", &["phone"], 3600))
        .await
        .unwrap();
    assert_eq!(g.state, GrantState::Pending);
    // Nothing is readable before approval, and nobody approves their own.
    assert!(sup
        .read("alice")
        .await
        .unwrap_err()
        .to_string()
        .contains("no live, approved grant"));
    let e = sup.decide_grant(&g.grant_id, "approve").await.unwrap_err();
    assert!(
        e.to_string().contains("nobody approves their own request"),
        "{e}"
    );
    let approved = admin.decide_grant(&g.grant_id, "approve").await.unwrap();
    assert_eq!(approved.decided_by.as_deref(), Some("root"));

    let r = sup.read("alice").await.unwrap();
    assert_eq!(
        r.phone.as_deref(),
        Some(alice.me().await.unwrap().phone.as_str())
    );
    assert_eq!((r.name, r.email, r.contacts), (None, None, None));
    let map = alice.data_map().await.unwrap();
    assert!(map.transfers.iter().any(|t| t.allowed
        && t.requester.contains("sup of operator")
        && t.requester.contains("T-123")));
    // She also sees the request and its approval, each with the fields named.
    let steps: Vec<&str> = map.transfers.iter().map(|t| t.action.as_str()).collect();
    for step in ["grant_requested", "grant_approved", "read"] {
        assert!(steps.contains(&step), "{step} missing from {steps:?}");
    }
    let approved = map
        .transfers
        .iter()
        .find(|t| t.action == "grant_approved")
        .unwrap();
    assert_eq!(approved.categories, vec!["phone"]);
    assert!(approved
        .basis
        .as_deref()
        .unwrap()
        .contains("approved by root"));

    // Revoked: refused again at once.
    admin.decide_grant(&g.grant_id, "revoke").await.unwrap();
    assert!(sup.read("alice").await.is_err());
    // A grant for email only shows the phone masked to its last two digits.
    let g2 = sup
        .request_grant(&ask("alice", &["email"], 60))
        .await
        .unwrap();
    admin.decide_grant(&g2.grant_id, "approve").await.unwrap();
    let r = sup.read("alice").await.unwrap();
    assert!(r.email.is_some());
    let phone = r.phone.unwrap();
    assert!(phone.starts_with('•') && phone.len() > 2, "{phone}");
}

#[tokio::test]
async fn repeated_refusals_raise_an_alert_and_suspend_the_member() {
    let mut node = Node::start().await;
    node.person("alice", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    admin
        .add_org(&org("acme", OrgKind::Contractor, "CN", "127.0.0.0/8"))
        .await
        .unwrap();
    let eng = member(&node, &admin, "eng", "acme", vec![Role::Support]).await;
    // Limit 5 refusals an hour: the fifth suspends.
    for _ in 0..4 {
        assert_eq!(code(eng.read("alice").await), Some(ErrorCode::Forbidden));
    }
    assert_eq!(code(eng.read("alice").await), Some(ErrorCode::Forbidden));
    assert_eq!(code(eng.read("alice").await), Some(ErrorCode::Unauthorized));
    let alerts: Vec<serde_json::Value> = admin.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["staff_id"], "eng");
    let eng_now = admin
        .members()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.staff_id == "eng")
        .unwrap();
    assert!(eng_now.suspended_at.is_some());
    // A contractor cannot see alerts.
    let other = member(&node, &admin, "eng2", "acme", vec![Role::Support]).await;
    assert_eq!(code(other.alerts().await), Some(ErrorCode::Forbidden));
}

#[tokio::test]
async fn break_glass_is_immediate_for_security_raises_an_alert_and_leaves_a_review() {
    let mut node = Node::start().await;
    node.person("alice", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let sup = member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let sec = member(
        &node,
        &admin,
        "sec",
        "operator",
        vec![Role::Security, Role::Support],
    )
    .await;
    let mut glass = ask("alice", &["phone"], 1800);
    glass.break_glass = true;
    glass.purpose = Purpose::IncidentResponse;

    let e = sup.request_grant(&glass).await.unwrap_err();
    assert!(e.to_string().contains("needs the security role"), "{e}");
    let mut too_long = glass.clone();
    too_long.duration_secs = 2 * 3600;
    assert!(sec
        .request_grant(&too_long)
        .await
        .unwrap_err()
        .to_string()
        .contains("1 hour"));

    let g = sec.request_grant(&glass).await.unwrap();
    assert_eq!(g.state, GrantState::Approved);
    assert!(sec.read("alice").await.unwrap().phone.is_some());
    let alerts = admin.alerts().await.unwrap();
    assert!(alerts
        .iter()
        .any(|a| a["kind"] == "break_glass" && a["staff_id"] == "sec"));
    let open = admin.reviews().await.unwrap();
    assert_eq!(open.len(), 1);
    assert!(open[0].completed_at.is_none());

    let done = ReviewCompletion {
        justified: true,
        note: "incident INC-7, confirmed with the person".into(),
    };
    assert_eq!(
        code(sec.complete_review(&g.grant_id, &done).await),
        Some(ErrorCode::Forbidden)
    );
    let r = admin.complete_review(&g.grant_id, &done).await.unwrap();
    assert_eq!(
        (r.completed_by.as_deref(), r.justified),
        (Some("root"), Some(true))
    );
    assert_eq!(
        code(admin.complete_review(&g.grant_id, &done).await),
        Some(ErrorCode::BadRequest)
    );
}

#[tokio::test]
async fn customer_support_reads_wait_for_the_persons_agreement() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let sup = member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let mut help = ask("alice", &["phone"], 3600);
    help.purpose = Purpose::CustomerSupport;
    help.subjects = vec!["alice".into(), "bob".into()];
    let g = sup.request_grant(&help).await.unwrap();
    admin.decide_grant(&g.grant_id, "approve").await.unwrap();

    // Approved, but nothing is readable before the person agrees.
    let e = sup.read("alice").await.unwrap_err();
    assert!(e.to_string().contains("has not agreed"), "{e}");
    let asked = alice.access_requests().await.unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].my_answer.as_str(), asked[0].country.as_str()),
        ("waiting", "JP")
    );
    alice
        .answer_access_request(&g.grant_id, true)
        .await
        .unwrap();
    assert!(sup.read("alice").await.unwrap().phone.is_some());
    // Bob declines: his data stays closed under the same grant.
    bob.answer_access_request(&g.grant_id, false).await.unwrap();
    assert!(sup.read("bob").await.is_err());
    assert_eq!(
        bob.access_requests().await.unwrap()[0].my_answer,
        "declined"
    );
    // A request that does not name me, or a made-up one, cannot be answered.
    let carol_home = node.person("carol", "jp").await;
    let mut carol = carol_home;
    assert_eq!(
        carol
            .answer_access_request(&g.grant_id, true)
            .await
            .unwrap_err()
            .api_code(),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        alice
            .answer_access_request(&g.grant_id, true)
            .await
            .map(|_| ())
            .ok(),
        Some(())
    );
}

#[tokio::test]
async fn an_expired_grant_reads_nothing() {
    let mut node = Node::start().await;
    node.person("alice", "jp").await;
    let (admin, _) = staffed(&mut node).await;
    let sup = member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let g = sup
        .request_grant(&ask("alice", &["phone"], 1))
        .await
        .unwrap();
    admin.decide_grant(&g.grant_id, "approve").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let e = sup.read("alice").await.unwrap_err();
    assert!(e.to_string().contains("no live, approved grant"), "{e}");
    let mine = sup.grants().await.unwrap();
    assert_eq!(mine[0].state, GrantState::Expired);
}

/// `kizuna serve --config DIR/kizuna.toml` takes the staff policy from
/// `DIR/policy.cedar`; one with an error stops the node with Cedar's message,
/// before it listens.
#[test]
fn a_policy_beside_the_configuration_is_loaded_and_an_error_stops_the_node() {
    let etc = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let kizuna = env!("CARGO_BIN_EXE_kizuna");
    let default = std::process::Command::new(kizuna)
        .args(["config", "default"])
        .output()
        .unwrap();
    std::fs::write(etc.path().join("kizuna.toml"), default.stdout).unwrap();
    std::fs::write(
        etc.path().join("policy.cedar"),
        "permit(principal, action, resource) when { principal.salary > 3 };",
    )
    .unwrap();
    let out = std::process::Command::new(kizuna)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--staff-listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(etc.path().join("kizuna.toml"))
        .arg("--data-dir")
        .arg(data.path())
        .env("KIZUNA_LOG", "error")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a broken policy must stop the node");
    assert!(err.contains("policy.cedar"), "{err}");
    assert!(err.contains("salary"), "Cedar's own message: {err}");
    // Nothing was started: no user or staff store.
    assert!(!data.path().join("staff").exists());
}

/// A third party writes a staff client from the staff listener's own
/// document, so what the listener answers must have the shapes it names.
#[tokio::test]
async fn the_staff_listener_serves_its_own_api_document_and_answers_in_its_shapes() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let http = node.http();
    let get = |url: String| {
        let token = admin.session().token.clone();
        let http = http.clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let doc = get(format!("{}/openapi.json", staff_url(&node))).await;
    assert_eq!(
        doc,
        serde_json::to_value(kizuna_server::staff_openapi_spec()).unwrap()
    );
    assert!(doc["paths"]["/staff/v1/login"]["post"].is_object());
    assert!(doc["paths"].get("/v1/inbox").is_none());
    // The user listener's document is the user API's, without staff routes.
    let user_doc = get(format!("{}/openapi.json", node.url)).await;
    assert!(user_doc["paths"].get("/staff/v1/login").is_none());

    let fields = |schema: &str| -> Vec<String> {
        let mut f: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has no properties"))
            .keys()
            .cloned()
            .collect();
        f.sort();
        f
    };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let me = get(format!("{}/staff/v1/me", staff_url(&node))).await;
    assert_eq!(keys(&me), fields("StaffIdentity"));
    assert_eq!(me["member"]["staff_id"], "root");
    // The bootstrap and the login are events already.
    let events = get(format!("{}/staff/v1/events", staff_url(&node))).await;
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        assert_eq!(keys(event), fields("StaffEvent"), "{event}");
    }
    assert!(events.iter().any(|e| e["kind"] == "login"), "{events:?}");
}

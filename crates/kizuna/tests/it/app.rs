//! `kizuna app`: the device's page on loopback. Who may reach it and what
//! confines it, through raw HTTP as a hostile local page or process would;
//! and in Debian's Chromium, two people chatting live through two apps.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::harness::{files, link, messages, rogue_client, rogue_device, KillOnDrop, Node};

/// A running `kizuna app` for the device under `home`, and the address it
/// printed.
struct App {
    _process: KillOnDrop,
    url: String,
    base: String,
}

async fn app(home: &Path) -> App {
    let mut args = vec!["app".to_string(), "--json".into(), "--home".into()];
    args.push(home.display().to_string());
    page(args).await
}

/// `kizuna ARGS…` serving a page, and the address it printed as JSON.
async fn page(args: Vec<String>) -> App {
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args(&args)
            .env("KIZUNA_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("`kizuna {}` printed {line:?}: {e}", args.join(" ")));
        App {
            _process: KillOnDrop(child),
            base: format!("http://{}", v["address"].as_str().unwrap()),
            url: v["url"].as_str().unwrap().to_string(),
        }
    })
    .await
    .unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens the printed address as the browser would, returning the cookie.
async fn session(http: &reqwest::Client, app: &App) -> String {
    let r = http.get(&app.url).send().await.unwrap();
    assert_eq!(r.status(), 303, "the printed address sends the browser on");
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    cookie.split(';').next().unwrap().to_string()
}

async fn get_json(
    http: &reqwest::Client,
    app: &App,
    cookie: &str,
    path: &str,
) -> serde_json::Value {
    http.get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_the_browser_that_opened_the_printed_address_reaches_the_app() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let app = app(&node.home("alice")).await;
    let http = no_redirects();

    // Nothing without the session, not even the page.
    for path in ["/", "/app.js", "/api/chats", "/api/events"] {
        let r = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} without a session");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "no_session");
    }
    // A wrong secret spends nothing.
    let wrong = app.url.rsplit_once('=').unwrap().0.to_string() + "=" + &"0".repeat(64);
    assert_eq!(http.get(&wrong).send().await.unwrap().status(), 401);

    let cookie = session(&http, &app).await;
    // The secret works once.
    assert_eq!(http.get(&app.url).send().await.unwrap().status(), 401);
    let r = http
        .get(format!("{}/", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>"), "no inline script");
    assert!(!page.contains("https://"), "nothing from another origin");

    // A page elsewhere that points a name of its own at 127.0.0.1 (DNS
    // rebinding), or posts from its own origin, reaches nothing even with
    // the cookie.
    let r = http
        .get(format!("{}/api/me", app.base))
        .header("cookie", &cookie)
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{}/api/chats", app.base))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .json(&serde_json::json!({ "with": ["bob"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let me = get_json(&http, &app, &cookie, "/api/me").await;
    assert_eq!(me["handle"], "alice");
    assert!(me.get("signer").is_none() && !me.to_string().contains("private"));
}

#[tokio::test]
async fn bad_input_to_the_app_gets_a_typed_error_and_changes_nothing() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    node.person("bob", "jp").await.close().await;
    let app = app(&node.home("alice")).await;
    let http = no_redirects();
    let cookie = session(&http, &app).await;
    let post = |path: &str, body: &str| {
        http.post(format!("{}{path}", app.base))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    let code = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        (status, body["code"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        code(post("/api/chats", r#"{"with":[]}"#).send().await.unwrap()).await,
        (400, "invalid".into())
    );
    assert_eq!(
        post("/api/chats", "{not json")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        code(
            post("/api/chats/ffff/messages", r#"{"text":"hi"}"#)
                .send()
                .await
                .unwrap()
        )
        .await,
        (404, "unknown_chat".into())
    );
    // Following: a handle that breaks its rule, someone with no badge, an
    // account not followed.
    assert_eq!(
        code(
            post("/api/official/Not%20A%20Handle/follow", "{}")
                .send()
                .await
                .unwrap()
        )
        .await,
        (400, "invalid".into())
    );
    assert_eq!(
        code(post("/api/official/bob/follow", "{}").send().await.unwrap()).await,
        (400, "invalid".into())
    );
    assert_eq!(
        code(
            post("/api/official/bob/unfollow", r#"{"erase":true}"#)
                .send()
                .await
                .unwrap()
        )
        .await,
        (409, "unchanged".into())
    );
    let chat: serde_json::Value = post("/api/chats", r#"{"with":["bob"]}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = chat["chat"].as_str().unwrap().to_string();
    let messages = format!("/api/chats/{chat}/messages");
    assert_eq!(
        code(post(&messages, r#"{"text":"   "}"#).send().await.unwrap()).await,
        (400, "invalid".into())
    );
    let long = serde_json::json!({ "text": "x".repeat(10_001) }).to_string();
    assert_eq!(
        code(post(&messages, &long).send().await.unwrap()).await,
        (400, "invalid".into())
    );
    // A file without a usable name, a caption too long, a file of a
    // message that is none, and a chat that is none.
    let files = format!("/api/chats/{chat}/files");
    for query in [
        "?name=".to_string(),
        "?name=...".to_string(),
        format!("?name=a.txt&caption={}", "x".repeat(10_001)),
    ] {
        assert_eq!(
            code(
                post(&format!("{files}{query}"), "bytes")
                    .send()
                    .await
                    .unwrap()
            )
            .await,
            (400, "invalid".into()),
            "{query}"
        );
    }
    assert_eq!(
        code(
            post("/api/chats/ffff/files?name=a.txt", "bytes")
                .send()
                .await
                .unwrap()
        )
        .await,
        (404, "unknown_chat".into())
    );
    let r = http
        .get(format!("{}/api/chats/{chat}/messages/1/file", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (400, "invalid".into()));
    let listed = get_json(&http, &app, &cookie, &messages).await;
    assert_eq!(
        listed["messages"].as_array().unwrap().len(),
        0,
        "nothing sent"
    );
    // Nothing was left behind on the device by the refused uploads.
    let outbox = node.home("alice").join("outbox");
    assert!(
        !outbox.exists() || std::fs::read_dir(&outbox).unwrap().next().is_none(),
        "left in the outbox"
    );
}

/// The browser tests' driver and Chromium, which `./scripts/test` installs.
fn browser_tools() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "the browser tests need playwright-core in tests/browser/node_modules and Debian's chromium: run ./scripts/test, which installs both"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "the browser tests need Debian's chromium at {chromium}: run ./scripts/test, which installs it (apt-get install chromium)"
    );
    dir
}

/// Runs one of the browser scripts with `env`; its failure fails the test
/// with what it printed (and its screenshots saved).
async fn browser(script: &str, env: Vec<(String, String)>) -> String {
    let dir = browser_tools();
    let script = dir.join(script);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(&script)
            .envs(env)
            .env("KIZUNA_SCREENSHOTS", shots)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// People registered on `node`, each with their app running, and what the
/// browser scripts are told of them (`ALICE_URL`, `ALICE_HANDLE`, ...).
async fn people_with_apps(node: &Node, who: &[&str]) -> (Vec<App>, Vec<(String, String)>) {
    let mut apps = Vec::new();
    let mut env = Vec::new();
    for handle in who {
        node.person(handle, "jp").await.close().await;
        let a = app(&node.home(handle)).await;
        let upper = handle.to_uppercase();
        env.push((format!("{upper}_URL"), a.url.clone()));
        env.push((format!("{upper}_HANDLE"), handle.to_string()));
        // The name each registered with (see `Node::stranger`).
        env.push((format!("{upper}_NAME"), format!("{handle} Person")));
        apps.push(a);
    }
    (apps, env)
}

/// One app's address, as the single-app scripts take it.
fn app_env(app: &App, more: &[(&str, &str)]) -> Vec<(String, String)> {
    std::iter::once(("APP_URL".to_string(), app.url.clone()))
        .chain(more.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

#[tokio::test]
async fn two_people_chat_live_in_the_browser() {
    let node = Node::start().await;
    let (_apps, env) = people_with_apps(&node, &["alice", "bob"]).await;
    println!("{}", browser("chat.mjs", env).await);
}

#[tokio::test]
async fn the_app_speaks_english_japanese_and_korean() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let alice = app(&node.home("alice")).await;
    browser("languages.mjs", app_env(&alice, &[])).await;
}

/// Puts `n` messages from alice into bob's local history of `chat`, as if
/// received: the page reads only local history, and this is what a long
/// conversation is to it.
async fn long_history(home: &Path, chat: &str, n: u64) {
    let path = home.join("device.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..n {
        sqlx::query(
            "INSERT INTO messages (chat_id, group_seq, sender_handle, sender_device, text, server_time) \
             VALUES (?, ?, 'alice', 'a1', ?, ?)",
        )
        .bind(chat)
        .bind((1_000 + i) as i64)
        .bind(format!("message {i} of a long conversation"))
        .bind((1_700_000_000_000 + i * 60_000) as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_conversation_of_ten_thousand_messages_draws_only_what_is_visible() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    alice.close().await;
    bob.close().await;
    long_history(&node.home("bob"), &chat, 10_000).await;
    let bob = app(&node.home("bob")).await;
    println!(
        "{}",
        browser("scroll.mjs", app_env(&bob, &[("CHAT", &chat)])).await
    );
}

#[tokio::test]
async fn a_group_grows_and_shrinks_in_the_browser() {
    let node = Node::start().await;
    let (_apps, env) = people_with_apps(&node, &["alice", "bob", "carol"]).await;
    println!("{}", browser("group.mjs", env).await);
    // What the pages showed is what the devices hold.
    let mut carol_device = kizuna_client::Client::open(&node.home("carol"))
        .await
        .unwrap();
    let chats = carol_device.chats().await.unwrap();
    let team = chats
        .iter()
        .find(|c| c.name.as_deref().is_some_and(|n| n.starts_with("Team")));
    let team = team
        .unwrap_or_else(|| panic!("carol is in Team: {chats:?}"))
        .chat
        .clone();
    assert_eq!(
        crate::harness::member_handles(&mut carol_device, &team).await,
        ["alice", "carol"]
    );
}

#[tokio::test]
async fn a_message_is_reported_from_its_menu_with_its_franking() {
    let node = Node::start().await;
    let (_apps, env) = people_with_apps(&node, &["alice", "bob"]).await;
    browser("report.mjs", env).await;
    let mut bob_device = kizuna_client::Client::open(&node.home("bob"))
        .await
        .unwrap();
    let filed = bob_device.my_reports().await.unwrap();
    assert_eq!(
        filed.len(),
        1,
        "the node kept the report its franking proves"
    );
    assert_eq!(filed[0].reported_handle, "alice");
    assert_eq!(
        filed[0].messages.last().map(|m| m.text.as_str()),
        Some("buy cheap pills")
    );
}

#[tokio::test]
async fn the_privacy_centre_shows_a_verified_access_log_and_a_tampered_one_loudly() {
    use kizuna_wire::staff::Role;
    let mut node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let (admin, _) = crate::staff::staffed(&mut node).await;
    let sup = crate::staff::member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let g = sup
        .request_grant(&crate::staff::ask("alice", &["phone"], 3600))
        .await
        .unwrap();
    admin.decide_grant(&g.grant_id, "approve").await.unwrap();
    sup.read("alice").await.unwrap();

    let first = app(&node.home("alice")).await;
    let verified = [
        ("EXPECT", "verified"),
        ("EXPECT_ACCESSES", "3"),
        ("EXPECT_KOREA", "1"),
    ];
    browser("privacy.mjs", app_env(&first, &verified)).await;
    drop(first);

    // An insider deletes the record of the read the device verified.
    let addr = node.stop().await;
    let jp = node.data_dir().join("regions").join("jp.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", jp.display()))
        .await
        .unwrap();
    let gone =
        sqlx::query("DELETE FROM access_records WHERE idx = (SELECT MAX(idx) FROM access_records)")
            .execute(&pool)
            .await
            .unwrap();
    assert_eq!(gone.rows_affected(), 1);
    pool.close().await;
    node.start_again(addr).await;

    let second = app(&node.home("alice")).await;
    browser("privacy.mjs", app_env(&second, &[("EXPECT", "tampered")])).await;
}

#[tokio::test]
async fn a_staff_request_waiting_for_my_agreement_is_answered_in_the_privacy_centre() {
    use kizuna_wire::staff::{Purpose, Role};
    let mut node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let (admin, _) = crate::staff::staffed(&mut node).await;
    let sup = crate::staff::member(&node, &admin, "sup", "operator", vec![Role::Support]).await;
    let mut help = crate::staff::ask("alice", &["phone"], 3600);
    help.purpose = Purpose::CustomerSupport;
    let g = sup.request_grant(&help).await.unwrap();
    admin.decide_grant(&g.grant_id, "approve").await.unwrap();
    assert!(sup.read("alice").await.is_err(), "not before alice agrees");

    let alice = app(&node.home("alice")).await;
    browser("requests.mjs", app_env(&alice, &[])).await;
    assert!(sup.read("alice").await.unwrap().phone.is_some());
}

/// `kizuna staff console` for the staff session kept under `home`.
async fn console(home: &Path, server: &str) -> App {
    let args = [
        "staff",
        "--json",
        "--staff-home",
        &home.display().to_string(),
        "console",
        "--server",
        server,
    ];
    page(args.iter().map(|a| a.to_string()).collect()).await
}

#[tokio::test]
async fn staff_request_approve_by_another_and_read_in_the_console() {
    use kizuna_wire::staff::{NewStaffMember, Role};
    let mut node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let (root, _) = crate::staff::staffed(&mut node).await;
    let add = |id: &str, roles: Vec<Role>| NewStaffMember {
        staff_id: id.into(),
        org_id: "operator".into(),
        roles,
    };
    let sup = root
        .add_member(&add("sup", vec![Role::Support]))
        .await
        .unwrap();
    let appr = root
        .add_member(&add("appr", vec![Role::Approver, Role::Security]))
        .await
        .unwrap();
    let server = crate::staff::staff_url(&node);
    let sup_console = console(&node.home("console-sup"), &server).await;
    let appr_console = console(&node.home("console-appr"), &server).await;
    let totp =
        |c: &kizuna_wire::staff::StaffCredentials| kizuna_staff::totp_now(&c.totp_secret).unwrap();
    let env = vec![
        ("ADMIN_URL", appr_console.url.clone()),
        ("SUP_URL", sup_console.url.clone()),
        ("ADMIN_ID", appr.staff_id.clone()),
        ("ADMIN_PASSWORD", appr.password.clone()),
        ("ADMIN_TOTP", totp(&appr)),
        ("SUP_ID", sup.staff_id.clone()),
        ("SUP_PASSWORD", sup.password.clone()),
        ("SUP_TOTP", totp(&sup)),
        ("SUBJECT", "alice".into()),
        ("FIELD", "phone".into()),
    ];
    let env = env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    println!("{}", browser("staff.mjs", env).await);

    // The console's read was the node's governed read: in alice's log.
    let mut alice = kizuna_client::Client::open(&node.home("alice"))
        .await
        .unwrap();
    let log = alice.accesses().await.unwrap();
    assert!(log.accesses.iter().any(|a| a.entry.record.action == "read"
        && a.entry.staff.as_ref().is_some_and(|s| s.staff_id == "sup")));
}

#[tokio::test]
async fn break_glass_alerts_reviews_and_report_decisions_in_the_console() {
    use kizuna_console::staff::StaffClient;
    use kizuna_wire::reports::ReportReason;
    use kizuna_wire::staff::{GrantRequest, NewStaffMember, Purpose, Role, REPORTS_FIELD};
    let mut node = Node::start().await;
    let (root, _) = crate::staff::staffed(&mut node).await;
    let (mut alice, mut bob, chat) = crate::reports::alice_and_bob(&node).await;
    let threat = "you will regret this";
    let sent = bob.send(&chat, threat).await.unwrap();
    alice.sync().await.unwrap();
    alice
        .report(&chat, sent.seq, ReportReason::Harassment, None, 0)
        .await
        .unwrap();

    let add = |id: &str, roles: Vec<Role>| NewStaffMember {
        staff_id: id.into(),
        org_id: "operator".into(),
        roles,
    };
    let sec = root
        .add_member(&add("sec", vec![Role::Security, Role::Support]))
        .await
        .unwrap();
    let aud = root
        .add_member(&add("aud", vec![Role::Security]))
        .await
        .unwrap();
    let modr = root
        .add_member(&add("mod", vec![Role::Moderator]))
        .await
        .unwrap();
    // The moderator's live grant over region jp's reports, asked for and
    // approved before the console opens.
    let appr = crate::staff::member(&node, &root, "appr", "operator", vec![Role::Approver]).await;
    let now = kizuna_wire::now_ms() / 1000;
    let m = StaffClient::login(
        &node.home("staff-mod"),
        &crate::staff::staff_url(&node),
        None,
        &modr.staff_id,
        &modr.password,
        &kizuna_staff::totp_at(&modr.totp_secret, now).unwrap(),
    )
    .await
    .unwrap();
    let g = m
        .request_grant(&GrantRequest {
            subjects: Vec::new(),
            fields: vec![REPORTS_FIELD.into()],
            purpose: Purpose::AbuseReportReview,
            ticket: "MOD-1".into(),
            reason: "the abuse report queue".into(),
            duration_secs: 3600,
            break_glass: false,
            regions: vec!["jp".into()],
        })
        .await
        .unwrap();
    appr.decide_grant(&g.grant_id, "approve").await.unwrap();

    let server = crate::staff::staff_url(&node);
    let consoles = [
        console(&node.home("console-sec"), &server).await,
        console(&node.home("console-aud"), &server).await,
        console(&node.home("console-mod"), &server).await,
    ];
    let mut env = vec![
        ("SUBJECT".to_string(), "alice".to_string()),
        ("REPORTED_TEXT".into(), threat.into()),
    ];
    for ((prefix, c), app) in [("SEC", &sec), ("AUD", &aud), ("MOD", &modr)]
        .into_iter()
        .zip(&consoles)
    {
        // The moderator's code of this time step opened the session above,
        // and a code opens one session: the console gets the next step's,
        // which the node also accepts.
        let at = if prefix == "MOD" { now + 30 } else { now };
        env.extend([
            (format!("{prefix}_URL"), app.url.clone()),
            (format!("{prefix}_ID"), c.staff_id.clone()),
            (format!("{prefix}_PASSWORD"), c.password.clone()),
            (
                format!("{prefix}_TOTP"),
                kizuna_staff::totp_at(&c.totp_secret, at).unwrap(),
            ),
        ]);
    }
    println!("{}", browser("oversight.mjs", env).await);

    // What the console did, the node did and recorded.
    let reviews = root.reviews().await.unwrap();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0].completed_by.as_deref(), Some("aud"));
    assert_eq!(reviews[0].justified, Some(true));
    let notices = bob.moderation().await.unwrap();
    assert_eq!(notices.len(), 1, "bob is told of the decision");
    assert_eq!(notices[0].message.text, threat);
    let events = root.events().await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "logout" && e["staff_id"] == "aud"),
        "the console's sign-out ended aud's session on the node"
    );
    assert!(StaffClient::open(&node.home("console-aud")).is_err());
}

#[tokio::test]
async fn a_new_device_is_approved_and_revoked_from_the_app_at_phone_width() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let alice = app(&node.home("alice")).await;
    // The new device asks, as a person runs it, and shows its code.
    let new_home = node.home("alice-tablet");
    let url = node.url.clone();
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let linking = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args([
                "device",
                "link",
                "--json",
                "--handle",
                "alice",
                "--device-label",
                "tablet",
            ])
            .args(["--server", &url, "--home"])
            .arg(&new_home)
            .env("KIZUNA_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("`kizuna device link --json` printed {line:?}: {e}"));
        code_tx
            .send(v["approve_with"].as_str().unwrap().to_string())
            .unwrap();
        child.wait().unwrap()
    });
    let code = code_rx.await.unwrap();
    let env = app_env(&alice, &[("CODE", &code), ("NEW_DEVICE_LABEL", "tablet")]);
    println!("{}", browser("devices.mjs", env).await);
    assert!(
        linking.await.unwrap().success(),
        "the new device was linked"
    );
}

#[tokio::test]
async fn a_chat_request_is_accepted_or_declined_with_a_block_in_the_app() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    // Mallory keeps no contacts: alice's chats with her are requests.
    node.stranger("mallory", "jp", &crate::harness::phone_for("mallory"))
        .await
        .close()
        .await;
    let alice = app(&node.home("alice")).await;
    let mallory = app(&node.home("mallory")).await;
    let env = vec![
        ("ALICE_URL".to_string(), alice.url.clone()),
        ("MALLORY_URL".to_string(), mallory.url.clone()),
        ("MALLORY_HANDLE".to_string(), "mallory".to_string()),
    ];
    println!("{}", browser("requests-chat.mjs", env).await);
    let mut m = kizuna_client::Client::open(&node.home("mallory"))
        .await
        .unwrap();
    let blocked = m.blocked().await.unwrap().blocked;
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].handle, "alice");
}

#[tokio::test]
async fn an_account_is_erased_from_the_privacy_centre() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let mut bob = node.person("bob", "jp").await;
    let alice = app(&node.home("alice")).await;
    browser("erase.mjs", app_env(&alice, &[("HANDLE", "alice")])).await;
    assert!(
        bob.account("alice").await.is_err(),
        "the node no longer knows alice"
    );
}

#[tokio::test]
async fn files_are_picked_pasted_and_dropped_and_only_pictures_are_shown() {
    let node = Node::start().await;
    let (_apps, env) = people_with_apps(&node, &["alice", "bob"]).await;
    println!("{}", browser("files.mjs", env).await);
    // What the pages sent are files in the chat, sealed, for Bob's device too.
    let mut bob = kizuna_client::Client::open(&node.home("bob"))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    let chat = bob.chats().await.unwrap()[0].chat.clone();
    let names: Vec<String> = bob
        .timeline(&chat)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            kizuna_client::Event::Message(m) => m.file.as_ref().map(|f| f.file_name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["cat.png", "logo.svg", "notes.txt"]);
}

#[tokio::test]
async fn the_page_reads_and_sends_while_a_file_is_uploading() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    node.person("bob", "jp").await.close().await;
    let app = app(&node.home("alice")).await;
    let http = no_redirects();
    let cookie = session(&http, &app).await;
    let chat: serde_json::Value = http
        .post(format!("{}/api/chats", app.base))
        .header("cookie", &cookie)
        .json(&serde_json::json!({ "with": ["bob"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = chat["chat"].as_str().unwrap().to_string();
    let mut video = vec![0u8; 32 * 1024 * 1024];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut video);
    let upload = tokio::spawn({
        let req = http
            .post(format!("{}/api/chats/{chat}/files?name=trip.mp4", app.base))
            .header("cookie", &cookie)
            .body(video);
        async move { req.send().await.unwrap().status() }
    });
    // Once the node keeps a part, the upload is under way: a text sent
    // now goes out before it ends.
    let kept = node.data_dir().join("files/jp");
    let at = std::time::Instant::now();
    while !kept.exists() || files(&kept).is_empty() {
        assert!(!upload.is_finished(), "the upload ended before it began");
        assert!(at.elapsed() < std::time::Duration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let sent = http
        .post(format!("{}/api/chats/{chat}/messages", app.base))
        .header("cookie", &cookie)
        .json(&serde_json::json!({ "text": "sending you the video" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert!(
        !upload.is_finished(),
        "the text waited for the whole upload"
    );
    assert_eq!(upload.await.unwrap(), 200);
    let mut bob = kizuna_client::Client::open(&node.home("bob"))
        .await
        .unwrap();
    let got = messages(&bob.sync().await.unwrap());
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].text, "sending you the video");
    assert!(got[1].file.is_some());
}

#[tokio::test]
async fn the_page_warns_when_a_verified_contacts_keys_change_until_compared_again() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    let shown = alice.safety_number("bob").await.unwrap();
    alice
        .confirm_safety_number("bob", Some(&shown.digits))
        .await
        .unwrap();
    let (bob_phone, _) = link(&node, &mut bob, "bob-phone").await;
    bob_phone.close().await;
    alice.sync().await.unwrap();
    let n = alice.safety_number("bob").await.unwrap();
    assert!(matches!(
        n.standing,
        kizuna_client::KeyStanding::Changed { .. }
    ));
    alice.close().await;
    let app = app(&node.home("alice")).await;
    let env = app_env(
        &app,
        &[("CHAT", &chat), ("CONTACT", "bob"), ("DIGITS", &n.digits)],
    );
    println!("{}", browser("safety.mjs", env).await);
    let mut alice = kizuna_client::Client::open(&node.home("alice"))
        .await
        .unwrap();
    assert!(alice.changed_keys().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_page_warns_loudly_of_a_device_added_behind_the_persons_back() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    alice.sync().await.unwrap();
    alice.close().await;
    let rogue = rogue_device(&node, "alice").await;
    let app = app(&node.home("alice")).await;
    let env = app_env(&app, &[("ROGUE", &rogue)]);
    println!("{}", browser("keys.mjs", env).await);
}

#[tokio::test]
async fn the_page_warns_loudly_of_a_chat_member_the_key_log_does_not_hold() {
    let node = Node::start().await;
    node.person("alice", "jp").await.close().await;
    let mut bob = node.person("bob", "jp").await;
    bob.sync().await.unwrap();
    bob.close().await;
    let rogue_id = rogue_device(&node, "alice").await;
    let mut rogue = rogue_client(&node).await;
    rogue
        .create_chat(&["bob".into()], Some("new phone"))
        .await
        .unwrap();
    let app = app(&node.home("bob")).await;
    let env = app_env(&app, &[("ROGUE", &rogue_id)]);
    println!("{}", browser("member-keys.mjs", env).await);
}

#[tokio::test]
async fn a_file_id_that_is_a_path_is_never_followed() {
    let node = Node::start().await;
    node.person("bob", "jp").await.close().await;
    let mut alice = node.person("alice", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("note.txt");
    std::fs::write(&path, "hello").unwrap();
    let sent = alice
        .send_file(&chat, &path, None, false, &mut |_, _| {})
        .await
        .unwrap();
    let mut bob = kizuna_client::Client::open(&node.home("bob"))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    bob.close().await;
    // What a hostile sender's message would say: a file id that is a path
    // to the device's own store.
    let real = sent.file.unwrap().file_id;
    let db = node.home("bob").join("device.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let changed = sqlx::query("UPDATE messages SET body = replace(body, ?, '../device.sqlite')")
        .bind(&real)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    pool.close().await;

    let mut bob = kizuna_client::Client::open(&node.home("bob"))
        .await
        .unwrap();
    let e = bob
        .save_file(&chat, sent.seq, Some(dir.path()), &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no node makes"), "{e}");
    bob.close().await;
    let app = app(&node.home("bob")).await;
    let http = no_redirects();
    let cookie = session(&http, &app).await;
    let r = http
        .get(format!(
            "{}/api/chats/{chat}/messages/{}/file",
            app.base, sent.seq
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid", "{body}");
}

#[tokio::test]
async fn a_resident_follows_her_city_in_the_app_answers_its_card_and_unfollows_asking_erasure() {
    use kizuna_wire::{Choice, FollowerRequest, Structured};
    let mut node = Node::start().await;
    let mut city = crate::official::verified_city(&mut node).await;
    node.person("bob", "jp").await.close().await;
    let alice = node.person("alice", "jp").await;
    alice.close().await;
    let alice_app = app(&node.home("alice")).await;
    let text = "Choose a vaccination slot";
    let warning = "Typhoon: evacuate the riverside by 18:00";
    let page = tokio::spawn(browser(
        "official.mjs",
        app_env(
            &alice_app,
            &[
                ("NOT_OFFICIAL", "bob"),
                ("HANDLE", "city.shibuya"),
                ("ORGANISATION", "Shibuya City"),
                ("TEXT", text),
                ("CHOICE", "tue-1430"),
                ("LABEL", "Tue 14:30"),
                ("ANNOUNCEMENT", warning),
            ],
        ),
    ));
    // The city's device sees her follow as a chat request, as `kizuna bot`
    // does, accepts it, offers its slots and warns its followers.
    let chat = loop {
        city.sync().await.unwrap();
        let requests = city.chat_requests().await.unwrap().into_iter();
        let chats = city.chats().await.unwrap().into_iter();
        if let Some(c) = requests.map(|r| r.chat).chain(chats.map(|c| c.chat)).next() {
            break c;
        }
        if page.is_finished() {
            panic!("the page stopped first: {:?}", page.await);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    match city.accept_chat(&chat).await {
        Ok(_) | Err(kizuna_client::ClientError::Unchanged(_)) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = |id: &str, label: &str| Choice {
        id: id.into(),
        label: label.into(),
    };
    let card = city
        .send_structured(
            &chat,
            text,
            Structured::Card {
                buttons: vec![slot("mon-1000", "Mon 10:00"), slot("tue-1430", "Tue 14:30")],
                fields: Vec::new(),
            },
        )
        .await
        .unwrap();
    city.announce(warning, kizuna_wire::Severity::Emergency)
        .await
        .unwrap();
    println!("{}", page.await.unwrap());
    // The city's device receives the click as a structured answer, then
    // her request to erase, both end to end.
    let got = messages(&city.sync().await.unwrap());
    assert!(
        got.iter().any(|m| m.structured.as_deref()
            == Some(&Structured::Answer {
                to: card.seq,
                choice: Some("tue-1430".into()),
                values: Default::default(),
            })),
        "{got:?}"
    );
    assert!(
        got.iter().any(|m| m.sender == "alice"
            && m.structured.as_deref() == Some(&Structured::Request(FollowerRequest::Erasure))),
        "{got:?}"
    );
    city.close().await;
    // She follows nobody now.
    let mut alice = kizuna_client::Client::open(&node.home("alice"))
        .await
        .unwrap();
    assert!(alice.follows().await.unwrap().is_empty());
    alice.close().await;
}

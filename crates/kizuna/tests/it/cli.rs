//! The command line as an operator meets it: listeners that fail say which
//! and why once, a node started with only `--listen` finds its own staff
//! port, `config check` refuses what `serve` would, and a region move
//! counts what it did.

use crate::harness::*;

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[tokio::test]
async fn a_listener_that_cannot_bind_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let out = run(args(&[
        "serve",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        &free_port().to_string(),
        "--staff-listen",
        &taken_addr,
    ]))
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("staff API"), "{err}");
    assert!(err.contains(&taken_addr), "{err}");
    let cause = "in use";
    assert_eq!(err.matches(cause).count(), 1, "{err}");
}

#[tokio::test]
async fn nodes_started_with_only_listen_do_not_share_a_staff_port() {
    // Two ports each with a free neighbour.
    let pick = || loop {
        let p = free_port();
        let next = std::net::SocketAddr::from(([127, 0, 0, 1], p.port() + 1));
        if std::net::TcpListener::bind(next).is_ok() {
            return (p, next);
        }
    };
    let (a, a_staff) = pick();
    let (b, b_staff) = loop {
        let (b, s) = pick();
        if b != a && b != a_staff && s != a {
            break (b, s);
        }
    };
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let start = |dir: &std::path::Path, listen: std::net::SocketAddr| {
        KillOnDrop(
            std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
                .args(["serve", "--data-dir"])
                .arg(dir)
                .args(["--listen", &listen.to_string()])
                .env("KIZUNA_LOG", "error")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _first = start(dirs.0.path(), a);
    let _second = start(dirs.1.path(), b);
    for (user, staff) in [(a, a_staff), (b, b_staff)] {
        assert!(wait_until_up(&format!("http://{user}/v1/ledger/head")).await);
        // The staff listener is there, beside the user API, and answers
        // as the staff API does.
        let r = reqwest::get(format!("http://{staff}/staff/v1/me"))
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "staff API beside {user}");
    }
}

#[tokio::test]
async fn config_check_refuses_a_policy_serve_would_refuse() {
    let conf = tempfile::tempdir().unwrap();
    let toml = conf.path().join("kizuna.toml");
    let out = run(args(&["config", "default"])).await;
    std::fs::write(&toml, &out.stdout).unwrap();
    let toml = toml.to_str().unwrap().to_string();
    // A valid configuration with the shipped policy passes, also against a
    // data directory.
    let data = tempfile::tempdir().unwrap();
    let ok = run(args(&[
        "config",
        "check",
        "--config",
        &toml,
        "--data-dir",
        data.path().to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(summary["valid"], true);

    // A broken policy beside it: `serve` refuses to start, and so does
    // `config check`, for the same reason.
    std::fs::write(conf.path().join("policy.cedar"), "permit(principal, action").unwrap();
    let check = run(args(&["config", "check", "--config", &toml])).await;
    assert!(!check.status.success());
    let serve = run(args(&[
        "serve",
        "--config",
        &toml,
        "--data-dir",
        data.path().to_str().unwrap(),
        "--listen",
        &free_port().to_string(),
        "--staff-listen",
        &free_port().to_string(),
    ]))
    .await;
    assert!(!serve.status.success());
    let (check_err, serve_err) = (text(&check.stderr), text(&serve.stderr));
    assert!(check_err.contains("policy"), "{check_err}");
    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_eq!(first(&check_err), first(&serve_err));
}

#[tokio::test]
async fn a_region_move_counts_those_it_moved() {
    let mut node = Node::start().await;
    node.person("alice", "jp").await;
    node.person("bob", "jp").await;
    node.stop().await;
    let dir = node.data_dir().to_str().unwrap().to_string();
    let all = run(args(&[
        "admin",
        "move-region",
        "--data-dir",
        &dir,
        "--all-from",
        "jp",
        "--to",
        "kr",
    ]))
    .await;
    assert!(all.status.success(), "{}", text(&all.stderr));
    assert!(
        text(&all.stdout).contains("moved 2 people to region kr"),
        "{}",
        text(&all.stdout)
    );
    let again = run(args(&[
        "admin",
        "move-region",
        "--data-dir",
        &dir,
        "--subject",
        "alice",
        "--to",
        "kr",
    ]))
    .await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("moved 0 people to region kr; 1 person already lived there"),
        "{}",
        text(&again.stdout)
    );
}

/// Every leaf command under `path`, by walking `--help`.
fn commands(path: Vec<String>) -> Vec<Vec<String>> {
    let mut help_args = path.clone();
    help_args.push("--help".into());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(&help_args)
        .output()
        .unwrap();
    let help = text(&out.stdout);
    let subs: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .map(|rest| {
            rest.split("\n\n")
                .next()
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let name = l.split_whitespace().next()?;
                    (l.starts_with("  ") && !l.starts_with("   ") && name != "help")
                        .then(|| name.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    if subs.is_empty() {
        return vec![path];
    }
    subs.into_iter()
        .flat_map(|s| {
            let mut p = path.clone();
            p.push(s);
            commands(p)
        })
        .collect()
}

#[tokio::test]
async fn every_command_speaks_json_and_fails_in_json() {
    let all = tokio::task::spawn_blocking(|| commands(Vec::new()))
        .await
        .unwrap();
    assert!(all.len() > 30, "{all:?}");
    for cmd in &all {
        let mut a = cmd.clone();
        a.push("--help".into());
        let help = text(&run(a).await.stdout);
        assert!(
            help.contains("--json"),
            "`kizuna {}` has no --json",
            cmd.join(" ")
        );
    }
    let top = text(&run(args(&["--help"])).await.stdout);
    assert!(top.contains("6 the transparency"), "{top}");

    // A failure on this side: JSON on standard output, the exit code kept.
    let empty = tempfile::tempdir().unwrap();
    let out = run(args(&[
        "chats",
        "--home",
        empty.path().to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(3));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("register"));
    assert!(e["error"]["code"].is_string());

    // A command line that cannot be parsed.
    let out = run(args(&["send", "--json"])).await;
    assert_eq!(out.status.code(), Some(2));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "usage");

    // The server's refusal keeps the server's code.
    let node = Node::start().await;
    node.person("alice", "jp").await;
    let out = run(args(&[
        "lookup",
        "--home",
        node.home("alice").to_str().unwrap(),
        "--phone",
        "not a phone",
        "--json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(4));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "invalid_phone", "{e}");
}

/// Runs the binary with environment variables of its own.
async fn run_with(args: Vec<String>, env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args(&args)
            .envs(env)
            .env("KIZUNA_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// The README's staff walkthrough, command by command (with `--json` to
/// read what each printed, and the ports and homes of a test).
#[tokio::test]
async fn the_readme_staff_walkthrough_works_as_written() {
    let data = tempfile::tempdir().unwrap();
    let homes = tempfile::tempdir().unwrap();
    let home = |name: &str| homes.path().join(name).to_str().unwrap().to_string();
    let d = data.path().to_str().unwrap().to_string();

    let root = json_of(
        &run(args(&[
            "staff",
            "--json",
            "bootstrap",
            "--data-dir",
            &d,
            "--staff-id",
            "root",
        ]))
        .await,
    );
    let (listen, staff) = (free_port(), free_port());
    let _node = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args(["serve", "--data-dir", &d, "--listen", &listen.to_string()])
            .args(["--staff-listen", &staff.to_string()])
            .env("KIZUNA_LOG", "error")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{listen}");
    let staff_url = format!("http://{staff}");
    assert!(wait_until_up(&format!("{url}/v1/ledger/head")).await);
    let register = |code: Option<&str>| {
        let mut a = args(&[
            "register",
            "--home",
            &home("alice"),
            "--server",
            &url,
            "--handle",
            "alice",
            "--name",
            "Alice Sato",
            "--phone",
            "+819012345678",
            "--email",
            "a@example.jp",
            "--region",
            "jp",
            "--agree",
            "--json",
        ]);
        a.extend(code.map(|c| format!("--phone-code={c}")));
        run(a)
    };
    // Without a code, one is sent to the phone and nothing is created.
    let out = register(None).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let sent: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(sent["phone_code_sent_to"], "+819012345678");
    let code =
        kizuna_server::PhoneOutbox::latest_code(&data.path().join("phone-outbox"), "+819012345678")
            .unwrap();
    json_of(&register(Some(&code)).await);

    let login = |who: &str, creds: &serde_json::Value| {
        let password = creds["password"].as_str().unwrap().to_string();
        let code = kizuna_staff::totp_now(creds["totp_secret"].as_str().unwrap()).unwrap();
        run_with(
            args(&[
                "staff",
                "--json",
                "login",
                "--staff-home",
                &home(who),
                "--server",
                &staff_url,
                "--staff-id",
                creds["staff_id"].as_str().unwrap(),
                "--totp",
                &code,
            ]),
            vec![("KIZUNA_STAFF_PASSWORD", password)],
        )
    };
    json_of(&login("root", &root).await);
    // The staff session is a key to the staff realm: its home is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home("root"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let staff_cmd = |who: &str, rest: &[&str]| {
        let mut a = args(&["staff", "--json", "--staff-home", &home(who)]);
        a.extend(rest.iter().map(|s| s.to_string()));
        run(a)
    };
    let sup = json_of(
        &staff_cmd(
            "root",
            &[
                "add",
                "--staff-id",
                "sup",
                "--org",
                "operator",
                "--roles",
                "support",
            ],
        )
        .await,
    );
    // The same id twice: refused as a conflict, in JSON, with exit 4.
    let again = staff_cmd(
        "root",
        &[
            "add",
            "--staff-id",
            "sup",
            "--org",
            "operator",
            "--roles",
            "support",
        ],
    )
    .await;
    assert_eq!(again.status.code(), Some(4));
    let e: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(e["error"]["code"], "already_exists", "{e}");
    let lead = json_of(
        &staff_cmd(
            "root",
            &[
                "add",
                "--staff-id",
                "lead",
                "--org",
                "operator",
                "--roles",
                "approver",
            ],
        )
        .await,
    );
    json_of(
        &staff_cmd(
            "root",
            &[
                "org",
                "add",
                "--id",
                "acme",
                "--kind",
                "contractor",
                "--country",
                "CN",
                "--network",
                "10.0.0.0/8",
                "--regions",
                "jp",
                "--purposes",
                "CUSTOMER_SUPPORT",
                "--fields",
                "phone",
            ],
        )
        .await,
    );

    json_of(&login("sup", &sup).await);
    let grant = json_of(
        &staff_cmd(
            "sup",
            &[
                "request",
                "--subject",
                "alice",
                "--fields",
                "phone",
                "--purpose",
                "CUSTOMER_SUPPORT",
                "--ticket",
                "T-123",
                "--for",
                "2h",
                "--reason",
                "locked out",
            ],
        )
        .await,
    );
    let grant = grant["grant_id"].as_str().unwrap().to_string();
    json_of(&login("lead", &lead).await);
    json_of(&staff_cmd("lead", &["approve", &grant]).await);

    // Before alice agrees, nothing is readable.
    let early = staff_cmd("sup", &["read", "--subject", "alice"]).await;
    assert!(!early.status.success());
    let waiting = json_of(
        &run(args(&[
            "me",
            "requests",
            "--home",
            &home("alice"),
            "--json",
        ]))
        .await,
    );
    assert!(waiting.to_string().contains(&grant), "{waiting}");
    json_of(
        &run(args(&[
            "me",
            "agree",
            "--home",
            &home("alice"),
            &grant,
            "--json",
        ]))
        .await,
    );
    let read = json_of(&staff_cmd("sup", &["read", "--subject", "alice"]).await);
    assert_eq!(read["phone"], "+819012345678");
    assert!(read["name"].is_null(), "{read}");

    // Logging out ends the session on the node: a copy of the token taken
    // before is refused, and the kept session is gone from this machine.
    let kept =
        std::fs::read_to_string(std::path::Path::new(&home("sup")).join("staff-session.json"))
            .unwrap();
    let token = serde_json::from_str::<serde_json::Value>(&kept).unwrap()["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = json_of(&staff_cmd("sup", &["logout"]).await);
    assert_eq!(out["staff_id"], "sup", "{out}");
    let r = reqwest::Client::new()
        .get(format!("{staff_url}/staff/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let again = staff_cmd("sup", &["whoami"]).await;
    assert!(!again.status.success());
    let e: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kizuna staff login"),
        "{e}"
    );
}

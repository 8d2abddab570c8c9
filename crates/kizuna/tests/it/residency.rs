//! Personal data stays at home: sealed per person in the home region's store,
//! unreadable from copied database files, reached across a border only by a
//! configured rule (and recorded), shown to the person as a data map derived
//! from the same configuration, erased by destroying the person's key, moved
//! between regions and re-keyed by the operator.

use kizuna_config::{Regions, DEFAULT_TOML};
use kizuna_server::admin::Admin;
use kizuna_wire::ErrorCode;

use crate::harness::*;

const NAME: &str = "Alice Canary-Sato";
const EMAIL: &str = "alice.canary@example.jp";

async fn alice(node: &Node, region: &str) -> kizuna_client::Client {
    kizuna_client::Client::register(
        &node.home("alice"),
        &node.url,
        kizuna_client::RegisterOptions {
            handle: "alice",
            name: NAME,
            phone: "+819011112222",
            phone_code: &node.phone_code("+819011112222", region).await,
            email: Some(EMAIL),
            region,
            device_label: "test",
            agreed_disclosures: Some(&node.agreed(region).await),
        },
    )
    .await
    .unwrap()
}

/// Rows of `sql` (one text column) in a region's SQLite file.
async fn region_rows(node: &Node, region: &str, sql: &str) -> Vec<String> {
    let path = node.data_dir().join(format!("regions/{region}.sqlite"));
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

fn assert_no_personal_field_in(dir: &std::path::Path) {
    let fields: [&[u8]; 6] = [
        NAME.as_bytes(),
        EMAIL.as_bytes(),
        b"+819011112222",
        b"819011112222",
        b"Bob Canary-Kim",
        b"+821033334444",
    ];
    for f in files(dir) {
        let bytes = std::fs::read(&f).unwrap();
        for field in fields {
            assert!(
                !contains(&bytes, field),
                "{} found in {}",
                String::from_utf8_lossy(field),
                f.display()
            );
        }
    }
}

#[tokio::test]
async fn personal_data_is_sealed_in_the_home_region_only() {
    let node = Node::start().await;
    let mut a = alice(&node, "jp").await;
    let mut b = kizuna_client::Client::register(
        &node.home("bob"),
        &node.url,
        kizuna_client::RegisterOptions {
            handle: "bob",
            name: "Bob Canary-Kim",
            phone: "+821033334444",
            phone_code: &node.phone_code("+821033334444", "kr").await,
            email: None,
            region: "kr",
            device_label: "test",
            agreed_disclosures: Some(&node.agreed("kr").await),
        },
    )
    .await
    .unwrap();
    a.set_contacts(&kizuna_wire::Contacts {
        handles: vec!["bob".into()],
    })
    .await
    .unwrap();
    let chat = a.create_chat(&["bob".into()], None).await.unwrap();
    a.send(&chat, "hello").await.unwrap();
    b.sync().await.unwrap();
    assert_eq!(a.me().await.unwrap().name, NAME);
    assert_eq!(
        b.lookup_phone("+81 90-1111-2222").await.unwrap().as_deref(),
        Some("alice")
    );

    assert_no_personal_field_in(node.data_dir());
    let (alice_id, bob_id) = (
        a.identity().account_id.clone(),
        b.identity().account_id.clone(),
    );
    let in_jp = region_rows(&node, "jp", "SELECT DISTINCT subject_id FROM records").await;
    let in_kr = region_rows(&node, "kr", "SELECT DISTINCT subject_id FROM records").await;
    assert_eq!(in_jp, vec![alice_id.clone()]);
    assert_eq!(in_kr, vec![bob_id]);
    let categories = region_rows(
        &node,
        "jp",
        "SELECT category FROM records ORDER BY category",
    )
    .await;
    assert_eq!(categories, vec!["consent", "contacts", "profile"]);
    assert_eq!(a.contacts().await.unwrap().handles, vec!["bob"]);
}

#[tokio::test]
async fn copied_database_files_without_the_key_files_reveal_nothing() {
    let mut node = Node::start().await;
    let a = alice(&node, "jp").await;
    node.stop().await;
    // Everything but the key files, as a database administrator would copy.
    let copy = tempfile::tempdir().unwrap();
    for f in files(node.data_dir()) {
        let rel = f.strip_prefix(node.data_dir()).unwrap();
        if rel.starts_with("keys") {
            continue;
        }
        let to = copy.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, to).unwrap();
    }
    assert_no_personal_field_in(copy.path());
    // A node on the copy refuses to start rather than make new keys.
    let config = kizuna_server::ServerConfig::new(copy.path(), "127.0.0.1:0".parse().unwrap());
    let err = kizuna_server::RunningServer::start(config.clone())
        .await
        .err()
        .expect("a region with data and no key must not open");
    assert!(err.to_string().contains("key file"), "{err}");
    // With another node's keys, nothing opens.
    let other = Node::start().await;
    std::fs::create_dir_all(copy.path().join("keys")).unwrap();
    for k in ["region-jp.key", "region-kr.key"] {
        std::fs::copy(
            other.data_dir().join("keys").join(k),
            copy.path().join("keys").join(k),
        )
        .unwrap();
    }
    let vault = kizuna_server::open_vault(
        &kizuna_config::DataDir::new(copy.path()),
        Regions::embedded(),
    )
    .await
    .unwrap();
    let who = kizuna_vault::Requester::Operator {
        command: "test".into(),
    };
    let e = vault
        .profile(&a.identity().account_id, "jp", &who)
        .await
        .unwrap_err();
    assert!(
        matches!(e, kizuna_vault::VaultError::Unsealable { .. }),
        "{e}"
    );
    vault.close().await;
}

/// The default configuration with one more country allowed to reach `kr`.
fn with_us_access() -> String {
    format!(
        "{DEFAULT_TOML}\n[regions.kr.access_from.US]\nwhy = \"Support desk\"\ncountry_name = \"United States\"\n\
         protection_system = \"Sectoral laws\"\nrecipient_measures = \"Grants only\"\ntransfer_basis = \"Consent\"\n"
    )
}

/// The default configuration with `kr` closed to access from Japan.
fn without_jp_access_to_kr() -> String {
    let start = DEFAULT_TOML.find("[regions.kr.access_from.JP]").unwrap();
    DEFAULT_TOML[..start].to_string()
}

#[tokio::test]
async fn the_data_map_follows_the_configuration_and_its_transfers() {
    let mut node = Node::with_regions(&with_us_access()).await;
    let mut bob = node.person("bob", "kr").await;
    let countries = |m: &kizuna_wire::DataMap| -> Vec<String> {
        let profile = m
            .categories
            .iter()
            .find(|c| c.category == "profile")
            .unwrap();
        assert_eq!(
            (profile.region.as_str(), profile.country.as_str()),
            ("kr", "KR")
        );
        profile
            .accessible_from
            .iter()
            .map(|a| a.country.clone())
            .collect()
    };
    let map = bob.data_map().await.unwrap();
    assert_eq!(countries(&map), vec!["JP", "KR", "US"]);
    let us = map.categories[0]
        .accessible_from
        .iter()
        .find(|a| a.country == "US")
        .unwrap();
    assert_eq!(
        us.disclosure.as_ref().unwrap().country_name,
        "United States"
    );
    // The node runs in Japan: registering and reading Bob's Korean data
    // crossed a border, by the rule that allows it, and is recorded.
    let t = &map.transfers;
    assert!(t
        .iter()
        .any(|t| t.action == "write" && t.allowed && t.to_country == "JP"));
    assert!(t
        .iter()
        .all(|t| t.allowed && t.basis.as_deref().unwrap().contains("PIPA")));

    node.restart_with(Some(DEFAULT_TOML)).await;
    assert_eq!(countries(&bob.data_map().await.unwrap()), vec!["JP", "KR"]);

    // Without a rule, the read is refused with its reason, and recorded.
    node.restart_with(Some(&without_jp_access_to_kr())).await;
    let e = bob.me().await.unwrap_err();
    assert_eq!(e.api_code(), Some(ErrorCode::RegionAccessDenied), "{e}");
    node.restart_with(Some(DEFAULT_TOML)).await;
    let map = bob.data_map().await.unwrap();
    let refused: Vec<_> = map.transfers.iter().filter(|t| !t.allowed).collect();
    assert_eq!(refused.len(), 1, "{:?}", map.transfers);
    assert!(refused[0]
        .refusal
        .as_deref()
        .unwrap()
        .contains("does not allow access from JP"));
    // A person at home crosses no border.
    let mut a = alice(&node, "jp").await;
    a.me().await.unwrap();
    assert!(a.data_map().await.unwrap().transfers.is_empty());
}

#[tokio::test]
async fn erasing_an_account_destroys_its_key() {
    let node = Node::start().await;
    let mut a = alice(&node, "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = a.create_chat(&["bob".into()], None).await.unwrap();
    a.send(&chat, "before I go").await.unwrap();
    let id = a.identity().account_id.clone();
    let wrapped = region_rows(
        &node,
        "jp",
        "SELECT hex(wrapped_key) FROM subjects ORDER BY created_at LIMIT 1",
    )
    .await;
    let wrapped = hex_decode(&wrapped[0]);

    // A copy an interrupted move left in another region must go too.
    let mut node = node;
    let addr = node.stop().await;
    let vault = kizuna_server::open_vault(&node.files(), Regions::embedded())
        .await
        .unwrap();
    let who = kizuna_vault::Requester::Operator {
        command: "test".into(),
    };
    vault.copy_subject(&id, "jp", "kr", &who).await.unwrap();
    vault.close().await;
    node.start_again(addr).await;
    assert_eq!(
        region_rows(&node, "kr", "SELECT subject_id FROM subjects").await,
        vec![id.clone()]
    );

    let export = a.export().await.unwrap();
    assert_eq!(
        (export.name.as_str(), export.email.as_deref()),
        (NAME, Some(EMAIL))
    );
    let erased = a.erase_account().await.unwrap();
    assert_eq!(
        (erased.account_id.as_str(), erased.region.as_str()),
        (id.as_str(), "jp")
    );

    assert!(a.me().await.is_err());
    assert!(
        region_rows(&node, "jp", "SELECT subject_id FROM subjects")
            .await
            .len()
            == 1
    );
    assert!(region_rows(&node, "kr", "SELECT subject_id FROM subjects")
        .await
        .is_empty());
    for f in files(node.data_dir()) {
        assert!(
            !contains(&std::fs::read(&f).unwrap(), &wrapped),
            "the erased data key is still in {}",
            f.display()
        );
    }
    assert!(node.data_dir().join("keys/region-jp.key").exists());
    // Bob keeps what he received.
    bob.sync().await.unwrap();
    assert_eq!(
        texts_of(&bob.history(&chat).await.unwrap()),
        vec!["before I go"]
    );
    assert_eq!(
        bob.account("alice").await.unwrap_err().api_code(),
        Some(ErrorCode::UnknownAccount)
    );
}

fn texts_of(m: &[kizuna_client::StoredMessage]) -> Vec<String> {
    m.iter().map(|m| m.text.clone()).collect()
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Quiet;
impl kizuna_vault::Progress for Quiet {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

#[tokio::test]
async fn the_operator_moves_people_between_regions_and_rotates_keys() {
    let mut node = Node::start().await;
    let mut a = alice(&node, "jp").await;
    node.person("carol", "jp").await;
    let addr = node.stop().await;

    let admin = Admin::open(node.data_dir(), node.regions.clone())
        .await
        .unwrap();
    // One process at a time on a data directory.
    let mut config = kizuna_server::ServerConfig::new(node.data_dir(), addr);
    config.regions = node.regions.clone();
    let e = kizuna_server::RunningServer::start(config)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("another kizuna process"), "{e}");
    let moved = admin.move_subject("alice", "kr").await.unwrap();
    assert_eq!((moved.from.as_str(), moved.to.as_str()), ("jp", "kr"));
    // Running it again changes nothing.
    let again = admin.move_subject("alice", "kr").await.unwrap();
    assert_eq!((again.from.as_str(), again.cleaned.len()), ("kr", 0));
    let rotation = admin.rotate_key("kr", &Quiet).await.unwrap();
    assert_eq!((rotation.new_version, rotation.rewrapped), (2, 1));
    assert_eq!(rotation.retired_versions, vec![1]);
    let all = admin.move_all("jp", "kr", &Quiet).await.unwrap();
    assert_eq!(all.len(), 1);
    admin.close().await;
    let key_file = std::fs::read_to_string(node.data_dir().join("keys/region-kr.key")).unwrap();
    assert!(
        key_file.contains("\nv2 ") && !key_file.contains("\nv1 "),
        "{key_file}"
    );

    node.start_again(addr).await;
    let me = a.me().await.unwrap();
    assert_eq!((me.name.as_str(), me.region.as_str()), (NAME, "kr"));
    assert!(region_rows(&node, "jp", "SELECT subject_id FROM subjects")
        .await
        .is_empty());
    let map = a.data_map().await.unwrap();
    assert_eq!(map.home_region, "kr");
    assert!(map
        .transfers
        .iter()
        .any(|t| t.action == "move" && t.region == "kr"));
    assert_no_personal_field_in(node.data_dir());
}

async fn sql(path: &std::path::Path, statements: &[&str]) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for s in statements {
        sqlx::query(s).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn a_node_refuses_a_configuration_that_drops_a_region_people_live_in() {
    let mut node = Node::start().await;
    node.person("bob", "kr").await;
    let addr = node.stop().await;
    let jp_only = &DEFAULT_TOML[..DEFAULT_TOML.find("[regions.kr]").unwrap()];
    let mut config = kizuna_server::ServerConfig::new(node.data_dir(), addr);
    config.regions = Regions::parse(jp_only, "jp-only.toml").unwrap();
    let e = kizuna_server::RunningServer::start(config)
        .await
        .err()
        .expect("people of kr would be stranded");
    assert!(
        e.to_string().contains("region 'kr'") && e.to_string().contains("jp-only.toml"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unfinished_registration_does_not_hold_its_phone_number() {
    let mut node = Node::start().await;
    let addr = node.stop().await;
    // Sealed data whose account was never created, as a crash between the
    // two steps of a registration leaves it.
    let vault = kizuna_server::open_vault(&node.files(), Regions::embedded())
        .await
        .unwrap();
    let profile = kizuna_vault::Profile {
        name: "Ghost".into(),
        phone: "+819011112222".into(),
        email: None,
    };
    let who = kizuna_vault::Requester::Operator {
        command: "test".into(),
    };
    vault.register("ghost", "jp", &profile, &who).await.unwrap();
    vault.close().await;
    let jp = node.data_dir().join("regions/jp.sqlite");
    node.start_again(addr).await;
    // While a registration could still be finishing, the number is taken.
    let e = kizuna_client::Client::register(
        &node.home("early"),
        &node.url,
        kizuna_client::RegisterOptions {
            handle: "early",
            name: "Early",
            phone: "+819011112222",
            phone_code: &node.phone_code("+819011112222", "kr").await,
            email: None,
            region: "kr",
            device_label: "test",
            agreed_disclosures: Some(&node.agreed("kr").await),
        },
    )
    .await
    .err()
    .unwrap();
    assert_eq!(e.api_code(), Some(ErrorCode::PhoneTaken));
    sql(&jp, &["UPDATE subjects SET created_at = 0"]).await;
    let mut a = alice(&node, "jp").await;
    assert_eq!(a.me().await.unwrap().name, NAME);
    let left = region_rows(&node, "jp", "SELECT subject_id FROM subjects").await;
    assert_eq!(left, vec![a.identity().account_id.clone()]);
}

#[tokio::test]
async fn profiles_an_earlier_version_kept_in_the_node_store_move_to_their_region() {
    let mut node = Node::start().await;
    let mut a = alice(&node, "jp").await;
    let id = a.identity().account_id.clone();
    let mut bob = node.person("bob", "jp").await;
    let bob_id = bob.identity().account_id.clone();
    let addr = node.stop().await;
    // The layout before regions: a plain profile row in the node store.
    sql(
        &node.data_dir().join("regions/jp.sqlite"),
        &[
            "DELETE FROM subjects",
            "DELETE FROM records",
            "DELETE FROM phone_index",
            "DELETE FROM access_records",
        ],
    )
    .await;
    let legacy = format!(
        "INSERT INTO profiles (account_id, sealed) VALUES ('{id}', \
         CAST('{{\"name\":\"Alice Legacy\",\"phone\":\"+819011112222\",\"email\":null}}' AS BLOB))"
    );
    // One that today's rules refuse (not an international number): it stays
    // behind, named in the log, and does not stop the others or the node.
    let bad = format!(
        "INSERT INTO profiles (account_id, sealed) VALUES ('{bob_id}', \
         CAST('{{\"name\":\"Bob\",\"phone\":\"090\",\"email\":null}}' AS BLOB))"
    );
    sql(&node.files().node_store(), &[&legacy, &bad]).await;
    node.start_again(addr).await;
    assert_eq!(a.me().await.unwrap().name, "Alice Legacy");
    assert_eq!(
        bob.me().await.unwrap_err().api_code(),
        Some(ErrorCode::UnknownAccount)
    );
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", node.files().node_store().display()))
            .await
            .unwrap();
    let left: Vec<String> = sqlx::query_scalar("SELECT account_id FROM profiles")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, vec![bob_id]);
    pool.close().await;
    assert_eq!(
        region_rows(&node, "jp", "SELECT subject_id FROM subjects").await,
        vec![id]
    );
    node.stop().await;
    for f in files(node.data_dir()) {
        assert!(
            !contains(&std::fs::read(&f).unwrap(), b"Alice Legacy"),
            "the old plaintext profile is still in {}",
            f.display()
        );
    }
}

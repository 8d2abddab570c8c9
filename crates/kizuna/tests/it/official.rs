//! Official accounts as an organisation, the operator's staff and a
//! resident use them, by command: the city applies with a claim its device
//! signs, two of the operator's people verify it (one alone cannot), the
//! resident's device checks the badge in the key log, a revocation shows
//! at the next look, and a badge altered on the node's disk is refused.

use kizuna_wire::staff::Role;

use crate::harness::*;
use crate::staff::{member, staffed};

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_city_is_verified_by_two_people_and_its_badge_is_checked_on_the_device() {
    let mut node = Node::start().await;
    let (admin, _) = staffed(&mut node).await;
    let city = node.person("city.shibuya", "jp").await;
    city.close().await;
    let alice = node.person("alice", "jp").await;
    alice.close().await;
    let homes = node.home("").to_path_buf();
    let home = |who: &str| homes.join(who).display().to_string();
    let show = |who: &str| {
        args(&[
            "official",
            "show",
            "city.shibuya",
            "--json",
            "--home",
            &home(who),
        ])
    };

    // The city applies from its own device.
    let mut apply = args(&[
        "official",
        "apply",
        "--home",
        &home("city.shibuya"),
        "--json",
    ]);
    apply.extend(args(&[
        "--organisation",
        "Shibuya City",
        "--kind",
        "municipality",
        "--country",
        "jp",
        "--area",
        "Shibuya, Tokyo",
        "--keeps-data",
        "the city's own servers in its Tokyo data centre",
        "--keeps-data-country",
        "JP",
        "--contact",
        "privacy@city.shibuya.example.jp",
    ]));
    let app = json_of(&run(apply.clone()).await);
    let id = app["application_id"].as_str().unwrap().to_string();
    assert_eq!(app["state"], "submitted");
    // One application waits at a time; a made-up kind is a usage error.
    assert_eq!(run(apply.clone()).await.status.code(), Some(4));
    let mut bad = apply.clone();
    let k = bad.iter().position(|a| a == "municipality").unwrap();
    bad[k] = "embassy".into();
    assert_eq!(run(bad).await.status.code(), Some(2));

    let standing = json_of(&run(show("alice")).await);
    assert!(standing["official"].is_null(), "{standing}");

    // Two of the operator's people: the one who checked the evidence
    // cannot approve it too.
    member(
        &node,
        &admin,
        "both",
        "operator",
        vec![Role::Support, Role::Approver],
    )
    .await;
    member(&node, &admin, "apr", "operator", vec![Role::Approver]).await;
    let staff = |who: &str, parts: &[&str]| {
        let mut v = args(&[
            "staff",
            "--json",
            "--staff-home",
            &home(&format!("staff-{who}")),
            "official",
        ]);
        v.extend(args(parts));
        v
    };
    let proposed = json_of(
        &run(staff(
            "both",
            &[
                "propose",
                &id,
                "--evidence",
                "registry extract 2026-114; called the number the city publishes",
                "--ticket",
                "OA-1",
            ],
        ))
        .await,
    );
    assert_eq!(proposed["application"]["state"], "proposed");
    let alone = run(staff("both", &["approve", &id])).await;
    assert_eq!(alone.status.code(), Some(4), "{alone:?}");
    assert!(
        String::from_utf8_lossy(&alone.stdout).contains("a second person"),
        "{alone:?}"
    );
    let verified = json_of(&run(staff("apr", &["approve", &id])).await);
    assert_eq!(verified["application"]["state"], "verified");
    let entry = verified["application"]["key_entry"].as_u64().unwrap();

    // The resident's device checks the badge itself.
    let standing = json_of(&run(show("alice")).await);
    assert_eq!(
        standing["official"]["claim"]["organisation"], "Shibuya City",
        "{standing}"
    );
    assert_eq!(standing["official"]["index"], entry);
    let text = run(args(&[
        "official",
        "show",
        "city.shibuya",
        "--home",
        &home("alice"),
    ]))
    .await;
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(said.contains("OFFICIAL ACCOUNT of Shibuya City"), "{said}");
    assert!(said.contains("its Tokyo data centre"), "{said}");
    let status = json_of(
        &run(args(&[
            "official",
            "status",
            "--json",
            "--home",
            &home("city.shibuya"),
        ]))
        .await,
    );
    assert_eq!(status[0]["state"], "verified");

    // Revoked: the very next look shows it, with the reason.
    json_of(
        &run(staff(
            "apr",
            &["revoke", "city.shibuya", "--reason", "the city asked us to"],
        ))
        .await,
    );
    let standing = json_of(&run(show("alice")).await);
    assert!(standing["official"].is_null(), "{standing}");
    assert_eq!(standing["revoked"]["reason"], "the city asked us to");

    // Verified again, then someone with the node's disk changes what the
    // badge says: the device refuses it, loudly.
    let again = json_of(&run(apply).await);
    let id = again["application_id"].as_str().unwrap().to_string();
    json_of(
        &run(staff(
            "both",
            &[
                "propose",
                &id,
                "--evidence",
                "re-checked",
                "--ticket",
                "OA-2",
            ],
        ))
        .await,
    );
    json_of(&run(staff("apr", &["approve", &id])).await);
    json_of(&run(show("alice")).await);
    let addr = node.stop().await;
    let altered = run_sql(
        &node.data_dir().join("node.sqlite"),
        "UPDATE key_log SET entry = CAST(replace(CAST(entry AS TEXT), 'Shibuya City', 'Minato City!') AS BLOB) \
         WHERE handle = 'city.shibuya' AND CAST(entry AS TEXT) LIKE '%\"verified\"%'",
    )
    .await;
    assert_eq!(altered, 2);
    node.start_again(addr).await;
    let out = run(show("alice")).await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
}

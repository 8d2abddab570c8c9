//! Announcements: a city's public notice, signed by its device, kept once
//! and read by every follower's devices — told at once when connected —
//! each checking the signature against the key log, so an announcement the
//! node altered or made up is refused loudly and never shown.

use std::time::Duration;

use kizuna_client::Event;
use kizuna_wire::{ErrorCode, Severity};

use crate::harness::*;

fn announcements(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Announcement(a) => Some(a.text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn followers_get_the_citys_signed_announcements_and_refuse_an_altered_one() {
    let mut node = Node::start().await;
    let mut city = crate::official::verified_city(&mut node).await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    alice.follow("city.shibuya").await.unwrap();
    carol.follow("city.shibuya").await.unwrap();

    // Only a verified official account announces.
    assert_eq!(
        code(alice.announce("I am the city", Severity::Emergency).await),
        Some(ErrorCode::Forbidden)
    );

    // A follower's connected device is told at once.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = kizuna_client::Client::open(&node.home("alice"))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = tokio::spawn(async move {
        watcher
            .watch(
                |e| {
                    let _ = tx.send(e.clone());
                },
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = city
        .announce(
            "Typhoon: evacuate the riverside by 18:00",
            Severity::Emergency,
        )
        .await
        .unwrap();
    let live = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Event::Announcement(a)) = rx.recv().await {
                return a;
            }
        }
    })
    .await
    .expect("the connected device was told at once");
    assert_eq!(live.text, "Typhoon: evacuate the riverside by 18:00");
    assert_eq!(live.organisation, "Shibuya City");
    assert_eq!(live.severity, Severity::Emergency);
    assert_eq!(live.pos, first.pos);
    let _ = stop.send(());
    watching.await.unwrap();

    // Read once; nothing for someone who does not follow.
    assert!(announcements(&alice.sync().await.unwrap()).is_empty());
    assert!(announcements(&bob.sync().await.unwrap()).is_empty());
    bob.close().await;

    // Someone with the node's disk alters the words of the next one before
    // carol's device reads it: refused, loudly, and not kept.
    city.announce("Water is safe to drink", Severity::Info)
        .await
        .unwrap();
    city.close().await;
    alice.close().await;
    carol.close().await;
    let addr = node.stop().await;
    let altered = run_sql(
        &node.data_dir().join("node.sqlite"),
        "UPDATE announcements SET body = CAST(replace(CAST(body AS TEXT), 'safe', 'unsafe') AS BLOB) \
         WHERE CAST(body AS TEXT) LIKE '%Water is safe%'",
    )
    .await;
    assert_eq!(altered, 1);
    node.start_again(addr).await;
    let out = run(args(&[
        "sync",
        "--home",
        &node.home("carol").display().to_string(),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Typhoon: evacuate"), "{said}");
    assert!(!said.contains("Water is"), "{said}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("altered or made it up"),
        "{out:?}"
    );
    let kept = run(args(&[
        "official",
        "announcements",
        "--json",
        "--home",
        &node.home("carol").display().to_string(),
    ]))
    .await;
    let kept: Vec<kizuna_client::ReceivedAnnouncement> =
        serde_json::from_slice(&kept.stdout).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].text, "Typhoon: evacuate the riverside by 18:00");

    // Whoever follows while the warning is in force gets it too, however
    // the clocks of the nodes that kept the follow and the warning differ,
    // and even when their device read past it already (announcements of
    // another account it follows, as if at position 1,000).
    node.person("dave", "jp").await.close().await;
    run_sql(
        &node.home("dave").join("device.sqlite"),
        "INSERT INTO meta (key, value) VALUES ('announcements_after', X'00000000000003E8')",
    )
    .await;
    let mut dave = kizuna_client::Client::open(&node.home("dave"))
        .await
        .unwrap();
    dave.follow("city.shibuya").await.unwrap();
    let got = dave.sync().await.unwrap();
    assert!(
        announcements(&got).contains(&"Typhoon: evacuate the riverside by 18:00".to_string()),
        "{got:?}"
    );
    dave.close().await;

    // Past its time the node deletes it, also after being down: kept with
    // a time nine days ago, it goes when the node starts.
    let addr = node.stop().await;
    let db = node.data_dir().join("node.sqlite");
    let nine_days = 9 * 24 * 3600 * 1000;
    assert_eq!(
        run_sql(
            &db,
            &format!("UPDATE announcements SET at = at - {nine_days}")
        )
        .await,
        2
    );
    node.start_again(addr).await;
    let mut left = u64::MAX;
    for _ in 0..100 {
        left = run_sql(&db, "UPDATE announcements SET at = at").await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "announcements past their time are kept");
    // A new follower is not given it: its signed time is still today's,
    // so only the node's deleting it keeps it from being shown.
    let mut erin = node.person("erin", "jp").await;
    erin.follow("city.shibuya").await.unwrap();
    assert!(announcements(&erin.sync().await.unwrap()).is_empty());
    erin.close().await;
}

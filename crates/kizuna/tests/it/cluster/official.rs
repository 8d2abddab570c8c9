//! An official account in a cluster: verified by two people through two
//! nodes, its announcement made through one node reaches a follower's
//! device connected to another at once, and one offline on a third at its
//! next sync.

use std::time::Duration;

use kizuna_client::Event;
use kizuna_wire::staff::{NewStaffMember, Role, VerificationProposal};
use kizuna_wire::Severity;

use super::harness::*;

#[tokio::test]
async fn an_announcement_made_through_one_node_reaches_followers_on_every_node() {
    let cluster = Cluster::start(3).await;
    let (_operator, root) = cluster.first_admin().await;
    let admin = cluster.staff_login(0, &root, 0).await.unwrap();
    let mut staff = Vec::new();
    for (id, role) in [("sup", Role::Support), ("apr", Role::Approver)] {
        let member = NewStaffMember {
            staff_id: id.into(),
            org_id: "operator".into(),
            roles: vec![role],
        };
        staff.push(admin.add_member(&member).await.unwrap());
    }
    let (sup, apr) = (&staff[0], &staff[1]);

    // The city applies through node 0; one person proposes through node 1,
    // another approves through node 2.
    let mut city = cluster.person("city.shibuya", "jp", 0).await;
    let app = city
        .apply_official(kizuna_client::OfficialDetails {
            organisation: "Shibuya City".into(),
            kind: kizuna_wire::OfficialKind::Municipality,
            country: "JP".into(),
            area: None,
            keeps_data: "the city's own servers in Tokyo".into(),
            keeps_data_country: "JP".into(),
            contact: "privacy@city.shibuya.example.jp".into(),
        })
        .await
        .unwrap();
    cluster
        .staff_login(1, sup, 0)
        .await
        .unwrap()
        .propose_official(
            &app.application_id,
            &VerificationProposal {
                evidence: "registry extract".into(),
                ticket: "OA-1".into(),
            },
        )
        .await
        .unwrap();
    cluster
        .staff_login(2, apr, 0)
        .await
        .unwrap()
        .approve_official(&app.application_id)
        .await
        .unwrap();

    // Alice follows through node 1 and stays connected there; carol
    // follows through node 2 and goes offline.
    let mut alice = cluster.person("alice", "jp", 1).await;
    let mut carol = cluster.person("carol", "jp", 2).await;
    alice.follow("city.shibuya").await.unwrap();
    carol.follow("city.shibuya").await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (up_tx, up_rx) = tokio::sync::oneshot::channel::<()>();
    let watching = tokio::spawn(async move {
        let mut up = Some(up_tx);
        alice
            .watch_connected(
                move |e| {
                    if let Event::Announcement(a) = e {
                        let _ = tx.send(a.text.clone());
                    }
                },
                move |connected| {
                    if let (true, Some(up)) = (connected, up.take()) {
                        let _ = up.send(());
                    }
                },
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
        alice
    });
    let _ = up_rx.await;

    let warning = "Typhoon: evacuate the riverside by 18:00";
    city.announce(warning, Severity::Emergency).await.unwrap();
    let live = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("made through node 0, it reaches a device on node 1 at once")
        .unwrap();
    assert_eq!(live, warning);
    let _ = stop.send(());
    watching.await.unwrap().close().await;

    let got = carol.sync().await.unwrap();
    let texts: Vec<&str> = got
        .iter()
        .filter_map(|e| match e {
            Event::Announcement(a) => Some(a.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, [warning], "carol on node 2 reads it at her sync");
    carol.close().await;
    city.close().await;
}

//! Sequencing: each batch of submissions takes its place in its groups'
//! total order in one write transaction, checked against the writer's view
//! of each group, with the acknowledgements that came with it.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::batch::BatchRows;
use super::groups::GroupState;
use super::{SqliteStore, WriterState, ROWS_PER_STATEMENT};
use crate::{Accepted, Ack, Franking, MessageKind, Rejection, Result, Submission};

/// A device's last accepted message, as `last_sends` keeps it.
#[derive(Clone, Debug)]
pub(crate) struct LastSend {
    pub(crate) client_id: Vec<u8>,
    pub(crate) group_seq: u64,
    pub(crate) server_time: u64,
    pub(crate) franking: Option<Franking>,
}

/// Devices' last sends kept in the writer's memory before it starts over
/// from disk.
const SEND_CACHE: usize = 1_000_000;

/// Groups kept in the writer's memory before it starts over from disk.
const GROUP_CACHE: usize = 200_000;

impl SqliteStore {
    pub(crate) async fn submit(
        &self,
        batch: Vec<Submission>,
        acks: Vec<Ack>,
    ) -> Result<Vec<Result<Accepted, Rejection>>> {
        let asked = std::time::Instant::now();
        let mut w = self.writer.lock().await;
        let locked = std::time::Instant::now();
        let mut tx = self.pool.begin().await?;
        let mut log_pos = match w.log_pos {
            Some(v) => v,
            None => {
                let v: i64 =
                    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'log_pos'")
                        .fetch_one(&mut *tx)
                        .await?;
                v as u64
            }
        };
        // Changes are made to copies and kept only once the transaction
        // committed, so a failed batch leaves the writer's view as it was.
        let mut touched: HashMap<Vec<u8>, GroupState> = HashMap::new();
        let mut out = Vec::with_capacity(batch.len());
        let mut rows = BatchRows::default();
        for s in batch {
            let r = Self::submit_one(&mut tx, &w, &mut touched, &mut log_pos, &mut rows, s).await?;
            out.push(r);
        }
        rows.write(&mut tx).await?;
        // One row per device, however many acknowledgements it sent. None
        // reaches past the last position handed out: a device can only
        // have stored what was delivered, and a cursor beyond the log would
        // hide every message still to come from it. Clamping (rather than
        // refusing) releases exactly what the device may have seen, and
        // serves the WebSocket's acknowledgements, which have no answer.
        let mut latest: HashMap<&str, u64> = HashMap::new();
        for a in &acks {
            let e = latest.entry(a.device_id.as_str()).or_insert(0);
            *e = (*e).max(a.up_to.min(log_pos));
        }
        let latest: Vec<(&str, u64)> = latest.into_iter().collect();
        for chunk in latest.chunks(ROWS_PER_STATEMENT) {
            Self::ack_in(&mut tx, chunk).await?;
        }
        for chunk in touched
            .iter()
            .collect::<Vec<_>>()
            .chunks(ROWS_PER_STATEMENT)
        {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO groups (group_id, epoch, next_seq, created_at) ");
            qb.push_values(chunk, |mut b, (gid, g)| {
                b.push_bind(gid.as_slice())
                    .push_bind(g.epoch as i64)
                    .push_bind(g.next_seq as i64)
                    .push_bind(0i64);
            });
            qb.push(" ON CONFLICT (group_id) DO UPDATE SET epoch = excluded.epoch, next_seq = excluded.next_seq");
            qb.build().execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE counters SET value = ? WHERE name = 'log_pos'")
            .bind(log_pos as i64)
            .execute(&mut *tx)
            .await?;
        self.wal_frames.clear();
        let committing = std::time::Instant::now();
        tx.commit().await?;
        let committed = committing.elapsed();
        let written = self.wal_frames.last();
        self.stats.group_commit(
            locked - asked,
            committing - locked,
            committed,
            written * self.frame_bytes,
        );
        if w.groups.len() + touched.len() > GROUP_CACHE {
            w.groups.clear();
        }
        w.groups.extend(touched);
        if w.last_sends.len() + rows.sends.len() > SEND_CACHE {
            w.last_sends.clear();
        }
        w.last_sends.extend(rows.sends);
        w.log_pos = Some(log_pos);
        w.acked
            .extend(latest.into_iter().map(|(d, _)| d.to_string()));
        Ok(out)
    }

    async fn submit_one(
        tx: &mut Transaction<'_, Sqlite>,
        writer: &WriterState,
        touched: &mut HashMap<Vec<u8>, GroupState>,
        log_pos: &mut u64,
        rows: &mut BatchRows,
        s: Submission,
    ) -> Result<Result<Accepted, Rejection>> {
        let group_id = match &s {
            Submission::Application { group_id, .. }
            | Submission::Commit { group_id, .. }
            | Submission::Proposal { group_id, .. } => group_id.clone(),
        };
        let known = &writer.groups;
        let mut g = match touched.get(&group_id).or_else(|| known.get(&group_id)) {
            Some(g) => g.clone(),
            None => match Self::load_group(tx, &group_id).await? {
                Some(g) => g,
                None => return Ok(Err(Rejection::UnknownGroup)),
            },
        };
        let current = g.epoch;
        let mut queued = Vec::new();
        let accepted = match s {
            Submission::Application {
                sender_device,
                epoch,
                payload,
                server_time,
                franking,
                client_id,
                ..
            } => {
                // A retry of the message already accepted is answered as it
                // was, whatever happened to the group since.
                if let Some(id) = &client_id {
                    if let Some(last) = Self::last_send(tx, writer, rows, &sender_device).await? {
                        if last.client_id == *id {
                            return Ok(Ok(Accepted {
                                group_seq: last.group_seq,
                                epoch: current,
                                server_time: last.server_time,
                                franking: last.franking,
                                queued: Vec::new(),
                            }));
                        }
                    }
                }
                let to = match g.others_at(&sender_device, epoch) {
                    Ok(to) => to,
                    Err(r) => return Ok(Err(r)),
                };
                let seq = g.next_seq;
                g.next_seq += 1;
                Self::enqueue(
                    rows,
                    log_pos,
                    &group_id,
                    seq,
                    MessageKind::Application,
                    true,
                    &sender_device,
                    server_time,
                    Arc::new(payload),
                    franking,
                    &to,
                    &mut queued,
                );
                if let Some(id) = client_id {
                    rows.sends.insert(
                        sender_device,
                        LastSend {
                            client_id: id,
                            group_seq: seq,
                            server_time,
                            franking,
                        },
                    );
                }
                Accepted {
                    group_seq: seq,
                    epoch: current,
                    server_time,
                    franking,
                    queued,
                }
            }
            Submission::Proposal {
                sender_device,
                epoch,
                proposal,
                server_time,
                state,
                by_node,
                ..
            } => {
                let (kind, to) = match &by_node {
                    None => match g.others_at(&sender_device, epoch) {
                        Ok(to) => (MessageKind::Proposal, to),
                        Err(r) => return Ok(Err(r)),
                    },
                    Some(n) => {
                        if epoch != current {
                            return Ok(Err(Rejection::StaleEpoch {
                                current,
                                sent: epoch,
                            }));
                        }
                        let to: Vec<String> = g
                            .members
                            .iter()
                            .filter(|d| !n.removes.contains(d))
                            .cloned()
                            .collect();
                        (n.kind, to)
                    }
                };
                let seq = g.next_seq;
                g.next_seq += 1;
                Self::enqueue(
                    rows,
                    log_pos,
                    &group_id,
                    seq,
                    kind,
                    true,
                    &sender_device,
                    server_time,
                    Arc::new(proposal),
                    None,
                    &to,
                    &mut queued,
                );
                Self::write_state(tx, &group_id, state).await?;
                // A revoked or erased device receives nothing more, from
                // the node's proposal on, whenever a member commits it.
                for d in by_node.iter().flat_map(|n| &n.removes) {
                    if g.members.contains(d) {
                        Self::end_membership(tx, &group_id, d, seq).await?;
                    }
                }
                if let Some(n) = &by_node {
                    g.members.retain(|d| !n.removes.contains(d));
                }
                Accepted {
                    group_seq: seq,
                    epoch: current,
                    server_time,
                    franking: None,
                    queued,
                }
            }
            Submission::Commit {
                sender_device,
                epoch,
                commit,
                welcome,
                added,
                removed,
                server_time,
                max_members,
                state,
                ..
            } => {
                if !g.members.contains(&sender_device) {
                    return Ok(Err(Rejection::NotMember));
                }
                // The one rule of the delivery service: one commit per epoch.
                if epoch != current {
                    return Ok(Err(Rejection::StaleEpoch {
                        current,
                        sent: epoch,
                    }));
                }
                for d in &added {
                    if g.members.contains(d) {
                        return Ok(Err(Rejection::AlreadyMember(d.clone())));
                    }
                    let known: Option<String> =
                        sqlx::query_scalar("SELECT device_id FROM devices WHERE device_id = ?")
                            .bind(d.as_str())
                            .fetch_optional(&mut **tx)
                            .await?;
                    if known.is_none() {
                        return Ok(Err(Rejection::UnknownDevice(d.clone())));
                    }
                }
                // A device the node already took out of routing (revoked,
                // erased) is removed from the tree now; routing has nothing
                // left to change for it.
                let removed: Vec<String> = removed
                    .into_iter()
                    .filter(|d| g.members.contains(d))
                    .collect();
                let size = g.members.len() + added.len() - removed.len();
                if size > max_members {
                    return Ok(Err(Rejection::GroupTooLarge(size)));
                }
                // Everyone in the old epoch but the committer learns of the
                // commit, removed devices included: MLS tells them they left.
                let to: Vec<String> = g
                    .members
                    .iter()
                    .filter(|d| **d != sender_device)
                    .cloned()
                    .collect();
                let seq = g.next_seq;
                g.next_seq += 1;
                Self::enqueue(
                    rows,
                    log_pos,
                    &group_id,
                    seq,
                    MessageKind::Commit,
                    true,
                    &sender_device,
                    server_time,
                    Arc::new(commit),
                    None,
                    &to,
                    &mut queued,
                );
                if let Some(welcome) = welcome {
                    let wseq = g.next_seq;
                    g.next_seq += 1;
                    Self::enqueue(
                        rows,
                        log_pos,
                        &group_id,
                        wseq,
                        MessageKind::Welcome,
                        false,
                        &sender_device,
                        server_time,
                        Arc::new(welcome),
                        None,
                        &added,
                        &mut queued,
                    );
                }
                // A removed device still receives the commit that removes
                // it, and nothing after; an added one everything after the
                // commit (and its Welcome), and nothing before.
                for d in &removed {
                    Self::end_membership(tx, &group_id, d, seq).await?;
                }
                for d in &added {
                    sqlx::query(
                        "INSERT INTO memberships (group_id, device_id, from_seq, until_seq) \
                         VALUES (?, ?, ?, NULL)",
                    )
                    .bind(group_id.as_slice())
                    .bind(d.as_str())
                    .bind(g.next_seq as i64)
                    .execute(&mut **tx)
                    .await?;
                }
                Self::write_state(tx, &group_id, state).await?;
                g.members.retain(|d| !removed.contains(d));
                g.members.extend(added);
                g.members.sort();
                g.epoch = current + 1;
                Accepted {
                    group_seq: seq,
                    epoch: g.epoch,
                    server_time,
                    franking: None,
                    queued,
                }
            }
        };
        touched.insert(group_id, g);
        Ok(Ok(accepted))
    }

    /// The last message `device` sent with an id, as of this batch.
    async fn last_send(
        tx: &mut Transaction<'_, Sqlite>,
        known: &WriterState,
        rows: &BatchRows,
        device: &str,
    ) -> Result<Option<LastSend>> {
        if let Some(l) = rows
            .sends
            .get(device)
            .or_else(|| known.last_sends.get(device))
        {
            return Ok(Some(l.clone()));
        }
        let row = sqlx::query(
            "SELECT client_id, group_seq, server_time, frank FROM last_sends WHERE device_id = ?",
        )
        .bind(device)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| {
            Ok(LastSend {
                client_id: r.try_get(0)?,
                group_seq: r.try_get::<i64, _>(1)? as u64,
                server_time: r.try_get::<i64, _>(2)? as u64,
                franking: r
                    .try_get::<Option<Vec<u8>>, _>(3)?
                    .and_then(|f| f.try_into().ok()),
            })
        })
        .transpose()
    }
}

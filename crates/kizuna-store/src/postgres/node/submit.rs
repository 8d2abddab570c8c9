//! Sequencing across nodes: a batch of submissions takes its place in its
//! groups' total order in one transaction that holds the groups' row locks,
//! checked against the groups as they are once locked (another node may
//! have changed them a moment ago), with the acknowledgements that came
//! with it. The log positions are taken last and held to the commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{Postgres, Row, Transaction};

use super::batch::BatchRows;
use super::PgStore;
use crate::sqlite::groups::GroupState;
use crate::sqlite::submit::LastSend;
use crate::{Accepted, Ack, MessageKind, Rejection, Result, Submission};

fn group_of(s: &Submission) -> &Vec<u8> {
    match s {
        Submission::Application { group_id, .. }
        | Submission::Commit { group_id, .. }
        | Submission::Proposal { group_id, .. } => group_id,
    }
}

/// What a batch works on: its groups and its senders' last sends, as they
/// were when locked, changed as the batch goes.
struct Locked {
    groups: HashMap<Vec<u8>, GroupState>,
    touched: HashSet<Vec<u8>>,
    last_sends: HashMap<String, LastSend>,
}

impl PgStore {
    pub(crate) async fn submit(
        &self,
        batch: Vec<Submission>,
        acks: Vec<Ack>,
    ) -> Result<Vec<Result<Accepted, Rejection>>> {
        let mut tx = self.pool.begin().await?;
        let mut group_ids: Vec<Vec<u8>> = batch.iter().map(group_of).cloned().collect();
        group_ids.sort();
        group_ids.dedup();
        let groups = Self::lock_groups(&mut tx, &group_ids).await?;
        let mut senders: Vec<&str> = batch
            .iter()
            .filter_map(|s| match s {
                Submission::Application {
                    sender_device,
                    client_id: Some(_),
                    ..
                } => Some(sender_device.as_str()),
                _ => None,
            })
            .collect();
        senders.sort();
        senders.dedup();
        let last_sends = Self::lock_last_sends(&mut tx, &senders).await?;
        let mut locked = Locked {
            groups,
            touched: HashSet::new(),
            last_sends,
        };
        let mut out = Vec::with_capacity(batch.len());
        let mut rows = BatchRows::default();
        for s in batch {
            out.push(Self::submit_one(&mut tx, &mut locked, &mut rows, s).await?);
        }
        rows.write_sends(&mut tx).await?;
        let acked = Self::ack_in(&mut tx, &acks).await?;
        let changed = ChangedGroups::of(&locked);
        // Last: the log positions. The counter's row stays locked until the
        // commit, so a batch that takes later positions commits later, and
        // a device that read up to some position can never be handed an
        // earlier one afterwards. The groups' rows, locked since the batch
        // began, are written by the same statement: one round trip less
        // under the locks the other nodes' batches wait for.
        if rows.positions() > 0 {
            let base = rows.write_at_next_positions(&mut tx, &changed).await?;
            tx.commit().await?;
            for a in out.iter_mut().flatten() {
                for e in &mut a.queued {
                    e.seq += base;
                }
            }
        } else {
            changed.write(&mut tx).await?;
            tx.commit().await?;
        }
        self.releasable.note_acked(acked.iter().map(String::as_str));
        Ok(out)
    }

    async fn submit_one(
        tx: &mut Transaction<'_, Postgres>,
        locked: &mut Locked,
        rows: &mut BatchRows,
        s: Submission,
    ) -> Result<Result<Accepted, Rejection>> {
        let group_id = group_of(&s).clone();
        let Some(mut g) = locked.groups.get(&group_id).cloned() else {
            return Ok(Err(Rejection::UnknownGroup));
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
                    let last = rows
                        .sends
                        .get(&sender_device)
                        .or_else(|| locked.last_sends.get(&sender_device));
                    if let Some(last) = last.filter(|l| l.client_id == *id) {
                        return Ok(Ok(Accepted {
                            group_seq: last.group_seq,
                            epoch: current,
                            server_time: last.server_time,
                            franking: last.franking,
                            queued: Vec::new(),
                        }));
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
                // The one rule of the delivery service: one commit per
                // epoch, whichever node the commits arrive at.
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
                    // Share-locked: a node deleting the device meanwhile
                    // waits for this commit, then removes the membership it
                    // adds, rather than leave a member nobody will ever
                    // hear from (whose messages would never be released).
                    let known: Option<String> = sqlx::query_scalar(
                        "SELECT device_id FROM devices WHERE device_id = $1 FOR SHARE",
                    )
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
                         VALUES ($1, $2, $3, NULL)",
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
        locked.touched.insert(group_id.clone());
        locked.groups.insert(group_id, g);
        Ok(Ok(accepted))
    }

    /// Locks and reads the senders' last sends (sorted, as every writer
    /// takes them). A sender with none yet has no row to lock; its group's
    /// lock, taken before, orders its retries instead.
    async fn lock_last_sends(
        tx: &mut Transaction<'_, Postgres>,
        senders: &[&str],
    ) -> Result<HashMap<String, LastSend>> {
        if senders.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT device_id, client_id, group_seq, server_time, frank FROM last_sends \
             WHERE device_id = ANY($1) ORDER BY device_id FOR UPDATE",
        )
        .bind(senders)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    LastSend {
                        client_id: r.try_get(1)?,
                        group_seq: r.try_get::<i64, _>(2)? as u64,
                        server_time: r.try_get::<i64, _>(3)? as u64,
                        franking: r
                            .try_get::<Option<Vec<u8>>, _>(4)?
                            .and_then(|f| f.try_into().ok()),
                    },
                ))
            })
            .collect()
    }
}

/// The epoch and next sequence number of each group a batch changed, in
/// group order; their rows are locked.
pub(super) struct ChangedGroups {
    pub(super) ids: Vec<Vec<u8>>,
    pub(super) epochs: Vec<i64>,
    pub(super) next_seqs: Vec<i64>,
}

impl ChangedGroups {
    fn of(locked: &Locked) -> ChangedGroups {
        let mut changed: Vec<(&Vec<u8>, &GroupState)> = locked
            .touched
            .iter()
            .filter_map(|id| locked.groups.get(id).map(|g| (id, g)))
            .collect();
        changed.sort_by(|a, b| a.0.cmp(b.0));
        ChangedGroups {
            ids: changed.iter().map(|(id, _)| (*id).clone()).collect(),
            epochs: changed.iter().map(|(_, g)| g.epoch as i64).collect(),
            next_seqs: changed.iter().map(|(_, g)| g.next_seq as i64).collect(),
        }
    }

    /// Writes them on their own, for a batch that stores no message.
    async fn write(&self, tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE groups g SET epoch = u.epoch, next_seq = u.next_seq \
             FROM UNNEST($1::bytea[], $2::int8[], $3::int8[]) AS u(group_id, epoch, next_seq) \
             WHERE g.group_id = u.group_id",
        )
        .bind(&self.ids)
        .bind(&self.epochs)
        .bind(&self.next_seqs)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

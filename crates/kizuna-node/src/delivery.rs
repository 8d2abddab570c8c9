//! The delivery service's write path and live fan-out.
//!
//! Every submission to any group goes through one sequencer task, which writes
//! batches of them in one transaction (group commit): a sender is answered only
//! after its message is on disk, and many senders share one fsync. Accepted
//! entries are then pushed to the recipients' live connections, if any; the
//! queue on disk stays the source of truth until the device acknowledges.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use kizuna_store::{Accepted, Ack, Rejection, Store, StoreError, Submission};
use tokio::sync::{mpsc, oneshot};

mod live;
pub use live::{envelope_kind, Hub, LiveConnection, LiveEntry, Registration};

/// A group commit slower than this is reported: every sender in it waited.
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(100);
/// Most devices' acknowledgements applied in one transaction.
const ACKS_PER_BATCH: usize = 512;
/// Most submissions written in one transaction.
const MAX_BATCH: usize = 256;
/// In a cluster: batches whose wake-ups and answers may wait to be sent
/// while the sequencer writes the next ones.
const ANSWERS_QUEUED: usize = 64;
type Reply = oneshot::Sender<Result<Result<Accepted, Rejection>, StoreError>>;
type AckDone = oneshot::Sender<Result<(), StoreError>>;

enum Job {
    Submit {
        submission: Submission,
        sender_handle: String,
        reply: Reply,
    },
    Ack {
        ack: Ack,
        done: Option<AckDone>,
    },
}

/// A committed batch's outcomes and who waits for them.
struct Answers {
    results: Vec<Result<Accepted, Rejection>>,
    replies: Vec<(String, Reply)>,
    commits: Vec<bool>,
    ack_done: Vec<Option<AckDone>>,
}

impl Answers {
    /// The devices with something new from this batch.
    fn woken(&self) -> impl Iterator<Item = &str> {
        self.results
            .iter()
            .flatten()
            .flat_map(|acc| acc.queued.iter().map(|e| e.device_id.as_str()))
    }

    /// Pushes what was accepted to live connections here and answers every
    /// sender and acknowledgement.
    fn answer(self, hub: &Hub, metrics: &crate::metrics::Metrics) {
        for ((result, (handle, reply)), commit) in
            self.results.into_iter().zip(self.replies).zip(self.commits)
        {
            match &result {
                Ok(acc) => {
                    hub.push(&acc.queued, &handle);
                    if commit {
                        metrics.committed();
                    }
                }
                Err(_) => metrics.refused(),
            }
            let _ = reply.send(Ok(result));
        }
        for d in self.ack_done.into_iter().flatten() {
            let _ = d.send(Ok(()));
        }
    }
}

/// In a cluster: wakes the devices of each committed batch, then answers
/// its senders, in the order the batches committed. Woken before the
/// senders are answered: a reply that overtook the wake-up could be
/// followed by a message the recipient is slower to see. Batches that
/// wait together share one publish and one flush.
fn answering(
    wakes: Arc<crate::cluster::ClusterLink>,
    hub: Arc<Hub>,
    metrics: Arc<crate::metrics::Metrics>,
) -> (mpsc::Sender<Answers>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Answers>(ANSWERS_QUEUED);
    let task = tokio::spawn(async move {
        let mut batches = Vec::new();
        while rx.recv_many(&mut batches, ANSWERS_QUEUED).await > 0 {
            let devices: BTreeSet<&str> = batches.iter().flat_map(Answers::woken).collect();
            wakes.publish(devices).await;
            for b in batches.drain(..) {
                b.answer(&hub, &metrics);
            }
        }
    });
    (tx, task)
}

#[derive(Clone)]
pub struct Sequencer {
    tx: mpsc::Sender<Job>,
}

fn closing() -> StoreError {
    StoreError::Backend("the node is shutting down".into())
}

impl Sequencer {
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> (Sequencer, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(4096);
        // In a cluster, a batch's wake-ups go out over NATS and its senders
        // are answered by a task of their own, while the sequencer writes
        // the next batch: the network is off the path every sender waits on.
        let answers = hub
            .cluster()
            .cloned()
            .map(|wakes| answering(wakes, hub.clone(), metrics.clone()));
        let task = tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            // Acknowledgements are work nobody waits on; a wave of them is
            // spread over batches so it cannot stall the messages behind it.
            let mut acks: VecDeque<(Ack, Option<AckDone>)> = VecDeque::new();
            loop {
                if acks.is_empty() {
                    if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                        break;
                    }
                } else {
                    // Take what is waiting without blocking: the acks are work.
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                }
                let mut subs = Vec::new();
                let mut replies = Vec::new();
                for j in jobs.drain(..) {
                    match j {
                        Job::Submit {
                            submission,
                            sender_handle,
                            reply,
                        } => {
                            subs.push(submission);
                            replies.push((sender_handle, reply));
                        }
                        Job::Ack { ack, done } => acks.push_back((ack, done)),
                    }
                }
                let take = acks.len().min(ACKS_PER_BATCH);
                let (batch_acks, ack_done): (Vec<Ack>, Vec<_>) = acks.drain(..take).unzip();
                let started = std::time::Instant::now();
                let (submissions, acknowledgements) = (subs.len(), batch_acks.len());
                let commits: Vec<bool> = subs
                    .iter()
                    .map(|s| matches!(s, Submission::Commit { .. }))
                    .collect();
                // In a cluster, acknowledgements commit in a transaction of
                // their own, beside the messages': the messages' transaction
                // holds its groups' locks, which the other nodes' batches
                // wait for, and the acknowledgements have nothing to do with
                // them. (On one node's SQLite, one transaction is cheaper.)
                let (r, acks_applied) =
                    if answers.is_some() && !subs.is_empty() && !batch_acks.is_empty() {
                        let (r, a) = tokio::join!(
                            store.submit(subs, Vec::new()),
                            store.submit(Vec::new(), batch_acks)
                        );
                        (r, Some(a.map(drop)))
                    } else {
                        (store.submit(subs, batch_acks).await, None)
                    };
                let took = started.elapsed();
                if submissions > 0 {
                    metrics.sequencing.batch.record(submissions as u64);
                }
                if took > SLOW_BATCH {
                    tracing::warn!(
                        ms = took.as_millis() as u64,
                        submissions,
                        acknowledgements,
                        "a group commit took long; senders waited for it"
                    );
                }
                match r {
                    Ok(results) => {
                        let ack_done = match acks_applied {
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, acknowledgements, "acknowledgements could not be applied; the devices are offered those entries again");
                                for d in ack_done.into_iter().flatten() {
                                    let _ = d.send(Err(StoreError::Backend(e.to_string())));
                                }
                                Vec::new()
                            }
                            _ => ack_done,
                        };
                        let batch = Answers {
                            results,
                            replies,
                            commits,
                            ack_done,
                        };
                        match &answers {
                            Some((answers, _)) => {
                                if let Err(mpsc::error::SendError(batch)) =
                                    answers.send(batch).await
                                {
                                    // The answering task is gone (the node
                                    // is stopping): answer here.
                                    batch.answer(&hub, &metrics);
                                }
                            }
                            None => {
                                let answering = std::time::Instant::now();
                                batch.answer(&hub, &metrics);
                                metrics.sequencing.answer.record_time(answering.elapsed());
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "group commit failed; every submission in the batch is refused");
                        for (_, reply) in replies {
                            let _ = reply.send(Err(StoreError::Backend(e.to_string())));
                        }
                        for d in ack_done.into_iter().flatten() {
                            let _ = d.send(match &acks_applied {
                                Some(Ok(())) => Ok(()),
                                _ => Err(StoreError::Backend(e.to_string())),
                            });
                        }
                    }
                }
            }
            // Every committed batch is answered before the sequencer ends.
            if let Some((answers, task)) = answers {
                drop(answers);
                let _ = task.await;
            }
        });
        (Sequencer { tx }, task)
    }

    /// Submits and waits until the outcome is durable.
    pub async fn submit(
        &self,
        submission: Submission,
        sender_handle: String,
    ) -> Result<Result<Accepted, Rejection>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Submit {
                submission,
                sender_handle,
                reply,
            })
            .await
            .map_err(|_| closing())?;
        rx.await.map_err(|_| closing())?
    }

    /// Acknowledges queue entries in the next batch and waits for it.
    pub async fn ack(&self, device_id: String, up_to: u64) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Job::Ack {
                ack: Ack { device_id, up_to },
                done: Some(done),
            })
            .await
            .map_err(|_| closing())?;
        rx.await.map_err(|_| closing())?
    }

    /// Acknowledges without waiting: a lost acknowledgement only means the
    /// device is offered the entries again, and it skips what it has.
    pub async fn ack_later(&self, device_id: String, up_to: u64) {
        let _ = self
            .tx
            .send(Job::Ack {
                ack: Ack { device_id, up_to },
                done: None,
            })
            .await;
    }
}

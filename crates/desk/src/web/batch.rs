//! Group commit for intake: concurrent submissions are written in one transaction, so that
//! throughput is not bounded by one durable commit per report. Each sender is answered only
//! after the commit that holds its report.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify};

use crate::store::{Actor, NewReport, Store, StoreError, SubmitOutcome};

/// Most reports in one transaction.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<SubmitOutcome, StoreError>>;

/// The sending side, held by the handlers.
#[derive(Debug, Clone)]
pub(crate) struct Intake {
    tx: mpsc::Sender<(NewReport, Actor, Reply)>,
}

impl Intake {
    /// Starts the writer task; it ends when every `Intake` is dropped.
    pub(crate) fn spawn(store: Store, wake: Wake, checkpoints: Checkpoints) -> Intake {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(store, wake, checkpoints, rx));
        Intake { tx }
    }

    /// Submits a report and waits for its commit.
    pub(crate) async fn submit(
        &self,
        new: NewReport,
        actor: Actor,
    ) -> Result<SubmitOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        let closed = || StoreError::Conflict("the intake writer stopped".into());
        self.tx
            .send((new, actor, reply))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

/// The job workers to wake after a commit: the pager at once when a P0 report is in, the
/// other worker when there is evidence to fetch.
#[derive(Clone)]
pub(crate) struct Wake {
    pub(crate) jobs: Arc<Notify>,
    pub(crate) pages: Arc<Notify>,
}

impl Wake {
    fn after(&self, new: &NewReport, outcome: &Result<SubmitOutcome, StoreError>) {
        if matches!(outcome, Ok(SubmitOutcome::Created { .. })) {
            if new.page {
                self.pages.notify_one();
            }
            if new.fetch_evidence {
                self.jobs.notify_one();
            }
        }
    }
}

/// What the writer needs to sign audit checkpoints after its commits.
pub(crate) struct Checkpoints {
    pub(crate) key: ed25519_dalek::SigningKey,
    pub(crate) every: i64,
    pub(crate) clock: Arc<dyn crate::clock::Clock>,
}

async fn run(
    store: Store,
    wake: Wake,
    checkpoints: Checkpoints,
    mut rx: mpsc::Receiver<(NewReport, Actor, Reply)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (items, replies): (Vec<(NewReport, Actor)>, Vec<Reply>) =
            batch.drain(..).map(|(n, a, r)| ((n, a), r)).unzip();
        let now = crate::clock::to_millis(checkpoints.clock.now());
        let checkpointing = crate::store::Checkpointing {
            key: &checkpoints.key,
            every: checkpoints.every,
            now,
        };
        match store
            .submit_reports_checkpointed(&items, Some(&checkpointing))
            .await
        {
            Ok(outcomes) => {
                for (((new, _), reply), outcome) in items.iter().zip(replies).zip(outcomes) {
                    let outcome = Ok(outcome);
                    wake.after(new, &outcome);
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                // The batch rolled back as a whole: retry each alone so that one bad report
                // does not fail the others.
                tracing::warn!(error = %e, size = items.len(), "intake batch failed; retrying one by one");
                for ((new, actor), reply) in items.iter().zip(replies) {
                    let r = store.submit_report(new, actor).await;
                    wake.after(new, &r);
                    let _ = reply.send(r);
                }
                if let Err(e) = store
                    .checkpoint_if_due(&checkpoints.key, checkpoints.every, now)
                    .await
                {
                    tracing::error!(error = %e, "audit checkpoint failed");
                }
            }
        }
    }
}

//! Storage: SQLite (a file, the embedded default) or PostgreSQL (a URL), through sqlx's `Any`
//! driver.
//!
//! Why `Any` rather than a trait with two implementations: the desk's queries are plain SQL
//! that both engines accept as written (`$n` placeholders, which SQLite also reads;
//! `INSERT … RETURNING`; `ON CONFLICT`), with instants stored as milliseconds and flags as
//! integers. One implementation means one set of store tests, run against both engines, and
//! no drift between two copies of every query. Each engine owns its `migrations/` directory
//! (types and triggers differ), and the few places where the engines must differ branch on
//! [`Backend`] (claiming jobs with `FOR UPDATE SKIP LOCKED` on PostgreSQL).
//!
//! Every write runs in a transaction that first takes the audit chain's head row
//! (`UPDATE audit_head … RETURNING`), so writes are serialised across processes on both engines
//! and each state change commits together with its audit entry.
//!
//! On SQLite, writers of this process also queue on an async, first-come-first-served lock
//! before touching the database: SQLite has one writer at a time and its busy handler retries
//! by sleeping (up to 100 ms a try), so a writer that loses the race to a busy intake could
//! wait for many batches; queued on the lock it waits for at most the writes ahead of it.

mod audit;
mod cases;
mod decisions;
mod dueprocess;
mod evidence;
mod jobs;
mod referrals;
mod users;

use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Transaction};

pub use audit::{AuditEntry, CheckpointRow};
pub use cases::{CaseRow, CaseSummary, NewReport, ReportRow, ReportUrlRow, SubmitOutcome};
pub use decisions::{policy_document, DecisionRow, NewDecision, PolicyMeta};
pub use dueprocess::{
    AppealRow, ApprovalRow, AttachmentRow, AuthorityOrderRow, EmergencyRow, NewAttachment,
    NewAuthorityOrder, NewStatement, ResponseRow, StatementRow,
};
pub use evidence::{EvidenceRow, NewEvidence};
pub use jobs::{Job, Lane};
pub use referrals::{AuthorityResponseRow, NewAuthorityResponse, NewReferral, ReferralRow};
pub use users::{Role, SessionRow, UserRow};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, in a file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// A row source over a JSON array of objects bound as `$param`, with the given columns
    /// (name, `TEXT` or `BIGINT`), for bulk inserts, updates and joins. One parameter, so the
    /// statement's text is the same whatever the number of rows: prepared once per connection,
    /// and no engine's limit on bound parameters applies.
    pub(crate) fn json_rows(self, param: usize, cols: &[(&str, &str)]) -> String {
        match self {
            Backend::Sqlite => {
                let list: Vec<String> = cols
                    .iter()
                    .map(|(c, _)| format!("json_extract(value, '$.{c}') AS {c}"))
                    .collect();
                format!("SELECT {} FROM json_each(${param})", list.join(", "))
            }
            Backend::Postgres => {
                let names: Vec<String> = cols.iter().map(|(c, _)| format!("x.{c}")).collect();
                let types: Vec<String> = cols.iter().map(|(c, t)| format!("{c} {t}")).collect();
                format!(
                    "SELECT {} FROM json_to_recordset(CAST(${param} AS json)) AS x({})",
                    names.join(", "),
                    types.join(", ")
                )
            }
        }
    }

    /// The strings of a JSON array bound as `$param`, as a one-column subquery (for `IN`).
    pub(crate) fn json_list(self, param: usize) -> String {
        match self {
            Backend::Sqlite => format!("SELECT value FROM json_each(${param})"),
            Backend::Postgres => format!("SELECT json_array_elements_text(CAST(${param} AS json))"),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrating the schema failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A stored value could not be read back (corrupt or from a newer version).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The operation conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// The desk's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite only: one connection for the write transactions of this process (which queue
    /// on `write_lock` anyway). SQLite drops a connection's page cache when another connection
    /// has written since its last transaction; with every write on one connection, its cache
    /// stays valid and a batch does not re-read the index pages it updates.
    write_pool: Option<AnyPool>,
    backend: Backend,
    /// SQLite only: the in-process writers' queue (see the module's documentation).
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// Audit data for a write: who did it and when.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user:<name>`, `public`, `system`, `edge:<name>`.
    pub name: String,
    /// When, in milliseconds.
    pub at: i64,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let (pool, write_pool) = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = |n: u32| {
                    AnyPoolOptions::new()
                        .max_connections(n)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // WAL with synchronous=FULL: a committed report survives a crash.
                                for pragma in [
                                    "PRAGMA journal_mode=WAL",
                                    "PRAGMA synchronous=FULL",
                                    "PRAGMA busy_timeout=15000",
                                    "PRAGMA foreign_keys=ON",
                                    // 64 MiB of page cache per connection (the default is 2 MiB):
                                    // the intake's index lookups otherwise re-read pages from the
                                    // OS on every batch.
                                    "PRAGMA cache_size=-65536",
                                    // Checkpoint the WAL into the database every ~40 MiB rather
                                    // than every 4 MiB: an index page rewritten by many batches is
                                    // copied back once. Each commit is still synced to the WAL.
                                    "PRAGMA wal_autocheckpoint=10000",
                                    // Statement journals in memory: every multi-row write of a
                                    // transaction (an intake batch's inserts, with their unique
                                    // and foreign keys) copies each page it changes to a statement
                                    // journal first, which beyond 64 KiB spilled to a temporary
                                    // file created, written and deleted per statement (≈ 10 % of
                                    // the intake's CPU). Durability is the WAL's, not this.
                                    "PRAGMA temp_store=MEMORY",
                                ] {
                                    sqlx::Executor::execute(&mut *conn, pragma).await?;
                                }
                                Ok(())
                            })
                        })
                };
                let pool = options(8).connect(&url).await?;
                (pool, Some(options(1).connect(&url).await?))
            }
            Backend::Postgres => (
                AnyPoolOptions::new()
                    .max_connections(16)
                    .connect(url)
                    .await?,
                None,
            ),
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store::new(pool, write_pool, backend))
    }

    fn new(pool: AnyPool, write_pool: Option<AnyPool>, backend: Backend) -> Store {
        let write_lock =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Store {
            pool,
            write_pool,
            backend,
            write_lock,
        }
    }

    /// Connects to `url` without touching the schema, for tools that only read (`rempart audit
    /// verify`): a SQLite file is opened read-only and must exist; a PostgreSQL session is set
    /// to read-only transactions. Fails if the schema is missing or older than this build's.
    pub async fn connect_read_only(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let pool = match backend {
            Backend::Sqlite => {
                let base = url.split('?').next().unwrap_or(url);
                AnyPoolOptions::new()
                    .max_connections(2)
                    .connect(&format!("{base}?mode=ro"))
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(2)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::Executor::execute(
                                &mut *conn,
                                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
        )
        .fetch_all(&pool)
        .await
        .map_err(|e| StoreError::Conflict(format!("no desk schema in this database ({e})")))?;
        let missing: Vec<i64> = migrator
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::Conflict(format!(
                "the database's schema is not up to date (migrations {missing:?} not applied); \
                 start the desk on it once to migrate"
            )));
        }
        Ok(Store::new(pool, None, backend))
    }

    /// Waits for this process's turn to write (SQLite); `None` on PostgreSQL, whose row locks
    /// queue writers fairly.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    /// Where this process writes outside [`Store::begin_write`] (holding its write turn): the
    /// writer's connection on SQLite (see `write_pool`), the pool on PostgreSQL.
    pub(crate) fn writes(&self) -> &AnyPool {
        self.write_pool.as_ref().unwrap_or(&self.pool)
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for tests that tamper with the database.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction holding the audit chain's head.
    async fn begin_write(&self) -> Result<WriteTx<'static>, StoreError> {
        let turn = self.write_turn().await;
        let mut tx = self.writes().begin().await?;
        let (seq, hash): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *tx)
                .await?;
        Ok(WriteTx {
            tx,
            _turn: turn,
            backend: self.backend,
            head_seq: seq,
            head_hash: hash,
            appended: Vec::new(),
            pending: Vec::new(),
        })
    }
}

/// A write transaction that appends audit entries as it goes and moves the chain's head on
/// commit.
pub(crate) struct WriteTx<'c> {
    pub(crate) tx: Transaction<'c, Any>,
    /// Held until commit or rollback (declared after `tx`, so dropped after it).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    pub(crate) backend: Backend,
    head_seq: i64,
    head_hash: String,
    appended: Vec<i64>,
    pending: Vec<PendingAudit>,
}

impl WriteTx<'_> {
    /// Appends an audit entry for a change made in this transaction. The entry is written with
    /// the others of the transaction, in one multi-row insert at commit (fewer round trips for a
    /// batch of reports); nothing in a write transaction reads the log back before that.
    pub(crate) async fn audit(
        &mut self,
        actor: &Actor,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let details = crate::audit::canonical_json(&details);
        self.audit_canonical(actor, action, subject.to_string(), details);
        Ok(())
    }

    /// [`WriteTx::audit`] with the details already in canonical JSON (for the intake's
    /// batches, which serialise them straight from a struct).
    pub(crate) fn audit_canonical(
        &mut self,
        actor: &Actor,
        action: &str,
        subject: String,
        details: String,
    ) {
        let seq = self.head_seq + 1;
        let hash = crate::audit::entry_hash(
            actor.at,
            &actor.name,
            action,
            &subject,
            &details,
            &self.head_hash,
        );
        let prev = std::mem::replace(&mut self.head_hash, hash.clone());
        self.pending.push(PendingAudit {
            seq,
            at: actor.at,
            actor: actor.name.clone(),
            action: action.to_string(),
            subject,
            details,
            prev_hash: prev,
            hash,
        });
        self.head_seq = seq;
        self.appended.push(seq);
    }

    /// Writes the pending audit entries in one statement.
    async fn flush_audit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = serde_json::to_string(&self.pending)
            .map_err(|e| StoreError::Corrupt(format!("encoding audit entries: {e}")))?;
        let sql = format!(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) {}",
            self.backend.json_rows(
                1,
                &[
                    ("seq", "BIGINT"),
                    ("at", "BIGINT"),
                    ("actor", "TEXT"),
                    ("action", "TEXT"),
                    ("subject", "TEXT"),
                    ("details", "TEXT"),
                    ("prev_hash", "TEXT"),
                    ("hash", "TEXT"),
                ]
            )
        );
        sqlx::query(&sql).bind(rows).execute(&mut *self.tx).await?;
        self.pending.clear();
        Ok(())
    }

    /// Commits; returns the sequence number of the chain's head after the commit.
    pub(crate) async fn commit(self) -> Result<i64, StoreError> {
        self.commit_checkpointed(None).await
    }

    /// Commits, with a signed checkpoint of the new head in the same transaction if one is due
    /// (see [`Store::checkpoint_if_due`]): no separate write, and no separate durable commit,
    /// after each intake batch.
    pub(crate) async fn commit_checkpointed(
        mut self,
        checkpoint: Option<&Checkpointing<'_>>,
    ) -> Result<i64, StoreError> {
        self.flush_audit().await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(self.head_seq)
            .bind(&self.head_hash)
            .execute(&mut *self.tx)
            .await?;
        if let Some(c) = checkpoint {
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_checkpoints")
                .fetch_one(&mut *self.tx)
                .await?;
            if self.head_seq > 0 && self.head_seq - last.unwrap_or(0) >= c.every {
                let (public_key, signature) =
                    crate::audit::sign_checkpoint(c.key, self.head_seq, &self.head_hash, c.now);
                sqlx::query(
                    "INSERT INTO audit_checkpoints (seq, hash, at, public_key, signature) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
                )
                .bind(self.head_seq)
                .bind(&self.head_hash)
                .bind(c.now)
                .bind(public_key)
                .bind(signature)
                .execute(&mut *self.tx)
                .await?;
            }
        }
        self.tx.commit().await?;
        Ok(self.head_seq)
    }
}

/// What a write needs to sign an audit checkpoint in its own transaction.
pub(crate) struct Checkpointing<'a> {
    /// The desk's audit key.
    pub(crate) key: &'a ed25519_dalek::SigningKey,
    /// A checkpoint every this many entries.
    pub(crate) every: i64,
    /// Now, in milliseconds.
    pub(crate) now: i64,
}

/// An audit entry waiting for its transaction's commit (serialised as an `audit_log` row).
#[derive(serde::Serialize)]
struct PendingAudit {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    details: String,
    prev_hash: String,
    hash: String,
}

fn get<T>(row: &AnyRow, col: &str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    use sqlx::Row;
    row.try_get(col)
        .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

/// The row that `sql` (`SELECT … WHERE id = $1`) finds for `id`, read by `map`; `NotFound`
/// if there is none. On the pool or inside a write transaction (`&mut *w.tx`).
async fn one_by_id<'e, 'c: 'e, E, T>(
    executor: E,
    sql: &'e str,
    id: &'e str,
    map: impl FnOnce(&AnyRow) -> Result<T, StoreError>,
) -> Result<T, StoreError>
where
    E: 'e + sqlx::Executor<'c, Database = Any>,
{
    let row = sqlx::query(sql)
        .bind(id)
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound)?;
    map(&row)
}

/// A new id: the prefix, then 32 hex digits, the first 12 the time in milliseconds (as in a
/// UUIDv7) and the rest from a random UUID. Time-ordered ids are appended at the end of the
/// indexes on them rather than scattered over their pages, which keeps the pages an intake
/// batch writes few.
fn new_id(prefix: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        & 0xffff_ffff_ffff;
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{ms:012x}{}", &random[12..])
}

//! The data directory: `vinr.db` (the schema in schema/migrations), its connection pool and
//! migrations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

/// How long a writer waits for another writer's lock (`PRAGMA busy_timeout`).
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Idle connections kept per database. More than this many concurrent requests still works: the
/// extra connections are opened on demand and closed when returned.
const MAX_IDLE: usize = 64;

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// See `open_connection`.
const PAGE_SIZE: i64 = 4096;

/// A connection with the settings every user of vinr.db relies on.
pub fn open_connection(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // First, so that the pragmas below wait for (not fail on) a connection opened at the same
    // moment, e.g. the pool's checkpointer switching a new database to WAL.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers never block the writer; NORMAL is durable across application crashes (the
    // WAL is synced at checkpoints), which is what a local dev server needs.
    // Only takes effect when the file is new. (Measured: 1 KiB pages, for less WAL traffic per
    // write, were slower overall: rows of ~1 KB of JSON then spill into overflow pages.)
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .with_context(|| format!("cannot use {} (is the data directory writable?)", path.display()))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // When the WAL restarts after a checkpoint, give back space beyond 64 MiB.
    conn.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
    // No mmap_size: SQLite re-maps the whole file whenever it grows, and every munmap is a TLB
    // shootdown across the server's threads (measured: ~10% of CPU under load).
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// The open data directory.
pub struct Database {
    pub dir: PathBuf,
    pub main_path: PathBuf,
    pub main: Arc<Pool>,
}

impl Database {
    /// Creates the directory if needed and checks that vinr.db opens read-write.
    pub fn open(dir: &Path) -> anyhow::Result<Database> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let dir = std::path::absolute(dir)?;
        // SQLite would only say "unable to open database file"; say which directory and why.
        let probe = dir.join(".write-test");
        std::fs::write(&probe, b"").with_context(|| format!("data directory {} is not writable", dir.display()))?;
        let _ = std::fs::remove_file(&probe);

        let main_path = dir.join("vinr.db");
        let main = Pool::new(main_path.clone());
        // Open one connection now so that errors surface at start-up, not on a request.
        drop(main.checkout().context("opening vinr.db")?);
        Ok(Database { dir, main_path, main })
    }

    /// Closes pooled connections and folds the WAL back into the database file.
    pub fn close(&self) {
        let pool = &self.main;
        pool.close();
        if let Ok(conn) = open_connection(&pool.path)
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            eprintln!("warning: checkpoint of {} failed: {e}", pool.path.display());
        }
    }
}

/// A pool of connections to one database file. Opening a connection (and setting its pragmas)
/// costs ~100 µs, more than a whole request should, so connections are reused; each keeps its
/// prepared-statement cache between requests.
pub struct Pool {
    pub path: PathBuf,
    /// The one connection every write runs on, behind a host-side queue. Queueing here rather
    /// than in SQLite avoids its busy handler, which sleeps 1, 2, 5, 10... ms between retries
    /// (a 100 µs transaction became a tail of tens of ms). And one writer connection keeps its
    /// page cache warm: SQLite drops a connection's whole cache whenever another connection
    /// has committed, so writes spread over the pool re-read their b-trees every time
    /// (measured: ~200 µs of a ~215 µs write). Opened on first use. See `sqlite_host`.
    pub writer: Arc<tokio::sync::Mutex<Option<Connection>>>,
    /// Notified whenever a write on the writer connection ends (back in autocommit mode), so
    /// that the webhook dispatcher looks for new deliveries at once instead of at its next poll.
    /// `notify_one` keeps a permit when nobody waits: a commit during a dispatcher round is
    /// never missed.
    pub committed: tokio::sync::Notify,
    idle: Mutex<Vec<Connection>>,
    closed: std::sync::atomic::AtomicBool,
}

impl Pool {
    pub fn new(path: PathBuf) -> Arc<Pool> {
        Arc::new(Pool {
            path,
            writer: Default::default(),
            committed: Default::default(),
            idle: Mutex::new(Vec::new()),
            closed: Default::default(),
        })
    }

    /// Starts the background checkpointer (see `checkpointer`). Only the server needs it, and
    /// only once the database exists: two connections switching a new file to WAL at the same
    /// moment can fail at once with "database is locked" (SQLite skips the busy handler there).
    pub fn spawn_checkpointer(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        std::thread::spawn(move || checkpointer(weak));
    }

    pub fn checkout(self: &Arc<Self>) -> anyhow::Result<Pooled> {
        let conn = self.idle.lock().unwrap().pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = open_connection(&self.path)?;
                // Pooled connections serve components from async tasks: they fail fast on a
                // locked database and `with_busy_retry` does the waiting off the async worker.
                c.busy_timeout(Duration::ZERO)?;
                // Requests never checkpoint (copying ~1000 pages and two fsyncs while holding
                // the writer lock); the pool's checkpointer thread does it in the background.
                c.pragma_update(None, "wal_autocheckpoint", 0)?;
                c
            }
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: self.clone(),
        })
    }

    /// Opens the writer connection in `slot` (the content of a held writer lock) on first use.
    pub fn ensure_writer(&self, slot: &mut Option<Connection>) -> anyhow::Result<()> {
        if slot.is_none() {
            let c = open_connection(&self.path)?;
            c.pragma_update(None, "wal_autocheckpoint", 0)?;
            *slot = Some(c);
        }
        Ok(())
    }

    fn checkin(&self, conn: Connection) {
        // A component that ran `BEGIN` and then returned, trapped or was cancelled must not
        // leave its transaction (and the write lock) to the next request.
        if !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("ROLLBACK")
        {
            eprintln!("warning: rollback of abandoned transaction failed: {e}; closing the connection");
            return;
        }
        if self.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Relaxed);
        self.idle.lock().unwrap().clear();
    }
}

/// Folds the WAL into the database in the background. Most checkpoints run beside the writers
/// and copy what they can. But under a steady stream of commits such a checkpoint never
/// reaches the end of the WAL, so SQLite never starts the WAL over and it grows without bound
/// (measured: 800 MB after 5 s of load). So every RESTART_EVERY one checkpoint runs with the
/// writer lock held: it has little left to copy, completes, and the next commit reuses the WAL
/// from its start. Ends when the pool is closed or dropped.
fn checkpointer(pool: std::sync::Weak<Pool>) {
    const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
    const RESTART_EVERY: u32 = 10;
    let Some(path) = pool.upgrade().map(|p| p.path.clone()) else {
        return;
    };
    let Ok(conn) = open_connection(&path) else { return };
    for round in 1u32.. {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(p) = pool.upgrade() else { return };
        if p.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let _writes_paused = (round % RESTART_EVERY == 0).then(|| p.writer.blocking_lock());
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            eprintln!("warning: background checkpoint of {} failed: {e}", path.display());
        }
    }
}

/// A checked-out connection; returns to its pool when dropped.
pub struct Pooled {
    conn: Option<Connection>,
    pool: Arc<Pool>,
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().unwrap()
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(conn);
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` on a pooled connection (busy timeout 0). If the database is locked by another writer,
/// waits up to BUSY_TIMEOUT inside `block_in_place`: the tokio worker hands its other tasks
/// (including, possibly, the request that holds the lock) to another thread before blocking, so
/// a wait can never stall the runtime. Retrying is safe: SQLITE_BUSY is returned before a
/// statement has changed anything.
pub fn with_busy_retry<T>(conn: &Connection, f: impl Fn(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    match f(conn) {
        Err(e) if is_busy(&e) => {
            let slow = || {
                conn.busy_timeout(BUSY_TIMEOUT)?;
                let r = f(conn);
                let _ = conn.busy_timeout(Duration::ZERO);
                r
            };
            let multi_thread = tokio::runtime::Handle::try_current()
                .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
                .unwrap_or(false);
            if multi_thread {
                tokio::task::block_in_place(slow)
            } else {
                slow()
            }
        }
        r => r,
    }
}

/// Applies `dir/*.sql` not yet recorded in `_vinr_migrations`, in lexical order, each file in
/// one transaction. Returns the names applied.
pub fn migrate(db_path: &Path, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut conn = open_connection(db_path)?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS _vinr_migrations (name TEXT PRIMARY KEY, applied_at INTEGER)")?;
    if !dir.is_dir() {
        bail!("migrations directory {} not found", dir.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();

    let mut applied = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // IMMEDIATE: a second `vinr` starting at the same moment waits here instead of applying
        // the same file twice.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM _vinr_migrations WHERE name = ?1)",
            [&name],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        let sql = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        tx.execute_batch(&sql)
            .with_context(|| format!("migration {name} failed"))?;
        tx.execute(
            "INSERT INTO _vinr_migrations (name, applied_at) VALUES (?1, ?2)",
            rusqlite::params![name, now_unix()],
        )?;
        tx.commit()?;
        applied.push(name);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vinr-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn migrations_apply_once_in_order() {
        let dir = temp_dir("mig");
        let mig = dir.join("migrations");
        std::fs::create_dir_all(&mig).unwrap();
        std::fs::write(mig.join("0002_b.sql"), "INSERT INTO t (v) VALUES ('second');").unwrap();
        std::fs::write(
            mig.join("0001_a.sql"),
            "CREATE TABLE t (v TEXT); INSERT INTO t (v) VALUES ('first');",
        )
        .unwrap();
        std::fs::write(mig.join("notes.txt"), "ignored").unwrap();
        let db = Database::open(&dir.join("data")).unwrap();
        assert_eq!(migrate(&db.main_path, &mig).unwrap(), vec!["0001_a.sql", "0002_b.sql"]);
        assert!(migrate(&db.main_path, &mig).unwrap().is_empty());
        let conn = open_connection(&db.main_path).unwrap();
        let vals: Vec<String> = conn
            .prepare("SELECT v FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(vals, vec!["first", "second"]);
        db.close();
    }

    #[test]
    fn failed_migration_rolls_back_whole_file() {
        let dir = temp_dir("migfail");
        let mig = dir.join("migrations");
        std::fs::create_dir_all(&mig).unwrap();
        std::fs::write(mig.join("0001.sql"), "CREATE TABLE ok (v); CREATE TABLE broken (;").unwrap();
        let db = Database::open(&dir.join("data")).unwrap();
        assert!(migrate(&db.main_path, &mig).is_err());
        let conn = open_connection(&db.main_path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'ok'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM _vinr_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn project_schema_applies() {
        let dir = temp_dir("schema");
        let db = Database::open(&dir).unwrap();
        let mig = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/migrations");
        assert!(!migrate(&db.main_path, &mig).unwrap().is_empty());
    }

    #[test]
    fn pool_rolls_back_abandoned_transaction() {
        let dir = temp_dir("pool");
        let db = Database::open(&dir).unwrap();
        {
            let c = db.main.checkout().unwrap();
            c.execute_batch("CREATE TABLE t (v); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
                .unwrap();
            assert!(!c.is_autocommit());
        }
        let c = db.main.checkout().unwrap();
        assert!(c.is_autocommit());
        let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }
}

//! `spin:sqlite/sqlite@3.1.0` over vinr.db.
//!
//! A `connection` resource owns one pooled rusqlite connection for its whole life, so a
//! component's `BEGIN IMMEDIATE` ... `COMMIT` (ordinary statements to us) run on the same
//! SQLite connection, in order. The connection goes back to the pool when the resource or the
//! Store is dropped, rolled back first if the component left a transaction open.
//!
//! Statements run inline: they take microseconds, and a lock wait leaves the async worker
//! through `db::with_busy_retry`. Rows are collected before returning, so the stream and future
//! of `execute-async` are already complete when the guest reads them.

use wasmtime::component::{Accessor, FutureReader, HasSelf, Resource, StreamReader};

use crate::db::{Pool, Pooled, with_busy_retry};
use crate::spin_bindings::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::state::HostState;

pub struct Connection {
    // Field order matters: on drop the connection is rolled back and returned to the pool
    // first, and only then is the writer lock released.
    conn: Pooled,
    /// Held from a write's start (`BEGIN IMMEDIATE`, or an autocommit write) until the writer
    /// connection is back in autocommit mode; meanwhile every statement runs on it.
    writer: Option<WriterGuard>,
    /// `changes()` / `last_insert_rowid()` of whichever connection ran the last statement.
    changes: u64,
    last_rowid: i64,
}

type WriterGuard = tokio::sync::OwnedMutexGuard<Option<rusqlite::Connection>>;

impl Drop for Connection {
    fn drop(&mut self) {
        // A component that trapped or returned mid-transaction must not leave it open on the
        // shared writer connection.
        if let Some(c) = self.writer.as_ref().and_then(|g| g.as_ref())
            && !c.is_autocommit()
            && let Err(e) = c.execute_batch("ROLLBACK")
        {
            eprintln!("warning: rollback of abandoned write transaction failed: {e}");
        }
    }
}

/// Does `sql` start writing on a connection that does not hold the writer lock yet? True for
/// `BEGIN IMMEDIATE` / `BEGIN EXCLUSIVE`, and for any statement that may write (SQLite's own
/// `sqlite3_stmt_readonly`) - transaction control statements count as read-only there.
fn needs_writer_lock(conn: &rusqlite::Connection, sql: &str) -> bool {
    let head = sql
        .trim_start()
        .get(..16)
        .unwrap_or(sql.trim_start())
        .to_ascii_uppercase();
    if head.starts_with("BEGIN") {
        return head.contains("IMMEDIATE") || head.contains("EXCLUSIVE");
    }
    if head.starts_with("COMMIT") || head.starts_with("END") || head.starts_with("ROLLBACK") {
        return false;
    }
    conn.prepare_cached(sql).map(|s| !s.readonly()).unwrap_or(false)
}

/// The only database `vinr dev` provides.
const DEFAULT_DB: &str = "default";

fn open(state: &mut HostState, database: &str) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
    // As Spin: a name the component was not granted in spin.toml is denied whether or not it
    // exists; a granted name vinr has no database for is unknown.
    if !state.spin.grants.sqlite_databases.iter().any(|d| d == database) {
        return Ok(Err(Error::AccessDenied));
    }
    if database != DEFAULT_DB {
        return Ok(Err(Error::NoSuchDatabase));
    }
    let conn = match state.spin.sqlite.checkout() {
        Ok(c) => c,
        Err(e) => return Ok(Err(Error::Io(format!("{e:#}")))),
    };
    Ok(Ok(state.table.push(Connection {
        conn,
        writer: None,
        changes: 0,
        last_rowid: 0,
    })?))
}

fn to_sql(v: &Value) -> rusqlite::types::ValueRef<'_> {
    use rusqlite::types::ValueRef;
    match v {
        Value::Integer(i) => ValueRef::Integer(*i),
        Value::Real(f) => ValueRef::Real(*f),
        Value::Text(s) => ValueRef::Text(s.as_bytes()),
        Value::Blob(b) => ValueRef::Blob(b),
        Value::Null => ValueRef::Null,
    }
}

/// Binds a WIT value without copying it.
struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(to_sql(self.0)))
    }
}

fn from_sql(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        // SQLite text is UTF-8 unless something wrote invalid bytes; keep going rather than trap.
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}

/// SQLite's own message, verbatim: components match on it (`UNIQUE constraint failed`, and
/// `vinr_conflict` raised by a trigger).
fn sql_error(e: rusqlite::Error) -> Error {
    match e {
        // rusqlite's Display appends ": Error code N: ..."; keep only SQLite's text.
        rusqlite::Error::SqliteFailure(_, Some(msg)) => Error::Io(msg),
        e => Error::Io(e.to_string()),
    }
}

fn run(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<(Vec<String>, Vec<RowResult>), Error> {
    with_busy_retry(conn, |conn| {
        let mut stmt = conn.prepare_cached(sql)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_string).collect();
        let n = columns.len();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(Param)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(from_sql(row.get_ref(i)?));
            }
            out.push(RowResult { values });
        }
        Ok((columns, out))
    })
    .map_err(sql_error)
}

/// Runs a statement: on the writer connection while this resource holds the writer lock
/// (newly taken: `guard`), else on its pooled connection. The lock is released as soon as the
/// writer connection is back in autocommit mode.
fn run_holding(
    entry: &mut Connection,
    pool: &Pool,
    guard: Option<WriterGuard>,
    sql: &str,
    params: &[Value],
) -> Result<(Vec<String>, Vec<RowResult>), Error> {
    if let Some(mut g) = guard {
        pool.ensure_writer(&mut g).map_err(|e| Error::Io(format!("{e:#}")))?;
        entry.writer = Some(g);
    }
    let conn: &rusqlite::Connection = match entry.writer.as_ref().and_then(|g| g.as_ref()) {
        Some(w) => w,
        None => &entry.conn,
    };
    let r = run(conn, sql, params);
    entry.changes = conn.changes();
    entry.last_rowid = conn.last_insert_rowid();
    if conn.is_autocommit() && entry.writer.take().is_some() {
        // A write (or a write transaction) just ended: wake the webhook dispatcher.
        pool.committed.notify_one();
    }
    r
}

impl sqlite::Host for HostState {}

impl sqlite::HostConnection for HostState {
    fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        open(self, &database)
    }

    fn execute(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let lock = {
            let pool = self.spin.sqlite.clone();
            let entry = self.table.get(&c)?;
            (entry.writer.is_none() && needs_writer_lock(&entry.conn, &statement)).then(|| pool.writer.clone())
        };
        // A synchronous call cannot await: take the lock at once if it is free, else wait off
        // the async workers (block_in_place hands this worker's other tasks, possibly the
        // lock holder, to another thread first).
        let guard = lock.map(|l| match l.clone().try_lock_owned() {
            Ok(g) => g,
            Err(_) => tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(l.lock_owned())),
        });
        let pool = self.spin.sqlite.clone();
        let result = run_holding(self.table.get_mut(&c)?, &pool, guard, &statement, &parameters);
        Ok(result.map(|(columns, rows)| QueryResult { columns, rows }))
    }

    fn last_insert_rowid(&mut self, c: Resource<Connection>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&c)?.last_rowid)
    }

    fn changes(&mut self, c: Resource<Connection>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&c)?.changes)
    }

    fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        // Dropping `Connection` returns its SQLite connection to the pool.
        self.table.delete(c)?;
        Ok(())
    }
}

type Rows = (Vec<String>, StreamReader<RowResult>, FutureReader<Result<(), Error>>);

impl<T> sqlite::HostConnectionWithStore<T> for HasSelf<HostState> {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        accessor.with(|mut a| open(a.get(), &database))
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        c: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<Rows, Error>> {
        // Queue for the writer lock (asynchronously, outside the store) before a write starts.
        let lock = accessor.with(|mut a| -> wasmtime::Result<_> {
            let state = a.get();
            let pool = state.spin.sqlite.clone();
            let entry = state.table.get(&c)?;
            Ok((entry.writer.is_none() && needs_writer_lock(&entry.conn, &statement)).then(|| pool.writer.clone()))
        })?;
        let guard = match lock {
            Some(l) => Some(l.lock_owned().await),
            None => None,
        };
        accessor.with(|mut a| {
            let state = a.get();
            let pool = state.spin.sqlite.clone();
            let result = run_holding(state.table.get_mut(&c)?, &pool, guard, &statement, &parameters);
            match result {
                Err(e) => Ok(Err(e)),
                Ok((columns, rows)) => {
                    let rows = StreamReader::new(&mut a, rows)?;
                    let done = FutureReader::new(
                        &mut a,
                        std::future::ready(Ok::<_, wasmtime::Error>(Ok::<(), Error>(()))),
                    )?;
                    Ok(Ok((columns, rows, done)))
                }
            }
        })
    }

    async fn last_insert_rowid_async(accessor: &Accessor<T, Self>, c: Resource<Connection>) -> wasmtime::Result<i64> {
        accessor.with(|mut a| Ok(a.get().table.get(&c)?.last_rowid))
    }

    async fn changes_async(accessor: &Accessor<T, Self>, c: Resource<Connection>) -> wasmtime::Result<u64> {
        accessor.with(|mut a| Ok(a.get().table.get(&c)?.changes))
    }
}

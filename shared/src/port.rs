//! The ports through which the domain touches the world. Each runtime supplies them: the Spin
//! adapter over `spin:sqlite`, the Cloudflare Worker over D1, unit tests over memory.

use std::borrow::Cow;

/// A value bound to or read from SQL. The subset every store (SQLite, D1) shares.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}
impl From<&String> for SqlValue {
    fn from(s: &String) -> Self {
        SqlValue::Text(s.clone())
    }
}
impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Int(i)
    }
}
impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Int(b as i64)
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(o: Option<T>) -> Self {
        o.map_or(SqlValue::Null, Into::into)
    }
}

pub type Row = Vec<SqlValue>;

/// One SQL statement with its positional (`?`) parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub sql: Cow<'static, str>,
    pub params: Vec<SqlValue>,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>, params: Vec<SqlValue>) -> Self {
        Stmt {
            sql: sql.into(),
            params,
        }
    }
}

/// Builds a `Vec<SqlValue>` from mixed values: `sql_params![id, 5_i64, Some("x")]`.
#[macro_export]
macro_rules! sql_params {
    ($($v:expr),* $(,)?) => { vec![$($crate::port::SqlValue::from($v)),*] };
}

/// Appended after a conditional write: the `guard_one` view's trigger aborts the whole batch
/// (as [`DbError::Conflict`]) unless that write changed exactly one row.
pub const GUARD_ONE_SQL: &str = "INSERT INTO guard_one (n) VALUES (changes())";

/// As [`GUARD_ONE_SQL`] for a write that must change exactly `?` rows (bind the count).
pub const GUARD_CHANGES_SQL: &str = "INSERT INTO guard_one (n) VALUES (changes() = ?)";

#[derive(Clone, Debug, PartialEq)]
pub enum DbError {
    /// A guarded transition lost a race (the `guard_one` trigger fired): re-read and decide again.
    Conflict,
    /// A UNIQUE constraint failed; carries the store's message.
    Unique(String),
    /// Anything else the store reported.
    Other(String),
}

impl DbError {
    /// Classifies a store's error text. Both SQLite and D1 pass SQLite's messages through.
    pub fn from_message(msg: String) -> DbError {
        if msg.contains("vinr_conflict") {
            DbError::Conflict
        } else if msg.contains("UNIQUE constraint failed") {
            DbError::Unique(msg)
        } else {
            DbError::Other(msg)
        }
    }
}

/// The system of record. Implementations: an SQLite connection (Spin, `vinr dev`), D1.
#[allow(async_fn_in_trait)]
pub trait Db {
    /// Runs one statement on its own (autocommit) and returns its rows.
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, DbError>;
    /// Runs every statement in one atomic unit: all apply or none does. A failing statement
    /// (e.g. the `guard_one` trigger) rolls the whole batch back.
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<(), DbError>;
    /// As [`Db::batch`], also returning how many rows each statement changed where the store
    /// reports that for free (D1 does); None where it does not.
    async fn batch_counted(&self, stmts: Vec<Stmt>) -> Result<Option<Vec<u64>>, DbError> {
        self.batch(stmts).await.map(|()| None)
    }
}

/// Clock, randomness, waiting, and the terminal hub.
#[allow(async_fn_in_trait)]
pub trait Env {
    /// Unix time in seconds.
    fn now(&self) -> i64;
    /// Fills `buf` with cryptographically secure random bytes.
    fn fill_random(&self, buf: &mut [u8]);
    /// Unix time in milliseconds (webhook schedules); runtimes with a finer clock override it.
    fn now_ms(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
    /// Waits `ms` milliseconds without blocking other requests (the sandbox terminal's simulated
    /// interaction, `?simulateDelay=N`).
    async fn sleep_ms(&self, ms: u64);
    /// Records what a client must not see, such as the store's own message behind a 500, under
    /// the id it was answered with (a request id, a scheduled step's id). Runtimes write it to
    /// their log; the default drops it.
    fn log_error(&self, id: &str, message: &str) {
        let _ = (id, message);
    }
    /// The deployment's secret for keyed hashes of request data (the idempotency fingerprint),
    /// held outside the database: `VINR_HASH_KEY` (docs/security.md). None where the runtime was
    /// given none; requests that need it then fail closed with a logged 500.
    fn hash_secret(&self) -> Option<Vec<u8>> {
        None
    }
    /// Sends a call to the terminal hub that holds the devices' connections (docs/terminals.md).
    /// Runtimes without one answer [`HubReply::Unavailable`].
    async fn terminal_hub(&self, call: &crate::hub::HubCall) -> crate::hub::HubReply {
        let _ = call;
        crate::hub::HubReply::Unavailable {
            message: "this runtime has no terminal hub".into(),
        }
    }
}

/// A cache where staleness is harmless (Workers KV): values may be old or missing, so callers
/// store their own freshness bound in the value and fall back to the [`Db`] on a miss.
#[allow(async_fn_in_trait)]
pub trait Cache {
    async fn get(&self, key: &str) -> Option<String>;
    /// Best effort: a failed put only costs a later miss.
    async fn put(&self, key: &str, value: String);
}

/// No cache at all (SQLite runtimes, where the database read is as cheap as a cache read).
pub struct NoCache;

impl Cache for NoCache {
    async fn get(&self, _key: &str) -> Option<String> {
        None
    }
    async fn put(&self, _key: &str, _value: String) {}
}

/// A fresh prefixed id from the environment's randomness.
pub fn new_id(env: &impl Env, prefix: &str) -> String {
    crate::ids::new_id(prefix, &mut |b| env.fill_random(b))
}

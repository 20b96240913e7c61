//! A native [`Db`] over rusqlite (cargo feature `sqlite`): `vinr dev`'s scheduler runs the
//! time-driven steps ([`crate::jobs`]) with it, and the native tests drive the API pipeline with
//! it. The wasm components never build this (they reach SQLite through their runtime's port).
//!
//! `SqliteDb` borrows or owns its connection: `SqliteDb(conn)` owns one, `SqliteDb(&conn)` works
//! on one held elsewhere (e.g. behind the host's writer lock).
//!
//! It is also the one bridge between the domain's [`SqlValue`] and rusqlite (`ToSql`/`FromSql`,
//! [`query`], [`execute`]); the host's webhook dispatcher uses it too.

use std::borrow::Borrow;

use rusqlite::Connection;
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::port::{Db, DbError, Row, SqlValue, Stmt};

pub struct SqliteDb<C: Borrow<Connection> = Connection>(pub C);

/// Binds a value without copying it.
impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Int(i) => ValueRef::Integer(*i),
            SqlValue::Real(f) => ValueRef::Real(*f),
            SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
            SqlValue::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Any column reads as a `SqlValue` (text that is not UTF-8 is an error, not a panic).
impl FromSql for SqlValue {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(match v {
            ValueRef::Null => SqlValue::Null,
            ValueRef::Integer(i) => SqlValue::Int(i),
            ValueRef::Real(f) => SqlValue::Real(f),
            ValueRef::Text(_) => SqlValue::Text(v.as_str()?.to_owned()),
            ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
        })
    }
}

/// Runs one statement on `conn` (in whatever transaction it is in) and returns its rows.
pub fn query(conn: &Connection, s: &Stmt) -> rusqlite::Result<Vec<Row>> {
    let mut st = conn.prepare_cached(&s.sql)?;
    let n = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(&s.params))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(
            (0..n)
                .map(|i| r.get::<_, SqlValue>(i))
                .collect::<rusqlite::Result<Row>>()?,
        );
    }
    Ok(out)
}

/// Runs one statement that returns no rows on `conn`; returns the number of rows it changed.
pub fn execute(conn: &Connection, s: &Stmt) -> rusqlite::Result<usize> {
    conn.prepare_cached(&s.sql)?
        .execute(rusqlite::params_from_iter(&s.params))
}

fn err(e: rusqlite::Error) -> DbError {
    DbError::from_message(e.to_string())
}

impl<C: Borrow<Connection>> SqliteDb<C> {
    pub fn conn(&self) -> &Connection {
        self.0.borrow()
    }

    /// Runs one statement (in whatever transaction the connection is in) and returns its rows.
    pub fn run(&self, s: &Stmt) -> Result<Vec<Row>, DbError> {
        query(self.conn(), s).map_err(err)
    }

    fn rollback(&self) {
        if !self.conn().is_autocommit() {
            let _ = self.conn().execute_batch("ROLLBACK");
        }
    }
}

impl<C: Borrow<Connection>> Db for SqliteDb<C> {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, DbError> {
        self.run(&stmt)
    }

    async fn batch(&self, stmts: Vec<Stmt>) -> Result<(), DbError> {
        self.batch_counted(stmts).await.map(|_| ())
    }

    /// `BEGIN IMMEDIATE` ... `COMMIT`, rolled back at the first failing statement. Counts rows
    /// changed per statement like D1 does, so the pipeline's use of the counts is exercised.
    async fn batch_counted(&self, stmts: Vec<Stmt>) -> Result<Option<Vec<u64>>, DbError> {
        let conn = self.conn();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let mut counts = Vec::with_capacity(stmts.len());
        for s in &stmts {
            if let Err(e) = self.run(s) {
                self.rollback();
                return Err(e);
            }
            counts.push(conn.changes());
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            self.rollback();
            return Err(err(e));
        }
        Ok(Some(counts))
    }
}

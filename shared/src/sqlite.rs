//! A native [`Db`] over rusqlite (cargo feature `sqlite`): `vinr dev`'s scheduler runs the
//! time-driven steps ([`crate::jobs`]) with it, and the native tests drive the API pipeline with
//! it. The wasm components never build this (they reach SQLite through their runtime's port).
//!
//! `SqliteDb` borrows or owns its connection: `SqliteDb(conn)` owns one, `SqliteDb(&conn)` works
//! on one held elsewhere (e.g. behind the host's writer lock).

use std::borrow::Borrow;

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::port::{Db, DbError, Row, SqlValue, Stmt};

pub struct SqliteDb<C: Borrow<Connection> = Connection>(pub C);

fn to_sql(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Real(f) => Value::Real(*f),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_sql(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Int(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
    }
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
        let mut st = self.conn().prepare_cached(&s.sql).map_err(err)?;
        let n = st.column_count();
        let mut rows = st
            .query(rusqlite::params_from_iter(s.params.iter().map(to_sql)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            out.push(
                (0..n)
                    .map(|i| r.get::<_, Value>(i).map(from_sql))
                    .collect::<rusqlite::Result<Row>>()
                    .map_err(err)?,
            );
        }
        Ok(out)
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

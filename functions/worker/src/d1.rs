//! `Db` over a D1 binding. D1 has no interactive transactions: `batch` is D1's own `batch()`,
//! which runs its statements in one implicit transaction, so the `guard_one` trigger (and any
//! failing statement) rolls the whole batch back exactly as on SQLite.

use js_sys::{Array, Uint8Array};
use vinr_shared::port::{Db, DbError, Row, SqlValue, Stmt};
use wasm_bindgen::{JsCast, JsValue};
use worker::{D1Database, D1PreparedStatement};

pub struct D1Db(pub D1Database);

/// Largest integer a JS number carries exactly; D1 binds and returns numbers.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn to_js(v: &SqlValue) -> JsValue {
    match v {
        SqlValue::Null => JsValue::NULL,
        // Ids, amounts, unix seconds and milliseconds are all far below 2^53.
        SqlValue::Int(i) => JsValue::from_f64(*i as f64),
        SqlValue::Real(f) => JsValue::from_f64(*f),
        SqlValue::Text(s) => JsValue::from_str(s),
        SqlValue::Blob(b) => Uint8Array::from(b.as_slice()).buffer().into(),
    }
}

fn from_js(v: JsValue) -> SqlValue {
    if v.is_null() || v.is_undefined() {
        SqlValue::Null
    } else if let Some(f) = v.as_f64() {
        // SQLite's INTEGER comes back as a JS number: integral values are our integers (the
        // schema has no REAL column).
        if f.fract() == 0.0 && f.abs() <= MAX_SAFE {
            SqlValue::Int(f as i64)
        } else {
            SqlValue::Real(f)
        }
    } else if let Some(s) = v.as_string() {
        SqlValue::Text(s)
    } else if let Some(b) = v.as_bool() {
        SqlValue::Int(b as i64)
    } else if v.is_instance_of::<Array>() {
        // BLOBs arrive as arrays of byte values.
        SqlValue::Blob(
            Array::from(&v)
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as u8)
                .collect(),
        )
    } else {
        SqlValue::Blob(Uint8Array::new(&v).to_vec())
    }
}

fn db_error(e: worker::Error) -> DbError {
    DbError::from_message(e.to_string())
}

impl D1Db {
    fn prepare(&self, s: &Stmt) -> Result<D1PreparedStatement, DbError> {
        let params: Vec<JsValue> = s.params.iter().map(to_js).collect();
        self.0.prepare(s.sql.as_ref()).bind(&params).map_err(db_error)
    }
}

impl Db for D1Db {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, DbError> {
        let rows = self.prepare(&stmt)?.raw_js_value().await.map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|r| Array::from(&r).iter().map(from_js).collect())
            .collect())
    }

    async fn batch(&self, stmts: Vec<Stmt>) -> Result<(), DbError> {
        self.batch_counted(stmts).await.map(|_| ())
    }

    async fn batch_counted(&self, stmts: Vec<Stmt>) -> Result<Option<Vec<u64>>, DbError> {
        let prepared = stmts.iter().map(|s| self.prepare(s)).collect::<Result<Vec<_>, _>>()?;
        let results = self.0.batch(prepared).await.map_err(db_error)?;
        if let Some(e) = results.iter().find_map(|r| r.error()) {
            return Err(DbError::from_message(e));
        }
        // Every result carries `meta.changes`; if one cannot be read, report nothing rather than
        // a wrong count.
        let counts: Option<Vec<u64>> = results
            .iter()
            .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).map(|c| c as u64))
            .collect();
        Ok(counts)
    }
}

//! Reads and writes of stored objects, always scoped to the caller's account and environment.

use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::port::{Db, Env, SqlValue, Stmt};
use crate::sql_params;
use serde::de::DeserializeOwned;

/// One stored object with the version that guards its next transition.
pub struct Loaded<T> {
    pub obj: T,
    pub version: i64,
}

/// Loads `table`'s object `id` (with an optional extra condition such as `AND deleted = 0`).
pub async fn load<T: DeserializeOwned, D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    table: &'static str,
    extra: &'static str,
    id: &str,
) -> ApiResult<Option<Loaded<T>>> {
    let rows = cx
        .db
        .query(Stmt::new(
            format!("SELECT data, version FROM {table} WHERE id = ? AND account_id = ? AND livemode = ?{extra}"),
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let obj = row[0]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::internal(format!("unreadable stored object {id}")))?;
    Ok(Some(Loaded {
        obj,
        version: row[1].as_i64().unwrap_or(0),
    }))
}

/// Loads `id` for a URL path: missing is a 404.
pub async fn load_path<T: DeserializeOwned, D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    table: &'static str,
    extra: &'static str,
    what: &str,
    id: &str,
) -> ApiResult<Loaded<T>> {
    load(cx, table, extra, id)
        .await?
        .ok_or_else(|| ApiError::not_found("id", what, id))
}

/// Loads `id` named by a body parameter: missing is a 400 naming that parameter.
pub async fn load_param<T: DeserializeOwned, D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    table: &'static str,
    extra: &'static str,
    what: &str,
    param: &str,
    id: &str,
) -> ApiResult<Loaded<T>> {
    load(cx, table, extra, id)
        .await?
        .ok_or_else(|| ApiError::invalid(param, "resource_missing", format!("No such {what}: '{id}'.")))
}

/// The two statements of a guarded update: the UPDATE (only if `version` is still current) and
/// the `guard_one` check that aborts the whole batch when another request got there first.
/// `set` assigns the table-specific columns, e.g. `status = ?, data = ?`.
pub fn guarded_update(
    table: &'static str,
    set: &'static str,
    mut set_params: Vec<SqlValue>,
    id: &str,
    version: i64,
) -> [Stmt; 2] {
    set_params.extend(sql_params![id, version]);
    [
        Stmt::new(
            format!("UPDATE {table} SET {set}, version = version + 1 WHERE id = ? AND version = ?"),
            set_params,
        ),
        Stmt::new(crate::port::GUARD_ONE_SQL, vec![]),
    ]
}

pub fn to_json<T: serde::Serialize>(obj: &T) -> serde_json::Value {
    serde_json::to_value(obj).expect("API objects always serialize")
}

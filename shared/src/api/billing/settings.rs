//! `/v1/billing/settings`: the environment's dunning schedule (sandbox and live each have their
//! own), read by every failed automatic charge of a subscription invoice. No event: like the
//! payout schedule, it is configuration, not an object with a history.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::dunning;
use crate::error::{ApiError, ApiResult};
use crate::flows;
use crate::objects::billing::AfterFinalFailure;
use crate::port::{Db, Env};
use crate::store::to_json;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Retrieve,
    Update,
}

pub const UPDATE: &[Field] = &[
    Field::any("retry_schedule_days", days_schema).doc(
        "Days between a failed automatic charge and each retry, each counted from the attempt before (default [3, 5, 7]); at most 8 waits of 1 to 60 days. An empty list (a form's `retry_schedule_days=`) retries never.",
    ),
    Field::one_of("after_final_failure", AfterFinalFailure::NAMES)
        .doc("After the last retry fails: cancel the subscription (default), keep it unpaid, or leave it past_due."),
];

fn days_schema() -> Value {
    json!({ "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": dunning::MAX_RETRY_DAYS }, "maxItems": dunning::MAX_RETRIES })
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, p: &Args<'_>) -> ApiResult<Outcome> {
    let mut settings = flows::dunning::settings(cx).await?;
    if action == Action::Retrieve {
        return Ok(Outcome::read(to_json(&settings)));
    }
    if let Some(days) = retry_days(p)? {
        settings.retry_schedule_days = days;
    }
    if let Some(after) = p.one_of("after_final_failure")? {
        // one_of admits only the names.
        settings.after_final_failure =
            AfterFinalFailure::parse(&after).ok_or_else(|| ApiError::internal("unknown after_final_failure"))?;
    }
    let write = flows::dunning::set_settings(cx, &settings);
    Ok(Outcome::write(to_json(&settings), vec![write]))
}

/// `retry_schedule_days`: a list of whole days (a form sends `retry_schedule_days[]=3&...`, one
/// value, or an empty value for no retries), checked by [`dunning::check_schedule`].
fn retry_days(p: &Args<'_>) -> ApiResult<Option<Vec<i64>>> {
    let bad = |message: String| ApiError::invalid("retry_schedule_days", "parameter_invalid", message);
    let items = match p.list_raw("retry_schedule_days")? {
        None => return Ok(None),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) if p.params().form && s.is_empty() => Vec::new(),
        Some(Value::String(s)) if p.params().form => vec![Value::String(s.clone())],
        Some(_) => return Err(bad("retry_schedule_days must be a list of whole days.".into())),
    };
    let mut days = Vec::with_capacity(items.len());
    for v in &items {
        let d = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        days.push(d.ok_or_else(|| bad(format!("retry_schedule_days: {v} is not a whole number of days.")))?);
    }
    dunning::check_schedule(&days).map_err(bad)?;
    Ok(Some(days))
}

//! `/v1/loyalty/program`: the environment's loyalty program (sandbox and live each have their
//! own). Until one is set, GET shows the defaults ([`LoyaltyProgram::default_for`]). A change
//! applies to what happens next: points already earned keep their dates, accounts keep their
//! tier until their next earning or tier review. No event: it is configuration.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::loyalty as domain;
use crate::error::{ApiError, ApiResult};
use crate::flows::loyalty as flows;
use crate::money;
use crate::objects::loyalty::{EarnRate, LoyaltyTier, Rate};
use crate::port::{Db, Env};
use crate::store::to_json;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Retrieve,
    Update,
}

/// The most tiers a program has.
pub const MAX_TIERS: usize = 10;
/// The largest earn rate or multiplier.
pub const MAX_RATE: i64 = 1_000;

const TIER: &[Field] = &[
    Field::str("name", 100).required(),
    Field::int_in("min_points", 0, 1_000_000_000_000).required(),
    Field::any("multiplier", rate_schema).doc("Earning in this tier is multiplied by this (default 1)."),
];

pub const UPDATE: &[Field] = &[
    Field::any("earn_rate", earn_rate_schema).doc(
        "Points per major currency unit captured: one number for every currency, or an object from currency to number (a currency left out earns nothing). At most four decimals; points are floored per payment. Default 1.",
    ),
    Field::int_in("pending_days", 0, 365).doc("Points from a payment stay pending this many days (default 0)."),
    Field::int_in("expiry_months", 0, 120)
        .doc("Active points expire this many months after they became active; 0 (the default) never."),
    Field::objects("tiers", TIER, MAX_TIERS).doc(
        "Tiers by points earned in the trailing 12 months; replaces the list (an empty value clears it).",
    ),
    Field::bool("auto_enroll").doc("Open a loyalty account for a customer at their first captured payment."),
];

fn rate_schema() -> Value {
    json!({ "type": "number", "minimum": 0, "maximum": MAX_RATE, "multipleOf": 0.0001 })
}

fn earn_rate_schema() -> Value {
    json!({ "oneOf": [rate_schema(), { "type": "object", "additionalProperties": rate_schema() }] })
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, p: &Args<'_>) -> ApiResult<Outcome> {
    let mut program = flows::program(cx).await?;
    if action == Action::Retrieve {
        return Ok(Outcome::read(to_json(&program)));
    }
    if let Some(v) = p.raw("earn_rate")? {
        program.earn_rate = earn_rate(v)?;
    }
    if let Some(d) = p.integer("pending_days")? {
        program.pending_days = d;
    }
    if let Some(m) = p.integer("expiry_months")? {
        program.expiry_months = m;
    }
    if p.has("tiers") {
        let mut tiers = Vec::new();
        for t in p.objects("tiers")? {
            tiers.push(LoyaltyTier {
                name: t.required_string("name")?,
                min_points: t.integer("min_points")?.unwrap_or(0),
                multiplier: match t.raw("multiplier")? {
                    Some(v) => rate(v, &t.display("multiplier"))?,
                    None => Rate::ONE,
                },
            });
        }
        program.tiers = domain::check_tiers(tiers)?;
    }
    if let Some(a) = p.boolean("auto_enroll")? {
        program.auto_enroll = a;
    }
    let write = flows::save_program(cx, &program, false);
    Ok(Outcome::write(to_json(&program), vec![write]))
}

/// A rate parameter `name`: a number (or, in a form, its text) of at most four decimals, from 0
/// to [`MAX_RATE`].
fn rate(v: &Value, name: &str) -> ApiResult<Rate> {
    let text = match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    text.as_deref()
        .and_then(Rate::parse)
        .filter(|r| r.0 <= MAX_RATE * Rate::SCALE)
        .ok_or_else(|| {
            ApiError::invalid(
                name,
                "parameter_invalid",
                format!("{name} must be a number from 0 to {MAX_RATE} with at most four decimals."),
            )
        })
}

/// `earn_rate`: a rate, or an object from currency code to rate.
fn earn_rate(v: &Value) -> ApiResult<EarnRate> {
    let Value::Object(m) = v else {
        return Ok(EarnRate::Flat(rate(v, "earn_rate")?));
    };
    let mut rates = BTreeMap::new();
    for (code, r) in m {
        let name = format!("earn_rate[{code}]");
        let code = money::parse_currency(&name, code)?;
        rates.insert(code, rate(r, &name)?);
    }
    Ok(EarnRate::PerCurrency(rates))
}

//! `/v1/prices`: create (per unit or tiered, one-time or recurring, licensed or metered), list,
//! retrieve, and update of the few fields that may change.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use super::active_filter;
use crate::context::Ctx;
use crate::domain::pricing::{self, MAX_TIERS};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::fields;
use crate::money::{MAX_AMOUNT, parse_currency};
use crate::objects::billing::{
    AggregateUsage, BillingScheme, Interval, Price, PriceType, Recurring, Tier, TiersMode, UsageType,
};
use crate::port::{Db, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;
use crate::store::{Loaded, load_path, to_json};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Update,
}

pub const TYPES: &[&str] = &["one_time", "recurring"];
const AMOUNT_DOC: &str = "Minor units, 0 to 99,999,999.";

const TIER: &[Field] = &[
    Field::any("up_to", up_to_schema)
        .required()
        .doc("The tier's last unit (inclusive), or `inf` for the last tier."),
    Field::int_in("unit_amount", 0, MAX_AMOUNT).doc(AMOUNT_DOC),
    Field::int_in("flat_amount", 0, MAX_AMOUNT).doc(AMOUNT_DOC),
];

const RECURRING: &[Field] = &[
    Field::one_of("interval", Interval::NAMES).required(),
    Field::int_in("interval_count", 1, 365)
        .default("1")
        .doc("Intervals per period; at most one year in all (12 months, 52 weeks, 365 days)."),
    Field::one_of("usage_type", &["licensed", "metered"]).default("\"licensed\""),
    Field::one_of("aggregate_usage", &["sum", "max", "last_during_period"]).doc("Metered prices only; default `sum`."),
];

const NICKNAME: Field = Field::str("nickname", 250);

pub const CREATE: &[Field] = &[
    Field::str("product", 100).required(),
    Field::checked("currency", 16)
        .required()
        .doc("ISO 4217 code, e.g. EUR."),
    Field::int_in("unit_amount", 0, MAX_AMOUNT)
        .doc("Per unit, minor units (0 to 99,999,999); required for per_unit prices."),
    Field::one_of("billing_scheme", &["per_unit", "tiered"]).default("\"per_unit\""),
    Field::objects("tiers", TIER, MAX_TIERS)
        .doc("Tiered prices: the tiers, in order; each needs unit_amount or flat_amount."),
    Field::one_of("tiers_mode", &["graduated", "volume"]).doc("Tiered prices: required."),
    Field::object("recurring", RECURRING).doc("Absent for a one-time price."),
    NICKNAME,
    Field::bool("active").default("true"),
    Field::metadata(),
];

pub const UPDATE: &[Field] = &[Field::bool("active"), NICKNAME, Field::metadata()];

fn up_to_schema() -> Value {
    json!({ "oneOf": [{ "type": "integer", "minimum": 1 }, { "type": "string", "enum": ["inf"] }] })
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let (mut filter, mut filter_params) = active_filter(p)?;
            if let Some(product) = p.string("product")? {
                filter.push_str(" AND product_id = ?");
                filter_params.extend(sql_params![product]);
            }
            if let Some(kind) = p.one_of("type")? {
                filter.push_str(" AND recurring = ?");
                filter_params.extend(sql_params![kind == "recurring"]);
            }
            super::listed(cx, p, "prices", filter, filter_params).await
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?.obj))),
        Action::Update => update(cx, id, p).await,
    }
}

async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<Price>> {
    load_path(cx, "prices", "", "price", id).await
}

/// A price as the request describes it, checked; `id`, `product` and the rest are the caller's.
struct Terms {
    billing_scheme: BillingScheme,
    unit_amount: Option<i64>,
    tiers_mode: Option<TiersMode>,
    tiers: Option<Vec<Tier>>,
    recurring: Option<Recurring>,
}

fn terms(p: &Args<'_>) -> ApiResult<Terms> {
    let recurring = p.object("recurring")?.map(|r| recurring(&r)).transpose()?;
    let tiered = p.one_of("billing_scheme")?.as_deref() == Some("tiered");
    let only_tiered = |name: &str| {
        ApiError::invalid(
            name,
            "parameter_not_allowed",
            format!("{name} is only for billing_scheme=tiered."),
        )
    };
    if !tiered {
        if p.has("tiers") {
            return Err(only_tiered("tiers"));
        }
        if p.has("tiers_mode") {
            return Err(only_tiered("tiers_mode"));
        }
        let unit_amount = p
            .integer("unit_amount")?
            .ok_or_else(|| ApiError::missing("unit_amount"))?;
        return Ok(Terms {
            billing_scheme: BillingScheme::PerUnit,
            unit_amount: Some(unit_amount),
            tiers_mode: None,
            tiers: None,
            recurring,
        });
    }
    if p.has("unit_amount") {
        return Err(ApiError::invalid(
            "unit_amount",
            "parameter_not_allowed",
            "A tiered price has no unit_amount: each tier has its own.",
        ));
    }
    if recurring.is_none() {
        return Err(ApiError::invalid(
            "billing_scheme",
            "tiered_price_not_recurring",
            "Tiered prices must be recurring: pass recurring[interval].",
        ));
    }
    let mode = match p.one_of("tiers_mode")?.as_deref() {
        Some("graduated") => TiersMode::Graduated,
        Some(_) => TiersMode::Volume,
        None => return Err(ApiError::missing("tiers_mode")),
    };
    let tiers = p
        .objects("tiers")?
        .iter()
        .enumerate()
        .map(|(i, t)| tier(i, t))
        .collect::<ApiResult<Vec<_>>>()?;
    if tiers.is_empty() {
        return Err(ApiError::missing("tiers"));
    }
    pricing::check_tiers(&tiers).map_err(|(i, message)| {
        let param = i.map_or("tiers".to_string(), |i| format!("tiers[{i}][up_to]"));
        ApiError::invalid(&param, "tiers_invalid", message)
    })?;
    Ok(Terms {
        billing_scheme: BillingScheme::Tiered,
        unit_amount: None,
        tiers_mode: Some(mode),
        tiers: Some(tiers),
        recurring,
    })
}

fn tier(i: usize, t: &Args<'_>) -> ApiResult<Tier> {
    let bad_up_to = || {
        ApiError::invalid(
            &format!("tiers[{i}][up_to]"),
            "parameter_invalid",
            format!("tiers[{i}][up_to] must be a positive integer or `inf`."),
        )
    };
    let up_to = match t.raw("up_to")? {
        Some(Value::String(s)) if s == "inf" => None,
        Some(Value::String(s)) => Some(s.parse::<i64>().map_err(|_| bad_up_to())?),
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(bad_up_to)?),
        _ => return Err(bad_up_to()),
    };
    if up_to.is_some_and(|n| n < 1) {
        return Err(bad_up_to());
    }
    let (unit_amount, flat_amount) = (t.integer("unit_amount")?, t.integer("flat_amount")?);
    if unit_amount.is_none() && flat_amount.is_none() {
        return Err(ApiError::invalid(
            &format!("tiers[{i}]"),
            "parameter_missing",
            format!("tiers[{i}] needs unit_amount or flat_amount."),
        ));
    }
    Ok(Tier {
        up_to,
        unit_amount: unit_amount.unwrap_or(0),
        flat_amount: flat_amount.unwrap_or(0),
    })
}

fn recurring(r: &Args<'_>) -> ApiResult<Recurring> {
    let interval = r
        .one_of("interval")?
        .as_deref()
        .and_then(Interval::parse)
        .ok_or_else(|| ApiError::missing("recurring[interval]"))?;
    let interval_count = r.integer("interval_count")?.unwrap_or(1);
    if interval_count > interval.max_count() {
        return Err(ApiError::invalid(
            "recurring[interval_count]",
            "parameter_invalid_integer",
            format!(
                "A period is at most one year: recurring[interval_count] is at most {} for {}s.",
                interval.max_count(),
                Interval::NAMES[interval as usize]
            ),
        ));
    }
    let usage_type = match r.one_of("usage_type")?.as_deref() {
        Some("metered") => UsageType::Metered,
        _ => UsageType::Licensed,
    };
    let aggregate = r.one_of("aggregate_usage")?;
    let aggregate_usage = match (usage_type, aggregate.as_deref()) {
        (UsageType::Licensed, None) => None,
        (UsageType::Licensed, Some(_)) => {
            return Err(ApiError::invalid(
                "recurring[aggregate_usage]",
                "parameter_not_allowed",
                "recurring[aggregate_usage] is only for recurring[usage_type]=metered.",
            ));
        }
        (UsageType::Metered, Some("max")) => Some(AggregateUsage::Max),
        (UsageType::Metered, Some("last_during_period")) => Some(AggregateUsage::LastDuringPeriod),
        (UsageType::Metered, _) => Some(AggregateUsage::Sum),
    };
    Ok(Recurring {
        interval,
        interval_count,
        usage_type,
        aggregate_usage,
    })
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let currency = parse_currency("currency", &p.required_string("currency")?)?;
    let terms = terms(p)?;
    let product = p.required_string("product")?;
    let exists = cx
        .db
        .query(Stmt::new(
            PRODUCT_SQL,
            sql_params![&product, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    if exists.is_empty() {
        return Err(ApiError::invalid(
            "product",
            "resource_missing",
            format!("No such product: '{product}'."),
        ));
    }
    let price = Price {
        id: cx.id("price_"),
        object: "price".into(),
        product,
        currency,
        kind: if terms.recurring.is_some() {
            PriceType::Recurring
        } else {
            PriceType::OneTime
        },
        billing_scheme: terms.billing_scheme,
        unit_amount: terms.unit_amount,
        tiers_mode: terms.tiers_mode,
        tiers: terms.tiers,
        recurring: terms.recurring,
        active: p.boolean("active")?.unwrap_or(true),
        nickname: p.string("nickname")?,
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let data = to_json(&price);
    // Inserted only while the product still exists: a concurrent delete of the product makes
    // this change nothing, the guard aborts the batch, and the retry answers 400.
    let mut writes = vec![
        Stmt::new(
            format!(
                "INSERT INTO prices (id, account_id, livemode, product_id, active, recurring, created, data) \
                 SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS ({PRODUCT_SQL})"
            ),
            sql_params![
                &price.id,
                &cx.acct.id,
                cx.acct.livemode,
                &price.product,
                price.active,
                price.recurring.is_some(),
                cx.now,
                data.to_string(),
                &price.product,
                &cx.acct.id,
                cx.acct.livemode
            ],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
    ];
    writes.extend(events::record(cx.env, &cx.acct, EventType::PriceCreated, cx.now, &data));
    Ok(Outcome::write(data, writes))
}

/// The product a new price names, in the caller's account and environment, not deleted.
const PRODUCT_SQL: &str = "SELECT 1 FROM products WHERE id = ? AND account_id = ? AND livemode = ? AND deleted = 0";

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded {
        obj: mut price,
        version,
    } = load(cx, id).await?;
    p.check_after_load()?;
    if let Some(active) = p.boolean("active")? {
        price.active = active;
    }
    if let Some(v) = p.update_text("nickname")? {
        price.nickname = v;
    }
    if let Some(m) = fields::metadata(p.params())? {
        fields::merge_metadata(&mut price.metadata, m)?;
    }
    let data = to_json(&price);
    let writes = super::updated(cx, "prices", id, version, price.active, &data, EventType::PriceUpdated);
    Ok(Outcome::write(data, writes))
}

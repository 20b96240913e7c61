//! `/v1/payment_methods`: create from a card (sandbox: test cards only), retrieve, list, attach to
//! and detach from customers. Predefined test methods (`pm_card_visa`, ...) need no row.

use super::Outcome;
use super::operation::{Args, Field, Op};
use crate::cards::{self, TestBehavior, test_card_by_number, test_card_by_pm};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::events::EventType;
use crate::fields;
use crate::flows::payment_method::{resolve, test_card_snapshot};
use crate::list::{self, ListSpec};
use crate::objects::*;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::store::{Loaded, guarded_update, load_param, load_path, to_json};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Attach,
    Detach,
}

pub const OPS: &[Op<Action>] = &[
    Op::post("payment_methods", "create", Action::Create)
        .summary("Create a card payment method")
        .fields(&[
            Field::one_of("type", &["card"]),
            Field::object(
                "card",
                &[
                    Field::checked("number", 30)
                        .required()
                        .doc("Digits, spaces and dashes allowed."),
                    Field::int("exp_month").required(),
                    Field::int("exp_year").required(),
                    Field::checked("cvc", 4),
                ],
            )
            .required(),
            Field::object(
                "billing_details",
                &[
                    Field::str("name", 256),
                    Field::checked("email", 512),
                    Field::str("phone", 40),
                ],
            ),
            Field::metadata(),
            Field::str("customer", 100),
        ])
        .answers("PaymentMethod"),
    Op::get("payment_methods", "list", Action::List)
        .summary("List a customer's payment methods")
        .list()
        .fields(&[Field::str("customer", 100), Field::one_of("type", &["card"])])
        .answers("PaymentMethodList"),
    Op::get("payment_methods/:id", "retrieve", Action::Retrieve)
        .summary("Retrieve a payment method")
        .answers("PaymentMethod"),
    Op::post("payment_methods/:id/attach", "attach", Action::Attach)
        .summary("Attach a payment method to a customer")
        .fields(&[Field::str("customer", 100).required()])
        .answers("PaymentMethod"),
    Op::post("payment_methods/:id/detach", "detach", Action::Detach)
        .summary("Detach a payment method from its customer")
        .answers("PaymentMethod"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => list(cx, p).await,
        Action::Retrieve => match predefined(cx, id).await? {
            Some(pm) => Ok(Outcome::read(to_json(&pm))),
            None => Ok(Outcome::read(to_json(
                &load_path::<PaymentMethod, _, _>(cx, "payment_methods", "", "payment method", id)
                    .await?
                    .obj,
            ))),
        },
        Action::Attach => {
            let customer = p.required_string("customer")?;
            let cust =
                load_param::<Customer, _, _>(cx, "customers", " AND deleted = 0", "customer", "customer", &customer)
                    .await?
                    .obj;
            if test_card_by_pm(id).is_none() {
                load_path::<PaymentMethod, _, _>(cx, "payment_methods", "", "payment method", id).await?;
            }
            let (pm, writes) = attach(cx, "id", id, &cust.id).await?;
            Ok(Outcome::write(to_json(&pm), writes))
        }
        Action::Detach => detach(cx, id).await,
    }
}

/// The synthesized object for a predefined test payment method id, in any environment (a live
/// payment with it is refused later, with a clear error).
async fn predefined<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Option<PaymentMethod>> {
    let Some(tc) = test_card_by_pm(id) else {
        return Ok(None);
    };
    Ok(Some(PaymentMethod {
        id: id.into(),
        object: "payment_method".into(),
        kind: "card".into(),
        card: test_card_snapshot(&cx.fingerprint_key().await?, tc),
        billing_details: BillingDetails::default(),
        customer: None,
        metadata: Default::default(),
        livemode: cx.acct.livemode,
        created: 0,
    }))
}

/// (year, month) of a unix time, UTC (Howard Hinnant's civil-from-days).
fn year_month(unix: i64) -> (i64, i64) {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m)
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    // Only cards exist.
    p.one_of("type")?;
    let card = p.object("card")?.ok_or_else(|| ApiError::missing("card"))?;
    let raw = card
        .string("number")?
        .ok_or_else(|| ApiError::missing("card[number]"))?;
    let number = cards::normalize_number(&raw).ok_or_else(|| {
        ApiError::invalid(
            "card[number]",
            "card_number_invalid",
            "The card number is not a valid card number.",
        )
    })?;
    let exp_month = card
        .integer("exp_month")?
        .ok_or_else(|| ApiError::missing("card[exp_month]"))?;
    if !(1..=12).contains(&exp_month) {
        return Err(ApiError::invalid(
            "card[exp_month]",
            "invalid_expiry_month",
            "card[exp_month] must be 1 to 12.",
        ));
    }
    let mut exp_year = card
        .integer("exp_year")?
        .ok_or_else(|| ApiError::missing("card[exp_year]"))?;
    if (0..100).contains(&exp_year) {
        exp_year += 2000;
    }
    let (y, m) = year_month(cx.now);
    if !(y..=y + 50).contains(&exp_year) || (exp_year == y && exp_month < m) {
        return Err(ApiError::invalid(
            "card[exp_year]",
            "card_expired",
            "The card's expiry date is in the past or too far ahead.",
        ));
    }
    if let Some(cvc) = card.string("cvc")?
        && !crate::cards::is_cvc(&cvc)
    {
        return Err(ApiError::invalid(
            "card[cvc]",
            "invalid_cvc",
            "card[cvc] must be 3 or 4 digits.",
        ));
    }
    let test = test_card_by_number(&number);
    let behavior = match (cx.acct.livemode, test) {
        (false, Some(tc)) => Some(tc.behavior),
        (false, None) => {
            return Err(ApiError::invalid(
                "card[number]",
                "test_card_required",
                "The sandbox accepts only the documented test cards (see the README).",
            ));
        }
        (true, Some(_)) => {
            return Err(ApiError::invalid(
                "card[number]",
                "test_card_in_live_mode",
                "Test cards cannot be used with live keys.",
            ));
        }
        (true, None) => None,
    };
    let billing_details = match p.object("billing_details")? {
        Some(b) => BillingDetails {
            name: b.string("name")?,
            email: b
                .string("email")?
                .map(|e| fields::email("billing_details[email]", &e))
                .transpose()?,
            phone: b.string("phone")?,
        },
        None => BillingDetails::default(),
    };
    let customer = match p.string("customer")? {
        Some(c) => Some(
            load_param::<Customer, _, _>(cx, "customers", " AND deleted = 0", "customer", "customer", &c)
                .await?
                .obj
                .id,
        ),
        None => None,
    };
    let pm = PaymentMethod {
        id: cx.id("pm_"),
        object: "payment_method".into(),
        kind: "card".into(),
        card: Card {
            brand: cards::brand_of(&number).into(),
            last4: number[number.len() - 4..].into(),
            exp_month,
            exp_year,
            fingerprint: cards::fingerprint(&cx.fingerprint_key().await?, &number),
            funding: test.map_or("unknown", |t| t.funding).into(),
        },
        billing_details,
        customer,
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let mut writes = vec![insert(cx, &pm, behavior)];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::PaymentMethodCreated,
        cx.now,
        &to_json(&pm),
    ));
    if pm.customer.is_some() {
        writes.extend(events::record(
            cx.env,
            &cx.acct,
            EventType::PaymentMethodAttached,
            cx.now,
            &to_json(&pm),
        ));
    }
    Ok(Outcome::write(to_json(&pm), writes))
}

fn insert<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pm: &PaymentMethod, behavior: Option<TestBehavior>) -> Stmt {
    Stmt::new(
        "INSERT INTO payment_methods (id, account_id, livemode, customer_id, test_behavior, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &pm.id,
            &cx.acct.id,
            cx.acct.livemode,
            pm.customer.clone(),
            behavior.map(|b| b.code()),
            pm.created,
            to_json(pm).to_string()
        ],
    )
}

/// Attaches payment method `id` (named by `param`) to `customer`. A predefined test method is
/// copied into a new `pm_` owned by the customer. Returns the attached method and the writes.
pub async fn attach<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    param: &str,
    id: &str,
    customer: &str,
) -> ApiResult<(PaymentMethod, Vec<Stmt>)> {
    if let Some(mut pm) = predefined(cx, id).await? {
        if cx.acct.livemode {
            return Err(ApiError::invalid(
                param,
                "test_card_in_live_mode",
                "Test cards cannot be used with live keys.",
            ));
        }
        let behavior = resolve(cx, param, id).await?.behavior;
        pm.id = cx.id("pm_");
        pm.customer = Some(customer.into());
        pm.created = cx.now;
        let mut writes = vec![insert(cx, &pm, behavior)];
        writes.extend(events::record(
            cx.env,
            &cx.acct,
            EventType::PaymentMethodAttached,
            cx.now,
            &to_json(&pm),
        ));
        return Ok((pm, writes));
    }
    let Loaded { obj: mut pm, version } =
        load_param::<PaymentMethod, _, _>(cx, "payment_methods", "", "payment method", param, id).await?;
    match pm.customer.as_deref() {
        Some(c) if c == customer => return Ok((pm, vec![])),
        Some(_) => {
            return Err(ApiError::invalid(
                param,
                "payment_method_already_attached",
                format!("Payment method {id} is attached to another customer; detach it first."),
            ));
        }
        None => {}
    }
    pm.customer = Some(customer.into());
    let data = to_json(&pm);
    let mut writes: Vec<Stmt> = guarded_update(
        "payment_methods",
        "customer_id = ?, data = ?",
        sql_params![customer, data.to_string()],
        id,
        version,
    )
    .into();
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::PaymentMethodAttached,
        cx.now,
        &data,
    ));
    Ok((pm, writes))
}

async fn detach<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Outcome> {
    if test_card_by_pm(id).is_some() {
        return Err(ApiError::invalid(
            "id",
            "payment_method_not_attached",
            "Predefined test payment methods are never attached.",
        ));
    }
    let Loaded { obj: mut pm, version } =
        load_path::<PaymentMethod, _, _>(cx, "payment_methods", "", "payment method", id).await?;
    let Some(owner) = pm.customer.take() else {
        return Err(ApiError::invalid(
            "id",
            "payment_method_not_attached",
            format!("Payment method {id} is not attached to a customer."),
        ));
    };
    let data = to_json(&pm);
    let mut writes: Vec<Stmt> = guarded_update(
        "payment_methods",
        "customer_id = ?, data = ?",
        sql_params![None::<String>, data.to_string()],
        id,
        version,
    )
    .into();
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::PaymentMethodDetached,
        cx.now,
        &data,
    ));
    // The customer's default must not point at a method it no longer owns.
    if let Some(Loaded {
        obj: mut cust,
        version: cv,
    }) = crate::store::load::<Customer, _, _>(cx, "customers", "", &owner).await?
        && cust.default_payment_method.as_deref() == Some(id)
    {
        cust.default_payment_method = None;
        let cdata = to_json(&cust);
        writes.extend(guarded_update(
            "customers",
            "data = ?",
            sql_params![cdata.to_string()],
            &owner,
            cv,
        ));
        writes.extend(events::record(
            cx.env,
            &cx.acct,
            EventType::CustomerUpdated,
            cx.now,
            &cdata,
        ));
    }
    Ok(Outcome::write(data, writes))
}

async fn list<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    // Only cards exist.
    p.one_of("type")?;
    let (filter, filter_params) = match p.string("customer")? {
        Some(c) => (" AND customer_id = ?".to_string(), sql_params![c]),
        None => (String::new(), vec![]),
    };
    let (data, has_more): (Vec<Value>, bool) = list::fetch(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "payment_methods",
            filter,
            filter_params,
        },
        &page,
    )
    .await?;
    Ok(Outcome::read(list::envelope("/v1/payment_methods", data, has_more)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::year_month(0), (1970, 1));
        assert_eq!(super::year_month(1_716_300_000), (2024, 5));
        assert_eq!(super::year_month(1_795_000_000), (2026, 11));
        assert_eq!(super::year_month(951_782_400), (2000, 2)); // 2000-02-29
    }
}

//! `/v1/payments` and `/v1/charges`: create, retrieve, list, capture, confirm, cancel, adjust,
//! reverse. Decisions live in [`crate::domain::payment`]; this module reads, validates and writes.

use super::Outcome;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::domain::payment::{self, CANCELLATION_REASONS, Transition, apply_authorization};
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::flows;
use crate::flows::payment::{NewPayment, live_guard, random6};
use crate::flows::payment_method::{ResolvedPm, resolve};
use crate::list::{self, ListSpec};
use crate::money::{check_amount, parse_currency};
use crate::objects::*;
use crate::port::{Db, Env, Stmt};
use crate::processor::{self, AuthOutcome};
use crate::sql_params;
use crate::store::{Loaded, load, load_param, load_path, to_json};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Capture,
    Confirm,
    Cancel,
    Adjust,
    Reverse,
    Charge,
}

/// Minor units, checked against the currency by [`check_amount`].
pub const AMOUNT_DOC: &str =
    "Minor units of the currency (at least 50; 500 and a multiple of 10 for 3-decimal currencies), at most 99,999,999.";
const EXPAND: Field = Field::expand(&["customer", "latest_charge"]);

const CREATE: &[Field] = &[
    Field::int("amount").required().doc(AMOUNT_DOC),
    Field::checked("currency", 16)
        .required()
        .doc("ISO 4217 code, e.g. EUR."),
    Field::str("payment_method", 100)
        .doc("A pm_ id or a test method such as pm_card_visa; defaults to the customer's default_payment_method."),
    Field::str("customer", 100),
    Field::str("description", 1000),
    Field::metadata(),
    Field::checked("return_url", 2048),
    Field::checked("returnUrl", 2048).doc("Seed 000's name for return_url."),
    Field::one_of("capture_method", &["automatic", "manual"]),
    Field::bool("capture").doc("Seed 000: false means capture_method=manual."),
    Field::object("routing", &[Field::str("preferred_acquirer", 64)]),
    Field::str("on_behalf_of", 100),
    Field::checked_within("statement_descriptor", 100, 22)
        .doc("5 to 22 ASCII characters, at least one letter, none of < > \\ ' \" *."),
    EXPAND,
    // Taken out of the parameters by the pipeline (it is the request's key, not its content).
    Field::pattern("idempotencyKey", 255, "^[!-~]{1,255}$").doc("Seed 000: the same as the Idempotency-Key header."),
];

pub const OPS: &[Op<Action>] = &[
    Op::post("payments", "create", Action::Create)
        .summary("Create a payment")
        .fields(CREATE)
        .answers("Payment"),
    Op::get("payments", "list", Action::List)
        .summary("List payments")
        .list()
        .fields(&[
            Field::str("customer", 100),
            Field::expand(&["data.customer", "data.latest_charge"]),
        ])
        .answers("PaymentList"),
    Op::get("payments/:id", "retrieve", Action::Retrieve)
        .summary("Retrieve a payment")
        .fields(&[EXPAND])
        .answers("Payment"),
    Op::post("payments/:id/capture", "capture", Action::Capture)
        .summary("Capture a payment (all or part of the authorized amount)")
        .fields(&[Field::int("amount_to_capture").doc(AMOUNT_DOC), EXPAND])
        .answers("Payment"),
    Op::post("payments/:id/confirm", "confirm", Action::Confirm)
        .summary("Confirm a payment after its 3-D Secure challenge")
        .fields(&[
            Field::object(
                "details",
                // The handler names the two values in its own message.
                &[Field::checked_in("result", 20, &["authenticated", "failed"]).required()],
            )
            .required(),
            EXPAND,
        ])
        .answers("Payment"),
    Op::post("payments/:id/cancel", "cancel", Action::Cancel)
        .summary("Cancel a payment")
        .fields(&[Field::one_of("cancellation_reason", CANCELLATION_REASONS), EXPAND])
        .answers("Payment"),
    Op::post("payments/:id/adjust", "adjust", Action::Adjust)
        .summary("Adjust an authorized amount")
        .fields(&[Field::int("amount").required().doc(AMOUNT_DOC), EXPAND])
        .answers("Payment"),
    Op::post("payments/:id/reverse", "reverse", Action::Reverse)
        .summary("Reverse (release) all or part of an authorization")
        .fields(&[Field::int("amount").doc(AMOUNT_DOC), EXPAND])
        .answers("Payment"),
    Op::get("charges/:id", "charge", Action::Charge)
        .summary("Retrieve a charge")
        .answers("Charge"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => list(cx, p).await,
        Action::Retrieve => {
            let pay = load_path::<Payment, _, _>(cx, "payments", "", "payment", id).await?;
            Ok(Outcome::read(render(cx, &pay.obj, &p.expand()?, None).await?))
        }
        Action::Charge => {
            let ch = load_path::<Charge, _, _>(cx, "charges", "", "charge", id).await?;
            Ok(Outcome::read(to_json(&ch.obj)))
        }
        Action::Capture => capture(cx, id, p).await,
        Action::Confirm => confirm(cx, id, p).await,
        Action::Cancel => {
            let reason = p.one_of("cancellation_reason")?;
            let now = cx.now;
            transition(cx, id, p, |pay, _| payment::cancel(pay, reason.clone(), now)).await
        }
        Action::Adjust => {
            let amount = p.integer("amount")?.ok_or_else(|| ApiError::missing("amount"))?;
            let now = cx.now;
            transition(cx, id, p, |pay, ch| {
                check_amount("amount", amount, &pay.currency)?;
                let brand = ch
                    .map(|c| c.payment_method_details.card.card.brand.as_str())
                    .unwrap_or("visa");
                payment::adjust(pay, brand, amount, now)
            })
            .await
        }
        Action::Reverse => {
            let amount = p.integer("amount")?;
            let (now, rev) = (cx.now, cx.id("rev_"));
            transition(cx, id, p, |pay, _| payment::reverse(pay, amount, rev.clone(), now)).await
        }
    }
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let amount = p.integer("amount")?.ok_or_else(|| ApiError::missing("amount"))?;
    let currency = parse_currency("currency", &p.required_string("currency")?)?;
    check_amount("amount", amount, &currency)?;
    let capture_method = capture_method(p)?;
    let description = p.string("description")?;
    let metadata = fields::new_metadata(p.params())?;
    let return_url = match (p.string("return_url")?, p.string("returnUrl")?) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid(
                "returnUrl",
                "parameter_invalid",
                "return_url and returnUrl disagree; send one.",
            ));
        }
        (Some(u), _) | (None, Some(u)) => Some(fields::url(
            if p.has("return_url") { "return_url" } else { "returnUrl" },
            &u,
        )?),
        (None, None) => None,
    };
    let statement_descriptor = p
        .string("statement_descriptor")?
        .map(|s| fields::statement_descriptor("statement_descriptor", &s))
        .transpose()?;
    let preferred = match p.object("routing")? {
        Some(r) => r.string("preferred_acquirer")?,
        None => None,
    };
    let acquirer = processor::route(preferred.as_deref(), &currency)?;
    let on_behalf_of = match p.string("on_behalf_of")? {
        Some(a) => {
            // Only the caller's own connected accounts: any other id, existing or not, answers the
            // same, so the check tells nothing about other tenants.
            let found = cx
                .db
                .query(Stmt::new(
                    "SELECT 1 FROM accounts WHERE id = ? AND platform_id = ?",
                    sql_params![&a, &cx.acct.id],
                ))
                .await?;
            if found.is_empty() {
                return Err(ApiError::invalid(
                    "on_behalf_of",
                    "resource_missing",
                    format!("No such account: '{a}'."),
                ));
            }
            Some(a)
        }
        None => None,
    };
    let expand = p.expand()?;

    let mut customer: Option<Customer> = match p.string("customer")? {
        Some(id) => Some(
            load_param::<Customer, _, _>(cx, "customers", " AND deleted = 0", "customer", "customer", &id)
                .await?
                .obj,
        ),
        None => None,
    };
    let pm: ResolvedPm = match (p.string("payment_method")?, &customer) {
        (Some(id), _) => resolve(cx, "payment_method", &id).await?,
        (None, Some(c)) => match &c.default_payment_method {
            Some(id) => resolve(cx, "customer", id).await?,
            None => {
                return Err(ApiError::invalid(
                    "payment_method",
                    "parameter_missing",
                    "Missing required param: payment_method (the customer has no default_payment_method).",
                ));
            }
        },
        (None, None) => return Err(ApiError::missing("payment_method")),
    };
    if let Some(owner) = &pm.customer {
        match &customer {
            Some(c) if &c.id != owner => {
                return Err(ApiError::invalid(
                    "payment_method",
                    "payment_method_customer_mismatch",
                    format!("Payment method {} belongs to another customer.", pm.id),
                ));
            }
            Some(_) => {}
            None => {
                customer = Some(
                    load_param::<Customer, _, _>(
                        cx,
                        "customers",
                        " AND deleted = 0",
                        "customer",
                        "payment_method",
                        owner,
                    )
                    .await?
                    .obj,
                )
            }
        }
    }
    let (pay, charge, writes) = flows::payment::create(
        cx,
        NewPayment {
            amount,
            currency,
            capture_method,
            customer: customer.as_ref().map(|c| c.id.clone()),
            pm,
            description,
            metadata,
            return_url,
            routing: Routing {
                preferred_acquirer: preferred,
                acquirer: acquirer.id.into(),
            },
            on_behalf_of,
            statement_descriptor,
            off_session: false,
            intent: None,
        },
    )
    .await?;
    let body = render(cx, &pay, &expand, Some((customer.as_ref(), charge.as_ref()))).await?;
    Ok(Outcome::write(body, writes))
}

fn capture_method(p: &Args<'_>) -> ApiResult<CaptureMethod> {
    let explicit = match p.one_of("capture_method")?.as_deref() {
        Some("manual") => Some(CaptureMethod::Manual),
        Some(_) => Some(CaptureMethod::Automatic),
        None => None,
    };
    // Seed 000's `capture: false` means manual capture.
    let legacy = p.boolean("capture")?.map(|c| {
        if c {
            CaptureMethod::Automatic
        } else {
            CaptureMethod::Manual
        }
    });
    match (explicit, legacy) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
            "capture",
            "parameter_invalid",
            "capture and capture_method disagree; send one.",
        )),
        (a, b) => Ok(a.or(b).unwrap_or(CaptureMethod::Automatic)),
    }
}

/// Loads the payment and its charge, applies `step`, and writes the result behind a version guard.
async fn transition<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    id: &str,
    p: &Args<'_>,
    step: impl FnOnce(&Payment, Option<&Charge>) -> ApiResult<Transition>,
) -> ApiResult<Outcome> {
    let expand = p.expand()?;
    let moved = flows::payment::transition(cx, id, step).await?;
    rendered(cx, moved, &expand).await
}

/// A moved payment's answer (with `expand`) and writes.
async fn rendered<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    m: flows::payment::Moved,
    expand: &[String],
) -> ApiResult<Outcome> {
    let body = render(cx, &m.payment, expand, m.charge.as_ref().map(|c| (None, Some(c)))).await?;
    Ok(Outcome::write(body, m.writes))
}

async fn capture<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let amount = p.integer("amount_to_capture")?;
    transition(cx, id, p, |pay, ch| {
        let ch = ch.ok_or_else(|| {
            ApiError::invalid_state(
                "payment_invalid_state",
                format!(
                    "This payment's status is {}; it cannot be captured.",
                    pay.status.as_str()
                ),
            )
        })?;
        payment::capture(pay, ch, amount)
    })
    .await
}

/// Finishes a 3-D Secure challenge: `details[result]` is `authenticated` or `failed`.
async fn confirm<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let details = p.object("details")?.ok_or_else(|| ApiError::missing("details"))?;
    let authenticated = match details.required_string("result")?.as_str() {
        "authenticated" => true,
        "failed" => false,
        _ => {
            return Err(ApiError::invalid(
                "details[result]",
                "parameter_invalid",
                "details[result] must be 'authenticated' or 'failed'.",
            ));
        }
    };
    let expand = p.expand()?;
    let Loaded { obj: pay, version } = load_path::<Payment, _, _>(cx, "payments", "", "payment", id).await?;
    if pay.status != PaymentStatus::RequiresAction {
        return Err(ApiError::invalid_state(
            "payment_invalid_state",
            format!(
                "This payment's status is {}; it cannot be confirmed.",
                pay.status.as_str()
            ),
        ));
    }
    if !authenticated {
        let moved = flows::payment::commit(cx, version, payment::fail_authentication(&pay)?, false, None).await?;
        return rendered(cx, moved, &expand).await;
    }
    let pm_id = pay.payment_method.clone().unwrap_or_default();
    let pm = resolve(cx, "payment_method", &pm_id).await?;
    let behavior = live_guard(cx, &pm)?;
    let mut next = pay.clone();
    let outcome = processor::authorize(behavior, true, &random6(cx));
    let approved = matches!(outcome, AuthOutcome::Approved { .. });
    let three_ds = Some(ThreeDsResult {
        version: "2.2.0".into(),
        result: "authenticated".into(),
    });
    let details = PaymentMethodDetails {
        kind: "card".into(),
        card: CardDetails {
            card: pm.card.clone(),
            three_d_secure: three_ds,
        },
    };
    let (charge, events) = apply_authorization(&mut next, outcome, details, cx.id("ch_"), cx.now);
    debug_assert!(approved || charge.as_ref().is_some_and(|c| c.status == ChargeStatus::Failed));
    let moved = flows::payment::commit(
        cx,
        version,
        Transition {
            payment: next,
            charge,
            events,
        },
        false,
        Some(behavior),
    )
    .await?;
    rendered(cx, moved, &expand).await
}

async fn list<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    let expand: Vec<String> = p
        .expand()?
        .into_iter()
        .map(|e| e.trim_start_matches("data.").to_string())
        .collect();
    let (filter, filter_params) = match p.string("customer")? {
        Some(c) => (" AND customer_id = ?".to_string(), sql_params![c]),
        None => (String::new(), vec![]),
    };
    let (rows, has_more) = list::fetch(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "payments",
            filter,
            filter_params,
        },
        &page,
    )
    .await?;
    let mut data = Vec::with_capacity(rows.len());
    for row in rows {
        if expand.is_empty() {
            data.push(row);
        } else {
            let pay: Payment =
                serde_json::from_value(row).map_err(|_| ApiError::internal("unreadable stored payment"))?;
            data.push(render(cx, &pay, &expand, None).await?);
        }
    }
    Ok(Outcome::read(list::envelope("/v1/payments", data, has_more)))
}

/// The payment as returned, with `customer` / `latest_charge` expanded when asked. `known`
/// supplies objects already in hand (just created) so they need not be read back.
async fn render<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    pay: &Payment,
    expand: &[String],
    known: Option<(Option<&Customer>, Option<&Charge>)>,
) -> ApiResult<Value> {
    let mut v = to_json(pay);
    for field in expand {
        match (field.as_str(), &pay.customer, &pay.latest_charge) {
            ("customer", Some(id), _) => {
                v["customer"] = match known.and_then(|k| k.0).filter(|c| &c.id == id) {
                    Some(c) => to_json(c),
                    None => match load::<Customer, _, _>(cx, "customers", " AND deleted = 0", id).await? {
                        Some(c) => to_json(&c.obj),
                        None => json!({ "id": id, "object": "customer", "deleted": true }),
                    },
                }
            }
            ("latest_charge", _, Some(id)) => {
                v["latest_charge"] = match known.and_then(|k| k.1).filter(|c| &c.id == id) {
                    Some(c) => to_json(c),
                    None => load::<Charge, _, _>(cx, "charges", "", id)
                        .await?
                        .map(|c| to_json(&c.obj))
                        .unwrap_or(Value::Null),
                }
            }
            _ => {}
        }
    }
    Ok(v)
}

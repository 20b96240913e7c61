//! Seed 004's payment intents, `/v1/payment_intents`: create, list, retrieve, update, cancel,
//! capture, pay by an attempt (`/payments`: a `pay_`), list its attempts, refund; and the
//! platform's connected accounts ([`super::accounts`]), which its splits pay. Decisions are
//! [`crate::domain::intent`]'s, writes [`crate::flows::intent`]'s; docs/intents.md.

use super::Outcome;
use super::accounts;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::domain::intent::{self, Cancel, NewIntent};
use crate::domain::payment;
use crate::domain::refund::CreateRefund;
use crate::domain::split::{self, SplitIn};
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::flows;
use crate::flows::intent::{load_intent, save};
use crate::flows::payment::{IntentAttempt, NewPayment};
use crate::list::{self, ListSpec, Scope};
use crate::money::{check_amount, check_partial, parse_currency};
use crate::objects::intents::{CANCELLATION_REASONS, PaymentIntent};
use crate::objects::{CaptureMethod, Routing};
use crate::port::{Db, Env};
use crate::processor;
use crate::sql_params;
use crate::store::{Loaded, to_json};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Update,
    Cancel,
    Capture,
    Attempt,
    Attempts,
    Refund,
    Search,
    /// `/v1/accounts`, served by this group: the platform's side of seed 004.
    Accounts(super::accounts::Action),
}

const AMOUNT_DOC: &str = super::payments::AMOUNT_DOC;
pub const PAYMENT_METHOD_TYPES: &[&str] = &["card", "bank"];

fn object_schema() -> Value {
    json!({ "type": "object", "description": "Free-form, stored as given (at most 8 KiB of JSON)." })
}

fn types_schema() -> Value {
    json!({ "type": "array", "items": { "type": "string", "enum": PAYMENT_METHOD_TYPES }, "minItems": 1 })
}

const USER_FIELDS: Field = Field::any("user_fields", object_schema);
const ORDER_DETAILS: Field = Field::any("order_details", object_schema);
const REFERENCE_ID: Field = Field::str("reference_id", 255).doc("The merchant's reference.");
const DESCRIPTION: Field = Field::str("description", 1000);

/// One of `payment_splits[]`.
const SPLIT: &[Field] = &[
    Field::str("account_id", 100)
        .required()
        .doc("One of your connected accounts (acct_...)."),
    Field::int_in("amount", 1, crate::money::MAX_AMOUNT)
        .required()
        .doc("Minor units given to the account on capture."),
    Field::str("description", 500),
];

const SPLITS: Field = Field::objects("payment_splits", SPLIT, split::MAX_SPLITS)
    .doc("What connected accounts are given of the capture; together at most amount (docs/platforms.md).");

/// Seed 004's `x-business-id`: only the accounts of that business.
pub const BUSINESS: Field = Field::str("x-business-id", 100)
    .header()
    .doc("Only the objects of the accounts of this business (the business_id given to POST /v1/accounts).");

/// The fields an intent is created with (and, but `amount`'s requiredness, updated with).
const CREATE: &[Field] = &[
    Field::int("amount").required().doc(AMOUNT_DOC),
    Field::int("merchant_amount")
        .doc("What the merchant keeps of amount: amount less the payment_splits (the default)."),
    SPLITS,
    Field::bool("capture").doc("Capture an approved attempt at once (true, the default) or wait for a capture."),
    Field::checked("currency", 16).doc("ISO 4217; USD when not given (seed 004)."),
    REFERENCE_ID,
    USER_FIELDS,
    ORDER_DETAILS,
    DESCRIPTION,
    Field::any("payment_method_types", types_schema).doc("Which payment methods may pay it; [card] when not given."),
];

const UPDATE: &[Field] = &[
    Field::int("amount").doc(AMOUNT_DOC),
    Field::int("merchant_amount"),
    SPLITS,
    Field::bool("capture"),
    Field::checked("currency", 16),
    REFERENCE_ID,
    USER_FIELDS,
    ORDER_DETAILS,
    DESCRIPTION,
    Field::any("payment_method_types", types_schema),
];

const ATTEMPT: &[Field] = &[
    Field::str("payment_method_id", 100)
        .required()
        .doc("A pm_ id or a test method such as pm_card_visa."),
    Field::pattern("cvv2", 4, "^[0-9]{3,4}$").doc("The card's security code: checked, never stored."),
    REFERENCE_ID,
    USER_FIELDS,
    ORDER_DETAILS,
    DESCRIPTION,
];

pub const OPS: &[Op<Action>] = &[
    Op::post("accounts", "account_create", Action::Accounts(accounts::Action::Create))
        .summary("Create a connected account of your platform (act as it with x-account-id)")
        .fields(accounts::CREATE)
        .seed004()
        .answers("ConnectedAccount"),
    Op::get("accounts", "account_list", Action::Accounts(accounts::Action::List))
        .summary("List your platform's connected accounts, newest first")
        .list()
        .fields(accounts::LIST)
        .seed004()
        .answers("ConnectedAccountList"),
    Op::get("accounts/:id", "account", Action::Accounts(accounts::Action::Retrieve))
        .summary("Retrieve one of your connected accounts")
        .seed004()
        .answers("ConnectedAccount"),
    Op::post("payment_intents", "create", Action::Create)
        .summary("Create a payment intent (status created, with its client_secret)")
        .fields(CREATE)
        .seed004()
        .answers("PaymentIntent"),
    Op::get("payment_intents", "list", Action::List)
        .summary("List payment intents, newest first")
        .list()
        .fields(&[BUSINESS])
        .seed004()
        .answers("PaymentIntentList"),
    Op::post("payment_intents/search", "search", Action::Search)
        .summary("Search payment intents (seed 004's filters, numbered pages with a total)")
        .fields(super::intent_search::FIELDS)
        .seed004()
        .answers("PaymentIntentSearchResult"),
    Op::get("payment_intents/:id", "retrieve", Action::Retrieve)
        .summary("Retrieve a payment intent")
        .seed004()
        .answers("PaymentIntent"),
    Op::post("payment_intents/:id", "update", Action::Update)
        .summary("Update a payment intent (before any attempt succeeded or waits)")
        .fields(UPDATE)
        .seed004()
        .answers("PaymentIntent"),
    Op::patch("payment_intents/:id", "update_patch", Action::Update)
        .summary("Update a payment intent (seed 004's PATCH; the same as POST)")
        .fields(UPDATE)
        .seed004()
        .answers("PaymentIntent"),
    Op::post("payment_intents/:id/cancel", "cancel", Action::Cancel)
        .summary("Cancel a payment intent (and release its attempt's authorization)")
        .fields(&[Field::one_of("cancellation_reason", CANCELLATION_REASONS)])
        .seed004()
        .answers("PaymentIntent"),
    Op::post("payment_intents/:id/capture", "capture", Action::Capture)
        .summary("Capture all or part of an uncaptured payment intent")
        .fields(&[
            Field::int("amount").doc("At most what is authorized; all of it when not given."),
            Field::objects("payment_splits", SPLIT, split::MAX_SPLITS).doc(
                "The splits of this capture, instead of the intent's (which a partial capture shrinks in proportion).",
            ),
        ])
        .seed004()
        .answers("PaymentIntent"),
    Op::post("payment_intents/:id/payments", "attempt", Action::Attempt)
        .summary("Pay a payment intent: an attempt with a payment method (a pay_)")
        .fields(ATTEMPT)
        .seed004()
        .answers("Payment"),
    Op::get("payment_intents/:id/payments", "attempts", Action::Attempts)
        .summary("List a payment intent's attempts (pay_), newest first")
        .list()
        .seed004()
        .answers("IntentPaymentList"),
    Op::post("payment_intents/:id/refunds", "refund", Action::Refund)
        .summary("Refund all or part of a captured payment intent")
        .fields(&[Field::int("amount").doc("All that is left to refund when not given.")])
        .seed004()
        .answers("Refund"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Accounts(a) => accounts::run(cx, a, id, p).await,
        Action::Create => create(cx, p).await,
        Action::List => {
            let page = p.page()?;
            let spec = ListSpec {
                table: flows::intent::TABLE,
                filter: String::new(),
                filter_params: Vec::new(),
            };
            let scope = match p.string("x-business-id")? {
                Some(b) => Scope::business(&cx.acct, &b),
                None => Scope::account(&cx.acct),
            };
            let (data, has_more) = list::fetch_in(cx.db, scope, spec, &page).await?;
            Ok(Outcome::read(list::seed004_envelope(
                "/v1/payment_intents",
                data,
                has_more,
                page.limit,
            )))
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load_intent(cx, id).await?.obj))),
        Action::Search => super::intent_search::run(cx, p).await,
        Action::Update => update(cx, id, p).await,
        Action::Cancel => cancel(cx, id, p).await,
        Action::Capture => capture(cx, id, p).await,
        Action::Attempt => attempt(cx, id, p).await,
        Action::Attempts => {
            load_intent(cx, id).await?;
            let page = p.page()?;
            let spec = ListSpec {
                table: "payments",
                filter: " AND payment_intent_id = ?".into(),
                filter_params: sql_params![id],
            };
            let (data, has_more) = list::fetch(cx.db, &cx.acct, spec, &page).await?;
            Ok(Outcome::read(list::seed004_envelope(
                &format!("/v1/payment_intents/{id}/payments"),
                data,
                has_more,
                page.limit,
            )))
        }
        Action::Refund => {
            let pi = load_intent(cx, id).await?.obj;
            let payment = intent::refundable(&pi)?;
            let (refund, writes) = flows::refund::create(
                cx,
                CreateRefund {
                    payment,
                    amount: p.integer("amount")?,
                    reason: None,
                    metadata: Default::default(),
                },
            )
            .await?;
            Ok(Outcome::write(to_json(&refund), writes))
        }
    }
}

/// `currency` (USD when absent) and `amount` checked against it.
fn amount_in(amount: i64, currency: Option<String>) -> ApiResult<String> {
    let currency = parse_currency("currency", currency.as_deref().unwrap_or("USD"))?;
    check_amount("amount", amount, &currency)?;
    Ok(currency)
}

/// `payment_splits[]` as sent (None when not sent), each amount at least 1 (declared).
fn splits(p: &Args<'_>) -> ApiResult<Option<Vec<SplitIn>>> {
    if !p.has("payment_splits") {
        return Ok(None);
    }
    p.objects("payment_splits")?
        .iter()
        .map(|s| {
            Ok(SplitIn {
                account_id: s.required_string("account_id")?,
                amount: s
                    .integer("amount")?
                    .ok_or_else(|| ApiError::missing(&s.display("amount")))?,
                description: s.string("description")?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

fn types(p: &Args<'_>) -> ApiResult<Option<Vec<String>>> {
    fields::choices(p.params(), "payment_method_types", PAYMENT_METHOD_TYPES)
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let amount = p.integer("amount")?.ok_or_else(|| ApiError::missing("amount"))?;
    let currency = amount_in(amount, p.string("currency")?)?;
    let payment_splits = splits(p)?.unwrap_or_default();
    flows::intent::check_split_accounts(cx, &payment_splits, "payment_splits").await?;
    let n = NewIntent {
        amount,
        merchant_amount: p.integer("merchant_amount")?,
        payment_splits,
        currency,
        capture: p.boolean("capture")?.unwrap_or(true),
        payment_method_types: types(p)?.unwrap_or_else(|| vec!["card".into()]),
        reference_id: p.string("reference_id")?,
        description: p.string("description")?,
        user_fields: fields::free_object("user_fields", p.raw("user_fields")?)?,
        order_details: fields::free_object("order_details", p.raw("order_details")?)?,
    };
    let id = cx.id("pi_");
    let secret = cx.id(&format!("{id}_secret_"));
    let mut pi = intent::new(n, (id, secret), &cx.acct.id, cx.acct.livemode, cx.now)?;
    pi.partner_id = cx.acct.platform_id.clone();
    pi.business_id = cx.acct.business_id.clone();
    Ok(Outcome::write(to_json(&pi), flows::intent::insert(cx, &pi)))
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj: pi, version } = load_intent(cx, id).await?;
    intent::check_update(&pi)?;
    let mut n = pi.clone();
    let amount = p.integer("amount")?.unwrap_or(pi.amount);
    let currency = p.string("currency")?.or(Some(pi.currency.clone()));
    n.currency = amount_in(amount, currency)?;
    // New splits replace the old; either must fit in the (new) amount. Nothing has moved yet:
    // only an intent that was never captured is updated.
    let asked = match splits(p)? {
        Some(s) => {
            flows::intent::check_split_accounts(cx, &s, "payment_splits").await?;
            s
        }
        None => pi
            .payment_splits
            .iter()
            .map(|s| SplitIn {
                account_id: s.account_id.clone(),
                amount: s.amount,
                description: s.description.clone(),
            })
            .collect(),
    };
    split::check(&asked, amount, "payment_splits")?;
    n.payment_splits = split::new(asked);
    // Without a new merchant_amount it is again what the splits leave.
    n.merchant_amount = split::merchant_amount(amount, &n.payment_splits, p.integer("merchant_amount")?)?;
    n.amount = amount;
    if let Some(c) = p.boolean("capture")? {
        n.capture = c;
    }
    if let Some(t) = types(p)? {
        n.payment_method_types = t;
    }
    if let Some(r) = p.update_text("reference_id")? {
        n.reference_id = r;
    }
    if let Some(d) = p.update_text("description")? {
        n.description = d;
    }
    if p.has("user_fields") {
        n.user_fields = fields::free_object("user_fields", p.raw("user_fields")?)?;
    }
    if p.has("order_details") {
        n.order_details = fields::free_object("order_details", p.raw("order_details")?)?;
    }
    n.updated_at = crate::terminal::payment::rfc3339(cx.now);
    Ok(Outcome::write(to_json(&n), save(cx, &n, version, &[])))
}

async fn cancel<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj: pi, version } = load_intent(cx, id).await?;
    let reason = p.one_of("cancellation_reason")?;
    match intent::cancel(&pi, reason.clone(), cx.now)? {
        Cancel::Done(n) => Ok(Outcome::write(
            to_json(&n),
            save(cx, &n, version, &[crate::events::EventType::PaymentIntentCanceled]),
        )),
        Cancel::Payment(pay) => {
            let now = cx.now;
            let moved = flows::payment::transition(cx, &pay, |pay, _| payment::cancel(pay, reason, now)).await?;
            followed(moved)
        }
    }
}

/// The intent as the moved attempt left it, and the writes.
fn followed(m: flows::payment::Moved) -> ApiResult<Outcome> {
    let pi: PaymentIntent = m
        .intent
        .ok_or_else(|| ApiError::internal("an intent's attempt that does not name its intent"))?;
    Ok(Outcome::write(to_json(&pi), m.writes))
}

async fn capture<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let pi = load_intent(cx, id).await?.obj;
    let pay = intent::capturable(&pi)?;
    let amount = p.integer("amount")?;
    let replace = match splits(p)? {
        Some(s) => {
            let captured = amount.unwrap_or(pi.amount_authorized);
            split::check(&s, captured, "payment_splits")?;
            flows::intent::check_split_accounts(cx, &s, "payment_splits").await?;
            Some(split::new(s))
        }
        None => None,
    };
    let moved = flows::payment::transition_with(
        cx,
        &pay,
        |pay, ch| {
            if let Some(a) = amount {
                check_partial("amount", a, pay.amount_capturable)?;
            }
            let ch = ch.ok_or_else(|| ApiError::internal("an authorized attempt without its charge"))?;
            payment::capture(pay, ch, amount)
        },
        replace,
    )
    .await?;
    followed(moved)
}

async fn attempt<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj: pi, version } = load_intent(cx, id).await?;
    intent::check_payable(&pi)?;
    let pm_id = p.required_string("payment_method_id")?;
    // Checked for its form only: the sandbox has no issuer to send it to, and it is never stored.
    if let Some(cvv) = p.string("cvv2")?
        && !crate::cards::is_cvc(&cvv)
    {
        return Err(ApiError::invalid(
            "cvv2",
            "parameter_invalid",
            "cvv2 must be 3 or 4 digits.",
        ));
    }
    // Every payment method is a card until bank methods exist (docs/intents.md).
    if !pi.payment_method_types.iter().any(|t| t == "card") {
        return Err(ApiError::invalid(
            "payment_method_id",
            "payment_method_type_not_allowed",
            format!(
                "Payment intent {id} accepts {} only; this payment method is a card.",
                pi.payment_method_types.join(", ")
            ),
        ));
    }
    let pm = flows::payment_method::resolve(cx, "payment_method_id", &pm_id).await?;
    let acquirer = processor::route(None, &pi.currency)?;
    let (pay, _charge, mut writes) = flows::payment::create(
        cx,
        NewPayment {
            amount: pi.amount,
            currency: pi.currency.clone(),
            capture_method: if pi.capture {
                CaptureMethod::Automatic
            } else {
                CaptureMethod::Manual
            },
            customer: pm.customer.clone(),
            pm,
            description: p.string("description")?.or_else(|| pi.description.clone()),
            metadata: Default::default(),
            return_url: None,
            routing: Routing {
                preferred_acquirer: None,
                acquirer: acquirer.id.into(),
            },
            on_behalf_of: None,
            statement_descriptor: None,
            off_session: false,
            intent: Some(IntentAttempt {
                payment_intent_id: pi.id.clone(),
                reference_id: p.string("reference_id")?,
                user_fields: fields::free_object("user_fields", p.raw("user_fields")?)?,
                order_details: fields::free_object("order_details", p.raw("order_details")?)?,
            }),
        },
    )
    .await?;
    writes.extend(flows::intent::follow(cx, &pi, version, &pay, None).await?.1);
    Ok(Outcome::write(to_json(&pay), writes))
}

//! `/v1/invoices`: one-off invoices (create as a draft, finalize, pay, void, mark
//! uncollectible), list and retrieve. An invoice is paid by a real payment made through
//! [`flows::payment`], so fees, the ledger, refunds and disputes all apply to it. The lifecycle
//! is [`crate::domain::invoice`]'s.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::invoice::{self, Draft, Transition};
use crate::domain::pricing;
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::fields;
use crate::flows::{self, payment::NewPayment, payment_method::resolve};
use crate::list::{self, ListSpec};
use crate::money::{MAX_AMOUNT, min_amount, parse_currency};
use crate::objects::billing::{CollectionMethod, Invoice, InvoiceLine, InvoiceStatus, Period, Price, PriceType};
use crate::objects::{CaptureMethod, Customer, Routing};
use crate::port::{Db, Env, Stmt};
use crate::processor;
use crate::sql_params;
use crate::store::{Loaded, guarded_update, load_param, load_path, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Finalize,
    Pay,
    Void,
    MarkUncollectible,
}

/// The most lines a one-off invoice takes.
pub const MAX_LINES: usize = 100;
const DEFAULT_DAYS_UNTIL_DUE: i64 = 30;

const LINE: &[Field] = &[
    Field::int_in("amount", 0, MAX_AMOUNT).doc("The line's amount, minor units; or give `price`."),
    Field::str("price", 100).doc("A one-time `price_`; the line costs its unit_amount times quantity."),
    Field::int_in("quantity", 1, 1_000_000)
        .default("1")
        .doc("With `price` only."),
    Field::str("description", 500),
];

pub const CREATE: &[Field] = &[
    Field::str("customer", 100).required(),
    Field::objects("lines", LINE, MAX_LINES)
        .required()
        .doc("Each line has `amount` or `price` (with `quantity`)."),
    Field::checked("currency", 16).doc("ISO 4217; defaults to the lines' prices' currency."),
    Field::one_of("collection_method", &["charge_automatically", "send_invoice"]).default("\"charge_automatically\""),
    Field::int_in("days_until_due", 1, 365).doc("send_invoice only; default 30."),
    Field::str("default_payment_method", 100)
        .doc("Charged by /pay; else the customer's default payment method at the time of the charge."),
    Field::str("description", 1000),
    Field::metadata(),
];

pub const LIST_FILTERS: &[Field] = &[
    Field::str("customer", 100),
    Field::str("subscription", 100),
    Field::one_of("status", InvoiceStatus::NAMES),
];

pub const PAY: &[Field] = &[Field::str("payment_method", 100).doc(
    "A pm_ of the invoice's customer or a test method; default: the invoice's default_payment_method, else the customer's.",
)];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let page = p.page()?;
            let mut filter = String::new();
            let mut filter_params = Vec::new();
            for (param, column) in [("customer", "customer_id"), ("subscription", "subscription_id")] {
                if let Some(v) = p.string(param)? {
                    filter.push_str(&format!(" AND {column} = ?"));
                    filter_params.extend(sql_params![v]);
                }
            }
            if let Some(status) = p.one_of("status")? {
                filter.push_str(" AND status = ?");
                filter_params.extend(sql_params![status]);
            }
            let spec = ListSpec {
                table: "invoices",
                filter,
                filter_params,
            };
            let (data, has_more) = list::fetch(cx.db, &cx.acct, spec, &page).await?;
            Ok(Outcome::read(list::envelope("/v1/invoices", data, has_more)))
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?.obj))),
        Action::Finalize => transition(cx, id, |inv| invoice::finalize(inv, cx.now)).await,
        Action::Void => transition(cx, id, |inv| invoice::void(inv, cx.now)).await,
        Action::MarkUncollectible => transition(cx, id, |inv| invoice::mark_uncollectible(inv, cx.now)).await,
        Action::Pay => pay(cx, id, p).await,
    }
}

async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<Invoice>> {
    load_path(cx, "invoices", "", "invoice", id).await
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let customer = p.required_string("customer")?;
    load_param::<Customer, _, _>(cx, "customers", " AND deleted = 0", "customer", "customer", &customer).await?;
    let collection_method = match p.one_of("collection_method")?.as_deref() {
        Some("send_invoice") => CollectionMethod::SendInvoice,
        _ => CollectionMethod::ChargeAutomatically,
    };
    let days_until_due = match (collection_method, p.integer("days_until_due")?) {
        (CollectionMethod::SendInvoice, days) => Some(days.unwrap_or(DEFAULT_DAYS_UNTIL_DUE)),
        (CollectionMethod::ChargeAutomatically, None) => None,
        (CollectionMethod::ChargeAutomatically, Some(_)) => {
            return Err(ApiError::invalid(
                "days_until_due",
                "parameter_not_allowed",
                "days_until_due is only for collection_method=send_invoice.",
            ));
        }
    };
    let mut currency = p
        .string("currency")?
        .map(|c| parse_currency("currency", &c))
        .transpose()?;
    let mut lines = Vec::new();
    for (i, l) in p.objects("lines")?.iter().enumerate() {
        lines.push(line(cx, i, l, &mut currency).await?);
    }
    if lines.is_empty() {
        return Err(ApiError::missing("lines"));
    }
    let currency = currency.ok_or_else(|| ApiError::missing("currency"))?;
    for l in &mut lines {
        l.currency = currency.clone();
    }
    let default_payment_method = match p.string("default_payment_method")? {
        Some(pm) => {
            let resolved = resolve(cx, "default_payment_method", &pm).await?;
            check_owner(&resolved.customer, &customer, "default_payment_method", &pm)?;
            Some(pm)
        }
        None => None,
    };
    let too_large = || {
        ApiError::invalid(
            "lines",
            "amount_too_large",
            format!("An invoice's total is at most {MAX_AMOUNT}."),
        )
    };
    let inv = invoice::draft(Draft {
        id: cx.id("inv_"),
        customer,
        subscription: None,
        collection_method,
        currency,
        lines,
        days_until_due,
        default_payment_method,
        description: p.string("description")?,
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        period: (cx.now, cx.now),
        now: cx.now,
    })
    .filter(|inv| inv.total <= MAX_AMOUNT)
    .ok_or_else(too_large)?;
    let (total, currency) = (inv.total, &inv.currency);
    let min = min_amount(currency);
    if total > 0 && total < min {
        return Err(ApiError::invalid(
            "lines",
            "amount_too_small",
            format!(
                "An invoice's total is 0 or at least {min} (in the smallest unit of {currency}): less cannot be charged."
            ),
        ));
    }
    let data = to_json(&inv);
    let mut writes = vec![Stmt::new(
        "INSERT INTO invoices (id, account_id, livemode, customer_id, subscription_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &inv.id,
            &cx.acct.id,
            cx.acct.livemode,
            &inv.customer,
            inv.subscription.clone(),
            inv.status.as_str(),
            cx.now,
            data.to_string()
        ],
    )];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::InvoiceCreated,
        cx.now,
        &data,
    ));
    Ok(Outcome::write(data, writes))
}

/// Line `i` of a create: its own amount, or a one-time price times a quantity. `currency` is
/// the invoice's so far (set by the first price when the request names none).
async fn line<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    i: usize,
    l: &Args<'_>,
    currency: &mut Option<String>,
) -> ApiResult<InvoiceLine> {
    let name = |field: &str| format!("lines[{i}][{field}]");
    let (amount, price, quantity) = match (l.integer("amount")?, l.string("price")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                &name("price"),
                "parameter_not_allowed",
                format!("lines[{i}] has an amount or a price, not both."),
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                &format!("lines[{i}]"),
                "parameter_missing",
                format!("lines[{i}] needs amount or price."),
            ));
        }
        (Some(amount), None) => {
            if l.has("quantity") {
                return Err(ApiError::invalid(
                    &name("quantity"),
                    "parameter_not_allowed",
                    format!("{} is only for a line with a price.", name("quantity")),
                ));
            }
            (amount, None, 1)
        }
        (None, Some(id)) => {
            let param = name("price");
            let price = load_param::<Price, _, _>(cx, "prices", "", "price", &param, &id)
                .await?
                .obj;
            if !price.active {
                return Err(ApiError::invalid(
                    &param,
                    "price_inactive",
                    format!("Price {id} is not active."),
                ));
            }
            if price.kind != PriceType::OneTime {
                return Err(ApiError::invalid(
                    &param,
                    "price_not_one_time",
                    format!("Price {id} is recurring: subscribe to it instead; invoice lines take one-time prices."),
                ));
            }
            match currency {
                Some(c) if *c != price.currency => {
                    return Err(ApiError::invalid(
                        &param,
                        "currency_mismatch",
                        format!("Price {id} is in {}, the invoice in {c}.", price.currency),
                    ));
                }
                Some(_) => {}
                None => *currency = Some(price.currency.clone()),
            }
            let quantity = l.integer("quantity")?.unwrap_or(1);
            let amount = pricing::per_unit(price.unit_amount.unwrap_or(0), quantity)
                .filter(|a| *a <= MAX_AMOUNT)
                .ok_or_else(|| {
                    ApiError::invalid(
                        &name("quantity"),
                        "amount_too_large",
                        format!("The line's amount is at most {MAX_AMOUNT}."),
                    )
                })?;
            (amount, Some(id), quantity)
        }
    };
    Ok(InvoiceLine {
        id: cx.id("il_"),
        object: "line_item".into(),
        amount,
        // Set once the invoice's currency is known.
        currency: String::new(),
        description: l.string("description")?,
        price,
        quantity,
        period: Period {
            start: cx.now,
            end: cx.now,
        },
        proration: false,
    })
}

/// A stored payment method must be the invoice customer's (a test method belongs to nobody).
fn check_owner(owner: &Option<String>, customer: &str, param: &str, pm: &str) -> ApiResult<()> {
    match owner {
        Some(o) if o != customer => Err(ApiError::invalid(
            param,
            "payment_method_customer_mismatch",
            format!("Payment method {pm} belongs to another customer."),
        )),
        _ => Ok(()),
    }
}

/// The writes of an invoice transition: the row behind its version guard, and its events.
fn save<D: Db, E: Env>(cx: &Ctx<'_, D, E>, version: i64, t: &Transition) -> (serde_json::Value, Vec<Stmt>) {
    let data = to_json(&t.invoice);
    let mut writes: Vec<Stmt> = guarded_update(
        "invoices",
        "status = ?, data = ?",
        sql_params![t.invoice.status.as_str(), data.to_string()],
        &t.invoice.id,
        version,
    )
    .into();
    writes.extend(
        t.events
            .iter()
            .flat_map(|e| events::record(cx.env, &cx.acct, *e, cx.now, &data)),
    );
    (data, writes)
}

async fn transition<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    id: &str,
    step: impl FnOnce(&Invoice) -> ApiResult<Transition>,
) -> ApiResult<Outcome> {
    let Loaded { obj, version } = load(cx, id).await?;
    let t = step(&obj)?;
    let (data, writes) = save(cx, version, &t);
    Ok(Outcome::write(data, writes))
}

/// Charges what the invoice still owes (finalizing a draft first). The charge and the invoice's
/// change are one commit behind the invoice's version: of two concurrent pays, one charges and
/// the other, re-run on the paid invoice, answers `invoice_already_paid`.
async fn pay<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj, version } = load(cx, id).await?;
    invoice::check_payable(&obj)?;
    let mut t = Transition {
        invoice: obj,
        events: Vec::new(),
    };
    if t.invoice.status == InvoiceStatus::Draft {
        t = invoice::finalize(&t.invoice, cx.now)?;
    }
    if t.invoice.status == InvoiceStatus::Paid {
        let (data, writes) = save(cx, version, &t);
        return Ok(Outcome::write(data, writes));
    }
    let inv = &t.invoice;
    let pm_id = match (p.string("payment_method")?, inv.default_payment_method.clone()) {
        (Some(pm), _) | (None, Some(pm)) => pm,
        (None, None) => load_param::<Customer, _, _>(cx, "customers", "", "customer", "customer", &inv.customer)
            .await?
            .obj
            .default_payment_method
            .ok_or_else(|| {
                ApiError::invalid(
                    "payment_method",
                    "parameter_missing",
                    "Missing required param: payment_method (neither the invoice nor its customer has a default payment method).",
                )
            })?,
    };
    let pm = resolve(cx, "payment_method", &pm_id).await?;
    check_owner(&pm.customer, &inv.customer, "payment_method", &pm_id)?;
    let acquirer = processor::route(None, &inv.currency)?;
    let (payment, _charge, mut writes) = flows::payment::create(
        cx,
        NewPayment {
            amount: inv.amount_remaining,
            currency: inv.currency.clone(),
            capture_method: CaptureMethod::Automatic,
            customer: Some(inv.customer.clone()),
            pm,
            description: Some(format!("Invoice {}", inv.id)),
            metadata: [("invoice".to_string(), inv.id.clone())].into(),
            return_url: None,
            routing: Routing {
                preferred_acquirer: None,
                acquirer: acquirer.id.into(),
            },
            on_behalf_of: None,
            statement_descriptor: None,
            off_session: true,
        },
    )?;
    let paid = invoice::record_payment(inv, &payment, cx.now);
    t.events.extend(paid.events);
    t.invoice = paid.invoice;
    let (data, invoice_writes) = save(cx, version, &t);
    // The invoice's guarded update first: a lost race aborts the batch before anything else.
    writes.splice(0..0, invoice_writes);
    Ok(Outcome::write(data, writes))
}

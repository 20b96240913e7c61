//! Storing invoices and charging them, for the invoice endpoints and for subscriptions'
//! scheduled renewals alike: one home for "which payment method" and "what a charge does".

use crate::context::Ctx;
use crate::domain::invoice::{self, Transition};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::flows::payment::{self, NewPayment};
use crate::flows::payment_method::resolve;
use crate::objects::billing::Invoice;
use crate::objects::{CaptureMethod, Customer, Routing};
use crate::port::{Db, Env, Stmt};
use crate::processor;
use crate::sql_params;
use crate::store::{guarded_update, load, to_json};
use serde_json::Value;

/// The writes of a new invoice: its row and `invoice.created`.
pub fn insert<D: Db, E: Env>(cx: &Ctx<'_, D, E>, inv: &Invoice) -> (Value, Vec<Stmt>) {
    let data = to_json(inv);
    let mut writes = vec![Stmt::new(
        "INSERT INTO invoices (id, account_id, livemode, customer_id, subscription_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &inv.id,
            &cx.acct.id,
            cx.acct.livemode,
            &inv.customer,
            inv.subscription.clone(),
            inv.status.as_str(),
            inv.created,
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
    (data, writes)
}

/// The writes of an invoice transition: the row behind its version guard (None: the row is
/// new, written by [`insert`] in the same batch, so it is updated unguarded), and its events.
pub fn save<D: Db, E: Env>(cx: &Ctx<'_, D, E>, version: Option<i64>, t: &Transition) -> (Value, Vec<Stmt>) {
    let data = to_json(&t.invoice);
    let mut writes: Vec<Stmt> = match version {
        Some(v) => guarded_update(
            "invoices",
            "status = ?, data = ?",
            sql_params![t.invoice.status.as_str(), data.to_string()],
            &t.invoice.id,
            v,
        )
        .into(),
        None => vec![Stmt::new(
            "UPDATE invoices SET status = ?, data = ? WHERE id = ?",
            sql_params![t.invoice.status.as_str(), data.to_string(), &t.invoice.id],
        )],
    };
    writes.extend(
        t.events
            .iter()
            .flat_map(|e| events::record(cx.env, &cx.acct, *e, cx.now, &data)),
    );
    (data, writes)
}

/// A stored payment method must be the invoice customer's (a test method belongs to nobody).
pub fn check_owner(owner: &Option<String>, customer: &str, param: &str, pm: &str) -> ApiResult<()> {
    match owner {
        Some(o) if o != customer => Err(ApiError::invalid(
            param,
            "payment_method_customer_mismatch",
            format!("Payment method {pm} belongs to another customer."),
        )),
        _ => Ok(()),
    }
}

/// What to do when no payment method can be found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// 400 naming `payment_method` (someone asked to pay now).
    Refuse,
    /// A failed attempt (a scheduled charge: dunning follows).
    Fail,
}

/// Charges what the open invoice in `t` still owes: with `payment_method`, else the invoice's
/// default, else `fallback` (its subscription's default), else the customer's default payment
/// method as it is now. Returns `t` with the attempt recorded, and the payment's writes.
pub async fn charge<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    t: Transition,
    payment_method: Option<String>,
    fallback: Option<&str>,
    missing: Missing,
) -> ApiResult<(Transition, Vec<Stmt>)> {
    let inv = &t.invoice;
    let chosen = payment_method
        .or_else(|| inv.default_payment_method.clone())
        .or_else(|| fallback.map(str::to_string));
    let pm_id = match chosen {
        Some(pm) => Some(pm),
        None => load::<Customer, _, _>(cx, "customers", "", &inv.customer)
            .await?
            .and_then(|c| c.obj.default_payment_method),
    };
    // A scheduled charge that cannot be tried is a failed attempt, not a step error to retry.
    let untried = |t: Transition, code: &str, message: &str| {
        let mut failed = invoice::record_untried(&t.invoice, code, message);
        failed.events.splice(0..0, t.events);
        Ok((failed, Vec::new()))
    };
    let Some(pm_id) = pm_id else {
        if missing == Missing::Refuse {
            return Err(ApiError::invalid(
                "payment_method",
                "parameter_missing",
                "Missing required param: payment_method (neither the invoice nor its customer has a default payment method).",
            ));
        }
        return untried(
            t,
            "payment_method_missing",
            "Neither the invoice, its subscription nor its customer has a default payment method.",
        );
    };
    let pm = match resolve(cx, "payment_method", &pm_id)
        .await
        .and_then(|pm| check_owner(&pm.customer, &inv.customer, "payment_method", &pm_id).map(|()| pm))
    {
        Ok(pm) => pm,
        Err(e) if missing == Missing::Fail && e.status == 400 => return untried(t, e.code, &e.message),
        Err(e) => return Err(e),
    };
    let acquirer = processor::route(None, &inv.currency)?;
    let (pay, _charge, writes) = payment::create(
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
            intent: None,
        },
    )
    .await?;
    let mut paid = invoice::record_payment(inv, &pay, cx.now);
    paid.events.splice(0..0, t.events);
    Ok((paid, writes))
}

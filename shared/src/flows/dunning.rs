//! Dunning: the environment's retry settings, what a failed automatic charge of a subscription
//! invoice schedules, and the retry step itself. The timing is [`crate::domain::dunning`]'s.

use crate::context::Ctx;
use crate::domain::dunning::{self, Next};
use crate::domain::invoice::Transition;
use crate::error::ApiResult;
use crate::flows::invoice::{self as invoices, Missing};
use crate::flows::subscription;
use crate::objects::billing::{
    AfterFinalFailure, BillingSettings, CollectionMethod, Invoice, InvoiceStatus, Subscription, SubscriptionStatus,
};
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, load};

/// The caller's environment's settings (no row yet: the defaults).
pub async fn settings<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> ApiResult<BillingSettings> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT billing_retry_days, billing_after_final_failure FROM environment_settings WHERE account_id = ? AND livemode = ?",
            sql_params![&cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let row = rows.first();
    // Only the API writes the columns, with checked values.
    let days = row.and_then(|r| r[0].as_str()).map_or_else(
        || dunning::DEFAULT_RETRY_DAYS.to_vec(),
        |s| s.split(',').filter_map(|d| d.parse().ok()).collect(),
    );
    let after = row
        .and_then(|r| r[1].as_str())
        .and_then(AfterFinalFailure::parse)
        .unwrap_or(AfterFinalFailure::Cancel);
    Ok(BillingSettings {
        object: "billing_settings".into(),
        retry_schedule_days: days,
        after_final_failure: after,
        livemode: cx.acct.livemode,
    })
}

/// Stores the caller's environment's settings (checked by the caller).
pub fn set_settings<D: Db, E: Env>(cx: &Ctx<'_, D, E>, s: &BillingSettings) -> Stmt {
    let days = s
        .retry_schedule_days
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Stmt::new(
        "INSERT INTO environment_settings (account_id, livemode, billing_retry_days, billing_after_final_failure) VALUES (?, ?, ?, ?) \
         ON CONFLICT (account_id, livemode) DO UPDATE SET billing_retry_days = excluded.billing_retry_days, billing_after_final_failure = excluded.billing_after_final_failure",
        sql_params![&cx.acct.id, cx.acct.livemode, days, s.after_final_failure.as_str()],
    )
}

/// After `inv`'s automatic charge failed at `cx.now`: its retry is scheduled (and shown as
/// `next_payment_attempt`), or, the schedule being exhausted, the status its subscription ends
/// dunning in is returned.
pub async fn after_failure<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    inv: &mut Invoice,
) -> ApiResult<(Option<SubscriptionStatus>, Vec<Stmt>)> {
    let s = settings(cx).await?;
    let first = inv.finalized_at.unwrap_or(cx.now);
    let step = Step::InvoiceRetry(inv.id.clone());
    Ok(
        match dunning::after_failure(&s.retry_schedule_days, s.after_final_failure, first, cx.now) {
            Next::RetryAt(t) => {
                inv.next_payment_attempt = Some(t);
                (None, vec![steps::schedule(&cx.acct, &step, t, cx.now)])
            }
            Next::Final(status) => {
                inv.next_payment_attempt = None;
                (Some(status), Vec::new())
            }
        },
    )
}

/// The retry step, at its due time: charges the invoice again if it is still open and its
/// subscription not over (a manual `/pay`, a void or a write-off since ends dunning). The
/// invoice's guarded update leads the batch, so a retry racing a manual `/pay` charges at most
/// once: the loser's batch, payment included, is not committed.
pub async fn retry<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, due_at: i64) -> ApiResult<Vec<Stmt>> {
    let at = cx.at(due_at.min(cx.now));
    let Some(Loaded { obj: inv, version }) = load::<Invoice, _, _>(&at, "invoices", "", id).await? else {
        return Ok(Vec::new());
    };
    if inv.status != InvoiceStatus::Open || inv.collection_method != CollectionMethod::ChargeAutomatically {
        return Ok(Vec::new());
    }
    let Some(sub_id) = inv.subscription.clone() else {
        return Ok(Vec::new());
    };
    let Some(Loaded {
        obj: sub,
        version: sub_version,
    }) = load::<Subscription, _, _>(&at, "subscriptions", "", &sub_id).await?
    else {
        return Ok(Vec::new());
    };
    if sub.status.ended() {
        return Ok(Vec::new());
    }
    let t = Transition {
        invoice: inv,
        events: Vec::new(),
    };
    let (mut t, payment_writes) =
        invoices::charge(&at, t, None, sub.default_payment_method.as_deref(), Missing::Fail).await?;
    let mut after = Vec::new();
    if t.invoice.status == InvoiceStatus::Paid {
        after.extend(subscription::invoice_paid(&at, &sub_id).await?);
    } else {
        let (exhausted, scheduled) = after_failure(&at, &mut t.invoice).await?;
        after.extend(scheduled);
        if let Some(status) = exhausted {
            after.extend(subscription::dunning_over(&at, sub, sub_version, status));
        }
    }
    let (_, mut writes) = invoices::save(&at, Some(version), &t);
    writes.extend(payment_writes);
    writes.extend(after);
    Ok(writes)
}

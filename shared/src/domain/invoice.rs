//! An invoice's lifecycle, pure: `draft -> open -> paid | void | uncollectible` (an
//! uncollectible invoice can still be paid), and what a charge attempt does to it.

use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::fields::Metadata;
use crate::objects::billing::{
    CollectionMethod, Invoice, InvoiceLine, InvoiceLines, InvoicePaymentError, InvoiceStatus,
};
use crate::objects::{Payment, PaymentStatus};

const DAY: i64 = 86_400;

/// An invoice after a transition, and the events it causes (in order).
#[derive(Debug)]
pub struct Transition {
    pub invoice: Invoice,
    pub events: Vec<EventType>,
}

/// What a new invoice is, checked by the caller.
pub struct Draft {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    pub collection_method: CollectionMethod,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub days_until_due: Option<i64>,
    pub default_payment_method: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub livemode: bool,
    /// Its billing period (a one-off invoice: its creation time, both ends).
    pub period: (i64, i64),
    pub now: i64,
}

/// The sum of `lines`' amounts; None if it overflows.
fn lines_total(lines: &[InvoiceLine]) -> Option<i64> {
    lines.iter().try_fold(0_i64, |sum, l| sum.checked_add(l.amount))
}

/// A new draft of the lines' total; nothing is owed until it is finalized. None if the total
/// overflows.
pub fn draft(d: Draft) -> Option<Invoice> {
    let total = lines_total(&d.lines)?;
    Some(Invoice {
        id: d.id,
        object: "invoice".into(),
        customer_id: d.customer.clone(),
        customer: d.customer,
        subscription: d.subscription,
        status: InvoiceStatus::Draft,
        collection_method: d.collection_method,
        currency: d.currency,
        lines: InvoiceLines {
            object: "list".into(),
            data: d.lines,
            has_more: false,
        },
        subtotal: total,
        total,
        amount_due: 0,
        amount_paid: 0,
        amount_remaining: 0,
        attempt_count: 0,
        payment: None,
        last_payment_error: None,
        next_payment_attempt: None,
        default_payment_method: d.default_payment_method,
        days_until_due: d.days_until_due,
        due_date: None,
        period_start: d.period.0,
        period_end: d.period.1,
        description: d.description,
        metadata: d.metadata,
        livemode: d.livemode,
        created: d.now,
        finalized_at: None,
        paid_at: None,
        voided_at: None,
        marked_uncollectible_at: None,
    })
}

/// The part of an invoice's `total` that cannot be collected now and waits for the next
/// invoice: all of it when it is a credit (below 0) or a positive amount below the currency's
/// `min` charge, else nothing. Nothing is lost: the invoice shows it carried, the next adds it.
pub fn uncollectable(total: i64, min: i64) -> i64 {
    if total < 0 || (total > 0 && total < min) {
        total
    } else {
        0
    }
}

/// A draft with its lines changed: totals recomputed. None if the total overflows.
pub fn with_lines(d: &Invoice) -> Option<Invoice> {
    let total = lines_total(&d.lines.data)?;
    let mut next = d.clone();
    next.subtotal = total;
    next.total = total;
    Some(next)
}

fn not_in(inv: &Invoice, code: &'static str, what: &str) -> ApiError {
    ApiError::invalid_state(code, format!("Invoice {} is {}; {what}.", inv.id, inv.status.as_str()))
}

/// Finalizes a draft: it is owed from now (`send_invoice`: due in `days_until_due` days). An
/// invoice of 0 is paid at once, with no payment.
pub fn finalize(inv: &Invoice, now: i64) -> ApiResult<Transition> {
    if inv.status != InvoiceStatus::Draft {
        return Err(not_in(inv, "invoice_not_draft", "only a draft can be finalized"));
    }
    let mut next = inv.clone();
    next.status = InvoiceStatus::Open;
    next.finalized_at = Some(now);
    next.amount_due = inv.total;
    next.amount_remaining = inv.total;
    if inv.collection_method == CollectionMethod::SendInvoice {
        next.due_date = Some(now + inv.days_until_due.unwrap_or(0) * DAY);
    }
    let mut events = vec![EventType::InvoiceFinalized];
    if inv.total == 0 {
        next.status = InvoiceStatus::Paid;
        next.paid_at = Some(now);
        events.push(EventType::InvoicePaid);
    }
    Ok(Transition { invoice: next, events })
}

/// Whether a charge may be tried now: open, uncollectible, or a draft (finalized first).
pub fn check_payable(inv: &Invoice) -> ApiResult<()> {
    match inv.status {
        InvoiceStatus::Draft | InvoiceStatus::Open | InvoiceStatus::Uncollectible => Ok(()),
        InvoiceStatus::Paid => Err(not_in(inv, "invoice_already_paid", "it cannot be paid again")),
        InvoiceStatus::Void => Err(not_in(inv, "invoice_not_payable", "a void invoice is owed nothing")),
    }
}

/// What a charge attempt `pay` (for the invoice's `amount_remaining`) did: paid, or one more
/// failed attempt with its error (the invoice stays as it was otherwise).
pub fn record_payment(inv: &Invoice, pay: &Payment, now: i64) -> Transition {
    let mut next = inv.clone();
    next.attempt_count += 1;
    if pay.status == PaymentStatus::Succeeded {
        next.status = InvoiceStatus::Paid;
        next.amount_paid += pay.amount_received;
        next.amount_remaining = (next.amount_due - next.amount_paid).max(0);
        next.payment = Some(pay.id.clone());
        next.paid_at = Some(now);
        next.last_payment_error = None;
        next.next_payment_attempt = None;
        return Transition {
            invoice: next,
            events: vec![EventType::InvoicePaid],
        };
    }
    let error = pay.last_payment_error.as_ref();
    next.last_payment_error = Some(InvoicePaymentError {
        payment: Some(pay.id.clone()),
        code: error.map_or_else(|| "card_declined".into(), |e| e.code.clone()),
        decline_code: error.and_then(|e| e.decline_code.clone()),
        message: error.map_or_else(|| "The card was declined.".into(), |e| e.message.clone()),
    });
    Transition {
        invoice: next,
        events: vec![EventType::InvoicePaymentFailed],
    }
}

/// A charge that could not be tried (no payment method, or one that is gone): counted as a
/// failed attempt with `code` and `message`, so dunning treats it like a decline.
pub fn record_untried(inv: &Invoice, code: &str, message: &str) -> Transition {
    let mut next = inv.clone();
    next.attempt_count += 1;
    next.last_payment_error = Some(InvoicePaymentError {
        payment: None,
        code: code.into(),
        decline_code: None,
        message: message.into(),
    });
    Transition {
        invoice: next,
        events: vec![EventType::InvoicePaymentFailed],
    }
}

/// Voids an open or uncollectible invoice: nothing is owed any more.
pub fn void(inv: &Invoice, now: i64) -> ApiResult<Transition> {
    if !matches!(inv.status, InvoiceStatus::Open | InvoiceStatus::Uncollectible) {
        return Err(not_in(
            inv,
            "invoice_not_open",
            "only an open or uncollectible invoice can be voided",
        ));
    }
    let mut next = inv.clone();
    next.status = InvoiceStatus::Void;
    next.amount_remaining = 0;
    next.voided_at = Some(now);
    next.next_payment_attempt = None;
    Ok(Transition {
        invoice: next,
        events: vec![EventType::InvoiceVoided],
    })
}

/// Writes an open invoice off; it stays payable.
pub fn mark_uncollectible(inv: &Invoice, now: i64) -> ApiResult<Transition> {
    if inv.status != InvoiceStatus::Open {
        return Err(not_in(
            inv,
            "invoice_not_open",
            "only an open invoice can be marked uncollectible",
        ));
    }
    let mut next = inv.clone();
    next.status = InvoiceStatus::Uncollectible;
    next.marked_uncollectible_at = Some(now);
    // Written off: dunning stops (a retry step finds it no longer open).
    next.next_payment_attempt = None;
    Ok(Transition {
        invoice: next,
        events: vec![EventType::InvoiceMarkedUncollectible],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::billing::Period;
    use crate::objects::{CaptureMethod, PaymentError, Routing};

    fn draft(total: i64, method: CollectionMethod) -> Invoice {
        let line = InvoiceLine {
            id: "il_1".into(),
            object: "line_item".into(),
            amount: total,
            currency: "EUR".into(),
            description: None,
            price: None,
            quantity: 1,
            period: Period { start: 100, end: 100 },
            proration: false,
            subscription_item: None,
        };
        super::draft(Draft {
            id: "inv_1".into(),
            customer: "cust_1".into(),
            subscription: None,
            collection_method: method,
            currency: "EUR".into(),
            lines: vec![line],
            days_until_due: (method == CollectionMethod::SendInvoice).then_some(30),
            default_payment_method: None,
            description: None,
            metadata: Default::default(),
            livemode: false,
            period: (100, 100),
            now: 100,
        })
        .unwrap()
    }

    #[test]
    fn a_draft_totals_its_lines_and_owes_nothing_yet() {
        let d = draft(5000, CollectionMethod::ChargeAutomatically);
        assert_eq!((d.subtotal, d.total, d.amount_due), (5000, 5000, 0));
        assert_eq!(d.customer_id, d.customer);
        let mut huge = d.lines.data[0].clone();
        huge.amount = i64::MAX;
        let spec = |lines| Draft {
            id: "inv_2".into(),
            customer: "cust_1".into(),
            subscription: None,
            collection_method: CollectionMethod::ChargeAutomatically,
            currency: "EUR".into(),
            lines,
            days_until_due: None,
            default_payment_method: None,
            description: None,
            metadata: Default::default(),
            livemode: false,
            period: (1, 1),
            now: 1,
        };
        assert!(
            super::draft(spec(vec![huge.clone(), huge])).is_none(),
            "overflow is refused"
        );
    }

    fn payment(status: PaymentStatus, received: i64) -> Payment {
        let json = serde_json::json!({
            "id": "pay_1", "object": "payment", "amount": 5000, "amount_authorized": received,
            "amount_capturable": 0, "amount_received": received, "amount_reversed": 0,
            "amount_refunded": 0, "amount_disputed": 0, "currency": "EUR", "status": status,
            "capture_method": CaptureMethod::Automatic, "customer": "cust_1", "payment_method": "pm_card_visa",
            "latest_charge": null, "refunds": [], "dispute": null, "balance_transaction": null,
            "description": null, "metadata": {}, "return_url": null,
            "routing": Routing { preferred_acquirer: None, acquirer: "acq_eu_1".into() },
            "on_behalf_of": null, "statement_descriptor": null, "next_action": null,
            "last_payment_error": (status == PaymentStatus::Failed).then(|| PaymentError {
                kind: "card_error".into(), code: "card_declined".into(),
                decline_code: Some("insufficient_funds".into()), message: "No funds.".into(),
            }),
            "adjustment": null, "reversal": null, "canceled_at": null, "cancellation_reason": null,
            "livemode": false, "created": 200
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn credits_and_dust_wait_for_the_next_invoice() {
        assert_eq!(uncollectable(-700, 50), -700);
        assert_eq!(uncollectable(30, 50), 30);
        assert_eq!(uncollectable(0, 50), 0);
        assert_eq!(uncollectable(50, 50), 0);
        assert_eq!(uncollectable(5000, 50), 0);
    }

    #[test]
    fn finalizing_makes_it_owed_and_due() {
        let t = finalize(&draft(5000, CollectionMethod::SendInvoice), 1000).unwrap();
        assert_eq!(t.invoice.status, InvoiceStatus::Open);
        assert_eq!((t.invoice.amount_due, t.invoice.amount_remaining), (5000, 5000));
        assert_eq!(t.invoice.due_date, Some(1000 + 30 * DAY));
        assert_eq!(t.events, vec![EventType::InvoiceFinalized]);
        let auto = finalize(&draft(5000, CollectionMethod::ChargeAutomatically), 1000).unwrap();
        assert_eq!(auto.invoice.due_date, None);
        assert_eq!(finalize(&t.invoice, 1001).unwrap_err().code, "invoice_not_draft");
    }

    #[test]
    fn an_invoice_of_nothing_is_paid_when_finalized() {
        let t = finalize(&draft(0, CollectionMethod::ChargeAutomatically), 1000).unwrap();
        assert_eq!(t.invoice.status, InvoiceStatus::Paid);
        assert_eq!(t.invoice.payment, None);
        assert_eq!(t.events, vec![EventType::InvoiceFinalized, EventType::InvoicePaid]);
    }

    #[test]
    fn a_charge_pays_it_once_and_a_decline_counts_an_attempt() {
        let open = finalize(&draft(5000, CollectionMethod::ChargeAutomatically), 1000)
            .unwrap()
            .invoice;
        let failed = record_payment(&open, &payment(PaymentStatus::Failed, 0), 1100);
        assert_eq!(failed.invoice.status, InvoiceStatus::Open);
        assert_eq!(failed.invoice.attempt_count, 1);
        let err = failed.invoice.last_payment_error.clone().unwrap();
        assert_eq!(
            (err.payment.as_deref(), err.decline_code.as_deref()),
            (Some("pay_1"), Some("insufficient_funds"))
        );
        assert_eq!(failed.events, vec![EventType::InvoicePaymentFailed]);
        let paid = record_payment(&failed.invoice, &payment(PaymentStatus::Succeeded, 5000), 1200);
        assert_eq!(paid.invoice.status, InvoiceStatus::Paid);
        assert_eq!((paid.invoice.amount_paid, paid.invoice.amount_remaining), (5000, 0));
        assert_eq!(paid.invoice.attempt_count, 2);
        assert!(paid.invoice.last_payment_error.is_none());
        assert_eq!(check_payable(&paid.invoice).unwrap_err().code, "invoice_already_paid");
    }

    #[test]
    fn void_and_uncollectible_follow_the_lifecycle() {
        let d = draft(5000, CollectionMethod::ChargeAutomatically);
        assert_eq!(void(&d, 1).unwrap_err().code, "invoice_not_open");
        assert_eq!(mark_uncollectible(&d, 1).unwrap_err().code, "invoice_not_open");
        let open = finalize(&d, 1000).unwrap().invoice;
        let bad = mark_uncollectible(&open, 1100).unwrap().invoice;
        assert_eq!(bad.status, InvoiceStatus::Uncollectible);
        assert!(
            check_payable(&bad).is_ok(),
            "an uncollectible invoice can still be paid"
        );
        let voided = void(&bad, 1200).unwrap().invoice;
        assert_eq!((voided.status, voided.amount_remaining), (InvoiceStatus::Void, 0));
        assert_eq!(check_payable(&voided).unwrap_err().code, "invoice_not_payable");
        assert_eq!(void(&voided, 1300).unwrap_err().code, "invoice_not_open");
    }
}

//! Events (`evt_`): written to the outbox in the same batch as the change that caused them,
//! together with one pending delivery per webhook endpoint that subscribes to the type. A
//! committed event therefore always has its deliveries; no later fan-out step can be lost.

use crate::auth::Account;
use crate::port::{Env, SqlValue, Stmt, new_id};
use crate::sql_params;
use serde::Serialize;
use serde_json::Value;

/// Declares [`EventType`] and its names once: the enum the code records, and the strings
/// clients subscribe to and see in `type`.
macro_rules! event_types {
    ($($variant:ident = $name:literal,)*) => {
        /// Every event type the API emits; webhook endpoints may subscribe to these or to `*`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant,)*
        }

        /// The names of every [`EventType`], in declaration order.
        pub const TYPES: &[&str] = &[$($name,)*];

        impl EventType {
            pub const ALL: &[EventType] = &[$(EventType::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }

            /// The type named `name`, in either seed's spelling ([`canonical_type`]).
            pub fn parse(name: &str) -> Option<EventType> {
                match canonical_type(name) {
                    $($name => Some(EventType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    PaymentSucceeded = "payment.succeeded",
    PaymentAuthorized = "payment.authorized",
    PaymentRequiresAction = "payment.requires_action",
    PaymentFailed = "payment.failed",
    PaymentCaptured = "payment.captured",
    PaymentCanceled = "payment.canceled",
    PaymentAdjusted = "payment.adjusted",
    PaymentReversed = "payment.reversed",
    CustomerCreated = "customer.created",
    CustomerUpdated = "customer.updated",
    CustomerDeleted = "customer.deleted",
    PaymentMethodCreated = "payment_method.created",
    PaymentMethodAttached = "payment_method.attached",
    PaymentMethodDetached = "payment_method.detached",
    PaymentRefunded = "payment.refunded",
    RefundCreated = "refund.created",
    RefundFailed = "refund.failed",
    DisputeCreated = "dispute.created",
    DisputeUpdated = "dispute.updated",
    DisputeClosed = "dispute.closed",
    DisputeFundsWithdrawn = "dispute.funds_withdrawn",
    DisputeFundsReinstated = "dispute.funds_reinstated",
    SettlementCreated = "settlement.created",
    PayoutCreated = "payout.created",
    PayoutUpdated = "payout.updated",
    PayoutPaid = "payout.paid",
    PayoutFailed = "payout.failed",
    TerminalPaymentCompleted = "terminal_payment.completed",
    TerminalPaymentFailed = "terminal_payment.failed",
    TerminalPaymentAuthorized = "terminal_payment.authorized",
    TerminalPaymentCancelled = "terminal_payment.cancelled",
    ProductCreated = "product.created",
    ProductUpdated = "product.updated",
    ProductDeleted = "product.deleted",
    PriceCreated = "price.created",
    PriceUpdated = "price.updated",
    InvoiceCreated = "invoice.created",
    InvoiceFinalized = "invoice.finalized",
    InvoicePaid = "invoice.paid",
    InvoicePaymentFailed = "invoice.payment_failed",
    InvoiceVoided = "invoice.voided",
    InvoiceMarkedUncollectible = "invoice.marked_uncollectible",
    SubscriptionCreated = "subscription.created",
    SubscriptionUpdated = "subscription.updated",
    SubscriptionDeleted = "subscription.deleted",
    SubscriptionTrialWillEnd = "subscription.trial_will_end",
    LoyaltyAccountCreated = "loyalty.account.created",
    LoyaltyPointsEarned = "loyalty.points.earned",
    LoyaltyPointsRedeemed = "loyalty.points.redeemed",
    LoyaltyPointsReversed = "loyalty.points.reversed",
    LoyaltyPointsExpired = "loyalty.points.expired",
    LoyaltyTierChanged = "loyalty.tier.changed",
    LoyaltyRedemptionCanceled = "loyalty.redemption.canceled",
    PaymentIntentCreated = "payment_intent.created",
    PaymentIntentSucceeded = "payment_intent.succeeded",
    PaymentIntentCaptured = "payment_intent.captured",
    PaymentIntentCanceled = "payment_intent.canceled",
    PaymentIntentPaymentFailed = "payment_intent.payment_failed",
}

/// Seed 002 names an event differently from seed 001; accepted as input, stored canonically.
pub fn canonical_type(t: &str) -> &str {
    match t {
        "payment.completed" => "payment.succeeded",
        other => other,
    }
}

const INSERT_SQL: &str = "INSERT INTO events (id, account_id, livemode, type, created, data) VALUES (?, ?, ?, ?, ?, ?)";

/// The statement that creates an event's pending deliveries, one per subscribed endpoint; its
/// first parameter is the event id, and the rows it changed are the deliveries it created.
pub const FAN_OUT_SQL: &str = "INSERT INTO webhook_deliveries (id, account_id, livemode, endpoint_id, event_id, status, attempts, next_attempt_at, created_ms, created) \
     SELECT 'wd_' || lower(hex(randomblob(12))), e.account_id, e.livemode, e.id, ?, 'pending', 0, ?, ?, ? \
     FROM webhook_endpoints e \
     WHERE e.account_id = ? AND e.livemode = ? AND e.deleted = 0 AND e.disabled = 0 \
     AND EXISTS (SELECT 1 FROM json_each(e.enabled_events) j WHERE j.value = ? OR j.value = '*')";

/// Something that happened to an object (as stored, delivered and served).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(rename = "Event"))]
pub struct Event<'a> {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^evt_")))]
    pub id: &'a str,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "event")))]
    pub object: &'static str,
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = TYPES)))]
    pub kind: &'static str,
    pub created: i64,
    pub livemode: bool,
    /// The object that changed, as it was after the change.
    #[cfg_attr(feature = "openapi", schemars(schema_with = "object_schema"))]
    pub data: &'a Value,
}

#[cfg(feature = "openapi")]
fn object_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object" })
}

/// The event payload as stored and delivered: `{id, object, type, created, livemode, data}`
/// where `data` is the full object that changed.
pub fn record(env: &impl Env, acct: &Account, kind: EventType, now: i64, object: &Value) -> [Stmt; 2] {
    let kind = kind.as_str();
    let id = new_id(env, "evt_");
    let event = Event {
        id: &id,
        object: "event",
        kind,
        created: now,
        livemode: acct.livemode,
        data: object,
    };
    // Through a `Value`, whose keys are sorted: the stored (and delivered) text is as before.
    let event = serde_json::to_value(event).unwrap_or(Value::Null);
    // Deliveries run on the wall clock, whatever the account's sandbox clock says.
    let now_ms = env.now_ms();
    [
        Stmt::new(
            INSERT_SQL,
            sql_params![&id, &acct.id, acct.livemode, kind, now, event.to_string()],
        ),
        // Ids are made in SQL because the number of subscribed endpoints is not known here.
        Stmt::new(
            FAN_OUT_SQL,
            sql_params![&id, now_ms, now_ms, now, &acct.id, acct.livemode, kind],
        ),
    ]
}

/// The events whose deliveries `writes` fan out: (event id, index of the fan-out statement).
pub fn fan_outs(writes: &[Stmt]) -> Vec<(String, usize)> {
    writes
        .iter()
        .enumerate()
        .filter(|(_, s)| s.sql == FAN_OUT_SQL)
        .filter_map(|(i, s)| match s.params.first() {
            Some(SqlValue::Text(id)) => Some((id.clone(), i)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The stored text of an event is what `json!` made of it before [`Event`].
    #[test]
    fn event_text() {
        let data = json!({ "id": "cust_1", "object": "customer", "metadata": {} });
        let event = Event {
            id: "evt_1",
            object: "event",
            kind: "customer.created",
            created: 1,
            livemode: false,
            data: &data,
        };
        let before = json!({
            "id": "evt_1", "object": "event", "type": "customer.created", "created": 1, "livemode": false, "data": data,
        });
        assert_eq!(serde_json::to_value(event).unwrap().to_string(), before.to_string());
    }
}

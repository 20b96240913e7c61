//! The OpenAPI 3.1 document of the API (`schema/openapi.json`, served at `GET /v1/openapi.json`).
//!
//! Operations come from the route groups' declarations ([`crate::api::Group::specs`],
//! `api/operation.rs`): paths, parameters with their types and limits, and each answer's schema
//! name, so every served route is documented and nothing else is. The schemas of the objects in
//! `objects.rs`, of settlements, webhook endpoints and terminal payments are derived from their
//! types (schemars); the rest are written here. Schemathesis checks them against real responses
//! in CI (`scripts/fuzz.sh`).
//!
//! The generator exists only with the `openapi` feature (the crate's tests enable it, the wasm
//! components do not); what is served is the committed file, [`crate::api::OPENAPI_JSON`].

use crate::api::Group;
use crate::api::operation::{Answer, Field, RANGE_FIELDS, Spec, Ty, has_body};
use serde_json::{Map, Value, json};

pub use crate::api::OPENAPI_JSON as SERVED;

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn one_of(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

fn list_of(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["object", "url", "has_more", "data"],
        "properties": {
            "object": { "const": "list" },
            "url": { "type": "string" },
            "has_more": { "type": "boolean" },
            "data": { "type": "array", "items": r(item) },
        },
    })
}

/// Seed 004's list: the API's list plus `meta` (cursors), as `list::seed004_envelope` writes it.
fn seed004_list_of(item: &str) -> Value {
    let mut l = list_of(item);
    l["required"].as_array_mut().expect("required").push(json!("meta"));
    l["properties"]["meta"] = json!({
        "type": "object",
        "required": ["limit", "has_more", "starting_after", "ending_before"],
        "properties": {
            "limit": { "type": "integer" },
            "has_more": { "type": "boolean" },
            "starting_after": { "type": ["string", "null"], "description": "Pass as starting_after for the next page (null on the last)." },
            "ending_before": { "type": ["string", "null"], "description": "Pass as ending_before for the previous page." },
        },
    });
    l
}

/// An object schema whose every listed property is required (as the API always sends them).
fn object(props: Value) -> Value {
    let required: Vec<&String> = props.as_object().expect("properties").keys().collect();
    json!({ "type": "object", "required": required, "properties": props })
}

/// The schemas of the objects in `objects.rs` and of `Settlement`, `WebhookEndpoint` and
/// `TerminalPayment`, from their types. The serialize contract makes every property required (no
/// field is skipped: the API sends every one, null included); the types' `schemars` attributes
/// give ids' patterns, constants, closed sets of strings, formats, expandable fields, `$ref`s to
/// the hand-written components and the fields a response adds to a stored type (a webhook
/// endpoint's status and secret); nested types are inlined unless they are components themselves.
fn derived() -> Map<String, Value> {
    use crate::api::api_keys::ApiKey;
    use crate::api::balance::Balance;
    use crate::api::payouts::PayoutSchedule;
    use crate::api::test_clock::{TestClock, TestClockAdvance};
    use crate::api::webhooks::{WebhookDelivery, WebhookEndpoint};
    use crate::domain::settlement::Settlement;
    use crate::events::Event;
    use crate::ledger::Transaction;
    use crate::objects::accounts::ConnectedAccount;
    use crate::objects::billing::{
        BillingSettings, Invoice, Price, Product, Subscription, UsageRecord, UsageRecordBatch, UsageRecordSummary,
    };
    use crate::objects::intents::PaymentIntent;
    use crate::objects::loyalty::{LoyaltyAccount, LoyaltyProgram, PointsTransaction, Redemption, Reward};
    use crate::objects::{Charge, Customer, Dispute, Payment, PaymentMethod, Payout, Refund};
    use crate::plan::ProcessingPlan;
    use crate::terminal::payment::TerminalPayment;
    use schemars::generate::{Contract, SchemaSettings};
    use schemars::transform::RecursiveTransform;
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.contract = Contract::Serialize;
        })
        .with_transform(RecursiveTransform(plain))
        .into_generator();
    g.subschema_for::<Customer>();
    g.subschema_for::<PaymentMethod>();
    g.subschema_for::<Payment>();
    g.subschema_for::<Charge>();
    g.subschema_for::<Refund>();
    g.subschema_for::<Dispute>();
    g.subschema_for::<Payout>();
    g.subschema_for::<Settlement>();
    g.subschema_for::<WebhookEndpoint>();
    g.subschema_for::<TerminalPayment>();
    g.subschema_for::<Transaction>();
    g.subschema_for::<Balance>();
    g.subschema_for::<WebhookDelivery>();
    g.subschema_for::<Event>();
    g.subschema_for::<PayoutSchedule>();
    g.subschema_for::<TestClock>();
    g.subschema_for::<TestClockAdvance>();
    g.subschema_for::<ProcessingPlan>();
    g.subschema_for::<ApiKey>();
    g.subschema_for::<Product>();
    g.subschema_for::<Price>();
    g.subschema_for::<Invoice>();
    g.subschema_for::<Subscription>();
    g.subschema_for::<BillingSettings>();
    g.subschema_for::<UsageRecord>();
    g.subschema_for::<UsageRecordBatch>();
    g.subschema_for::<UsageRecordSummary>();
    g.subschema_for::<LoyaltyProgram>();
    g.subschema_for::<LoyaltyAccount>();
    g.subschema_for::<PointsTransaction>();
    g.subschema_for::<Reward>();
    g.subschema_for::<Redemption>();
    g.subschema_for::<PaymentIntent>();
    g.subschema_for::<ConnectedAccount>();
    g.take_definitions(true)
}

/// As the document writes schemas: `{"const": ..}` alone, integers without a `format`, no
/// `default` (a response has every field), a nullable object as `anyOf` null or the object.
fn plain(s: &mut schemars::Schema) {
    let Some(o) = s.as_object_mut() else { return };
    if o.contains_key("const") {
        o.remove("type");
    }
    if o.get("format").is_some_and(|f| f == "int64") {
        o.remove("format");
    }
    o.remove("default");
    if o.get("type") == Some(&json!(["object", "null"])) {
        o.insert("type".into(), json!("object"));
        let object = Value::Object(std::mem::take(o));
        o.insert("anyOf".into(), json!([{ "type": "null" }, object]));
    }
}

fn schemas() -> Value {
    let metadata = json!({ "type": "object", "additionalProperties": { "type": "string", "maxLength": 500 }, "maxProperties": 50 });
    let mut all = json!({
        "Error": object(json!({ "error": {
            "type": "object",
            "required": ["type", "code", "message"],
            "properties": {
                "type": { "type": "string", "enum": ["invalid_request_error", "authentication_error", "permission_error", "idempotency_error", "api_error", "terminal_error", "rate_limit_error"] },
                "code": { "type": "string" },
                "message": { "type": "string" },
                "param": { "type": "string" },
                "decline_code": { "type": "string", "description": "Card and terminal errors: seed 003's decline code." },
                "payment": { "type": "object", "description": "communication_error: the terminal payment as it stands." },
            },
        }})),
        "Metadata": metadata,
        "Deleted": object(json!({ "id": { "type": "string" }, "object": { "type": "string" }, "deleted": { "const": true } })),
        "CustomerList": list_of("Customer"),
        "PaymentMethodList": list_of("PaymentMethod"),
        "PaymentList": list_of("Payment"),
        "WebhookEndpointList": list_of("WebhookEndpoint"),
        "WebhookDeliveryList": list_of("WebhookDelivery"),
        "EventList": list_of("Event"),
        "ApiKeyList": list_of("ApiKey"),
        "ProductList": list_of("Product"),
        "PriceList": list_of("Price"),
        "InvoiceList": list_of("Invoice"),
        "SubscriptionList": list_of("Subscription"),
        "UsageRecordList": list_of("UsageRecord"),
        "UsageRecordSummaryList": list_of("UsageRecordSummary"),
        "LoyaltyAccountList": list_of("LoyaltyAccount"),
        "PointsTransactionList": list_of("PointsTransaction"),
        "RewardList": list_of("Reward"),
        "RedemptionList": list_of("Redemption"),
        "PaymentIntentList": seed004_list_of("PaymentIntent"),
        "PaymentIntentSearchResult": search_result_of("PaymentIntent"),
        "IntentPaymentList": seed004_list_of("Payment"),
        "ConnectedAccountList": seed004_list_of("ConnectedAccount"),
        "BusinessPayoutList": seed004_list_of("Payout"),
    });
    all.as_object_mut().unwrap().extend(derived());
    all.as_object_mut()
        .unwrap()
        .extend(money_schemas().as_object().unwrap().clone());
    all.as_object_mut()
        .unwrap()
        .extend(terminal_schemas().as_object().unwrap().clone());
    for (name, example) in examples() {
        all[name]["examples"] = json!([example]);
    }
    all
}

/// The objects of refunds, disputes, the ledger, settlements, payouts and the sandbox clock
/// (docs/money.md).
/// docs/terminals.md: camelCase, RFC 3339 timestamps.
fn terminal_schemas() -> Value {
    let ts = || json!({ "type": ["string", "null"], "format": "date-time" });
    let terminal = object(json!({
        "id": { "type": "string", "pattern": "^term_" }, "object": { "const": "terminal" }, "label": nullable("string"),
        "status": one_of(&["online", "offline", "busy"]), "activePayment": nullable("string"),
        "lastSeenAt": ts(), "activatedAt": ts(), "createdAt": { "type": "string", "format": "date-time" },
        "simulated": { "type": "boolean" }, "livemode": { "type": "boolean" }, "metadata": r("Metadata"),
    }));
    let mut registered = terminal.clone();
    registered["properties"]["deviceKey"] = json!({ "type": ["string", "null"], "pattern": "^tdk_(test|live)_", "description": "The device's key, shown only here (an idempotent replay answers null: it is shown once)." });
    registered["required"].as_array_mut().unwrap().push(json!("deviceKey"));
    json!({
        "Terminal": terminal,
        "TerminalRegistered": registered,
        "TerminalList": list_of("Terminal"),
        "TerminalPaymentList": list_of("TerminalPayment"),
    })
}

/// Seed 004's search answer (crate::api::search::result).
fn search_result_of(item: &str) -> Value {
    object(json!({
        "object": { "const": "search_result" }, "url": { "type": "string" }, "has_more": { "type": "boolean" },
        "data": { "type": "array", "items": r(item) },
        "meta": object(json!({ "page": { "type": "integer" }, "limit": { "type": "integer" }, "total": { "type": "integer" } })),
    }))
}

fn money_schemas() -> Value {
    let mut all = json!({
        "TransactionSearchResult": search_result_of("Transaction"),
    });
    let lists = json!({
        "RefundList": list_of("Refund"),
        "DisputeList": list_of("Dispute"),
        "TransactionList": list_of("Transaction"),
        "SettlementList": list_of("Settlement"),
        "PayoutList": list_of("Payout"),
    });
    all.as_object_mut().unwrap().extend(lists.as_object().unwrap().clone());
    all
}

/// One real response body per main object (taken from the sandbox), shown in the reference.
fn examples() -> Vec<(&'static str, Value)> {
    let customer = json!({
        "id": "cust_UHSVoJDcj5cNexvJ9BnLPxdK", "object": "customer", "email": "jenny.rosen@example.com", "name": "Jenny Rosen",
        "phone": null, "description": null, "default_payment_method": null, "metadata": {}, "livemode": false, "created": 1795272391,
    });
    vec![
        (
            "Error",
            json!({ "error": { "type": "invalid_request_error", "code": "parameter_missing", "message": "Missing required param: amount.", "param": "amount" } }),
        ),
        ("Customer", customer),
        (
            "PaymentMethod",
            json!({
                "id": "pm_DdDmLNq092R7BusVeeI2BOqC", "object": "payment_method", "type": "card",
                "card": { "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "fingerprint": "1Zp3v24OnqUAIt82", "funding": "credit" },
                "billing_details": { "name": null, "email": null, "phone": null }, "customer": "cust_UHSVoJDcj5cNexvJ9BnLPxdK",
                "metadata": {}, "livemode": false, "created": 1795272391,
            }),
        ),
        (
            "Payment",
            json!({
                "id": "pay_fq3kJ94WcJdm1DOQWCvIFtN2", "object": "payment", "amount": 5000, "amount_authorized": 5000, "amount_capturable": 0,
                "amount_received": 5000, "amount_reversed": 0, "amount_refunded": 1500, "amount_disputed": 0, "currency": "EUR", "status": "succeeded",
                "capture_method": "automatic", "customer": null, "payment_method": "pm_card_visa", "latest_charge": "ch_dLePC5XOKVC0dViHXtB8AWso",
                "refunds": ["re_Z7GPEfavAFeCMOkuH9JX8KJr"], "dispute": null, "balance_transaction": "txn_gdy5ktI8BcjVDAQUHFOgdRAm", "description": null,
                "metadata": { "order_id": "6735" }, "return_url": null, "routing": { "preferred_acquirer": null, "acquirer": "acq_eu_1" },
                "on_behalf_of": null, "statement_descriptor": null, "next_action": null, "last_payment_error": null, "adjustment": null,
                "reversal": null, "canceled_at": null, "cancellation_reason": null, "livemode": false, "created": 1795272394,
            }),
        ),
        (
            "WebhookEndpoint",
            json!({
                "id": "we_kb79Q58k7dbrzKqdQQjGBVRS", "object": "webhook_endpoint", "url": "https://example.com/vinr/webhooks", "description": null,
                "enabled_events": ["payment.succeeded", "payment.failed"], "disabled": false, "status": "enabled", "failing_since": null,
                "livemode": false, "created": 1795272391, "secret": "whsec_aBLGIDdVZkqRyOKdLG9zXSuBK41QPttr",
            }),
        ),
        (
            "Refund",
            json!({
                "id": "re_Z7GPEfavAFeCMOkuH9JX8KJr", "object": "refund", "amount": 1500, "currency": "EUR", "payment": "pay_fq3kJ94WcJdm1DOQWCvIFtN2",
                "status": "succeeded", "reason": "requested_by_customer", "failure_reason": null, "balance_transaction": "txn_jp4Pml5Q6WsrHX3ZoBHoYKyR",
                "failure_balance_transaction": null, "metadata": {}, "livemode": false, "created": 1795278273,
            }),
        ),
        (
            "Dispute",
            json!({
                "id": "dp_vnSsth2qoKeYVKqlldbSPJDk", "object": "dispute", "amount": 8000, "currency": "EUR", "payment": "pay_hqs2mVkfr0nrBNT8uuuw3FzV",
                "status": "under_review", "reason": "fraudulent",
                "evidence": {
                    "product_description": "Shoes", "customer_communication": null, "refund_policy": null, "shipping_tracking_number": null,
                    "uncategorized_text": "winning_evidence",
                },
                "evidence_details": { "due_by": 1795883133, "submission_count": 1, "submitted_at": 1795278335 }, "fee": 1500,
                "balance_transactions": ["txn_yAdYMKkldU6Axoo1d3NLPEDB"], "metadata": {}, "closed_at": null, "livemode": false, "created": 1795278333,
            }),
        ),
        (
            "Transaction",
            json!({
                "id": "txn_gdy5ktI8BcjVDAQUHFOgdRAm", "object": "transaction", "amount": 5000, "fee": 175, "net": 4825, "currency": "EUR",
                "source_type": "payment", "source_id": "pay_fq3kJ94WcJdm1DOQWCvIFtN2", "description": "Payment", "status": "available",
                "available_on": 1795392000, "settlement_id": "stl_4XH5ICGjYOtEGzOoLfxChMMn", "settlement_status": "settled", "settled_at": 1795451135,
                "payout_id": "po_AimbqbyDpq3XJG7WMGfp5xvU", "created": 1795278273, "updated": 1795451135,
            }),
        ),
        (
            "Settlement",
            json!({
                "id": "stl_4XH5ICGjYOtEGzOoLfxChMMn", "object": "settlement", "currency": "EUR", "status": "settled", "batch_date": "2026-11-23",
                "transaction_count": 4, "gross": 3500, "fees": 1937, "net": 1563, "livemode": false, "created": 1795451135,
            }),
        ),
        (
            "Payout",
            json!({
                "id": "po_AimbqbyDpq3XJG7WMGfp5xvU", "object": "payout", "amount": 1563, "currency": "EUR", "status": "in_transit", "automatic": true,
                "destination": "ba_test_success", "arrival_date": 1795537535, "failure_code": null, "failure_message": null,
                "balance_transaction": "txn_4cBkBLMxJgE9mUDIge9t2Kqe", "failure_balance_transaction": null, "description": null, "metadata": {},
                "livemode": false, "created": 1795451135,
            }),
        ),
    ]
}

/// What one operation takes and returns.
struct Op {
    summary: &'static str,
    /// Query parameters: (name, schema).
    query: Vec<(String, Value)>,
    /// Request body properties (POST), and which are required.
    body: Option<(Value, Vec<&'static str>)>,
    /// Header parameters ([`Field::header`]).
    headers: Vec<Value>,
    /// The 200 response's schema.
    ok: Value,
    /// The 200 response's media type.
    ok_media: &'static str,
    /// When the operation answers 403.
    forbidden: &'static str,
}

fn string(max: usize) -> Value {
    json!({ "type": "string", "maxLength": max })
}

/// A request body that succeeds in the sandbox (`examples` of the request body; schemathesis's
/// examples phase sends them).
fn body_example(group: Group, action: &str) -> Option<Value> {
    Some(match (group, action) {
        (Group::Payments, "create") => {
            json!({ "amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "metadata": { "order_id": "6735" } })
        }
        (Group::Payments, "capture") => json!({ "amount_to_capture": 4000 }),
        (Group::Payments, "confirm") => json!({ "details": { "result": "authenticated" } }),
        (Group::Payments, "cancel") => json!({ "cancellation_reason": "requested_by_customer" }),
        (Group::Payments, "adjust") => json!({ "amount": 4500 }),
        (Group::Payments, "reverse") => json!({ "amount": 1000 }),
        (Group::Customers, "create") => json!({ "email": "jenny.rosen@example.com", "name": "Jenny Rosen" }),
        (Group::Customers, "update") => json!({ "description": "Prefers email", "metadata": { "tier": "gold" } }),
        (Group::PaymentMethods, "create") => {
            json!({ "type": "card", "card": { "number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123" } })
        }
        (Group::Webhooks, "create") => {
            json!({ "url": "https://example.com/vinr/webhooks", "enabled_events": ["payment.succeeded", "payment.failed"] })
        }
        (Group::Webhooks, "update") => json!({ "disabled": true }),
        (Group::Webhooks, "roll_secret") => json!({ "expire_previous_after": 3600 }),
        (Group::Refunds, "dispute_update") => json!({ "evidence": { "uncategorized_text": "winning_evidence" } }),
        (Group::Balance, "search") => json!({ "sort_column": "created_at", "sort_direction": "desc", "limit": 5 }),
        (Group::Balance, "download") => json!({ "source_type": "payment", "start_date": "2026-01-01T00:00:00Z" }),
        (Group::Balance, "schedule_update") => json!({ "interval": "manual" }),
        (Group::Balance, "clock_advance") => json!({ "seconds": 60 }),
        (Group::Terminal, "register") => json!({ "label": "Front counter" }),
        (Group::Loyalty, "loyalty_program_update") => json!({
            "earn_rate": 1,
            "pending_days": 14,
            "expiry_months": 12,
            "tiers": [{ "name": "gold", "min_points": 5000, "multiplier": 1.5 }],
            "auto_enroll": true,
        }),
        (Group::Loyalty, "loyalty_account_create") => json!({ "customer": "cust_01jexample" }),
        (Group::Loyalty, "loyalty_transaction_create") => {
            json!({ "type": "earn", "points": 250, "description": "Welcome bonus" })
        }
        (Group::Loyalty, "loyalty_reward_create") => json!({ "name": "Free coffee", "points_cost": 500, "stock": 100 }),
        (Group::Loyalty, "loyalty_redemption_create") => {
            json!({ "account": "loy_01jexample", "reward": "rwd_01jexample" })
        }
        (Group::Intents, "create") => json!({
            "amount": 5000,
            "currency": "USD",
            "capture": true,
            "reference_id": "order-1042",
            "user_fields": { "channel": "web" },
            "payment_method_types": ["card"]
        }),
        (Group::Intents, "attempt") => json!({ "payment_method_id": "pm_card_visa", "cvv2": "123" }),
        (Group::Intents, "cancel") => json!({ "cancellation_reason": "requested_by_customer" }),
        (Group::Billing, "product_create") => json!({ "name": "Pro plan", "description": "Everything, monthly" }),
        (Group::Billing, "product_update") => json!({ "active": false }),
        (Group::Billing, "price_create") => json!({
            "product": "prod_01jexample",
            "currency": "EUR",
            "unit_amount": 2000,
            "recurring": { "interval": "month" }
        }),
        (Group::Billing, "price_update") => json!({ "nickname": "Pro monthly" }),
        (Group::Billing, "invoice_create") => json!({
            "customer": "cust_01jexample",
            "lines": [{ "amount": 12000, "description": "Consulting, March" }],
            "currency": "EUR",
            "collection_method": "send_invoice",
            "days_until_due": 14
        }),
        (Group::Billing, "invoice_pay") => json!({ "payment_method": "pm_card_visa" }),
        (Group::Billing, "subscription_create") => json!({
            "customer": "cust_01jexample",
            "items": [{ "price": "price_01jexample", "quantity": 2 }],
            "trial_period_days": 14
        }),
        (Group::Billing, "subscription_cancel") => json!({ "at_period_end": true }),
        (Group::ApiKeys, "create") => {
            json!({ "name": "reporting", "permissions": { "payments": "read", "refunds": "write" } })
        }
        (Group::ApiKeys, "roll") => json!({ "expire_previous_after": 3600 }),
        (Group::Terminal, "create") => {
            json!({ "terminalId": "term_test_simulator", "amount": 2500, "currency": "USD", "reference": "order_8821" })
        }
        _ => return None,
    })
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": r("Error") } } })
}

/// A parameter's schema, from its declaration.
fn field_schema(f: &Field) -> Value {
    let mut s = match f.ty {
        Ty::Str { max } => string(max),
        Ty::Checked {
            shown, pattern, values, ..
        } => {
            let mut s = string(shown);
            if let Some(p) = pattern {
                s["pattern"] = json!(p);
            }
            if let Some(v) = values {
                s["enum"] = json!(v);
            }
            s
        }
        Ty::Enum(values) => one_of(values),
        Ty::Int { min, max, .. } => {
            let mut s = json!({ "type": "integer" });
            if let Some(m) = min {
                s["minimum"] = json!(m);
            }
            if let Some(m) = max {
                s["maximum"] = json!(m);
            }
            s
        }
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::Metadata => r("Metadata"),
        Ty::Object(fields) | Ty::LateObject(fields) => object_schema(fields),
        Ty::ObjectList { fields, max_items } => {
            json!({ "type": "array", "items": object_schema(fields), "maxItems": max_items })
        }
        Ty::StrList { min_items } => json!({ "type": "array", "items": { "type": "string" }, "minItems": min_items }),
        Ty::Expand(paths) => json!({ "type": "array", "items": { "type": "string", "enum": paths } }),
        Ty::IntFilter => json!({ "type": "integer" }),
        Ty::Any { schema } => schema(),
    };
    if let Some(d) = f.doc {
        s["description"] = json!(d);
    }
    if let Some(d) = f.default {
        s["default"] = serde_json::from_str(d).expect("a declared default is JSON");
    }
    s
}

/// The properties of `fields`, and which are required.
fn properties(fields: &[Field]) -> (Value, Vec<&'static str>) {
    let props: Map<String, Value> = fields.iter().flat_map(named_schemas).collect();
    let required = fields.iter().filter(|f| f.required).map(|f| f.name).collect();
    (Value::Object(props), required)
}

fn object_schema(fields: &[Field]) -> Value {
    let (props, required) = properties(fields);
    let mut s = json!({ "type": "object", "properties": props, "additionalProperties": false });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

/// A declared field as query parameters: `expand[]` for a list, one per bound for a filter.
/// A field's schema under its name and, if it has one, under its alias.
fn named_schemas(f: &Field) -> Vec<(String, Value)> {
    let schema = field_schema(f);
    let mut out = vec![(f.name.to_string(), schema.clone())];
    if let Some(alias) = f.alias {
        let mut aliased = schema;
        aliased["description"] = json!(format!(
            "Another name for `{}`, read when `{}` is not sent.",
            f.name, f.name
        ));
        out.push((alias.to_string(), aliased));
    }
    out
}

fn query_params(f: &Field) -> Vec<(String, Value)> {
    match f.ty {
        Ty::Expand(_) => vec![(format!("{}[]", f.name), field_schema(f))],
        Ty::IntFilter => std::iter::once(f.name.to_string())
            .chain(RANGE_FIELDS.iter().map(|b| format!("{}[{}]", f.name, b.name)))
            .map(|n| (n, field_schema(f)))
            .collect(),
        _ => named_schemas(f),
    }
}

/// What a declared operation takes and returns.
fn declared(spec: &Spec) -> Op {
    let (headers, fields): (Vec<&Field>, Vec<&Field>) = spec.all_fields().partition(|f| f.in_header);
    let (query, body): (Vec<&Field>, Vec<&Field>) = if has_body(spec.method) {
        (fields.iter().copied().filter(|f| f.in_query).collect(), fields)
    } else {
        (fields, Vec::new())
    };
    let (ok, ok_media) = match spec.answer {
        Answer::Json(schema) => (r(schema), "application/json"),
        Answer::Raw { media, doc } => (json!({ "type": "string", "description": doc }), media),
    };
    let body_fields: Vec<Field> = body.into_iter().copied().collect();
    Op {
        summary: spec.summary,
        query: query.into_iter().flat_map(query_params).collect(),
        body: has_body(spec.method).then(|| properties(&body_fields)),
        headers: headers
            .into_iter()
            .map(|f| {
                let mut h =
                    json!({ "name": f.name, "in": "header", "required": f.required, "schema": field_schema(f) });
                if let Some(d) = f.doc {
                    h["description"] = json!(d);
                }
                h
            })
            .collect(),
        ok,
        ok_media,
        forbidden: spec.forbidden,
    }
}

fn operation(group: Group, spec: &Spec) -> Value {
    let (method, pattern, action, seed004) = (spec.method, spec.path, spec.name, spec.seed004);
    let spec = declared(spec);
    let mut params: Vec<Value> = Vec::new();
    if pattern.contains(":id") {
        params.push(
            json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "minLength": 1 } }),
        );
    }
    for (name, schema) in &spec.query {
        let mut p = json!({ "name": name, "in": "query", "required": false, "schema": schema });
        if schema["type"] == "array" {
            p["style"] = json!("form");
            p["explode"] = json!(true);
        }
        params.push(p);
    }
    params.extend(spec.headers.iter().cloned());
    // Every authenticated operation may act as a connected account.
    params.push(json!({ "$ref": "#/components/parameters/XAccountId" }));
    if has_body(method) {
        params.push(json!({ "$ref": "#/components/parameters/IdempotencyKey" }));
        if seed004 {
            params.push(json!({ "$ref": "#/components/parameters/XIdempotencyKey" }));
        }
    }
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({ "description": "OK", "content": { spec.ok_media: { "schema": spec.ok } } }),
    );
    responses.insert("400".into(), error_response("Invalid parameters (the error's `param` names the first bad one), or a state that does not allow this call."));
    responses.insert("401".into(), error_response("Missing, unknown or revoked API key."));
    responses.insert(
        "403".into(),
        error_response(&forbidden(method, pattern, spec.forbidden)),
    );
    responses.insert("404".into(), error_response("No such object (or route)."));
    // Before the operation itself, so every operation can answer it (crate::rate_limit).
    let mut limited = error_response(
        "rate_limited: the API key's rate limit (or a webhook endpoint's resend limit) is used up; retry after Retry-After seconds.",
    );
    limited["headers"] = json!({ "Retry-After": { "description": "Whole seconds to wait, at least 1.", "schema": { "type": "integer", "minimum": 1 } } });
    responses.insert("429".into(), limited);
    // E.g. `GET /v1/transactions/search`: the id is a literal path of other methods.
    responses.insert(
        "405".into(),
        error_response("The path exists with other methods (listed in the Allow header)."),
    );
    if (group, action) == (Group::Terminal, "create") {
        responses.insert("202".into(), json!({ "description": "Accepted: the payment is pending (async mode, or a sync wait that ran out).", "content": { "application/json": { "schema": spec.ok } } }));
        responses.insert("502".into(), error_response("communication_error: the device's connection dropped during a sync payment; error.payment is the payment as it stands."));
    }
    if has_body(method) {
        responses.insert("409".into(), error_response("The Idempotency-Key is in use by a request in flight, or was used with other parameters; for a terminal payment also terminal_offline or terminal_busy."));
        responses.insert("413".into(), error_response("The body exceeds 64 KiB."));
    }
    let mut o = json!({
        "operationId": format!("{}_{}", group_name(group), action),
        "summary": spec.summary,
        "tags": [group_name(group)],
        "parameters": params,
        "responses": responses,
    });
    if let Some((props, required)) = spec.body {
        let mut schema = json!({ "type": "object", "properties": props, "additionalProperties": false });
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        let nested: Map<String, Value> = props
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, s)| s["type"] == "object" || s["type"] == "array" || s.get("$ref").is_some())
            .map(|(k, _)| (k.clone(), json!({ "style": "deepObject", "explode": true })))
            .collect();
        o["requestBody"] = json!({
            "required": !required.is_empty(),
            "content": {
                "application/x-www-form-urlencoded": { "schema": schema, "encoding": nested },
                "application/json": { "schema": schema },
            },
        });
        if let Some(ex) = body_example(group, action) {
            for media in ["application/x-www-form-urlencoded", "application/json"] {
                o["requestBody"]["content"][media]["example"] = ex.clone();
            }
        }
    }
    o
}

/// The 403's description: the declaration's, and what a restricted key needs (the one table,
/// `crate::permissions`).
fn forbidden(method: &str, path: &str, declared: &str) -> String {
    let need = crate::permissions::need(method, path);
    match need.group {
        Some(g) => format!(
            "{declared} Or a restricted key without `{}: {}`.",
            crate::permissions::GROUPS[g].name,
            need.level.as_str()
        ),
        None => declared.to_string(),
    }
}

fn group_name(g: Group) -> &'static str {
    match g {
        Group::Payments => "payments",
        Group::Customers => "customers",
        Group::PaymentMethods => "payment_methods",
        Group::Webhooks => "webhooks",
        Group::Refunds => "refunds",
        Group::Balance => "balance",
        Group::Terminal => "terminals",
        Group::ApiKeys => "api_keys",
        Group::Billing => "billing",
        Group::Loyalty => "loyalty",
        Group::Intents => "payment_intents",
    }
}

/// A route table pattern (`payments/:id/capture`) as an OpenAPI path (`/v1/payments/{id}/capture`).
fn path_of(pattern: &str) -> String {
    format!("/v1/{}", pattern.replace(":id", "{id}"))
}

/// The whole document (`openapi` feature: the objects' schemas come from their types).
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for group in Group::ALL {
        for spec in group.specs() {
            let entry = paths.entry(path_of(spec.path)).or_insert_with(|| json!({}));
            entry[spec.method.to_ascii_lowercase()] = operation(group, &spec);
        }
    }
    paths.insert(
        "/v1/openapi.json".into(),
        json!({ "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": { "200": { "description": "The OpenAPI document", "content": { "application/json": { "schema": { "type": "object" } } } } },
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "VINR API",
            "version": "1",
            "description": "Payments, customers, payment methods, webhooks and events; refunds, disputes, balances, transactions, settlements, \
                payouts and the sandbox clock; terminals and their Cloud API payments; API keys (restricted keys, rolling, revoking). Amounts are integers in the currency's minor unit. \
                POST bodies may be form-encoded (bracket nesting: metadata[key]=value, expand[]=customer) or JSON.",
        },
        "servers": [{ "url": "http://127.0.0.1:8787", "description": "vinr dev" }],
        "security": [{ "bearerAuth": [] }, { "apiKeyAuth": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": "A secret key: sk_test_... (sandbox) or sk_live_..., or a restricted key: rk_test_... / rk_live_..." },
                "apiKeyAuth": { "type": "apiKey", "in": "header", "name": "X-Api-Key" },
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "Makes the POST safe to retry: the first response is stored and replayed (header idempotent-replayed: true) for 24 h or more.",
                    "schema": { "type": "string", "pattern": "^[!-~]{1,255}$" },
                },
                "XAccountId": {
                    "name": "x-account-id", "in": "header", "required": false,
                    "description": "Act as one of your connected accounts (acct_...): its objects, balance and webhooks. Your own account id is the same as none; any other is a 403 account_invalid.",
                    "schema": { "type": "string", "pattern": "^acct_[A-Za-z0-9_]{1,59}$" },
                },
                "XIdempotencyKey": {
                    "name": "x-idempotency-key", "in": "header", "required": false,
                    "description": "Seed 004's name for Idempotency-Key (send one of the two). On seed 004's operations a key has at least 10 characters; a shorter one is a 400 idempotency_key_too_short.",
                    "schema": { "type": "string", "pattern": "^[!-~]{10,255}$" },
                },
            },
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed file is what the generator makes; `VINR_WRITE_OPENAPI=1` rewrites it.
    #[test]
    fn committed_document_is_current() {
        let generated = document().to_string();
        if std::env::var_os("VINR_WRITE_OPENAPI").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/openapi.json"),
                &generated,
            )
            .unwrap();
            return;
        }
        assert!(
            generated == SERVED,
            "schema/openapi.json is stale: run `VINR_WRITE_OPENAPI=1 cargo test -p vinr-shared openapi`"
        );
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = document();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> = Group::ALL
            .iter()
            .flat_map(|g| g.specs().into_iter().map(|s| (s.method.to_string(), path_of(s.path))))
            .collect();
        served.push(("GET".into(), "/v1/openapi.json".into()));
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}

//! Helpers of the Engagement tests (docs/engagement.md): the program, accounts with points,
//! rewards, and the invariants every account keeps.

use crate::fixtures::{create_customer, id_of};
use crate::money::int;
use crate::runtime::Runtime;
use serde_json::Value;

/// Sets the environment's program (`form`'s parameters; tiers cleared unless given).
pub fn program(rt: &Runtime, form: &str) -> Value {
    let form = if form.contains("tiers") {
        form.to_string()
    } else {
        format!("{form}&tiers=")
    };
    rt.post("/v1/loyalty/program").form(&form).send().ok()
}

/// The plain program: 1 point per unit, active at once, no expiry, no tiers, no auto-enrolment.
pub fn plain_program(rt: &Runtime) -> Value {
    program(rt, "earn_rate=1&pending_days=0&expiry_months=0&auto_enroll=false")
}

/// A new customer with a loyalty account: (customer id, account id).
pub fn member(rt: &Runtime) -> (String, String) {
    let cust = id_of(&create_customer(rt));
    let loy = rt
        .post("/v1/loyalty/accounts")
        .form(&format!("customer={cust}"))
        .send()
        .ok();
    (cust, id_of(&loy))
}

pub fn account(rt: &Runtime, loy: &str) -> Value {
    let a = rt.get(&format!("/v1/loyalty/accounts/{loy}")).send().ok();
    check_account(rt, &a);
    a
}

/// Grants `points` by hand (an `earn`).
pub fn grant(rt: &Runtime, loy: &str, points: i64) -> Value {
    rt.post(&format!("/v1/loyalty/accounts/{loy}/transactions"))
        .form(&format!("type=earn&points={points}"))
        .send()
        .ok()
}

/// A reward costing `cost` with `stock` (None: unlimited); returns its id.
pub fn reward(rt: &Runtime, cost: i64, stock: Option<i64>) -> String {
    let stock = stock.map(|s| format!("&stock={s}")).unwrap_or_default();
    id_of(
        &rt.post("/v1/loyalty/rewards")
            .form(&format!("name=Coffee&points_cost={cost}{stock}"))
            .send()
            .ok(),
    )
}

/// Every transaction of `loy`, oldest first.
pub fn transactions(rt: &Runtime, loy: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = rt
            .get(&format!("/v1/loyalty/transactions?account={loy}&limit=100{after}"))
            .send()
            .ok();
        let data = page["data"].as_array().unwrap().clone();
        let last = data.last().map(id_of);
        all.extend(data);
        match (page["has_more"].as_bool(), last) {
            (Some(true), Some(l)) => after = format!("&starting_after={l}"),
            _ => break,
        }
    }
    all.reverse();
    all
}

/// The account's invariants: its balances are the sums of its transactions by status, and
/// spent + active + pending + expired = lifetime.
pub fn check_account(rt: &Runtime, a: &Value) {
    let loy = id_of(a);
    let txns = transactions(rt, &loy);
    let sum = |status: &str| -> i64 {
        txns.iter()
            .filter(|t| t["status"] == status)
            .map(|t| int(t, "points"))
            .sum()
    };
    assert_eq!(int(a, "points_balance"), sum("active"), "balance = active ptx: {a}");
    assert_eq!(int(a, "pending_points"), sum("pending"), "pending = pending ptx: {a}");
    assert_eq!(
        int(a, "spent_points") + int(a, "points_balance") + int(a, "pending_points") + int(a, "expired_points"),
        int(a, "lifetime_points"),
        "spent + active + pending + expired = lifetime: {a}"
    );
    for t in &txns {
        assert_eq!(t["amount"], t["points"], "{t}");
        assert_eq!(t["customerId"], t["customer"], "{t}");
        assert_eq!(t["customer"], a["customer"], "{t}");
    }
}

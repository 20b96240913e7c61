//! Helpers of the Billing tests (docs/billing.md): customers paying with a test card, prices,
//! and changing a customer's default payment method between charges.

use crate::fixtures::id_of;
use crate::runtime::Runtime;

/// A new customer whose default payment method is `pm` (a test method: `pm_card_visa`...).
pub fn customer_paying_with(rt: &Runtime, pm: &str) -> String {
    id_of(
        &rt.post("/v1/customers")
            .form(&format!("payment_method={pm}"))
            .send()
            .ok(),
    )
}

/// A price of a new product, with `form`'s parameters.
pub fn price(rt: &Runtime, form: &str) -> String {
    let prod = id_of(&rt.post("/v1/products").form("name=Plan").send().ok());
    id_of(
        &rt.post("/v1/prices")
            .form(&format!("product={prod}&{form}"))
            .send()
            .ok(),
    )
}

/// A monthly EUR price of `unit_amount`, nicknamed Pro.
pub fn monthly(rt: &Runtime, unit_amount: i64) -> String {
    price(
        rt,
        &format!("currency=EUR&unit_amount={unit_amount}&recurring[interval]=month&nickname=Pro"),
    )
}

/// Attaches a copy of `test_pm` to `cust`; returns the new `pm_`.
pub fn attach(rt: &Runtime, cust: &str, test_pm: &str) -> String {
    let pm = rt
        .post(&format!("/v1/payment_methods/{test_pm}/attach"))
        .form(&format!("customer={cust}"))
        .send()
        .ok();
    id_of(&pm)
}

/// Makes `pm` the customer's default payment method.
pub fn set_default(rt: &Runtime, cust: &str, pm: &str) {
    rt.post(&format!("/v1/customers/{cust}"))
        .form(&format!("default_payment_method={pm}"))
        .send()
        .ok();
}

//! Billing's one-off invoices: /v1/invoices (docs/billing.md, Invoices). Each is paid by a real
//! payment, so the payment is checked too.

use vinr_conformance::*;

fn customer_with(rt: &Runtime, pm: Option<&str>) -> String {
    let form = pm.map(|p| format!("payment_method={p}")).unwrap_or_default();
    id_of(&rt.post("/v1/customers").form(&form).send().ok())
}

fn invoice(rt: &Runtime, form: &str) -> Resp {
    rt.post("/v1/invoices").form(form).send()
}

fn draft(rt: &Runtime, cust: &str, amount: i64) -> Value {
    invoice(rt, &format!("customer={cust}&currency=EUR&lines[0][amount]={amount}")).ok()
}

fn post(rt: &Runtime, inv: &str, action: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/invoices/{inv}/{action}")).form(form).send()
}

fn one_time_price(rt: &Runtime, currency: &str, unit_amount: i64) -> String {
    let prod = id_of(&rt.post("/v1/products").form("name=Widget").send().ok());
    let form = format!("product={prod}&currency={currency}&unit_amount={unit_amount}");
    id_of(&rt.post("/v1/prices").form(&form).send().ok())
}

/// The events of `kind` about `id`, oldest first.
fn events_of(rt: &Runtime, kind: &str, id: &str) -> Vec<Value> {
    let list = rt.get(&format!("/v1/events?type={kind}&limit=100")).send().ok();
    let mut found: Vec<Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["id"] == id)
        .cloned()
        .collect();
    found.reverse();
    found
}

fn payments_of(rt: &Runtime, cust: &str) -> Vec<Value> {
    let list = rt.get(&format!("/v1/payments?customer={cust}&limit=100")).send().ok();
    list["data"].as_array().unwrap().clone()
}

#[test]
fn a_one_off_invoice_is_drafted_finalized_and_paid_by_a_real_payment() {
    let rt = shared();
    let cust = customer_with(rt, None);
    let price = one_time_price(rt, "EUR", 1250);
    let inv = invoice(
        rt,
        &format!(
            "customer={cust}&lines[0][price]={price}&lines[0][quantity]=3&lines[0][description]=Widgets\
             &lines[1][amount]=2000&lines[1][description]=Setup&metadata[order]=42"
        ),
    )
    .ok();
    let id = assert_id(&inv["id"], "inv_");
    assert_eq!(inv["object"], "invoice");
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["customer"], cust.as_str());
    assert_eq!(
        inv["customerId"],
        cust.as_str(),
        "seed 002's handler reads data.customerId"
    );
    assert_eq!(inv["currency"], "EUR", "from the price");
    assert_eq!(inv["collection_method"], "charge_automatically");
    let lines = inv["lines"]["data"].as_array().unwrap();
    assert_eq!(inv["lines"]["object"], "list");
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["amount"].as_i64(), lines[0]["quantity"].as_i64()),
        (Some(3750), Some(3))
    );
    assert_eq!(lines[0]["price"], price.as_str());
    assert_eq!(lines[1]["amount"], 2000);
    assert!(lines[1]["price"].is_null());
    assert_eq!(
        (inv["subtotal"].as_i64(), inv["total"].as_i64()),
        (Some(5750), Some(5750))
    );
    assert_eq!(inv["amount_due"], 0, "a draft owes nothing yet");
    assert_eq!(inv["metadata"], json!({"order": "42"}));
    assert_eq!(events_of(rt, "invoice.created", &id).len(), 1);

    let open = post(rt, &id, "finalize", "").ok();
    assert_eq!(open["status"], "open");
    assert_eq!(
        (open["amount_due"].as_i64(), open["amount_remaining"].as_i64()),
        (Some(5750), Some(5750))
    );
    assert!(open["finalized_at"].as_i64().is_some());
    post(rt, &id, "finalize", "").err(400, "invoice_not_draft");

    let paid = post(rt, &id, "pay", "payment_method=pm_card_visa").ok();
    assert_eq!(paid["status"], "paid");
    assert_eq!(
        (paid["amount_paid"].as_i64(), paid["amount_remaining"].as_i64()),
        (Some(5750), Some(0))
    );
    assert_eq!(paid["attempt_count"], 1);
    let pay_id = assert_id(&paid["payment"], "pay_");
    let pay = get_payment(rt, &pay_id);
    assert_eq!(pay["status"], "succeeded");
    assert_eq!(pay["amount"], 5750);
    assert_eq!(pay["amount_received"], 5750);
    assert_eq!(pay["customer"], cust.as_str());
    assert_eq!(pay["metadata"]["invoice"], id.as_str());
    assert!(
        pay["balance_transaction"].as_str().is_some(),
        "the capture is on the ledger: {pay}"
    );
    assert_eq!(rt.get(&format!("/v1/invoices/{id}")).send().ok(), paid);
    let paid_events = events_of(rt, "invoice.paid", &id);
    assert_eq!(paid_events.len(), 1);
    assert_eq!(paid_events[0]["data"]["customerId"], cust.as_str());
    assert_eq!(events_of(rt, "invoice.finalized", &id).len(), 1);
    post(rt, &id, "pay", "payment_method=pm_card_visa").err(400, "invoice_already_paid");
    assert_eq!(payments_of(rt, &cust).len(), 1, "one payment, ever");
}

#[test]
fn a_declined_charge_leaves_it_open_and_a_later_one_pays_it() {
    let rt = shared();
    let cust = customer_with(rt, None);
    let id = id_of(&draft(rt, &cust, 3000));
    // Paying a draft finalizes it first.
    let failed = post(rt, &id, "pay", "payment_method=pm_card_insufficient_funds").ok();
    assert_eq!(failed["status"], "open");
    assert_eq!(failed["attempt_count"], 1);
    assert!(failed["payment"].is_null());
    let err = &failed["last_payment_error"];
    assert_eq!(err["decline_code"], "insufficient_funds", "{failed}");
    let failed_pay = get_payment(rt, err["payment"].as_str().unwrap());
    assert_eq!(failed_pay["status"], "failed");
    assert_eq!(events_of(rt, "invoice.payment_failed", &id).len(), 1);
    assert_eq!(events_of(rt, "invoice.finalized", &id).len(), 1);

    // Off-session: a card that asks for 3-D Secure is declined, not left waiting.
    let threeds = post(rt, &id, "pay", "payment_method=pm_card_threeds").ok();
    assert_eq!(threeds["status"], "open");
    assert_eq!(threeds["attempt_count"], 2);
    assert_eq!(threeds["last_payment_error"]["decline_code"], "authentication_required");
    let threeds_pay = get_payment(rt, threeds["last_payment_error"]["payment"].as_str().unwrap());
    assert_eq!(threeds_pay["status"], "failed");

    let paid = post(rt, &id, "pay", "payment_method=pm_card_mastercard").ok();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["attempt_count"], 3);
    assert!(paid["last_payment_error"].is_null());
    let succeeded: Vec<_> = payments_of(rt, &cust)
        .into_iter()
        .filter(|p| p["status"] == "succeeded")
        .collect();
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0]["id"], paid["payment"]);
}

#[test]
fn pay_uses_the_invoice_default_then_the_customer_default_payment_method() {
    let rt = shared();
    let with_default = customer_with(rt, Some("pm_card_visa"));
    let paid = post(rt, &id_of(&draft(rt, &with_default, 1000)), "pay", "").ok();
    assert_eq!(paid["status"], "paid");
    let pm = get_payment(rt, paid["payment"].as_str().unwrap())["payment_method"].clone();
    let cust = rt.get(&format!("/v1/customers/{with_default}")).send().ok();
    assert_eq!(pm, cust["default_payment_method"]);

    let bare = customer_with(rt, None);
    let own = invoice(
        rt,
        &format!("customer={bare}&currency=EUR&lines[0][amount]=1000&default_payment_method=pm_card_amex"),
    )
    .ok();
    assert_eq!(own["default_payment_method"], "pm_card_amex");
    let paid = post(rt, &id_of(&own), "pay", "").ok();
    assert_eq!(paid["status"], "paid");

    let none = id_of(&draft(rt, &bare, 1000));
    post(rt, &none, "pay", "").err_param(400, "parameter_missing", "payment_method");
    let unchanged = rt.get(&format!("/v1/invoices/{none}")).send().ok();
    assert_eq!(
        unchanged["status"], "draft",
        "a refused pay changes nothing: {unchanged}"
    );

    let other = customer_with(rt, Some("pm_card_visa"));
    let others_pm = rt.get(&format!("/v1/customers/{other}")).send().ok()["default_payment_method"]
        .as_str()
        .unwrap()
        .to_string();
    post(rt, &none, "pay", &format!("payment_method={others_pm}")).err_param(
        400,
        "payment_method_customer_mismatch",
        "payment_method",
    );
}

#[test]
fn send_invoice_is_due_in_days_and_zero_is_paid_when_finalized() {
    let rt = shared();
    let cust = customer_with(rt, None);
    let sent = invoice(
        rt,
        &format!("customer={cust}&currency=usd&lines[0][amount]=9900&collection_method=send_invoice&days_until_due=14"),
    )
    .ok();
    assert_eq!(sent["days_until_due"], 14);
    let open = post(rt, &id_of(&sent), "finalize", "").ok();
    assert_eq!(
        open["due_date"].as_i64().unwrap(),
        open["finalized_at"].as_i64().unwrap() + 14 * 86_400
    );
    let default_days = invoice(
        rt,
        &format!("customer={cust}&currency=USD&lines[0][amount]=9900&collection_method=send_invoice"),
    )
    .ok();
    assert_eq!(default_days["days_until_due"], 30);

    let zero = draft(rt, &cust, 0);
    let paid = post(rt, &id_of(&zero), "finalize", "").ok();
    assert_eq!(paid["status"], "paid");
    assert!(paid["payment"].is_null());
    assert_eq!(events_of(rt, "invoice.paid", &id_of(&zero)).len(), 1);
}

#[test]
fn void_and_uncollectible() {
    let rt = shared();
    let cust = customer_with(rt, None);
    let d = id_of(&draft(rt, &cust, 1000));
    post(rt, &d, "void", "").err(400, "invoice_not_open");
    post(rt, &d, "mark_uncollectible", "").err(400, "invoice_not_open");
    post(rt, &d, "finalize", "").ok();
    let bad = post(rt, &d, "mark_uncollectible", "").ok();
    assert_eq!(bad["status"], "uncollectible");
    assert_eq!(events_of(rt, "invoice.marked_uncollectible", &d).len(), 1);
    let void = post(rt, &d, "void", "").ok();
    assert_eq!(
        (void["status"].as_str(), void["amount_remaining"].as_i64()),
        (Some("void"), Some(0))
    );
    assert_eq!(events_of(rt, "invoice.voided", &d).len(), 1);
    post(rt, &d, "pay", "payment_method=pm_card_visa").err(400, "invoice_not_payable");
    // Uncollectible can still be paid.
    let u = id_of(&draft(rt, &cust, 1000));
    post(rt, &u, "finalize", "").ok();
    post(rt, &u, "mark_uncollectible", "").ok();
    assert_eq!(
        post(rt, &u, "pay", "payment_method=pm_card_visa").ok()["status"],
        "paid"
    );

    let statuses: Vec<String> = ["void", "paid", "draft"]
        .iter()
        .map(|s| {
            let l = rt.get(&format!("/v1/invoices?customer={cust}&status={s}")).send().ok();
            ids(&l).join(",")
        })
        .collect();
    assert_eq!(statuses, vec![d.clone(), u.clone(), String::new()]);
    assert_eq!(
        ids(&rt.get(&format!("/v1/invoices?customer={cust}")).send().ok()),
        vec![u, d]
    );
    rt.get("/v1/invoices?status=late")
        .send()
        .err_param(400, "parameter_invalid", "status");
}

#[test]
fn invoice_errors_name_the_parameter_and_write_nothing() {
    let rt = shared();
    let cust = customer_with(rt, None);
    let recurring = {
        let prod = id_of(&rt.post("/v1/products").form("name=Plan").send().ok());
        let form = format!("product={prod}&currency=EUR&unit_amount=100&recurring[interval]=month");
        id_of(&rt.post("/v1/prices").form(&form).send().ok())
    };
    let inactive = one_time_price(rt, "EUR", 100);
    rt.post(&format!("/v1/prices/{inactive}"))
        .form("active=false")
        .send()
        .ok();
    let usd = one_time_price(rt, "USD", 100);
    let eur = one_time_price(rt, "EUR", 99_999_999);
    let c = format!("customer={cust}");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "currency=EUR&lines[0][amount]=100".into(),
            "parameter_missing",
            "customer",
        ),
        (
            "customer=cust_000000000000000000000000&currency=EUR&lines[0][amount]=100".into(),
            "resource_missing",
            "customer",
        ),
        (format!("{c}&currency=EUR"), "parameter_missing", "lines"),
        (format!("{c}&lines[0][amount]=100"), "parameter_missing", "currency"),
        (
            format!("{c}&currency=EUR&lines[0][description]=x"),
            "parameter_missing",
            "lines[0]",
        ),
        (
            format!("{c}&currency=EUR&lines[0][amount]=100&lines[0][price]={eur}"),
            "parameter_not_allowed",
            "lines[0][price]",
        ),
        (
            format!("{c}&currency=EUR&lines[0][amount]=100&lines[0][quantity]=2"),
            "parameter_not_allowed",
            "lines[0][quantity]",
        ),
        (
            format!("{c}&currency=EUR&lines[0][amount]=-1"),
            "parameter_invalid_integer",
            "lines[0][amount]",
        ),
        (
            format!("{c}&lines[0][price]=price_000000000000000000000000"),
            "resource_missing",
            "lines[0][price]",
        ),
        (
            format!("{c}&lines[0][price]={recurring}"),
            "price_not_one_time",
            "lines[0][price]",
        ),
        (
            format!("{c}&lines[0][price]={inactive}"),
            "price_inactive",
            "lines[0][price]",
        ),
        (
            format!("{c}&currency=EUR&lines[0][price]={usd}"),
            "currency_mismatch",
            "lines[0][price]",
        ),
        (
            format!("{c}&lines[0][price]={eur}&lines[1][price]={usd}"),
            "currency_mismatch",
            "lines[1][price]",
        ),
        (
            format!("{c}&lines[0][price]={eur}&lines[0][quantity]=2"),
            "amount_too_large",
            "lines[0][quantity]",
        ),
        (
            format!("{c}&lines[0][price]={eur}&lines[1][amount]=1"),
            "amount_too_large",
            "lines",
        ),
        (
            format!("{c}&currency=EUR&lines[0][amount]=10"),
            "amount_too_small",
            "lines",
        ),
        (
            format!("{c}&currency=EUR&lines[0][amount]=100&days_until_due=5"),
            "parameter_not_allowed",
            "days_until_due",
        ),
        (
            format!("{c}&currency=EUR&lines[0][amount]=100&collection_method=send_invoice&days_until_due=0"),
            "parameter_invalid_integer",
            "days_until_due",
        ),
        (
            format!("{c}&currency=EUR&lines[0][amount]=100&default_payment_method=pm_nope"),
            "resource_missing",
            "default_payment_method",
        ),
    ];
    for (form, code, param) in &cases {
        invoice(rt, form).err_param(400, code, param);
    }
    assert!(ids(&rt.get(&format!("/v1/invoices?customer={cust}")).send().ok()).is_empty());
    rt.get("/v1/invoices/inv_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
    post(rt, "inv_000000000000000000000000", "pay", "").err(404, "resource_missing");
}

#[test]
fn concurrent_pays_charge_an_invoice_exactly_once() {
    let rt = shared();
    for _ in 0..3 {
        let cust = customer_with(rt, None);
        let id = id_of(&draft(rt, &cust, 4200));
        post(rt, &id, "finalize", "").ok();
        let answers = Req::send_at_once(
            (0..8)
                .map(|_| {
                    rt.post(&format!("/v1/invoices/{id}/pay"))
                        .form("payment_method=pm_card_visa")
                })
                .collect(),
        );
        let paid = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(paid, 1, "one pay charges");
        for r in answers.iter().filter(|r| r.status != 200) {
            r.err(400, "invoice_already_paid");
        }
        let payments = payments_of(rt, &cust);
        assert_eq!(payments.len(), 1, "exactly one charge: {payments:?}");
        assert_eq!(
            rt.get(&format!("/v1/invoices/{id}")).send().ok()["payment"],
            payments[0]["id"]
        );
    }
}

//! Platforms (docs/platforms.md): connected accounts (`/v1/accounts`), acting as one with
//! `x-account-id`, payment intents' `payment_splits` moving money to connected accounts on
//! capture and back on refunds (in proportion, a failed refund moving it out again), a partial
//! capture shrinking the splits, the `x-business-id` lists, business payouts and the partner's
//! processing plan; every refusal writes nothing. Each test holds `serial()` and makes its own
//! connected accounts, so their balances start at zero.

use vinr_conformance::money::{advance, balance, err_naming, int, serial};
use vinr_conformance::platforms::{ACT, Steps, connected, new_account};
use vinr_conformance::*;

/// `(pending, available)` of `acct` (acting as it) in `currency`.
fn balance_of(rt: &Runtime, acct: &str, currency: &str) -> (i64, i64) {
    let b = rt
        .get(&format!("/v1/balance?currency={currency}"))
        .header(ACT, acct)
        .send()
        .ok();
    match b["balances"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["currency"] == currency))
    {
        Some(e) => (int(e, "pending"), int(e, "available")),
        None => (0, 0),
    }
}

/// Every transaction of `path` (a list of the caller's, or of `acct` acting as it), newest first.
fn txns(rt: &Runtime, acct: Option<&str>, path: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let mut url = format!("{path}&limit=100");
        if let Some(last) = out.last() {
            url.push_str(&format!("&starting_after={}", id_of(last)));
        }
        let mut req = rt.get(&url);
        if let Some(a) = acct {
            req = req.header(ACT, a);
        }
        let page = req.send().ok();
        let data = page["data"].as_array().expect("data").clone();
        let done = page["has_more"] != true || data.is_empty();
        out.extend(data);
        if done {
            return out;
        }
    }
}

/// The split transactions (`transfer`, `transfer_refund`) of intent `pi` on connected account
/// `acct` (oldest first), or on the platform (None; in no particular order).
fn split_txns(rt: &Runtime, acct: Option<&str>, pi: &str) -> Vec<Value> {
    let mine = |t: &Value| t["source_id"] == pi;
    match acct {
        Some(_) => {
            // A connected account made by the test holds only split money.
            let mut all: Vec<Value> = txns(rt, acct, "/v1/transactions?").into_iter().filter(mine).collect();
            all.reverse();
            for t in &all {
                assert!(
                    ["transfer", "transfer_refund"].contains(&t["source_type"].as_str().unwrap_or_default()),
                    "{t}"
                );
            }
            all
        }
        None => ["transfer", "transfer_refund"]
            .iter()
            .flat_map(|k| txns(rt, None, &format!("/v1/transactions?source_type={k}")))
            .filter(mine)
            .collect(),
    }
}

fn sum(txns: &[Value]) -> i64 {
    txns.iter().map(|t| int(t, "amount")).sum()
}

fn intent(rt: &Runtime, form: &str) -> Value {
    let pi = rt.post("/v1/payment_intents").form(form).send().ok();
    assert_eq!(pi["status"], "created", "{pi}");
    pi
}

fn act(rt: &Runtime, pi: &str, action: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/payment_intents/{pi}/{action}")).form(form).send()
}

fn get_intent(rt: &Runtime, pi: &str) -> Value {
    rt.get(&format!("/v1/payment_intents/{pi}")).send().ok()
}

fn splits_form(splits: &[(&str, i64)]) -> String {
    splits
        .iter()
        .enumerate()
        .map(|(i, (a, n))| format!("&payment_splits[{i}][account_id]={a}&payment_splits[{i}][amount]={n}"))
        .collect()
}

/// The newest intent's id (to show that a refusal created none).
fn newest_intent(rt: &Runtime) -> Value {
    rt.get("/v1/payment_intents?limit=1").send().ok()["data"][0]["id"].clone()
}

#[test]
fn a_platform_creates_lists_and_retrieves_its_connected_accounts() {
    let rt = shared();
    let _s = serial();
    let business = uniq("biz");
    let a = connected(
        rt,
        &format!("business_name=North%20Shop&business_id={business}&email=owner@north.example&metadata[tier]=gold"),
    );
    let id = assert_id(&a["id"], "acct_");
    assert_eq!(a["entity"], "account");
    assert_eq!(a["business_name"], "North Shop");
    assert_eq!(a["business_id"], business.as_str());
    assert_eq!(a["email"], "owner@north.example");
    assert_eq!(a["metadata"], json!({ "tier": "gold" }));
    assert_eq!(a["partner_id"], rt.account.as_str(), "{a}");
    assert_eq!(a["livemode"], false);
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'), "{a}");
    assert_created(&a);
    assert_eq!(rt.get(&format!("/v1/accounts/{id}")).send().ok(), a);

    let other = connected(rt, "business_name=Other");
    let list = rt.get("/v1/accounts?limit=100").send().ok();
    assert_eq!(list["object"], "list");
    assert!(list["meta"].is_object(), "seed 004's meta: {list}");
    let all = ids(&list);
    assert!(all.contains(&id) && all.contains(&id_of(&other)), "{list}");
    assert!(
        all.contains(&rt.connected_account),
        "the CLI's connected account too: {list}"
    );
    let by_business = rt.get(&format!("/v1/accounts?business_id={business}")).send().ok();
    assert_eq!(ids(&by_business), vec![id.clone()], "{by_business}");

    // Another account, and the live environment, see none of them.
    rt.get(&format!("/v1/accounts/{id}"))
        .key(&rt.b_secret_key)
        .send()
        .err(404, "resource_missing");
    let b_list = rt.get("/v1/accounts?limit=100").key(&rt.b_secret_key).send().ok();
    assert!(!ids(&b_list).contains(&id), "{b_list}");
    rt.get(&format!("/v1/accounts/{id}"))
        .key(&rt.live_secret_key)
        .send()
        .err(404, "resource_missing");

    // Bad input names the parameter and creates nothing.
    let before = ids(&rt.get("/v1/accounts?limit=100").send().ok()).len();
    err_naming(
        &rt.post("/v1/accounts").form("business_id=not%20ok!").send(),
        400,
        "business_id",
    );
    err_naming(&rt.post("/v1/accounts").form("email=nope").send(), 400, "email");
    err_naming(&rt.post("/v1/accounts").form("colour=red").send(), 400, "colour");
    assert_eq!(ids(&rt.get("/v1/accounts?limit=100").send().ok()).len(), before);
}

#[test]
fn x_account_id_acts_as_a_connected_account_and_refuses_any_other() {
    let rt = shared();
    let _s = serial();
    let c = new_account(rt);
    let theirs = rt
        .post("/v1/customers")
        .header(ACT, &c)
        .form("name=Their%20customer")
        .send()
        .ok();
    let theirs_id = id_of(&theirs);
    let mine = create_customer(rt);
    let mine_id = id_of(&mine);
    // Each account sees its own objects only.
    rt.get(&format!("/v1/customers/{theirs_id}"))
        .header(ACT, &c)
        .send()
        .ok();
    rt.get(&format!("/v1/customers/{theirs_id}"))
        .send()
        .err(404, "resource_missing");
    rt.get(&format!("/v1/customers/{mine_id}"))
        .header(ACT, &c)
        .send()
        .err(404, "resource_missing");
    // The caller's own id changes nothing; the CLI's connected account may be acted as too.
    rt.get(&format!("/v1/customers/{mine_id}"))
        .header(ACT, &rt.account)
        .send()
        .ok();
    let b = rt.get("/v1/balance").header(ACT, &rt.connected_account).send().ok();
    assert_eq!(b["object"], "balance", "{b}");

    // Not yours, unknown, malformed: one refusal, naming the header, nothing written.
    let refused: Vec<Value> = [rt.b_account.as_str(), "acct_doesnotexist", "x';--", &mine_id]
        .iter()
        .map(|bad| {
            let r = rt.post("/v1/customers").header(ACT, bad).form("name=Nobody").send();
            let e = r.err_param(403, "account_invalid", ACT);
            e["error"]["message"].clone()
        })
        .collect();
    assert!(
        refused.windows(2).all(|w| w[0] == w[1]),
        "indistinguishable: {refused:?}"
    );
    // Account B may not act as A's connected account.
    rt.get("/v1/customers")
        .key(&rt.b_secret_key)
        .header(ACT, &c)
        .send()
        .err_param(403, "account_invalid", ACT);
    let newest = rt.get("/v1/customers?limit=1").send().ok();
    assert_eq!(newest["data"][0]["id"], mine["id"], "no customer was created: {newest}");
}

#[test]
fn splits_move_the_capture_to_connected_accounts_and_refunds_take_their_share_back() {
    let rt = shared();
    let _s = serial();
    let (c1, c2) = (new_account(rt), new_account(rt));
    let (platform0, _) = balance(rt, "EUR");
    let pi = intent(
        rt,
        &format!("amount=10000&currency=EUR{}", splits_form(&[(&c1, 3000), (&c2, 2000)])),
    );
    let id = id_of(&pi);
    assert_eq!(pi["merchant_amount"], 5000, "amount less the splits: {pi}");
    assert_eq!(pi["payment_splits"][0]["account_id"], c1.as_str(), "{pi}");
    assert_eq!(pi["payment_splits"][0]["amount"], 3000, "{pi}");
    assert_eq!(pi["payment_splits"][0]["amount_transferred"], 0, "{pi}");
    assert!(split_txns(rt, None, &id).is_empty(), "nothing moves before a capture");

    act(rt, &id, "payments", "payment_method_id=pm_card_visa").ok();
    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "captured", "{pi}");
    assert_eq!(pi["payment_splits"][0]["amount_transferred"], 3000, "{pi}");
    assert_eq!(pi["payment_splits"][1]["amount_transferred"], 2000, "{pi}");
    let to_c1 = split_txns(rt, Some(&c1), &id);
    assert_eq!(to_c1.len(), 1, "{to_c1:?}");
    assert_eq!(to_c1[0]["source_type"], "transfer");
    assert_eq!(
        (int(&to_c1[0], "amount"), int(&to_c1[0], "fee")),
        (3000, 0),
        "{to_c1:?}"
    );
    let from_platform = split_txns(rt, None, &id);
    assert_eq!(sum(&from_platform), -5000, "{from_platform:?}");
    assert_eq!(balance_of(rt, &c1, "EUR"), (3000, 0));
    assert_eq!(balance_of(rt, &c2, "EUR"), (2000, 0));
    // The platform pays the fee of the whole capture and keeps what the splits leave.
    let (platform1, _) = balance(rt, "EUR");
    assert_eq!(platform1 - platform0, money::net_of(10000) - 5000);

    // A refund of half takes half of every split back.
    act(rt, &id, "refunds", "amount=5000").ok();
    let pi = get_intent(rt, &id);
    assert_eq!(pi["payment_splits"][0]["amount_reversed"], 1500, "{pi}");
    assert_eq!(pi["payment_splits"][1]["amount_reversed"], 1000, "{pi}");
    assert_eq!(balance_of(rt, &c1, "EUR"), (1500, 0));
    let back = split_txns(rt, Some(&c2), &id);
    assert_eq!(back[1]["source_type"], "transfer_refund", "{back:?}");
    assert_eq!(int(&back[1], "amount"), -1000, "{back:?}");
    assert_eq!(sum(&split_txns(rt, None, &id)), -2500);
}

#[test]
fn a_refund_that_fails_moves_the_splits_share_out_again() {
    let rt = shared();
    let _s = serial();
    let c = new_account(rt);
    let id = id_of(&intent(
        rt,
        &format!("amount=4000&currency=SEK{}", splits_form(&[(&c, 1000)])),
    ));
    act(rt, &id, "payments", "payment_method_id=pm_card_refund_fail").ok();
    assert_eq!(balance_of(rt, &c, "SEK"), (1000, 0));
    act(rt, &id, "refunds", "amount=2000").ok();
    assert_eq!(
        balance_of(rt, &c, "SEK"),
        (500, 0),
        "half refunded: half the split back"
    );
    advance(rt, 1);
    let pi = get_intent(rt, &id);
    assert_eq!(pi["amount_refunded"], 0, "{pi}");
    assert_eq!(pi["payment_splits"][0]["amount_reversed"], 0, "{pi}");
    assert_eq!(
        balance_of(rt, &c, "SEK"),
        (1000, 0),
        "the refund failed: the split is whole again"
    );
    let moves: Vec<i64> = split_txns(rt, Some(&c), &id).iter().map(|t| int(t, "amount")).collect();
    assert_eq!(
        moves,
        vec![1000, -500, 500],
        "transfer, its refund, the refund's failure"
    );
}

#[test]
fn a_partial_capture_shrinks_the_splits_unless_it_names_its_own() {
    let rt = shared();
    let _s = serial();
    let (c1, c2) = (new_account(rt), new_account(rt));
    let manual = |splits: &[(&str, i64)]| {
        let id = id_of(&intent(
            rt,
            &format!("amount=10000&currency=EUR&capture=false{}", splits_form(splits)),
        ));
        act(rt, &id, "payments", "payment_method_id=pm_card_visa").ok();
        assert_eq!(get_intent(rt, &id)["status"], "uncaptured");
        id
    };
    let id = manual(&[(&c1, 3001)]);
    assert!(
        split_txns(rt, Some(&c1), &id).is_empty(),
        "an authorization moves nothing"
    );
    let pi = act(rt, &id, "capture", "amount=5000").ok();
    assert_eq!(
        pi["payment_splits"][0]["amount"], 1500,
        "3001 × 5000/10000, rounded down: {pi}"
    );
    assert_eq!(pi["merchant_amount"], 3500, "{pi}");
    assert_eq!(sum(&split_txns(rt, Some(&c1), &id)), 1500);

    // A capture's own splits replace the intent's, checked against what it captures.
    let id = manual(&[(&c1, 3000)]);
    err_naming(
        &act(
            rt,
            &id,
            "capture",
            &format!("amount=5000{}", splits_form(&[(&c2, 5001)])),
        ),
        400,
        "payment_splits",
    );
    err_naming(
        &act(
            rt,
            &id,
            "capture",
            &format!("amount=5000{}", splits_form(&[(&rt.b_account, 10)])),
        ),
        400,
        "payment_splits[0][account_id]",
    );
    err_naming(&act(rt, &id, "capture", "amount=10001"), 400, "amount");
    assert_eq!(
        get_intent(rt, &id)["status"],
        "uncaptured",
        "the refusals captured nothing"
    );
    let pi = act(
        rt,
        &id,
        "capture",
        &format!("amount=6000{}", splits_form(&[(&c2, 4000)])),
    )
    .ok();
    assert_eq!(pi["payment_splits"].as_array().unwrap().len(), 1, "{pi}");
    assert_eq!(pi["payment_splits"][0]["account_id"], c2.as_str(), "{pi}");
    assert_eq!(pi["merchant_amount"], 2000, "{pi}");
    assert!(split_txns(rt, Some(&c1), &id).is_empty());
    assert_eq!(sum(&split_txns(rt, Some(&c2), &id)), 4000);
}

#[test]
fn bad_splits_name_the_parameter_and_write_nothing() {
    let rt = shared();
    let _s = serial();
    let c = new_account(rt);
    let before = newest_intent(rt);
    let create = |form: String| {
        rt.post("/v1/payment_intents")
            .form(&format!("currency=EUR&{form}"))
            .send()
    };
    let cases: Vec<(String, &str)> = vec![
        (format!("amount=5000{}", splits_form(&[(&c, 5001)])), "payment_splits"),
        (
            format!("amount=5000{}", splits_form(&[(&c, 1), (&c, 1)])),
            "payment_splits[1][account_id]",
        ),
        (
            format!("amount=5000{}", splits_form(&[("acct_doesnotexist", 1)])),
            "payment_splits[0][account_id]",
        ),
        (
            format!("amount=5000{}", splits_form(&[(&rt.b_account, 1)])),
            "payment_splits[0][account_id]",
        ),
        (
            format!("amount=5000{}", splits_form(&[(&c, 0)])),
            "payment_splits[0][amount]",
        ),
        (
            "amount=5000&payment_splits[0][amount]=10".to_string(),
            "payment_splits[0][account_id]",
        ),
        (
            format!("amount=5000&merchant_amount=5000{}", splits_form(&[(&c, 10)])),
            "merchant_amount",
        ),
    ];
    for (form, param) in &cases {
        err_naming(&create(form.clone()), 400, param);
    }
    assert_eq!(newest_intent(rt), before, "no intent was created");

    // An update re-checks the splits against the new amount.
    let id = id_of(&intent(
        rt,
        &format!("amount=5000&currency=EUR{}", splits_form(&[(&c, 3000)])),
    ));
    err_naming(
        &rt.post(&format!("/v1/payment_intents/{id}")).form("amount=2000").send(),
        400,
        "payment_splits",
    );
    let pi = rt
        .post(&format!("/v1/payment_intents/{id}"))
        .form(&format!("amount=2000{}", splits_form(&[(&c, 500)])))
        .send()
        .ok();
    assert_eq!((int(&pi, "amount"), int(&pi, "merchant_amount")), (2000, 1500), "{pi}");
}

#[test]
fn business_lists_and_payouts_cover_every_account_of_the_business() {
    let rt = shared();
    let _s = serial();
    let business = uniq("biz");
    let c = id_of(&connected(rt, &format!("business_name=Biz&business_id={business}")));
    // An intent the connected account holds, listed by the platform through its business.
    let theirs = rt
        .post("/v1/payment_intents")
        .header(ACT, &c)
        .form("amount=2500&currency=NOK")
        .send()
        .ok();
    assert_eq!(theirs["business_id"], business.as_str(), "{theirs}");
    assert_eq!(theirs["account_id"], c.as_str(), "{theirs}");
    let listed = rt
        .get("/v1/payment_intents?limit=100")
        .header("x-business-id", &business)
        .send()
        .ok();
    assert_eq!(ids(&listed), vec![id_of(&theirs)], "{listed}");
    let own = ids(&rt.get("/v1/payment_intents?limit=100").send().ok());
    assert!(
        !own.contains(&id_of(&theirs)),
        "the platform's own list holds its own intents"
    );
    let none = rt
        .get("/v1/payment_intents")
        .header("x-business-id", "biz_nobody")
        .send()
        .ok();
    assert_eq!(none["data"], json!([]), "{none}");

    // Money split to the account settles on its own clock and is paid out.
    let id = id_of(&intent(
        rt,
        &format!("amount=9000&currency=NOK{}", splits_form(&[(&c, 4000)])),
    ));
    act(rt, &id, "payments", "payment_method_id=pm_card_visa").ok();
    rt.post("/v1/payouts/schedule")
        .header(ACT, &c)
        .form("interval=manual")
        .send()
        .ok();
    rt.post("/v1/test_helpers/clock/advance")
        .header(ACT, &c)
        .form(&format!("seconds={}", 3 * 86_400))
        .send()
        .ok();
    assert_eq!(
        balance_of(rt, &c, "NOK"),
        (0, 4000),
        "settled in the connected account's time"
    );
    let po = rt
        .post("/v1/payouts")
        .header(ACT, &c)
        .form("currency=NOK&amount=4000")
        .send()
        .ok();
    let payouts = rt
        .get("/v1/business/payouts")
        .header("x-business-id", &business)
        .send()
        .ok();
    assert_eq!(ids(&payouts), vec![id_of(&po)], "{payouts}");
    assert!(payouts["meta"].is_object(), "{payouts}");
    let other = rt
        .get("/v1/business/payouts")
        .header("x-business-id", "biz_nobody")
        .send()
        .ok();
    assert_eq!(other["data"], json!([]), "{other}");
    // Another platform's key sees nothing of this business.
    let b = rt
        .get("/v1/business/payouts")
        .key(&rt.b_secret_key)
        .header("x-business-id", &business)
        .send()
        .ok();
    assert_eq!(b["data"], json!([]), "{b}");
    err_naming(&rt.get("/v1/business/payouts").send(), 400, "x-business-id");
}

#[test]
fn the_partner_processing_plan_is_the_callers_own_or_its_platforms() {
    let rt = shared();
    let _s = serial();
    let plan = rt.get("/v1/processing_plan").send().ok();
    let mine = rt
        .get(&format!("/v1/partners/{}/processing_plan", rt.account))
        .send()
        .ok();
    assert_eq!(mine, plan);
    let c = new_account(rt);
    let theirs = rt
        .get(&format!("/v1/partners/{}/processing_plan", rt.account))
        .header(ACT, &c)
        .send()
        .ok();
    assert_eq!(theirs, plan, "a connected account asks for its platform's plan");
    for other in [c.as_str(), rt.b_account.as_str(), "acct_doesnotexist"] {
        rt.get(&format!("/v1/partners/{other}/processing_plan"))
            .send()
            .err(404, "resource_missing");
    }
}

/// Random intents with splits, captured in full or in part, refunded step by step (some refunds
/// failing later): after every step the split transactions of the platform and its connected
/// accounts add up to zero, and each account holds exactly what its split says.
#[test]
fn random_split_histories_keep_the_ledger_summing_to_zero() {
    let rt = shared();
    let _s = serial();
    let accounts = [new_account(rt), new_account(rt), new_account(rt)];
    let mut steps = Steps::new(0x9e37_79b9_7f4a_7c15);
    let mut next = |n: i64| steps.below(n);
    let held0: Vec<i64> = accounts.iter().map(|a| balance_of(rt, a, "DKK").0).collect();
    let mut expected = held0.clone();
    let mut intents: Vec<String> = Vec::new();
    for round in 0..6 {
        let amount = 1000 + next(20_000);
        let n = 1 + next(3) as usize;
        let mut left = amount;
        let splits: Vec<(&str, i64)> = accounts[..n]
            .iter()
            .map(|a| {
                let s = 1 + next(left / 2 + 1);
                left -= s;
                (a.as_str(), s)
            })
            .collect();
        let partial = next(2) == 0;
        let pm = if next(3) == 0 {
            "pm_card_refund_fail"
        } else {
            "pm_card_visa"
        };
        let id = id_of(&intent(
            rt,
            &format!(
                "amount={amount}&currency=DKK&capture={}{}",
                !partial,
                splits_form(&splits)
            ),
        ));
        act(rt, &id, "payments", &format!("payment_method_id={pm}")).ok();
        if partial {
            act(rt, &id, "capture", &format!("amount={}", 1 + next(amount))).ok();
        }
        intents.push(id.clone());
        for step in 0..3 {
            let pi = get_intent(rt, &id);
            let refundable = int(&pi, "amount_captured") - int(&pi, "amount_refunded");
            if refundable > 0 {
                act(rt, &id, "refunds", &format!("amount={}", 1 + next(refundable))).ok();
            }
            if step == 2 {
                advance(rt, 1); // pm_card_refund_fail's refunds fail now
            }
            check(rt, &accounts, &intents, &held0, &mut expected, round);
        }
    }

    fn check(rt: &Runtime, accounts: &[String], intents: &[String], held0: &[i64], expected: &mut [i64], round: i32) {
        for e in expected.iter_mut().zip(held0) {
            *e.0 = *e.1;
        }
        let mut total = 0;
        for id in intents {
            let pi = get_intent(rt, id);
            let mut moved = sum(&split_txns(rt, None, id));
            for s in pi["payment_splits"].as_array().unwrap() {
                let i = accounts.iter().position(|a| s["account_id"] == a.as_str()).unwrap();
                let holds = int(s, "amount_transferred") - int(s, "amount_reversed");
                let theirs = sum(&split_txns(rt, Some(&accounts[i]), id));
                assert_eq!(theirs, holds, "round {round}: {id}'s split to account {i}: {pi}");
                expected[i] += holds;
                moved += theirs;
                assert!(holds >= 0 && int(s, "amount") <= int(&pi, "amount_captured"), "{pi}");
            }
            assert_eq!(moved, 0, "round {round}: {id}'s transfers do not cancel out");
            total += moved;
        }
        assert_eq!(total, 0);
        for (i, a) in accounts.iter().enumerate() {
            assert_eq!(
                balance_of(rt, a, "DKK").0,
                expected[i],
                "round {round}: account {i}'s balance"
            );
        }
    }
}

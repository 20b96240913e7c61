//! Engagement's endpoints (docs/engagement.md): the program, accounts, manual transactions,
//! rewards, redemptions and their cancels, lists and filters, and every refusal. The program is
//! environment-wide, so every test holds `serial()` and sets the program it needs.

use vinr_conformance::loyalty::{account, check_account, grant, member, plain_program, program, reward, transactions};
use vinr_conformance::money::{int, serial};
use vinr_conformance::*;

fn transact(rt: &Runtime, loy: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/loyalty/accounts/{loy}/transactions"))
        .form(form)
        .send()
}

fn redeem(rt: &Runtime, loy: &str, rwd: &str) -> Resp {
    rt.post("/v1/loyalty/redemptions")
        .form(&format!("account={loy}&reward={rwd}"))
        .send()
}

#[test]
fn the_program_has_defaults_and_takes_every_setting() {
    let rt = shared();
    let _s = serial();
    let p = program(
        rt,
        "earn_rate[EUR]=2&earn_rate[usd]=1.5&pending_days=3&expiry_months=6&auto_enroll=true&tiers[0][name]=gold&tiers[0][min_points]=5000&tiers[0][multiplier]=1.5&tiers[1][name]=silver&tiers[1][min_points]=1000",
    );
    assert_eq!(p["object"], "loyalty_program", "{p}");
    assert_eq!(p["earn_rate"], json!({ "EUR": 2, "USD": 1.5 }), "{p}");
    assert_eq!(p["pending_days"], 3);
    assert_eq!(p["expiry_months"], 6);
    assert_eq!(p["auto_enroll"], true);
    // Sorted by min_points; a tier without a multiplier multiplies by 1.
    assert_eq!(
        p["tiers"][0],
        json!({ "name": "silver", "min_points": 1000, "multiplier": 1 }),
        "{p}"
    );
    assert_eq!(p["tiers"][1]["multiplier"], 1.5, "{p}");
    assert_eq!(rt.get("/v1/loyalty/program").send().ok(), p);
    // JSON works too, and an update changes only what it names.
    let p = rt
        .post("/v1/loyalty/program")
        .json(&json!({ "earn_rate": 0.25, "tiers": [] }))
        .send()
        .ok();
    assert_eq!(p["earn_rate"], 0.25, "{p}");
    assert_eq!(p["pending_days"], 3, "{p}");
    assert_eq!(p["tiers"], json!([]), "{p}");

    for (form, param) in [
        ("earn_rate=-1", "earn_rate"),
        ("earn_rate=1.00001", "earn_rate"),
        ("earn_rate=lots", "earn_rate"),
        ("earn_rate[XYZ]=1", "earn_rate[XYZ]"),
        ("pending_days=400", "pending_days"),
        ("expiry_months=-1", "expiry_months"),
        ("tiers[0][min_points]=5", "tiers[0][name]"),
        (
            "tiers[0][name]=a&tiers[0][min_points]=1&tiers[0][multiplier]=x",
            "tiers[0][multiplier]",
        ),
        (
            "tiers[0][name]=a&tiers[0][min_points]=1&tiers[1][name]=a&tiers[1][min_points]=2",
            "tiers",
        ),
        ("auto_enroll=maybe", "auto_enroll"),
        ("colour=red", "colour"),
    ] {
        let before = rt.get("/v1/loyalty/program").send().ok();
        err_naming(&rt.post("/v1/loyalty/program").form(form).send(), 400, param);
        assert_eq!(
            rt.get("/v1/loyalty/program").send().ok(),
            before,
            "{form} changed nothing"
        );
    }
    plain_program(rt);
}

#[test]
fn accounts_open_once_per_customer_and_list_by_customer() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    let cust = id_of(&create_customer(rt));
    let a = rt
        .post("/v1/loyalty/accounts")
        .form(&format!("customer={cust}&metadata[source]=app"))
        .send()
        .ok();
    let loy = assert_prefix(&a["id"], "loy_");
    assert_eq!(a["object"], "loyalty_account");
    assert_eq!(a["customer"], cust.as_str());
    assert_eq!(a["customerId"], cust.as_str());
    for f in [
        "points_balance",
        "pending_points",
        "spent_points",
        "expired_points",
        "lifetime_points",
    ] {
        assert_eq!(a[f], 0, "{f}: {a}");
    }
    assert_eq!(a["tier"], Value::Null);
    assert_eq!(a["metadata"]["source"], "app");
    assert_eq!(account(rt, &loy), a);
    let e = rt.post("/v1/loyalty/accounts").form(&format!("customer={cust}")).send();
    e.err_param(400, "loyalty_account_exists", "customer");
    let list = rt.get(&format!("/v1/loyalty/accounts?customer={cust}")).send().ok();
    assert_eq!(ids(&list), vec![loy.clone()]);
    assert_eq!(list["url"], "/v1/loyalty/accounts");
    // Missing, unknown, deleted customers; unknown accounts.
    err_naming(
        &rt.post("/v1/loyalty/accounts").form("metadata[a]=b").send(),
        400,
        "customer",
    );
    rt.post("/v1/loyalty/accounts")
        .form("customer=cust_nope")
        .send()
        .err_param(400, "resource_missing", "customer");
    let gone = id_of(&create_customer(rt));
    rt.delete(&format!("/v1/customers/{gone}")).send().ok();
    rt.post("/v1/loyalty/accounts")
        .form(&format!("customer={gone}"))
        .send()
        .err_param(400, "resource_missing", "customer");
    rt.get("/v1/loyalty/accounts/loy_nope")
        .send()
        .err(404, "resource_missing");
    // The account.created event carries the account.
    let evts = rt.get("/v1/events?type=loyalty.account.created&limit=100").send().ok();
    assert!(
        evts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["id"] == loy.as_str()),
        "{evts}"
    );
}

#[test]
fn manual_earn_burn_and_adjust_keep_the_balance_and_refuse_overdrafts() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    let (cust, loy) = member(rt);
    let t = transact(
        rt,
        &loy,
        "type=earn&points=500&description=Welcome&metadata[campaign]=w1",
    )
    .ok();
    assert_prefix(&t["id"], "ptx_");
    assert_eq!(t["object"], "loyalty_transaction");
    assert_eq!(t["type"], "earn");
    assert_eq!((int(&t, "points"), int(&t, "amount")), (500, 500));
    assert_eq!(t["status"], "active");
    assert_eq!(t["account"], loy.as_str());
    assert_eq!(t["customerId"], cust.as_str());
    assert_eq!(t["description"], "Welcome");
    assert_eq!(
        rt.get(&format!("/v1/loyalty/transactions/{}", id_of(&t))).send().ok(),
        t
    );
    let b = transact(rt, &loy, "type=burn&points=200").ok();
    assert_eq!(int(&b, "points"), -200);
    // A burn beyond the balance writes nothing.
    let before = account(rt, &loy);
    transact(rt, &loy, "type=burn&points=301").err_param(400, "insufficient_points", "points");
    assert_eq!(account(rt, &loy), before);
    assert_eq!(transactions(rt, &loy).len(), 2);
    let adj = transact(rt, &loy, "type=adjust&points=-50").ok();
    assert_eq!(int(&adj, "points"), -50);
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), 250, "{a}");
    assert_eq!(int(&a, "spent_points"), 200, "{a}");
    assert_eq!(int(&a, "lifetime_points"), 450, "{a}");
    for (form, param) in [
        ("points=5", "type"),
        ("type=earn", "points"),
        ("type=redeem&points=5", "type"),
        ("type=earn&points=0", "points"),
        ("type=earn&points=-5", "points"),
        ("type=burn&points=-5", "points"),
        ("type=adjust&points=0", "points"),
        ("type=earn&points=1.5", "points"),
        ("type=earn&points=5&colour=red", "colour"),
    ] {
        err_naming(&transact(rt, &loy, form), 400, param);
    }
    assert_eq!(account(rt, &loy), a, "refusals changed nothing");
    transact(rt, "loy_nope", "type=earn&points=5").err(404, "resource_missing");
    // Filters: type, account, created.
    let burns = rt
        .get(&format!("/v1/loyalty/transactions?account={loy}&type=burn"))
        .send()
        .ok();
    assert_eq!(ids(&burns), vec![id_of(&b)]);
    let created = int(&t, "created");
    let later = rt
        .get(&format!(
            "/v1/loyalty/transactions?account={loy}&created[gt]={}",
            created + 3600
        ))
        .send()
        .ok();
    assert_eq!(ids(&later), Vec::<String>::new());
    err_naming(&rt.get("/v1/loyalty/transactions?type=nope").send(), 400, "type");
    rt.get("/v1/loyalty/transactions/ptx_nope")
        .send()
        .err(404, "resource_missing");
}

#[test]
fn concurrent_burns_never_overdraw() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    let (_, loy) = member(rt);
    grant(rt, &loy, 100);
    let reqs = (0..10)
        .map(|_| {
            rt.post(&format!("/v1/loyalty/accounts/{loy}/transactions"))
                .form("type=burn&points=30")
        })
        .collect();
    let rs = Req::send_at_once(reqs);
    let ok = rs.iter().filter(|r| r.status == 200).count();
    for r in rs.iter().filter(|r| r.status != 200) {
        r.err(400, "insufficient_points");
    }
    assert_eq!(ok, 3, "100 points pay three burns of 30");
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), 10, "{a}");
}

#[test]
fn rewards_are_created_listed_and_updated() {
    let rt = shared();
    let _s = serial();
    let r = rt
        .post("/v1/loyalty/rewards")
        .form("name=Free%20coffee&points_cost=500&stock=3&metadata[sku]=c1")
        .send()
        .ok();
    let rwd = assert_prefix(&r["id"], "rwd_");
    assert_eq!(r["object"], "loyalty_reward");
    assert_eq!((int(&r, "points_cost"), int(&r, "stock")), (500, 3));
    assert_eq!(r["active"], true);
    assert_eq!(rt.get(&format!("/v1/loyalty/rewards/{rwd}")).send().ok(), r);
    let u = rt
        .post(&format!("/v1/loyalty/rewards/{rwd}"))
        .form("name=Coffee&points_cost=400&active=false")
        .send()
        .ok();
    assert_eq!(
        (u["name"].as_str(), int(&u, "points_cost"), int(&u, "stock")),
        (Some("Coffee"), 400, 3)
    );
    assert_eq!(u["active"], false);
    let inactive = rt.get("/v1/loyalty/rewards?active=false&limit=100").send().ok();
    assert!(ids(&inactive).contains(&rwd), "{inactive}");
    let unlimited = rt
        .post(&format!("/v1/loyalty/rewards/{rwd}"))
        .json(&json!({ "stock": null }))
        .send()
        .ok();
    assert_eq!(unlimited["stock"], Value::Null, "{unlimited}");
    let again = rt
        .post(&format!("/v1/loyalty/rewards/{rwd}"))
        .form("stock=7")
        .send()
        .ok();
    assert_eq!(again["stock"], 7);
    for (form, param) in [
        ("points_cost=5", "name"),
        ("name=x", "points_cost"),
        ("name=x&points_cost=0", "points_cost"),
        ("name=x&points_cost=5&stock=-1", "stock"),
        ("name=x&points_cost=5&active=perhaps", "active"),
    ] {
        err_naming(&rt.post("/v1/loyalty/rewards").form(form).send(), 400, param);
    }
    err_naming(
        &rt.post(&format!("/v1/loyalty/rewards/{rwd}")).form("stock=lots").send(),
        400,
        "stock",
    );
    rt.post("/v1/loyalty/rewards/rwd_nope")
        .form("name=x")
        .send()
        .err(404, "resource_missing");
    rt.get("/v1/loyalty/rewards/rwd_nope")
        .send()
        .err(404, "resource_missing");
}

#[test]
fn redemptions_burn_points_take_stock_and_cancel_gives_both_back() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    let (cust, loy) = member(rt);
    grant(rt, &loy, 1200);
    let rwd = reward(rt, 500, Some(2));
    let r = redeem(rt, &loy, &rwd).ok();
    let rdm = assert_prefix(&r["id"], "rdm_");
    assert_eq!(r["object"], "loyalty_redemption");
    assert_eq!(r["status"], "completed");
    assert_eq!((int(&r, "points"), int(&r, "amount")), (500, 500));
    assert_eq!(r["customerId"], cust.as_str());
    let ptx = rt
        .get(&format!(
            "/v1/loyalty/transactions/{}",
            r["transaction"].as_str().unwrap()
        ))
        .send()
        .ok();
    assert_eq!((ptx["type"].as_str(), int(&ptx, "points")), (Some("redeem"), -500));
    assert_eq!(ptx["redemption"], rdm.as_str());
    assert_eq!(
        int(&rt.get(&format!("/v1/loyalty/rewards/{rwd}")).send().ok(), "stock"),
        1
    );
    assert_eq!(int(&account(rt, &loy), "points_balance"), 700);
    assert_eq!(rt.get(&format!("/v1/loyalty/redemptions/{rdm}")).send().ok(), r);
    let list = rt.get(&format!("/v1/loyalty/redemptions?account={loy}")).send().ok();
    assert_eq!(ids(&list), vec![rdm.clone()]);

    redeem(rt, &loy, &rwd).ok();
    // Out of stock, then not enough points, then inactive: nothing written.
    let before = account(rt, &loy);
    redeem(rt, &loy, &rwd).err_param(400, "reward_out_of_stock", "reward");
    let dear = reward(rt, 10_000, None);
    redeem(rt, &loy, &dear).err_param(400, "insufficient_points", "account");
    let off = reward(rt, 1, None);
    rt.post(&format!("/v1/loyalty/rewards/{off}"))
        .form("active=false")
        .send()
        .ok();
    redeem(rt, &loy, &off).err_param(400, "reward_inactive", "reward");
    assert_eq!(account(rt, &loy), before);
    redeem(rt, "loy_nope", &rwd).err_param(400, "resource_missing", "account");
    redeem(rt, &loy, "rwd_nope").err_param(400, "resource_missing", "reward");
    err_naming(
        &rt.post("/v1/loyalty/redemptions")
            .form(&format!("account={loy}"))
            .send(),
        400,
        "reward",
    );

    let c = rt.post(&format!("/v1/loyalty/redemptions/{rdm}/cancel")).send().ok();
    assert_eq!(c["status"], "canceled");
    assert!(c["canceled_at"].is_i64(), "{c}");
    let back = rt
        .get(&format!(
            "/v1/loyalty/transactions/{}",
            c["cancel_transaction"].as_str().unwrap()
        ))
        .send()
        .ok();
    assert_eq!(
        (back["type"].as_str(), int(&back, "points")),
        (Some("redeem_cancel"), 500)
    );
    assert_eq!(
        int(&rt.get(&format!("/v1/loyalty/rewards/{rwd}")).send().ok(), "stock"),
        1
    );
    let a = account(rt, &loy);
    assert_eq!((int(&a, "points_balance"), int(&a, "spent_points")), (700, 500), "{a}");
    rt.post(&format!("/v1/loyalty/redemptions/{rdm}/cancel"))
        .send()
        .err(400, "redemption_canceled");
    rt.post("/v1/loyalty/redemptions/rdm_nope/cancel")
        .send()
        .err(404, "resource_missing");
    let evts = rt
        .get("/v1/events?type=loyalty.redemption.canceled&limit=100")
        .send()
        .ok();
    assert!(
        evts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["id"] == rdm.as_str()),
        "{evts}"
    );
    let evts = rt.get("/v1/events?type=loyalty.points.redeemed&limit=100").send().ok();
    assert!(
        evts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["id"] == rdm.as_str()),
        "{evts}"
    );
    check_account(rt, &a);
}

/// Issue 16: 50 concurrent redemptions against a stock of 5 give exactly 5.
#[test]
fn fifty_concurrent_redemptions_of_a_stock_of_five_give_five() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    let rwd = reward(rt, 100, Some(5));
    let members: Vec<String> = (0..50)
        .map(|_| {
            let (_, loy) = member(rt);
            grant(rt, &loy, 100);
            loy
        })
        .collect();
    let reqs = members
        .iter()
        .map(|loy| {
            rt.post("/v1/loyalty/redemptions")
                .form(&format!("account={loy}&reward={rwd}"))
        })
        .collect();
    let rs = Req::send_at_once(reqs);
    let ok = rs.iter().filter(|r| r.status == 200).count();
    for r in rs.iter().filter(|r| r.status != 200) {
        r.err(400, "reward_out_of_stock");
    }
    assert_eq!(ok, 5);
    assert_eq!(
        int(&rt.get(&format!("/v1/loyalty/rewards/{rwd}")).send().ok(), "stock"),
        0
    );
    let spent: i64 = members.iter().map(|l| int(&account(rt, l), "spent_points")).sum();
    assert_eq!(spent, 500);
    // One hot account: 20 redemptions at once of 100 points each with 300 points give 3.
    let (_, hot) = member(rt);
    grant(rt, &hot, 300);
    let many = reward(rt, 100, None);
    let reqs = (0..20)
        .map(|_| {
            rt.post("/v1/loyalty/redemptions")
                .form(&format!("account={hot}&reward={many}"))
        })
        .collect();
    let rs = Req::send_at_once(reqs);
    assert_eq!(rs.iter().filter(|r| r.status == 200).count(), 3);
    for r in rs.iter().filter(|r| r.status != 200) {
        r.err(400, "insufficient_points");
    }
    assert_eq!(int(&account(rt, &hot), "points_balance"), 0);
}

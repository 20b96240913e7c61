//! Billing's catalogue: /v1/products and /v1/prices (docs/billing.md).

use vinr_conformance::*;

fn product(rt: &Runtime) -> Value {
    rt.post("/v1/products")
        .form(&format!("name={}", uniq("Plan")))
        .send()
        .ok()
}

fn price(rt: &Runtime, form: &str) -> Resp {
    rt.post("/v1/prices").form(form).send()
}

/// The newest event of `kind` carries `id` as its object.
fn assert_event(rt: &Runtime, kind: &str, id: &str) -> Value {
    let events = rt.get(&format!("/v1/events?type={kind}&limit=100")).send().ok();
    let found = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["id"] == id)
        .cloned();
    found.unwrap_or_else(|| panic!("no {kind} event for {id}: {events}"))
}

#[test]
fn products_create_retrieve_update_list() {
    let rt = shared();
    let p = rt
        .post("/v1/products")
        .form("name=Pro%20plan&description=Everything&metadata[tier]=pro")
        .send()
        .ok();
    let id = assert_id(&p["id"], "prod_");
    assert_eq!(p["object"], "product");
    assert_eq!(p["name"], "Pro plan");
    assert_eq!(p["description"], "Everything");
    assert_eq!(p["active"], true);
    assert_eq!(p["metadata"], json!({"tier": "pro"}));
    assert_eq!(p["livemode"], false);
    assert_created(&p);
    assert_eq!(p["updated"], p["created"]);
    assert_eq!(rt.get(&format!("/v1/products/{id}")).send().ok(), p);
    assert_event(rt, "product.created", &id);

    let u = rt
        .post(&format!("/v1/products/{id}"))
        .json(&json!({"active": false, "description": null, "metadata": {"tier": "", "x": "1"}}))
        .send()
        .ok();
    assert_eq!(u["active"], false);
    assert!(u["description"].is_null(), "{u}");
    assert_eq!(u["name"], "Pro plan");
    assert_eq!(u["metadata"], json!({"x": "1"}));
    assert_eq!(rt.get(&format!("/v1/products/{id}")).send().ok(), u);
    assert_eq!(assert_event(rt, "product.updated", &id)["data"], u);

    let inactive = ids(&rt.get("/v1/products?active=false&limit=100").send().ok());
    assert!(inactive.contains(&id), "{inactive:?}");
    let active = ids(&rt.get("/v1/products?active=true&limit=100").send().ok());
    assert!(!active.contains(&id), "{active:?}");
    let newer = product(rt);
    let page = rt.get("/v1/products?limit=2").send().ok();
    assert_eq!(page["object"], "list");
    assert_eq!(page["url"], "/v1/products");
    assert_eq!(page["data"][0]["id"], newer["id"], "newest first");
}

#[test]
fn product_errors_name_the_parameter() {
    let rt = shared();
    rt.post("/v1/products")
        .form("description=x")
        .send()
        .err_param(400, "parameter_missing", "name");
    rt.post("/v1/products")
        .json(&json!({"name": "A", "active": "maybe"}))
        .send()
        .err_param(400, "parameter_invalid_boolean", "active");
    rt.post("/v1/products")
        .form(&format!("name={}", "n".repeat(251)))
        .send()
        .err_param(400, "string_too_long", "name");
    rt.post("/v1/products")
        .json(&json!({"name": 7}))
        .send()
        .err_param(400, "parameter_invalid_string", "name");
    rt.post("/v1/products")
        .form("name=A&unit_amount=5")
        .send()
        .err_param(400, "parameter_unknown", "unit_amount");
    rt.get("/v1/products/prod_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
    rt.post("/v1/products/prod_000000000000000000000000")
        .form("name=B")
        .send()
        .err(404, "resource_missing");
}

#[test]
fn a_product_is_deleted_only_while_it_has_no_prices() {
    let rt = shared();
    let bare = id_of(&product(rt));
    let d = rt.delete(&format!("/v1/products/{bare}")).send().ok();
    assert_eq!(d, json!({"id": bare, "object": "product", "deleted": true}));
    rt.get(&format!("/v1/products/{bare}"))
        .send()
        .err(404, "resource_missing");
    assert!(!ids(&rt.get("/v1/products?limit=100").send().ok()).contains(&bare));
    assert_event(rt, "product.deleted", &bare);
    price(rt, &format!("product={bare}&currency=EUR&unit_amount=100")).err_param(400, "resource_missing", "product");

    let priced = id_of(&product(rt));
    price(rt, &format!("product={priced}&currency=EUR&unit_amount=100")).ok();
    rt.delete(&format!("/v1/products/{priced}"))
        .send()
        .err(400, "product_has_prices");
    rt.get(&format!("/v1/products/{priced}")).send().ok();
}

#[test]
fn a_delete_racing_a_new_price_leaves_no_price_without_its_product() {
    let rt = shared();
    for _ in 0..6 {
        let id = id_of(&product(rt));
        let answers = Req::send_at_once(vec![
            rt.delete(&format!("/v1/products/{id}")),
            rt.post("/v1/prices")
                .form(&format!("product={id}&currency=EUR&unit_amount=100")),
        ]);
        let (deleted, priced) = (answers[0].status == 200, answers[1].status == 200);
        assert!(
            deleted != priced,
            "exactly one wins: {} {}",
            answers[0].show(),
            answers[1].show()
        );
        if deleted {
            answers[1].err_param(400, "resource_missing", "product");
        } else {
            answers[0].err(400, "product_has_prices");
        }
        let prices = ids(&rt.get(&format!("/v1/prices?product={id}")).send().ok());
        assert_eq!(prices.len(), priced as usize);
    }
}

#[test]
fn per_unit_prices_one_time_and_recurring() {
    let rt = shared();
    let prod = id_of(&product(rt));
    let once = price(
        rt,
        &format!("product={prod}&currency=eur&unit_amount=1500&nickname=Setup"),
    )
    .ok();
    let once_id = assert_id(&once["id"], "price_");
    assert_eq!(once["object"], "price");
    assert_eq!(once["product"], prod.as_str());
    assert_eq!(once["currency"], "EUR");
    assert_eq!(once["type"], "one_time");
    assert_eq!(once["billing_scheme"], "per_unit");
    assert_eq!(once["unit_amount"], 1500);
    assert!(once["recurring"].is_null() && once["tiers"].is_null() && once["tiers_mode"].is_null());
    assert_eq!(once["nickname"], "Setup");
    assert_eq!(once["active"], true);
    assert_created(&once);
    assert_event(rt, "price.created", &once_id);

    let monthly = rt
        .post("/v1/prices")
        .json(&json!({"product": prod, "currency": "EUR", "unit_amount": 0,
                      "recurring": {"interval": "month", "interval_count": 3}}))
        .send()
        .ok();
    assert_eq!(monthly["type"], "recurring");
    assert_eq!(monthly["unit_amount"], 0);
    assert_eq!(
        monthly["recurring"],
        json!({"interval": "month", "interval_count": 3, "usage_type": "licensed", "aggregate_usage": null})
    );
    let metered = price(
        rt,
        &format!("product={prod}&currency=EUR&unit_amount=2&recurring[interval]=day&recurring[usage_type]=metered"),
    )
    .ok();
    assert_eq!(metered["recurring"]["usage_type"], "metered");
    assert_eq!(metered["recurring"]["aggregate_usage"], "sum");
    let max = price(
        rt,
        &format!("product={prod}&currency=EUR&unit_amount=2&recurring[interval]=week&recurring[usage_type]=metered&recurring[aggregate_usage]=max"),
    )
    .ok();
    assert_eq!(max["recurring"]["aggregate_usage"], "max");
    assert_eq!(rt.get(&format!("/v1/prices/{}", id_of(&max))).send().ok(), max);

    let of_product = ids(&rt.get(&format!("/v1/prices?product={prod}&limit=100")).send().ok());
    assert_eq!(
        of_product,
        vec![id_of(&max), id_of(&metered), id_of(&monthly), once_id.clone()]
    );
    let one_time = ids(&rt.get(&format!("/v1/prices?product={prod}&type=one_time")).send().ok());
    assert_eq!(one_time, vec![once_id.clone()]);
    let recurring = ids(&rt.get(&format!("/v1/prices?product={prod}&type=recurring")).send().ok());
    assert_eq!(recurring.len(), 3);
}

#[test]
fn tiered_prices_in_forms_and_json() {
    let rt = shared();
    let prod = id_of(&product(rt));
    let graduated = price(
        rt,
        &format!(
            "product={prod}&currency=EUR&billing_scheme=tiered&tiers_mode=graduated&recurring[interval]=month\
             &tiers[0][up_to]=10&tiers[0][unit_amount]=500&tiers[1][up_to]=inf&tiers[1][unit_amount]=400&tiers[1][flat_amount]=100"
        ),
    )
    .ok();
    assert_eq!(graduated["billing_scheme"], "tiered");
    assert_eq!(graduated["tiers_mode"], "graduated");
    assert!(graduated["unit_amount"].is_null());
    assert_eq!(
        graduated["tiers"],
        json!([{"up_to": 10, "unit_amount": 500, "flat_amount": 0}, {"up_to": null, "unit_amount": 400, "flat_amount": 100}])
    );
    // The empty-bracket form style: each repeated field starts the next tier.
    let brackets = price(
        rt,
        &format!(
            "product={prod}&currency=EUR&billing_scheme=tiered&tiers_mode=volume&recurring[interval]=year\
             &tiers[][up_to]=100&tiers[][flat_amount]=9900&tiers[][up_to]=inf&tiers[][unit_amount]=90"
        ),
    )
    .ok();
    assert_eq!(
        brackets["tiers"],
        json!([{"up_to": 100, "unit_amount": 0, "flat_amount": 9900}, {"up_to": null, "unit_amount": 90, "flat_amount": 0}])
    );
    let json_tiers = rt
        .post("/v1/prices")
        .json(
            &json!({"product": prod, "currency": "USD", "billing_scheme": "tiered", "tiers_mode": "volume",
                      "recurring": {"interval": "month", "usage_type": "metered"},
                      "tiers": [{"up_to": 1000, "unit_amount": 3}, {"up_to": "inf", "unit_amount": 2}]}),
        )
        .send()
        .ok();
    assert_eq!(json_tiers["tiers"][0]["up_to"], 1000);
    assert_eq!(json_tiers["tiers"][1]["up_to"], Value::Null);
}

#[test]
fn price_errors_name_the_parameter_and_write_nothing() {
    let rt = shared();
    let prod = id_of(&product(rt));
    let before = ids(&rt.get(&format!("/v1/prices?product={prod}&limit=100")).send().ok());
    let base = format!("product={prod}&currency=EUR");
    let cases: &[(&str, &str, &str)] = &[
        ("currency=EUR&unit_amount=1", "parameter_missing", "product"),
        (
            "product=prod_000000000000000000000000&currency=EUR&unit_amount=1",
            "resource_missing",
            "product",
        ),
        ("&unit_amount=1&currency=XXX", "currency_invalid", "currency"),
        ("", "parameter_missing", "unit_amount"),
        ("&unit_amount=-1", "parameter_invalid_integer", "unit_amount"),
        ("&unit_amount=100000000", "parameter_invalid_integer", "unit_amount"),
        (
            "&unit_amount=1&tiers_mode=volume",
            "parameter_not_allowed",
            "tiers_mode",
        ),
        (
            "&unit_amount=1&tiers[0][up_to]=inf&tiers[0][unit_amount]=1",
            "parameter_not_allowed",
            "tiers",
        ),
        (
            "&unit_amount=1&recurring[interval]=fortnight",
            "parameter_invalid",
            "recurring[interval]",
        ),
        (
            "&unit_amount=1&recurring[interval_count]=2",
            "parameter_missing",
            "recurring[interval]",
        ),
        (
            "&unit_amount=1&recurring[interval]=month&recurring[interval_count]=13",
            "parameter_invalid_integer",
            "recurring[interval_count]",
        ),
        (
            "&unit_amount=1&recurring[interval]=year&recurring[interval_count]=2",
            "parameter_invalid_integer",
            "recurring[interval_count]",
        ),
        (
            "&unit_amount=1&recurring[interval]=day&recurring[aggregate_usage]=max",
            "parameter_not_allowed",
            "recurring[aggregate_usage]",
        ),
        (
            "&unit_amount=1&recurring[interval]=day&recurring[usage_type]=metered&recurring[aggregate_usage]=avg",
            "parameter_invalid",
            "recurring[aggregate_usage]",
        ),
        (
            "&billing_scheme=tiered&tiers_mode=volume&tiers[0][up_to]=inf&tiers[0][unit_amount]=1",
            "tiered_price_not_recurring",
            "billing_scheme",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&unit_amount=5",
            "parameter_not_allowed",
            "unit_amount",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers[0][up_to]=inf&tiers[0][unit_amount]=1",
            "parameter_missing",
            "tiers_mode",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume",
            "parameter_missing",
            "tiers",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume&tiers[0][up_to]=5&tiers[0][unit_amount]=1",
            "tiers_invalid",
            "tiers[0][up_to]",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume&tiers[0][up_to]=5&tiers[0][unit_amount]=1&tiers[1][up_to]=5&tiers[1][unit_amount]=1&tiers[2][up_to]=inf&tiers[2][unit_amount]=1",
            "tiers_invalid",
            "tiers[1][up_to]",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume&tiers[0][up_to]=ten&tiers[0][unit_amount]=1",
            "parameter_invalid",
            "tiers[0][up_to]",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume&tiers[0][up_to]=inf",
            "parameter_missing",
            "tiers[0]",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume&tiers[0][up_to]=inf&tiers[0][unit_amount]=-3",
            "parameter_invalid_integer",
            "tiers[0][unit_amount]",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume&tiers[0][up_to]=inf&tiers[0][colour]=red",
            "parameter_unknown",
            "tiers[0][colour]",
        ),
        (
            "&billing_scheme=tiered&recurring[interval]=month&tiers_mode=volume&tiers[0][unit_amount]=1",
            "parameter_missing",
            "tiers[0][up_to]",
        ),
        (
            "&billing_scheme=flat&unit_amount=1",
            "parameter_invalid",
            "billing_scheme",
        ),
    ];
    for (extra, code, param) in cases {
        let form = if extra.starts_with('&') || extra.is_empty() {
            format!("{base}{extra}")
        } else {
            extra.to_string()
        };
        price(rt, &form).err_param(400, code, param);
    }
    rt.post("/v1/prices")
        .json(&json!({"product": prod, "currency": "EUR", "unit_amount": 1, "tiers": "x"}))
        .send()
        .err_param(400, "parameter_invalid_array", "tiers");
    rt.post("/v1/prices")
        .json(&json!({"product": prod, "currency": "EUR", "unit_amount": 1, "tiers": [5]}))
        .send()
        .err_param(400, "parameter_invalid_object", "tiers[0]");
    let after = ids(&rt.get(&format!("/v1/prices?product={prod}&limit=100")).send().ok());
    assert_eq!(before, after, "no refused create wrote a price");
}

#[test]
fn only_active_nickname_and_metadata_of_a_price_change() {
    let rt = shared();
    let prod = id_of(&product(rt));
    let p = price(rt, &format!("product={prod}&currency=EUR&unit_amount=700&nickname=Old")).ok();
    let id = id_of(&p);
    let u = rt
        .post(&format!("/v1/prices/{id}"))
        .form("active=false&nickname=&metadata[k]=v")
        .send()
        .ok();
    assert_eq!(u["active"], false);
    assert!(u["nickname"].is_null(), "{u}");
    assert_eq!(u["metadata"], json!({"k": "v"}));
    assert_eq!(u["unit_amount"], 700);
    assert_eq!(assert_event(rt, "price.updated", &id)["data"], u);
    let listed = ids(&rt.get(&format!("/v1/prices?product={prod}&active=false")).send().ok());
    assert_eq!(listed, vec![id.clone()]);
    for (form, param) in [
        ("unit_amount=800", "unit_amount"),
        ("currency=USD", "currency"),
        ("product=prod_x", "product"),
    ] {
        rt.post(&format!("/v1/prices/{id}"))
            .form(form)
            .send()
            .err_param(400, "parameter_unknown", param);
    }
    rt.post("/v1/prices/price_000000000000000000000000")
        .form("active=true")
        .send()
        .err(404, "resource_missing");
    assert_eq!(rt.get(&format!("/v1/prices/{id}")).send().ok(), u);
}

#[test]
fn catalogue_objects_stay_in_their_environment_and_account() {
    let rt = shared();
    let prod = id_of(&product(rt));
    let pr = id_of(&price(rt, &format!("product={prod}&currency=EUR&unit_amount=100")).ok());
    for key in [&rt.b_secret_key, &rt.live_secret_key] {
        rt.get(&format!("/v1/products/{prod}"))
            .key(key)
            .send()
            .err(404, "resource_missing");
        rt.get(&format!("/v1/prices/{pr}"))
            .key(key)
            .send()
            .err(404, "resource_missing");
        rt.post("/v1/prices")
            .key(key)
            .form(&format!("product={prod}&currency=EUR&unit_amount=100"))
            .send()
            .err_param(400, "resource_missing", "product");
        assert!(!ids(&rt.get("/v1/products?limit=100").key(key).send().ok()).contains(&prod));
    }
}

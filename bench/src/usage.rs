//! `--usage N`: Billing's usage ingest of issue 15. One subscription with a metered item; N
//! usage records are reported through `POST /v1/usage_records/batch`, 100 per batch, over the
//! connections. Reported: records per second, and the summary's total checked against N.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use vinr_conformance::Req;

/// Records per batch: the endpoint's maximum.
const BATCH: usize = 100;

pub fn run(url: &str, key: &str, n: usize, connections: usize) {
    let post = |path: &str, form: &str| Req::new(url, "POST", path).key(key).form(form).send().ok();
    let cust = post("/v1/customers", "payment_method=pm_card_visa");
    let prod = post("/v1/products", "name=Bench%20API%20calls");
    let form = format!(
        "product={}&currency=EUR&unit_amount=1&recurring[interval]=month&recurring[usage_type]=metered",
        prod["id"].as_str().expect("a product")
    );
    let price = post("/v1/prices", &form)["id"].as_str().expect("a price").to_string();
    let sub = post(
        "/v1/subscriptions",
        &format!(
            "customer={}&items[0][price]={price}",
            cust["id"].as_str().expect("a customer")
        ),
    );
    let si = sub["items"]["data"][0]["id"].as_str().expect("an item").to_string();
    let batches = n.div_ceil(BATCH);
    println!(
        "== usage ingest: {} records in {batches} batches of {BATCH} to one metered item",
        batches * BATCH
    );
    let body: String = (0..BATCH)
        .map(|i| format!("records[{i}][subscription_item]={si}&records[{i}][quantity]=1"))
        .collect::<Vec<_>>()
        .join("&");
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..connections.max(1) {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < batches {
                    let r = Req::new(url, "POST", "/v1/usage_records/batch")
                        .key(key)
                        .form(&body)
                        .send()
                        .ok();
                    assert_eq!(r["data"].as_array().map(Vec::len), Some(BATCH), "{r}");
                }
            });
        }
    });
    let took = started.elapsed().as_secs_f64();
    let stored = batches * BATCH;
    let summary = Req::new(
        url,
        "GET",
        &format!("/v1/subscription_items/{si}/usage_record_summaries?limit=1"),
    )
    .key(key)
    .send()
    .ok();
    assert_eq!(
        summary["data"][0]["total_usage"].as_u64(),
        Some(stored as u64),
        "every record counted: {summary}"
    );
    println!(
        "   {stored} records in {took:.2} s = {:.0} records/s over {connections} connections ({:.0} batches/s); summary total {stored} checked",
        stored as f64 / took,
        batches as f64 / took
    );
}

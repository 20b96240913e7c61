//! `--billing N`: the billing run of issue 15. N monthly subscriptions are created (each one's
//! first invoice charged), then one sandbox clock advance of 32 days crosses every period end:
//! it renews, invoices and charges all of them before it answers. Reported: the set-up rate, the
//! advance's time and the invoices (with their payments) made per second during it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vinr_conformance::Req;

/// Creates `n` subscriptions over `connections` threads, then advances the clock across their
/// first period end and counts the renewal invoices.
pub fn run(url: &str, key: &str, n: usize, connections: usize) {
    let post = |path: &str, form: &str| Req::new(url, "POST", path).key(key).form(form).send().ok();
    let cust = post("/v1/customers", "payment_method=pm_card_visa");
    let cust = cust["id"].as_str().expect("a customer").to_string();
    let prod = post("/v1/products", "name=Bench%20plan");
    let form = format!(
        "product={}&currency=EUR&unit_amount=990&recurring[interval]=month",
        prod["id"].as_str().expect("a product")
    );
    let price = post("/v1/prices", &form)["id"].as_str().expect("a price").to_string();
    println!("== billing run: {n} monthly subscriptions of {price} (990 EUR cents), one customer");

    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..connections.max(1) {
            s.spawn(|| {
                let form = format!("customer={cust}&items[0][price]={price}");
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let sub = Req::new(url, "POST", "/v1/subscriptions")
                        .key(key)
                        .form(&form)
                        .send()
                        .ok();
                    assert_eq!(sub["status"], "active", "{sub}");
                }
            });
        }
    });
    let setup = started.elapsed().as_secs_f64();
    println!(
        "   set-up: {n} subscriptions (each with its first invoice and payment) in {setup:.1} s = {:.0}/s over {connections} connections",
        n as f64 / setup
    );

    let before = count(url, key, "/v1/invoices?status=paid&limit=100");
    let t0 = Instant::now();
    let adv = Req::new(url, "POST", "/v1/test_helpers/clock/advance")
        .key(key)
        .form(&format!("seconds={}", 32 * 86_400))
        .read_timeout(Duration::from_secs(3600))
        .send()
        .ok();
    let took = t0.elapsed().as_secs_f64();
    let renewed = count(url, key, "/v1/invoices?status=paid&limit=100") - before;
    println!(
        "   advance of 32 days: {took:.2} s, {} steps run; {renewed} renewal invoices paid = {:.0} invoices/s (each with its payment, ledger entries and events)",
        adv["steps_run"],
        renewed as f64 / took
    );
    if renewed < n {
        eprintln!("   only {renewed} of {n} subscriptions renewed");
        std::process::exit(1);
    }
}

/// How many objects a list has, paging by cursor.
fn count(url: &str, key: &str, first: &str) -> usize {
    let mut total = 0;
    let mut path = first.to_string();
    loop {
        let page = Req::new(url, "GET", &path).key(key).send().ok();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        total += data.len();
        match (page["has_more"].as_bool(), data.last().and_then(|o| o["id"].as_str())) {
            (Some(true), Some(last)) => path = format!("{first}&starting_after={last}"),
            _ => return total,
        }
    }
}

//! `--loyalty N`: Engagement's benchmark of issue 16.
//!
//! 1. Create-payment cost with loyalty: the same create load (`run_load`, keep-alive) with a
//!    customer and no program stored, with a program and a customer without a loyalty account
//!    (the capture path's probe), and with an account (the earning in the capture's commit).
//! 2. Redemptions per second: N accounts with points, one redemption each, over the
//!    connections; then N redemptions against one hot account. Each count is checked against
//!    the accounts' `spent_points` afterwards.

use crate::{Load, Opts, run_load};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use vinr_conformance::{Req, Value};

pub fn run(url: &str, key: &str, n: usize, o: &Opts) {
    let post = |path: &str, form: &str| Req::new(url, "POST", path).key(key).form(form).send().ok();
    let get = |path: &str| Req::new(url, "GET", path).key(key).send().ok();
    let id = |v: &Value| v["id"].as_str().expect("an id").to_string();
    let host = url.trim_start_matches("http://").trim_end_matches('/').to_string();

    // 1. Create-payment, three ways, one after the other on the same server.
    let cust = id(&post("/v1/customers", "email=bench@example.com"));
    let with_customer: &'static str = Box::leak(format!("customer={cust}").into_boxed_str());
    let rps = |t: &crate::Tally| t.ok as f64 / o.duration;
    let plain = run_load(
        Load::CreateWith(
            with_customer,
            "POST /v1/payments with a customer, no loyalty program stored",
        ),
        &host,
        key,
        o,
    );
    post("/v1/loyalty/program", "earn_rate=1");
    let probe = run_load(
        Load::CreateWith(
            with_customer,
            "POST /v1/payments with a customer without a loyalty account (program stored)",
        ),
        &host,
        key,
        o,
    );
    let loy = id(&post("/v1/loyalty/accounts", with_customer));
    let earning = run_load(
        Load::CreateWith(
            with_customer,
            "POST /v1/payments with a customer with a loyalty account (earns)",
        ),
        &host,
        key,
        o,
    );
    let earned = get(&format!("/v1/loyalty/accounts/{loy}"))["points_balance"]
        .as_i64()
        .unwrap_or(0);
    println!(
        "== create-payment with loyalty: {:.0} / {:.0} / {:.0} req/s (no program / no account / account); ratio to no program: {:.3} and {:.3}; the account earned {earned} points",
        rps(&plain),
        rps(&probe),
        rps(&earning),
        rps(&probe) / rps(&plain),
        rps(&earning) / rps(&plain),
    );

    // 2. Redemptions.
    let rwd = id(&post("/v1/loyalty/rewards", "name=Bench%20coffee&points_cost=10"));
    let started = Instant::now();
    let accounts = parallel(n, o.connections, |_| {
        let c = id(&post("/v1/customers", "email=member@example.com"));
        let a = id(&post("/v1/loyalty/accounts", &format!("customer={c}")));
        post(&format!("/v1/loyalty/accounts/{a}/transactions"), "type=earn&points=10");
        a
    });
    println!(
        "== loyalty set-up: {n} customers with an account and 10 points in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    parallel(n, o.connections, |i| {
        post(
            "/v1/loyalty/redemptions",
            &format!("account={}&reward={rwd}", accounts[i]),
        );
    });
    let took = started.elapsed().as_secs_f64();
    let spent: i64 = accounts
        .iter()
        .take(20)
        .map(|a| {
            get(&format!("/v1/loyalty/accounts/{a}"))["spent_points"]
                .as_i64()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(spent, 20 * 10, "every redemption spent its points");
    println!(
        "== redemptions on distinct accounts: {n} in {took:.2} s = {:.0} redemptions/s ({} connections, a new TCP connection per request)",
        n as f64 / took,
        o.connections
    );

    let hot_cust = id(&post("/v1/customers", "email=hot@example.com"));
    let hot = id(&post("/v1/loyalty/accounts", &format!("customer={hot_cust}")));
    post(
        &format!("/v1/loyalty/accounts/{hot}/transactions"),
        &format!("type=earn&points={}", n * 10),
    );
    let started = Instant::now();
    parallel(n, o.connections, |_| {
        post("/v1/loyalty/redemptions", &format!("account={hot}&reward={rwd}"));
    });
    let took = started.elapsed().as_secs_f64();
    let a = get(&format!("/v1/loyalty/accounts/{hot}"));
    assert_eq!(a["points_balance"], 0, "{a}");
    assert_eq!(a["spent_points"].as_i64(), Some(n as i64 * 10), "{a}");
    println!(
        "== redemptions on one hot account: {n} in {took:.2} s = {:.0} redemptions/s",
        n as f64 / took
    );
}

/// Runs `f(0..n)` over `threads` threads; the results in index order.
fn parallel<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break mine;
                        }
                        mine.push((i, f(i)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("bench thread"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

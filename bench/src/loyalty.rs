//! `--loyalty N`: Engagement's benchmark of issue 16.
//!
//! 1. Create-payment cost with loyalty: the same create load (`run_load`, keep-alive) with a
//!    customer and no program stored, with a program and a customer without a loyalty account
//!    (the capture path's probe), and with an account (the earning in the capture's commit).
//! 2. Redemptions per second (the same keep-alive load): over N accounts with points, no two
//!    connections on one account at once; then every connection on one hot account. The
//!    accounts' `spent_points` are checked against the redemptions answered.

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

    // 2. Redemptions, over keep-alive connections like the create load.
    let rwd: &'static str =
        Box::leak(id(&post("/v1/loyalty/rewards", "name=Bench%20coffee&points_cost=10")).into_boxed_str());
    // A multiple of the connections, so that each connection has accounts of its own.
    let n = n.div_ceil(o.connections) * o.connections;
    let started = Instant::now();
    let accounts = parallel(n, o.connections, |_| {
        let c = id(&post("/v1/customers", "email=member@example.com"));
        let a = id(&post("/v1/loyalty/accounts", &format!("customer={c}")));
        post(
            &format!("/v1/loyalty/accounts/{a}/transactions"),
            "type=earn&points=1000000",
        );
        a
    });
    println!(
        "== loyalty set-up: {n} customers with an account and 1,000,000 points in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let accounts: &'static [String] = Box::leak(accounts.into_boxed_slice());
    let spent_before = spent(&get, accounts);
    let distinct = run_load(
        Load::Redeem(
            accounts,
            rwd,
            o.connections,
            "POST /v1/loyalty/redemptions on distinct accounts",
        ),
        &host,
        key,
        o,
    );
    let spent_now = spent(&get, accounts);
    println!(
        "   checked: the accounts spent {} points, at least 10 for each of the {} measured redemptions",
        spent_now - spent_before,
        distinct.ok
    );
    assert!(spent_now - spent_before >= 10 * distinct.ok as i64);

    let hot_cust = id(&post("/v1/customers", "email=hot@example.com"));
    let hot = id(&post("/v1/loyalty/accounts", &format!("customer={hot_cust}")));
    post(
        &format!("/v1/loyalty/accounts/{hot}/transactions"),
        "type=earn&points=100000000",
    );
    let one: &'static [String] = Box::leak(vec![hot.clone()].into_boxed_slice());
    let hot_run = run_load(
        Load::Redeem(
            one,
            rwd,
            o.connections,
            "POST /v1/loyalty/redemptions on one hot account",
        ),
        &host,
        key,
        o,
    );
    let a = get(&format!("/v1/loyalty/accounts/{hot}"));
    assert_eq!(
        a["points_balance"].as_i64().unwrap_or(0) + a["spent_points"].as_i64().unwrap_or(0),
        100_000_000,
        "{a}"
    );
    println!(
        "== redemptions: {:.0} /s on distinct accounts, {:.0} /s on one hot account ({} connections)",
        rps(&distinct),
        rps(&hot_run),
        o.connections
    );
}

/// The points `accounts` spent in all.
fn spent(get: &impl Fn(&str) -> Value, accounts: &[String]) -> i64 {
    accounts
        .iter()
        .map(|a| {
            get(&format!("/v1/loyalty/accounts/{a}"))["spent_points"]
                .as_i64()
                .unwrap_or(0)
        })
        .sum()
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

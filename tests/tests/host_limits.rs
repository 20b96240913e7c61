//! `vinr dev`'s own limits (docs/security.md, "vinr dev limits"): the header-read timeout
//! (slow and idle clients), the connection cap, the terminal payment creates' share of the
//! instance pool, an exhausted pool, and that waiting in a host call is not CPU time. Each test
//! starts its own `vinr dev` with small limits through their environment variables.
//!
//! `vinr dev` only: these limits are our host's. A Worker has Cloudflare's platform limits instead
//! (CPU time per request, connections and isolates are the platform's, and there is no instance
//! pool), so the tests skip under `VINR_TEST_RUNTIME=wrangler`. The CPU limit stopping a guest in
//! an endless loop is tested in the host itself (host/src/limits/cpu.rs): no API route loops.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vinr_conformance::terminals::*;
use vinr_conformance::*;

fn skipped() -> bool {
    let other = std::env::var("VINR_TEST_RUNTIME").is_ok_and(|r| r != "vinr");
    if other {
        eprintln!("skipped: vinr dev's own limits (a Worker has its platform's)");
    }
    other
}

fn connect(rt: &Runtime) -> TcpStream {
    let s = TcpStream::connect(rt.base_url.trim_start_matches("http://")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads until the server closes the connection; how long that took and what it sent.
fn until_closed(s: &mut TcpStream) -> (Duration, Vec<u8>) {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (t0.elapsed(), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (t0.elapsed(), got),
            Err(e) => panic!("the server kept the connection open ({e}) after {:?}", t0.elapsed()),
        }
    }
}

/// A 503 of a limit: `api_error` with `code`, and a `Retry-After` in whole seconds.
fn busy(r: &Resp, code: &str) -> Value {
    let e = r.err(503, code);
    assert_eq!(e["type"], "api_error", "{}", r.show());
    let after = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After{}", r.show()));
    assert!(after.parse::<u32>().is_ok_and(|s| s >= 1), "Retry-After: {after}");
    e
}

#[test]
fn a_client_slow_with_its_headers_or_idle_is_disconnected() {
    if skipped() {
        return;
    }
    let rt = start_with_env(&[("VINR_HEADER_TIMEOUT_MS", "1000")]);
    // Slowloris: half a request line, then nothing.
    let mut slow = connect(&rt);
    slow.write_all(b"GET /v1/bal").unwrap();
    // An idle keep-alive connection after one request.
    let mut idle = connect(&rt);
    let head = format!(
        "GET /v1/balance HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        rt.secret_key
    );
    idle.write_all(head.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "the keep-alive request is served");

    for (what, s) in [
        ("half a request line", &mut slow),
        ("an idle keep-alive connection", &mut idle),
    ] {
        let (after, _) = until_closed(s);
        assert!(
            after < Duration::from_secs(5),
            "{what}: closed after {after:?} with a 1 s header timeout"
        );
    }
    // Others are served all along.
    rt.get("/v1/balance").send().ok();
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_place() {
    if skipped() {
        return;
    }
    let rt = start_with_env(&[("VINR_MAX_CONNECTIONS", "2"), ("VINR_HEADER_TIMEOUT_MS", "60000")]);
    let holders = [connect(&rt), connect(&rt)];
    std::thread::sleep(Duration::from_millis(300));
    let (tx, rx) = mpsc::channel();
    let req = rt.get("/v1/balance");
    std::thread::spawn(move || {
        let _ = tx.send(req.send());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(1)).is_err(),
        "a third connection is not served while two are open"
    );
    drop(holders);
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("served once a place is free");
    r.ok();
}

#[test]
fn terminal_creates_beyond_their_share_get_503_and_nothing_is_written() {
    if skipped() {
        return;
    }
    let rt = start_with_env(&[("VINR_MAX_TERMINAL_CREATES", "1")]);
    std::thread::scope(|s| {
        let held = s.spawn(|| sync_tpay(&rt, SIMULATOR, 2500, json!({"simulateDelay": 3})));
        // The held create has committed its payment and waits for the simulated cardholder.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ids(&rt.get("/v1/terminal/payments").send().ok()).is_empty() {
            assert!(Instant::now() < deadline, "the sync create did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let key = uniq("idem_");
        let body = tpay_body(SIMULATOR, 1000, json!({}));
        let r = rt.post("/v1/terminal/payments").idem(&key).json(&body).send();
        let e = busy(&r, "terminal_capacity_exhausted");
        assert!(e["message"].as_str().unwrap().contains("nothing was created"), "{e}");
        // Other requests are served meanwhile.
        rt.get("/v1/balance").send().ok();

        check_approved(&held.join().unwrap(), 2500);
        // The refused create stored nothing: its key now creates the payment.
        let r = rt.post("/v1/terminal/payments").idem(&key).json(&body).send();
        assert_eq!(r.status, 202, "{}", r.show());
        assert!(!r.replayed(), "{}", r.show());
        assert_eq!(ids(&rt.get("/v1/terminal/payments").send().ok()).len(), 2);
    });
}

#[test]
fn an_exhausted_instance_pool_answers_503_with_retry_after() {
    if skipped() {
        return;
    }
    let rt = start_with_env(&[("VINR_INSTANCE_POOL", "2"), ("VINR_MAX_TERMINAL_CREATES", "2")]);
    std::thread::scope(|s| {
        // Each account's simulator holds one instance for 4 s (a sync create).
        let holders = [rt.secret_key.clone(), rt.b_secret_key.clone()].map(|key| {
            let rt = &rt;
            s.spawn(move || {
                let mut body = tpay_body(SIMULATOR, 2500, json!({"simulateDelay": 4}));
                body["responseMode"] = json!("sync");
                // On a loaded machine the instance of a request just answered (the readiness
                // probe's) may not be back in the pool yet: a 503 here did nothing, so try again.
                for _ in 0..20 {
                    let r = rt.post("/v1/terminal/payments").key(&key).json(&body).send();
                    if r.status != 503 {
                        return r.ok();
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                panic!("the pool never had an instance free for a holder");
            })
        });
        std::thread::sleep(Duration::from_millis(1000));
        let r = rt.get("/v1/balance").send();
        let e = busy(&r, "server_busy");
        assert!(e["message"].as_str().unwrap().contains("2 component instances"), "{e}");
        for h in holders {
            check_approved(&h.join().unwrap(), 2500);
        }
    });
    // Free again.
    rt.get("/v1/balance").send().ok();
}

#[test]
fn waiting_in_a_host_call_is_not_cpu_time() {
    if skipped() {
        return;
    }
    let rt = start_with_env(&[("VINR_CPU_LIMIT_MS", "300")]);
    // 2 s waiting for the simulated cardholder, under a 300 ms CPU limit.
    let t0 = Instant::now();
    let p = sync_tpay(&rt, SIMULATOR, 2500, json!({"simulateDelay": 2}));
    check_approved(&p, 2500);
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    succeeded_payment(&rt);
}

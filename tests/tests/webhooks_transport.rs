//! How a webhook attempt treats the receiver's answer (docs/security.md, "Webhook sending"):
//! redirects are never followed (a 3xx is a failed attempt and the redirect target gets
//! nothing), the answer's body is read only up to a cap, a body that never ends is cut off by
//! the 30 s attempt timeout, and `last_error` names a coarse class, never the raw socket error.

use std::time::Duration;

use vinr_conformance::receiver::Answer;
use vinr_conformance::webhooks::{delivery_until, delivery_within, endpoint, event_for};
use vinr_conformance::*;
use vinr_shared::webhooks::retry::ATTEMPT_TIMEOUT_MS;

const SCALE: (&str, &str) = ("VINR_RETRY_SCALE", "0.001");

fn runtime() -> Runtime {
    start_with_env(&[SCALE])
}

/// A payment of account A and the id of its `payment.succeeded` event.
fn payment_event(rt: &Runtime) -> String {
    let pay = succeeded_payment(rt);
    id_of(&event_for(rt, &rt.secret_key, "payment.succeeded", &id_of(&pay)))
}

fn of<'a>(evt: &'a str) -> impl Fn(&Hit) -> bool + 'a {
    move |h| h.event_id().as_deref() == Some(evt)
}

#[test]
fn a_redirect_is_a_failed_attempt_and_its_target_gets_nothing() {
    let rt = runtime();
    let target = Receiver::start(vec![200]);
    let hop = Receiver::with(Answer::Redirect(307, target.url()));
    let (we, _) = endpoint(&rt, &rt.secret_key, &hop.url(), &["payment.succeeded"]);
    let evt = payment_event(&rt);

    // Retried like any failure (the schedule runs a thousand times faster here).
    let hits = hop.wait_for(3, Duration::from_secs(15), of(&evt));
    assert!(hits.len() >= 3, "the redirecting receiver was retried: {hits:?}");
    let d = delivery_until(&rt, &rt.secret_key, &we, &evt, |d| d["attempts"].as_i64() >= Some(3));
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["last_status_code"], 307, "{d}");
    assert_eq!(d["last_error"], "HTTP 307 (redirects are not followed)", "{d}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(target.hits().is_empty(), "the redirect target got {:?}", target.hits());
}

#[test]
fn a_huge_answer_is_not_read_to_its_end() {
    let rt = runtime();
    let flood = Receiver::with(Answer::Flood);
    let (we, _) = endpoint(&rt, &rt.secret_key, &flood.url(), &["payment.succeeded"]);
    let evt = payment_event(&rt);
    let d = delivery_until(&rt, &rt.secret_key, &we, &evt, |d| d["status"] != "pending");
    assert_eq!(
        (&d["status"], &d["last_status_code"]),
        (&json!("succeeded"), &json!(200)),
        "{d}"
    );
    std::thread::sleep(Duration::from_millis(300));
    // The sender stops reading at 64 KiB; what the socket buffers took on the way is all the
    // receiver could write (it would write 4 GiB to a sender reading everything).
    let sent = flood.body_bytes_sent();
    assert!(sent < 64 << 20, "the receiver wrote {sent} bytes of answer");
}

#[test]
fn an_answer_whose_body_never_ends_is_cut_off_by_the_attempt_timeout() {
    let rt = runtime();
    let slow = Receiver::with(Answer::HangBody);
    let (we, _) = endpoint(&rt, &rt.secret_key, &slow.url(), &["payment.succeeded"]);
    let evt = payment_event(&rt);
    assert_eq!(slow.wait_for(1, Duration::from_secs(15), of(&evt)).len(), 1);
    // The headers said 200, but the attempt is not over until the body is read (up to the cap):
    // it times out, and is a failure.
    let within = Duration::from_millis(ATTEMPT_TIMEOUT_MS + 15_000);
    let d = delivery_within(&rt, &rt.secret_key, &we, &evt, within, |d| {
        d["attempts"].as_i64() >= Some(1)
    });
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["last_error"], "timed out", "{d}");
    assert_eq!(d["last_status_code"], Value::Null, "{d}");
    let took = d["last_duration_ms"].as_i64().unwrap_or(0);
    assert!(
        (ATTEMPT_TIMEOUT_MS as i64 - 1_000..ATTEMPT_TIMEOUT_MS as i64 + 5_000).contains(&took),
        "{d}"
    );
}

#[test]
fn last_error_names_a_class_not_the_socket_error() {
    let rt = runtime();
    // A port nothing listens on: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let (we, _) = endpoint(
        &rt,
        &rt.secret_key,
        &format!("http://127.0.0.1:{port}/hook"),
        &["payment.succeeded"],
    );
    let evt = payment_event(&rt);
    let d = delivery_until(&rt, &rt.secret_key, &we, &evt, |d| d["attempts"].as_i64() >= Some(1));
    assert_eq!(d["last_error"], "connection failed", "{d}");
    assert_eq!(d["last_status_code"], Value::Null, "{d}");
}

/// Registers (or tries to) an endpoint at `url` with `key`.
fn register(rt: &Runtime, key: &str, url: &str) -> Resp {
    rt.post("/v1/webhooks")
        .key(key)
        .form(&format!("url={}&enabled_events[]=*", http::enc(url)))
        .send()
}

#[test]
fn live_endpoints_refuse_every_spelling_of_a_private_address() {
    let rt = shared();
    for url in [
        // Non-canonical IPv4 literals (all 127.0.0.1 to a WHATWG parser, or public but disguised).
        "https://2130706433/hook",
        "https://0x7f.1/hook",
        "https://0177.0.0.1/hook",
        "https://127.1/hook",
        "https://1572395042/hook",
    ] {
        register(rt, &rt.live_secret_key, url).err_param(400, "url_invalid", "url");
    }
    for url in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:a9fe:a9fe]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[64:ff9b:1::a00:1]/hook",
        "https://[2002:7f00:1::1]/hook",
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",
        "https://[::127.0.0.1]/hook",
        "https://[fec0::1]/hook",
        "https://[2001:db8::1]/hook",
        "https://192.0.0.8/hook",
        "https://metadata.internal/hook",
    ] {
        register(rt, &rt.live_secret_key, url).err_param(400, "url_not_public", "url");
    }
    register(rt, &rt.live_secret_key, "http://hooks.example.com/").err_param(400, "url_insecure", "url");
    let ok = register(rt, &rt.live_secret_key, "https://hooks.example.com/vinr").ok();
    assert_eq!(ok["url"], "https://hooks.example.com/vinr", "{ok}");
}

#[test]
fn userinfo_and_backslashes_are_refused_in_every_environment() {
    let rt = shared();
    for key in [&rt.secret_key, &rt.live_secret_key] {
        for url in [
            "https://127.0.0.1\\@hooks.example.com/",
            "https://user@hooks.example.com/",
            "https://user:pw@hooks.example.com/",
        ] {
            register(rt, key, url).err_param(400, "url_invalid", "url");
        }
    }
    // The sandbox still takes loopback, and an `@` in the path.
    register(rt, &rt.secret_key, "http://127.0.0.1:9/a@b").ok();
}

//! The hub's routing and waiting, with a fake connection (a channel instead of a WebSocket), and
//! the outbound intercept. The WebSocket and the domain are exercised end to end in
//! host/tests/terminal_hub.rs.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use vinr_shared::hub::{HUB_URL, HubCall, HubReply};
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

use super::outbound::{HubHooks, is_hub_request};
use super::{Hub, Outgoing};

struct FakeDevice {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    serial: u64,
    kick: Arc<Notify>,
}

fn attach(hub: &Hub, terminal: &str) -> FakeDevice {
    let t = hub.terminal(terminal);
    let (tx, rx) = mpsc::unbounded_channel();
    let kick = Arc::new(Notify::new());
    let serial = hub.attach(&t, tx, kick.clone());
    FakeDevice { rx, serial, kick }
}

async fn next_frame(dev: &mut FakeDevice) -> serde_json::Value {
    match tokio::time::timeout(Duration::from_secs(5), dev.rx.recv()).await {
        Ok(Some(Outgoing::Text(t))) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

fn deliver(terminal: &str, payment: &str, wait_ms: Option<u64>) -> HubCall {
    HubCall::Deliver {
        terminal_id: terminal.into(),
        payment: json!({"id": payment, "status": "pending"}),
        wait_ms,
    }
}

#[tokio::test]
async fn deliver_without_a_connection_is_not_connected() {
    let hub = Hub::new();
    assert_eq!(
        hub.call(deliver("term_1", "tpay_1", None)).await,
        HubReply::NotConnected
    );
    assert_eq!(
        hub.call(deliver("term_1", "tpay_1", Some(1000))).await,
        HubReply::NotConnected
    );
    let cancel = HubCall::Cancel {
        terminal_id: "term_1".into(),
        payment_id: "tpay_1".into(),
    };
    assert_eq!(hub.call(cancel).await, HubReply::NotConnected);
    assert!(hub.terminals.lock().unwrap().is_empty(), "idle slots are released");
}

#[tokio::test]
async fn deliver_sends_the_payment_frame() {
    let hub = Hub::new();
    let mut dev = attach(&hub, "term_1");
    assert_eq!(hub.call(deliver("term_1", "tpay_1", None)).await, HubReply::Delivered);
    let f = next_frame(&mut dev).await;
    assert_eq!(f["type"], "payment");
    assert_eq!(f["payment"]["id"], "tpay_1");
}

#[tokio::test]
async fn waiting_deliver_answers_when_the_device_settles_it() {
    let hub = Hub::new();
    let mut dev = attach(&hub, "term_1");
    let h = hub.clone();
    let call = tokio::spawn(async move { h.call(deliver("term_1", "tpay_1", Some(10_000))).await });
    assert_eq!(next_frame(&mut dev).await["payment"]["id"], "tpay_1");
    // Another payment's settlement does not answer it.
    let t = hub.terminal("term_1");
    t.settle(&["tpay_other".to_string()]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!call.is_finished());
    t.settle(&["tpay_1".to_string()]);
    assert_eq!(call.await.unwrap(), HubReply::Settled);
    assert!(t.state.lock().unwrap().waiters.is_empty());
}

#[tokio::test]
async fn cancel_answers_the_waiters_and_clears_the_device() {
    let hub = Hub::new();
    let mut dev = attach(&hub, "term_1");
    let h = hub.clone();
    let call = tokio::spawn(async move { h.call(deliver("term_1", "tpay_1", Some(10_000))).await });
    next_frame(&mut dev).await;
    let cancel = HubCall::Cancel {
        terminal_id: "term_1".into(),
        payment_id: "tpay_1".into(),
    };
    assert_eq!(hub.call(cancel).await, HubReply::Delivered);
    assert_eq!(call.await.unwrap(), HubReply::Settled);
    let f = next_frame(&mut dev).await;
    assert_eq!(f, json!({"type": "cancel", "paymentId": "tpay_1"}));
}

#[tokio::test]
async fn a_closed_connection_drops_the_waiters() {
    let hub = Hub::new();
    let mut dev = attach(&hub, "term_1");
    let h = hub.clone();
    let call = tokio::spawn(async move { h.call(deliver("term_1", "tpay_1", Some(10_000))).await });
    next_frame(&mut dev).await;
    let t = hub.terminal("term_1");
    assert!(hub.detach(&t, dev.serial));
    assert_eq!(call.await.unwrap(), HubReply::Dropped);
    assert!(!t.connected());
}

#[tokio::test]
async fn waiting_deliver_times_out() {
    let hub = Hub::new();
    let mut dev = attach(&hub, "term_1");
    assert_eq!(
        hub.call(deliver("term_1", "tpay_1", Some(50))).await,
        HubReply::TimedOut
    );
    next_frame(&mut dev).await;
    assert!(
        hub.terminal("term_1").state.lock().unwrap().waiters.is_empty(),
        "the waiter is forgotten"
    );
}

#[tokio::test]
async fn a_new_connection_replaces_the_old_one() {
    let hub = Hub::new();
    let mut old = attach(&hub, "term_1");
    let h = hub.clone();
    let call = tokio::spawn(async move { h.call(deliver("term_1", "tpay_1", Some(10_000))).await });
    next_frame(&mut old).await;
    let mut new = attach(&hub, "term_1");
    // The old one is told to close and its reader kicked.
    assert!(matches!(old.rx.recv().await, Some(Outgoing::Close(_))));
    tokio::time::timeout(Duration::from_secs(1), old.kick.notified())
        .await
        .unwrap();
    // Its late end does not touch the new connection, nor the waiter (the new connection gets
    // the session re-sent and can settle it).
    let t = hub.terminal("term_1");
    assert!(!hub.detach(&t, old.serial));
    assert!(t.is_current(new.serial));
    assert_eq!(hub.call(deliver("term_1", "tpay_2", None)).await, HubReply::Delivered);
    assert_eq!(next_frame(&mut new).await["payment"]["id"], "tpay_2");
    t.settle(&["tpay_1".to_string()]);
    assert_eq!(call.await.unwrap(), HubReply::Settled);
}

#[tokio::test]
async fn shutdown_closes_connections_and_drops_waiters() {
    let hub = Hub::new();
    let mut dev = attach(&hub, "term_1");
    let h = hub.clone();
    let call = tokio::spawn(async move { h.call(deliver("term_1", "tpay_1", Some(10_000))).await });
    next_frame(&mut dev).await;
    hub.shutdown();
    assert_eq!(call.await.unwrap(), HubReply::Dropped);
    assert!(matches!(dev.rx.recv().await, Some(Outgoing::Close(_))));
}

fn request(method: &str, url: &str, body: &str) -> http::Request<WasiBody> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .body(
            Full::new(bytes::Bytes::from(body.to_string()))
                .map_err(|n: std::convert::Infallible| match n {})
                .boxed_unsync(),
        )
        .unwrap()
}

#[test]
fn only_the_hub_is_reachable() {
    assert!(is_hub_request(&request("POST", HUB_URL, "")));
    assert!(is_hub_request(&request(
        "POST",
        "http://terminal-hub.vinr.internal:80/call",
        ""
    )));
    assert!(!is_hub_request(&request(
        "POST",
        "https://terminal-hub.vinr.internal/call",
        ""
    )));
    assert!(!is_hub_request(&request(
        "POST",
        "http://terminal-hub.vinr.internal:8080/call",
        ""
    )));
    assert!(!is_hub_request(&request("GET", "http://example.com/", "")));
    assert!(!is_hub_request(&request(
        "GET",
        "http://127.0.0.1:8787/v1/payments",
        ""
    )));
}

#[tokio::test]
async fn outbound_requests_are_answered_by_the_hub_or_refused() {
    let hub = Hub::new();
    let mut dev = attach(&hub, "term_1");
    let mut hooks = HubHooks::new(hub.clone());
    let call = serde_json::to_string(&deliver("term_1", "tpay_1", None)).unwrap();
    let fut = hooks.send_request(request("POST", HUB_URL, &call), None, Box::new(async { Ok(()) }));
    let (resp, io) = Box::into_pin(fut).await.unwrap();
    assert_eq!(resp.status(), 200);
    Box::into_pin(io).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(serde_json::from_slice::<HubReply>(&body).unwrap(), HubReply::Delivered);
    assert_eq!(next_frame(&mut dev).await["type"], "payment");

    let fut = hooks.send_request(request("POST", HUB_URL, "{not json"), None, Box::new(async { Ok(()) }));
    let (resp, _) = Box::into_pin(fut).await.unwrap();
    assert_eq!(resp.status(), 400);

    let fut = hooks.send_request(
        request("GET", "http://example.com/", ""),
        None,
        Box::new(async { Ok(()) }),
    );
    assert!(matches!(
        Box::into_pin(fut).await,
        Err(wasmtime_wasi_http::Error::HttpRequestDenied)
    ));
}

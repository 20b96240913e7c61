//! Helpers of the webhook tests: registering an endpoint, finding an event, waiting for a
//! delivery's state.

use std::time::{Duration, Instant};

use crate::runtime::Runtime;
use crate::{http, id_of};
use serde_json::Value;

/// How long the helpers wait for a delivery to get somewhere.
pub const WAIT: Duration = Duration::from_secs(15);

/// Registers an endpoint with `key`; returns (endpoint id, secret).
pub fn endpoint(rt: &Runtime, key: &str, url: &str, events: &[&str]) -> (String, String) {
    let mut form = format!("url={}&description=test", http::enc(url));
    for e in events {
        form.push_str(&format!("&enabled_events[]={}", http::enc(e)));
    }
    let ep = rt.post("/v1/webhooks").key(key).form(&form).send().ok();
    assert_eq!(ep["object"], "webhook_endpoint", "{ep}");
    assert_eq!(ep["url"], url, "{ep}");
    let secret = ep["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret: {ep}"))
        .to_string();
    assert!(secret.starts_with("whsec_"), "{ep}");
    (id_of(&ep), secret)
}

/// The event of `kind` whose `data.id` is `object_id`, from `GET /v1/events?type=`.
pub fn event_for(rt: &Runtime, key: &str, kind: &str, object_id: &str) -> Value {
    let list = rt
        .get(&format!("/v1/events?type={kind}&limit=100"))
        .key(key)
        .send()
        .ok();
    assert_eq!(list["object"], "list", "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["id"] == object_id)
        .unwrap_or_else(|| panic!("no {kind} event for {object_id} in {list}"))
        .clone()
}

/// Polls the endpoint's deliveries until the one of `evt` satisfies `done` (at most [`WAIT`]).
pub fn delivery_until(rt: &Runtime, key: &str, we: &str, evt: &str, done: impl Fn(&Value) -> bool) -> Value {
    delivery_within(rt, key, we, evt, WAIT, done)
}

/// As [`delivery_until`], waiting at most `within`.
pub fn delivery_within(
    rt: &Runtime,
    key: &str,
    we: &str,
    evt: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let list = rt
            .get(&format!("/v1/webhooks/{we}/deliveries?limit=100"))
            .key(key)
            .send()
            .ok();
        let d = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event"] == evt)
            .cloned();
        match d {
            Some(d) if done(&d) => return d,
            d if Instant::now() > deadline => {
                panic!("delivery of {evt} to {we} never got there; last seen: {d:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

//! `GET /v1/events` filters by `created` as documented: an exact second, or bounds.

mod common;

use common::world;

#[test]
fn events_filter_by_created_exactly_or_by_bounds() {
    let w = world();
    let (s, c) = w.post("/v1/customers", "email=a@example.com");
    assert_eq!(s, 200, "{c}");
    let t = c["created"].as_i64().unwrap();
    let count = |query: &str| {
        let (s, l) = w.get(&format!("/v1/events?{query}"));
        assert_eq!(s, 200, "{query}: {l}");
        l["data"].as_array().unwrap().len()
    };
    assert_eq!(count(&format!("created={t}")), 1);
    assert_eq!(count(&format!("created={}", t + 1)), 0);
    assert_eq!(count(&format!("created[gte]={t}&created[lt]={}", t + 1)), 1);
    assert_eq!(count(&format!("created[gt]={t}")), 0);
    let (s, e) = w.get("/v1/events?created=soon");
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("created")), "{e}");
    let (s, e) = w.get("/v1/events?created[after]=1");
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("created[after]")), "{e}");
}

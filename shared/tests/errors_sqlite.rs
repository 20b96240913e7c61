//! What a client sees when the store fails: a generic 500 carrying the request id, never the
//! store's own message, which goes to the runtime's log under that id instead.

mod common;

use common::world;

#[test]
fn storage_errors_are_logged_not_shown() {
    let w = world();
    // A store that has lost a table answers every read of it with SQLite's message.
    w.db.0.execute_batch("DROP TABLE customers").unwrap();
    let (status, body, resp) = w.call("GET", "/v1/customers", &w.sk, "", &[]);
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(body["error"]["code"], "internal_error");
    let message = body["error"]["message"].as_str().unwrap();
    let request_id = resp
        .headers
        .iter()
        .find(|(k, _)| k == "request-id")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(message.contains(&request_id), "{message}");
    assert!(
        !message.contains("customers") && !message.to_lowercase().contains("sql"),
        "{message}"
    );
    let logs = w.env.logs.borrow();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].0, request_id);
    assert!(logs[0].1.contains("no such table: customers"), "{logs:?}");
}

#[test]
fn client_errors_are_not_logged() {
    let w = world();
    let (status, body) = w.post("/v1/payments", "amount=5000");
    assert_eq!(status, 400, "{body}");
    assert!(w.env.logs.borrow().is_empty());
}

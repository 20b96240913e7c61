//! Issue 14 through the real pipeline over SQLite: the idempotency fingerprint holds no card
//! data, shown-once secrets are not replayed, keys expire after 24 h, a request that lost its
//! claim cannot commit, the purges keep what they must, and settings are per environment.

mod common;

use common::{World, world};

fn idem(w: &World, path: &str, key: &str, body: &str) -> (u16, serde_json::Value, bool) {
    let (s, v, r) = w.call("POST", path, &w.sk, body, &[("idempotency-key", key)]);
    (s, v, r.header("idempotent-replayed").is_some())
}

fn stored_hashes(w: &World) -> Vec<String> {
    let mut st = w.db.0.prepare("SELECT request_hash FROM idempotency_keys").unwrap();
    st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn the_fingerprint_holds_no_card_number_or_cvc() {
    let w = world();
    let body = "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123";
    let (s, pm, _) = idem(&w, "/v1/payment_methods", "k-card", body);
    assert_eq!(s, 200, "{pm}");
    // Not the unkeyed SHA-256 of the request, nor anything computable without the deployment's
    // secret: the hash differs from the one the same request hashed without the secret.
    let plain = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"POST /v1/payment_methods\n");
        vinr_shared::keys::hex(&h.finalize())
    };
    let stored = stored_hashes(&w);
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], plain);
    // The replay answers the same payment method; another card under the key is another request.
    let (s, again, replayed) = idem(&w, "/v1/payment_methods", "k-card", body);
    assert_eq!((s, replayed, &again["id"]), (200, true, &pm["id"]));
    let other = body.replace("4242424242424242", "5555555555554444");
    let (s, e, _) = idem(&w, "/v1/payment_methods", "k-card", &other);
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused")),
        "{e}"
    );
    // The stored answer and every stored text hold neither the number nor the CVC.
    let dump: String =
        w.db.0
            .prepare("SELECT coalesce(body, '') || request_hash FROM idempotency_keys")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert!(
        !dump.contains("4242424242424242") && !dump.contains("\"123\""),
        "{dump}"
    );
}

#[test]
fn the_fingerprint_depends_on_the_deployment_secret() {
    let mut params = serde_json::Map::new();
    params.insert("amount".into(), 5000.into());
    let a = vinr_shared::idempotency::request_hash(b"secret one, long enough", "fp", "POST", "/v1/payments", &params);
    let b = vinr_shared::idempotency::request_hash(b"secret two, long enough", "fp", "POST", "/v1/payments", &params);
    assert_ne!(a, b);
    // The CVC is not part of the request's identity; the number enters only as its keyed fingerprint.
    let card = |number: &str, cvc: &str| {
        let mut p = serde_json::Map::new();
        p.insert("card".into(), serde_json::json!({ "number": number, "cvc": cvc }));
        vinr_shared::idempotency::request_hash(b"s", "fp", "POST", "/v1/payment_methods", &p)
    };
    assert_eq!(card("4242424242424242", "123"), card("4242 4242 4242 4242", "999"));
    assert_ne!(card("4242424242424242", "123"), card("5555555555554444", "123"));
}

#[test]
fn a_webhook_secret_and_a_device_key_are_shown_once_not_replayed() {
    let w = world();
    let body = "url=https://example.com/hook&enabled_events[]=*";
    let (s, we, replayed) = idem(&w, "/v1/webhooks", "k-hook", body);
    assert_eq!((s, replayed), (200, false), "{we}");
    let secret = we["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let (s, again, replayed) = idem(&w, "/v1/webhooks", "k-hook", body);
    assert_eq!((s, replayed, &again["id"]), (200, true, &we["id"]));
    assert!(again["secret"].is_null(), "{again}");
    let (s, t, _) = idem(&w, "/v1/terminals", "k-term", "label=Counter");
    assert_eq!(s, 200, "{t}");
    let device_key = t["deviceKey"].as_str().unwrap().to_string();
    let (_, again, replayed) = idem(&w, "/v1/terminals", "k-term", "label=Counter");
    assert!(replayed && again["deviceKey"].is_null(), "{again}");
    assert_eq!(again["id"], t["id"]);
    let bodies: String =
        w.db.0
            .prepare("SELECT body FROM idempotency_keys")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert!(!bodies.contains(&secret) && !bodies.contains(&device_key), "{bodies}");
}

#[test]
fn keys_expire_after_a_day() {
    let w = world();
    let (_, first, _) = idem(&w, "/v1/customers", "k-day", "email=a@example.com");
    w.env.now.set(w.env.now.get() + 24 * 3600 - 1);
    let (_, again, replayed) = idem(&w, "/v1/customers", "k-day", "email=a@example.com");
    assert!(replayed);
    assert_eq!(again["id"], first["id"]);
    // A day on, the key is free: the same request runs again, and so would another.
    w.env.now.set(w.env.now.get() + 1);
    let (s, fresh, replayed) = idem(&w, "/v1/customers", "k-day", "email=b@example.com");
    assert_eq!((s, replayed), (200, false), "{fresh}");
    assert_ne!(fresh["id"], first["id"]);
}

#[test]
fn a_request_that_lost_its_claim_cannot_finish_or_release_it() {
    let w = world();
    let acct = vinr_shared::auth::Account {
        id: "acct_A".into(),
        livemode: false,
        fingerprint_key: Some("acct_A".into()),
        clock_offset: 0,
        permissions: None,
        platform_id: None,
        business_id: None,
    };
    use vinr_shared::idempotency::{Claim, claim, finish, release};
    use vinr_shared::port::{Db, DbError};
    let now = w.env.now.get();
    let first = match pollster::block_on(claim(&w.db, &acct, "k-slow", "h", now, "token-1")).unwrap() {
        Claim::Owned(t) => t,
        Claim::Replay { .. } => panic!("a new key is owned"),
    };
    // 61 s later a retry takes the stale claim over.
    let second = match pollster::block_on(claim(&w.db, &acct, "k-slow", "h", now + 61, "token-2")).unwrap() {
        Claim::Owned(t) => t,
        Claim::Replay { .. } => panic!("a stale claim is taken over"),
    };
    // The first request's commit aborts as a whole (its other writes with it)...
    let mut batch = vec![vinr_shared::port::Stmt::new(
        "INSERT INTO events (id, account_id, livemode, type, created, data) VALUES ('evt_slow', 'acct_A', 0, 't', 0, '{}')",
        vec![],
    )];
    batch.extend(finish(&acct, "k-slow", &first, 200, b"{\"first\":true}"));
    assert_eq!(pollster::block_on(w.db.batch(batch)), Err(DbError::Conflict));
    assert_eq!(w.count("SELECT count(*) FROM events WHERE id = 'evt_slow'"), 0);
    // ...and its release leaves the retry's claim alone.
    pollster::block_on(w.db.query(release(&acct, "k-slow", &first))).unwrap();
    assert_eq!(
        w.count("SELECT count(*) FROM idempotency_keys WHERE claim = 'token-2'"),
        1
    );
    // The owner commits.
    pollster::block_on(w.db.batch(finish(&acct, "k-slow", &second, 200, b"{}").into())).unwrap();
    assert_eq!(w.count("SELECT count(*) FROM idempotency_keys WHERE state = 'done'"), 1);
}

#[test]
fn the_purge_deletes_old_keys_events_and_finished_deliveries_only() {
    use vinr_shared::retention::{Policy, purge_batch};
    let w = world();
    let now = w.env.now.get();
    let day = 86_400;
    let sql = |s: &str| w.db.0.execute_batch(s).unwrap();
    sql(&format!(
        "INSERT INTO idempotency_keys (account_id, livemode, key, request_hash, state, created) VALUES \
         ('acct_A', 0, 'old', 'h', 'done', {old}), ('acct_A', 0, 'young', 'h', 'done', {young});
         INSERT INTO events (id, account_id, livemode, type, created, data) VALUES \
         ('evt_old', 'acct_A', 0, 't', {e_old}, '{{}}'), ('evt_pending', 'acct_A', 0, 't', {e_old}, '{{}}'), \
         ('evt_young', 'acct_A', 0, 't', {e_young}, '{{}}');
         INSERT INTO webhook_deliveries (id, account_id, livemode, endpoint_id, event_id, status, created_ms, created) VALUES \
         ('wd_old', 'acct_A', 0, 'we_1', 'evt_old', 'succeeded', 0, {e_old}), \
         ('wd_pending', 'acct_A', 0, 'we_1', 'evt_pending', 'pending', 0, {e_old}), \
         ('wd_young', 'acct_A', 0, 'we_1', 'evt_young', 'failed', 0, {e_young});",
        old = now - day,
        young = now - day + 1,
        e_old = now - 30 * day - 1,
        e_young = now - 30 * day + 1,
    ));
    let purged = pollster::block_on(purge_batch(&w.db, now, Policy::default())).unwrap();
    assert_eq!((purged.idempotency_keys, purged.deliveries, purged.events), (1, 1, 1));
    assert!(!purged.more());
    let left = |table: &str, col: &str| -> Vec<String> {
        let mut st =
            w.db.0
                .prepare(&format!("SELECT {col} FROM {table} ORDER BY 1"))
                .unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(left("idempotency_keys", "key"), ["young"]);
    assert_eq!(left("webhook_deliveries", "id"), ["wd_pending", "wd_young"]);
    // The old event with a pending delivery stays until that delivery is done.
    assert_eq!(left("events", "id"), ["evt_pending", "evt_young"]);
}

#[test]
fn the_payout_schedule_is_per_environment() {
    let w = world();
    let (s, v, _) = w.call("POST", "/v1/payouts/schedule", &w.sk, "interval=manual", &[]);
    assert_eq!(s, 200, "{v}");
    let (s, live, _) = w.call("GET", "/v1/payouts/schedule", &w.live, "", &[]);
    assert_eq!(s, 200, "{live}");
    assert_eq!(
        live["interval"], "daily",
        "a sandbox key must not change the live schedule: {live}"
    );
    let (_, sandbox, _) = w.call("GET", "/v1/payouts/schedule", &w.sk, "", &[]);
    assert_eq!(sandbox["interval"], "manual", "{sandbox}");
}

//! API key management (`/v1/api_keys`, issue 14 point 8): restricted keys and their
//! permissions, lists without secrets, rolling (the old key works until `expires_at`),
//! revoking, secret keys only, isolation between environments and accounts, bad permissions.
//! Runs on every runtime. The tests share one runtime: none of them ends account A's original
//! sandbox secret key (rolling it keeps it working for 24 h).

use std::time::{Duration, Instant};

use vinr_conformance::*;
use vinr_shared::keys::redact_key;

/// Creates a restricted key with `permissions` (form pairs, e.g. `permissions[payments]=read`)
/// using `key`; returns the key object, with its `secret`.
fn restricted_with(rt: &Runtime, key: &str, permissions: &str) -> Value {
    let name = uniq("test");
    let k = rt
        .post("/v1/api_keys")
        .key(key)
        .form(&format!("name={name}&{permissions}"))
        .send()
        .ok();
    assert_eq!(k["object"], "api_key", "{k}");
    assert_eq!(k["kind"], "restricted", "{k}");
    assert_eq!(k["name"], name.as_str(), "{k}");
    assert_id(&k["id"], "key_");
    assert_eq!(k["revoked"], false, "{k}");
    assert_eq!(k["expires_at"], Value::Null, "{k}");
    k
}

fn restricted(rt: &Runtime, permissions: &str) -> (Value, String) {
    let k = restricted_with(rt, &rt.secret_key, permissions);
    let secret = secret_of(&k);
    assert!(secret.starts_with("rk_test_"), "{k}");
    assert_eq!(k["livemode"], false, "{k}");
    (k, secret)
}

fn secret_of(k: &Value) -> String {
    k["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret: {k}"))
        .to_string()
}

fn all_keys(rt: &Runtime, key: &str) -> Vec<Value> {
    let l = rt.get("/v1/api_keys?limit=100").key(key).send().ok();
    assert_eq!(l["object"], "list", "{l}");
    assert_eq!(l["has_more"], false, "more than 100 keys: {l}");
    l["data"].as_array().unwrap().clone()
}

fn key_ids(keys: &[Value]) -> Vec<String> {
    keys.iter().map(id_of).collect()
}

/// The id of the key whose secret is `secret`, from the list (by its redacted form).
fn id_of_key(rt: &Runtime, key: &str, secret: &str) -> String {
    let redacted = redact_key(secret);
    let found: Vec<Value> = all_keys(rt, key)
        .into_iter()
        .filter(|k| k["redacted"] == redacted.as_str())
        .collect();
    assert_eq!(found.len(), 1, "{redacted} in {found:?}");
    id_of(&found[0])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_restricted_key_works_within_its_permissions_and_nowhere_else() {
    let rt = shared();
    let (k, rk) = restricted(
        rt,
        "permissions[payments]=read&permissions[refunds]=none&permissions[customers]=write",
    );
    // Every group shown, the ones not named as none.
    assert_eq!(k["permissions"]["payments"], "read", "{k}");
    assert_eq!(k["permissions"]["customers"], "write", "{k}");
    assert_eq!(k["permissions"]["refunds"], "none", "{k}");
    assert_eq!(k["permissions"]["balance"], "none", "{k}");
    assert!(k["redacted"].as_str().unwrap().starts_with("rk_test_"), "{k}");
    assert!(!k["redacted"].as_str().unwrap().contains(&rk[8..]), "{k}");

    let pay = id_of(&succeeded_payment(rt));
    // Read: lists and objects of the group.
    let l = rt.get("/v1/payments?limit=100").key(&rk).send().ok();
    assert!(ids(&l).contains(&pay), "{l}");
    rt.get(&format!("/v1/payments/{pay}")).key(&rk).send().ok();
    let charge = get_payment(rt, &pay)["latest_charge"].as_str().unwrap().to_string();
    rt.get(&format!("/v1/charges/{charge}")).key(&rk).send().ok();
    // Write needs write: 403 whatever the parameters (checked before them).
    let e = rt
        .post("/v1/payments")
        .key(&rk)
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send()
        .err(403, "permission_denied");
    assert_eq!(e["type"], "permission_error");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("payments: write"), "{e}");
    rt.post("/v1/payments")
        .key(&rk)
        .form("bogus=1")
        .send()
        .err(403, "permission_denied");
    rt.post(&format!("/v1/payments/{pay}/cancel"))
        .key(&rk)
        .send()
        .err(403, "permission_denied");
    // Named none, and not named: none.
    let e = rt.get("/v1/refunds").key(&rk).send().err(403, "permission_denied");
    assert!(e["message"].as_str().unwrap().contains("refunds: read"), "{e}");
    rt.get("/v1/balance").key(&rk).send().err(403, "permission_denied");
    rt.get("/v1/events").key(&rk).send().err(403, "permission_denied");
    // Write implies read.
    let c = rt
        .post("/v1/customers")
        .key(&rk)
        .form("email=rk%40example.com")
        .send()
        .ok();
    let c_id = id_of(&c);
    rt.get(&format!("/v1/customers/{c_id}")).key(&rk).send().ok();
    // What the restricted key made is the account's: the secret key sees it.
    rt.get(&format!("/v1/customers/{c_id}")).send().ok();

    // A search that takes a body only reads: balance read is enough; the clock needs its own.
    let (_, reader) = restricted(rt, "permissions[balance]=read");
    rt.post("/v1/transactions/search")
        .key(&reader)
        .json(&json!({ "limit": 5 }))
        .send()
        .ok();
    rt.get("/v1/balance").key(&reader).send().ok();
    rt.post("/v1/test_helpers/clock/advance")
        .key(&reader)
        .form("seconds=1")
        .send()
        .err(403, "permission_denied");

    // JSON bodies work too.
    let k = rt
        .post("/v1/api_keys")
        .json(&json!({ "name": "json", "permissions": { "webhooks": "write", "events": "read" } }))
        .send()
        .ok();
    assert_eq!(k["permissions"]["webhooks"], "write", "{k}");
    let rk = secret_of(&k);
    rt.get("/v1/events").key(&rk).send().ok();
    rt.get("/v1/webhooks").key(&rk).send().ok();
    rt.get("/v1/payments").key(&rk).send().err(403, "permission_denied");
}

#[test]
fn lists_and_retrieves_never_show_a_secret() {
    let rt = shared();
    let (k, rk) = restricted(rt, "permissions[payments]=write");
    let id = id_of(&k);
    let l = rt.get("/v1/api_keys?limit=100").send();
    let text = l.text();
    assert!(!text.contains(&rk), "the list shows a secret: {text}");
    assert!(!text.contains(&rt.secret_key), "the list shows a secret: {text}");
    assert!(!text.contains(&rt.public_key), "the list shows a secret: {text}");
    let keys = all_keys(rt, &rt.secret_key);
    for k in &keys {
        assert!(k.get("secret").is_none(), "{k}");
        assert_eq!(k["object"], "api_key", "{k}");
        assert_eq!(k["livemode"], false, "{k}");
        assert_id(&k["id"], "key_");
        assert!(k["created"].as_i64().is_some(), "{k}");
        assert!(k["revoked"].is_boolean(), "{k}");
        if k["kind"] != "restricted" {
            assert_eq!(k["permissions"], Value::Null, "{k}");
        }
    }
    // The environment's secret and public keys are listed too, newest first.
    for (kind, secret) in [("secret", &rt.secret_key), ("public", &rt.public_key)] {
        let redacted = redact_key(secret);
        assert!(
            keys.iter()
                .any(|k| k["kind"] == kind && k["redacted"] == redacted.as_str()),
            "no {kind} key {redacted} in {keys:?}"
        );
    }
    let created: Vec<i64> = keys.iter().map(|k| k["created"].as_i64().unwrap()).collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {created:?}"
    );
    assert!(key_ids(&keys).contains(&id));
    let got = rt.get(&format!("/v1/api_keys/{id}")).send();
    assert!(!got.text().contains(&rk), "{}", got.show());
    let got = got.ok();
    assert_eq!(got["id"], id.as_str());
    assert!(got.get("secret").is_none(), "{got}");
    assert_eq!(got["permissions"], k["permissions"], "{got}");
    rt.get("/v1/api_keys/key_nonexistent")
        .send()
        .err(404, "resource_missing");
    // Cursor pagination like every list.
    let page = rt.get("/v1/api_keys?limit=1").send().ok();
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["has_more"], true, "{page}");
}

#[test]
fn a_rolled_key_works_until_it_expires() {
    let rt = shared();
    let (k1, rk1) = restricted(rt, "permissions[customers]=read");
    let id1 = id_of(&k1);
    let before = now();
    let k2 = rt.post(&format!("/v1/api_keys/{id1}/roll")).send().ok();
    let rk2 = secret_of(&k2);
    let id2 = id_of(&k2);
    assert_ne!(id1, id2, "{k2}");
    assert_ne!(rk1, rk2);
    assert!(rk2.starts_with("rk_test_"), "{k2}");
    assert_eq!(k2["rolled_from"], id1.as_str(), "{k2}");
    assert_eq!(k2["name"], k1["name"], "{k2}");
    assert_eq!(k2["permissions"], k1["permissions"], "{k2}");
    assert_eq!(k2["expires_at"], Value::Null, "{k2}");
    // Default: the old key keeps working for 24 h.
    let expires = k2["previous_expires_at"].as_i64().unwrap_or_else(|| panic!("{k2}"));
    assert!((before + 86_400..=now() + 86_400).contains(&expires), "{k2}");
    let old = rt.get(&format!("/v1/api_keys/{id1}")).send().ok();
    assert_eq!(old["expires_at"], expires, "{old}");
    for key in [&rk1, &rk2] {
        rt.get("/v1/customers").key(key).send().ok();
        // The grant came along.
        rt.get("/v1/payments").key(key).send().err(403, "permission_denied");
    }
    // A rolled key is not rolled again: its replacement is.
    rt.post(&format!("/v1/api_keys/{id1}/roll"))
        .send()
        .err(400, "api_key_inactive");
    // expire_previous_after=0: the old key stops at once.
    let k3 = rt
        .post(&format!("/v1/api_keys/{id2}/roll"))
        .form("expire_previous_after=0")
        .send()
        .ok();
    let rk3 = secret_of(&k3);
    rt.get("/v1/customers").key(&rk2).send().err(401, "api_key_expired");
    rt.get("/v1/customers").key(&rk3).send().ok();
    rt.get("/v1/customers").key(&rk1).send().ok();
    // A rolled key can still be revoked before it expires.
    let r = rt.delete(&format!("/v1/api_keys/{id1}")).send().ok();
    assert_eq!(r["revoked"], true, "{r}");
    rt.get("/v1/customers").key(&rk1).send().err(401, "api_key_revoked");
    // Bounds of the grace period.
    let id3 = id_of(&k3);
    for bad in ["-1", "604801", "soon"] {
        rt.post(&format!("/v1/api_keys/{id3}/roll"))
            .form(&format!("expire_previous_after={bad}"))
            .send()
            .err_param(400, "parameter_invalid_integer", "expire_previous_after");
    }
    rt.get("/v1/customers").key(&rk3).send().ok();
}

#[test]
fn secret_keys_are_rolled_not_revoked() {
    let rt = shared();
    let id = id_of_key(rt, &rt.secret_key, &rt.secret_key);
    let rolled = rt.post(&format!("/v1/api_keys/{id}/roll")).send().ok();
    assert_eq!(rolled["kind"], "secret", "{rolled}");
    assert_eq!(rolled["permissions"], Value::Null, "{rolled}");
    let sk2 = secret_of(&rolled);
    assert!(sk2.starts_with("sk_test_"), "{rolled}");
    // Both work: the original for 24 h (the other tests keep using it).
    rt.get("/v1/payments").key(&sk2).send().ok();
    rt.get("/v1/payments").send().ok();
    // The new secret key manages keys like the old one.
    let k = restricted_with(rt, &sk2, "permissions[payments]=read");
    assert!(secret_of(&k).starts_with("rk_test_"));
    // Rolled at once, the second secret key stops; the third works.
    let id2 = id_of(&rolled);
    let third = rt
        .post(&format!("/v1/api_keys/{id2}/roll"))
        .key(&sk2)
        .form("expire_previous_after=0")
        .send()
        .ok();
    rt.get("/v1/payments").key(&sk2).send().err(401, "api_key_expired");
    let sk3 = secret_of(&third);
    rt.get("/v1/payments").key(&sk3).send().ok();
    // The current secret key cannot just be revoked (an environment keeps a working one).
    rt.delete(&format!("/v1/api_keys/{}", id_of(&third)))
        .send()
        .err(400, "api_key_not_revocable");
    let public = id_of_key(rt, &rt.secret_key, &rt.public_key);
    rt.delete(&format!("/v1/api_keys/{public}"))
        .send()
        .err(400, "api_key_not_revocable");
    rt.get("/v1/payments").key(&sk3).send().ok();
}

#[test]
fn a_revoked_key_answers_401() {
    let rt = shared();
    let (k, rk) = restricted(rt, "permissions[customers]=write");
    let id = id_of(&k);
    rt.get("/v1/customers").key(&rk).send().ok();
    let r = rt.delete(&format!("/v1/api_keys/{id}")).send().ok();
    assert_eq!(
        (r["id"].as_str(), &r["revoked"]),
        (Some(id.as_str()), &json!(true)),
        "{r}"
    );
    let e = rt.get("/v1/customers").key(&rk).send().err(401, "api_key_revoked");
    assert_eq!(e["type"], "authentication_error");
    rt.post("/v1/customers").key(&rk).send().err(401, "api_key_revoked");
    assert_eq!(rt.get(&format!("/v1/api_keys/{id}")).send().ok()["revoked"], true);
    // Revoking twice changes nothing; a revoked key is not rolled.
    assert_eq!(rt.delete(&format!("/v1/api_keys/{id}")).send().ok()["revoked"], true);
    rt.post(&format!("/v1/api_keys/{id}/roll"))
        .send()
        .err(400, "api_key_inactive");
}

#[test]
fn only_secret_keys_manage_keys() {
    let rt = shared();
    let every: Vec<String> = [
        "payments",
        "customers",
        "payment_methods",
        "refunds",
        "disputes",
        "webhooks",
        "events",
        "balance",
        "settlements",
        "payouts",
        "terminals",
        "test_helpers",
    ]
    .iter()
    .map(|g| format!("permissions[{g}]=write"))
    .collect();
    let (k, rk) = restricted(rt, &every.join("&"));
    let id = id_of(&k);
    rt.get("/v1/payments").key(&rk).send().ok();
    for r in [
        rt.get("/v1/api_keys").key(&rk),
        rt.post("/v1/api_keys")
            .key(&rk)
            .form("name=x&permissions[payments]=write"),
        rt.get(&format!("/v1/api_keys/{id}")).key(&rk),
        rt.post(&format!("/v1/api_keys/{id}/roll")).key(&rk),
        rt.delete(&format!("/v1/api_keys/{id}")).key(&rk),
    ] {
        let e = r.send().err(403, "secret_key_required");
        assert_eq!(e["type"], "permission_error");
    }
    rt.get("/v1/api_keys")
        .key(&rt.public_key)
        .send()
        .err(403, "secret_key_required");
    rt.get("/v1/api_keys").no_auth().send().err(401, "api_key_missing");
    // Still working, unchanged.
    rt.get("/v1/payments").key(&rk).send().ok();
    assert_eq!(rt.get(&format!("/v1/api_keys/{id}")).send().ok()["revoked"], false);
}

#[test]
fn keys_are_seen_only_in_their_environment_and_account() {
    let rt = shared();
    let live = &rt.live_secret_key;
    let lk = restricted_with(rt, live, "permissions[customers]=write");
    let lrk = secret_of(&lk);
    assert!(lrk.starts_with("rk_live_"), "{lk}");
    assert_eq!(lk["livemode"], true, "{lk}");
    let lid = id_of(&lk);
    let (k, rk) = restricted(rt, "permissions[customers]=write");
    let id = id_of(&k);

    // Each environment lists its own keys only.
    let live_keys = all_keys(rt, live);
    assert!(live_keys.iter().all(|k| k["livemode"] == true), "{live_keys:?}");
    assert!(key_ids(&live_keys).contains(&lid));
    assert!(!key_ids(&live_keys).contains(&id));
    let test_keys = all_keys(rt, &rt.secret_key);
    assert!(!key_ids(&test_keys).contains(&lid));
    // The other environment's key ids are 404, for reading and for managing.
    rt.get(&format!("/v1/api_keys/{lid}"))
        .send()
        .err(404, "resource_missing");
    rt.post(&format!("/v1/api_keys/{lid}/roll"))
        .send()
        .err(404, "resource_missing");
    rt.delete(&format!("/v1/api_keys/{lid}"))
        .send()
        .err(404, "resource_missing");
    rt.get(&format!("/v1/api_keys/{id}"))
        .key(live)
        .send()
        .err(404, "resource_missing");
    // Another account's too.
    let b = &rt.b_secret_key;
    for r in [
        rt.get(&format!("/v1/api_keys/{id}")).key(b),
        rt.post(&format!("/v1/api_keys/{id}/roll")).key(b),
        rt.delete(&format!("/v1/api_keys/{id}")).key(b),
    ] {
        r.send().err(404, "resource_missing");
    }
    let b_keys = all_keys(rt, b);
    assert!(!key_ids(&b_keys).contains(&id));
    assert!(
        b_keys
            .iter()
            .all(|k| k["redacted"] != redact_key(&rt.secret_key).as_str())
    );
    // Untouched by all that.
    rt.get("/v1/customers").key(&rk).send().ok();
    assert_eq!(
        rt.get(&format!("/v1/api_keys/{id}")).send().ok()["expires_at"],
        Value::Null
    );

    // A restricted key acts in its own environment only.
    let lc = id_of(
        &rt.post("/v1/customers")
            .key(&lrk)
            .form("email=live-rk%40example.com")
            .send()
            .ok(),
    );
    assert_eq!(
        rt.get(&format!("/v1/customers/{lc}")).key(live).send().ok()["livemode"],
        true
    );
    rt.get(&format!("/v1/customers/{lc}"))
        .key(&rk)
        .send()
        .err(404, "resource_missing");

    // Revoking a live key: immediate where keys are not cached (vinr dev), within the
    // documented cache bound (30 s, auth::KEY_CACHE_SECS) on the Worker.
    rt.delete(&format!("/v1/api_keys/{lid}")).key(live).send().ok();
    let deadline = Instant::now() + Duration::from_secs(30 + 10);
    loop {
        let r = rt.get("/v1/customers").key(&lrk).send();
        if r.status == 401 {
            r.err(401, "api_key_revoked");
            break;
        }
        r.ok();
        assert!(Instant::now() < deadline, "a revoked live key still works after 40 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn bad_permissions_are_refused_naming_the_parameter() {
    let rt = shared();
    let name = uniq("bad");
    let cases = [
        ("permissions[foo]=read", "parameter_unknown", "permissions[foo]"),
        (
            "permissions[payments]=admin",
            "invalid_request_error",
            "permissions[payments]",
        ),
        (
            "permissions[payments]=",
            "invalid_request_error",
            "permissions[payments]",
        ),
        ("permissions=read", "parameter_invalid_object", "permissions"),
        ("", "parameter_missing", "permissions"),
    ];
    for (form, code, param) in cases {
        let r = rt.post("/v1/api_keys").form(&format!("name={name}&{form}")).send();
        let e = if code == "invalid_request_error" {
            assert_eq!(r.status, 400, "{}", r.show());
            r.json()["error"].clone()
        } else {
            r.err(400, code)
        };
        assert_eq!(e["param"], param, "{}", r.show());
        assert_eq!(e["type"], "invalid_request_error", "{}", r.show());
    }
    let e = rt
        .post("/v1/api_keys")
        .json(&json!({ "name": name, "permissions": { "payments": 1 } }))
        .send();
    assert_eq!(e.status, 400, "{}", e.show());
    assert_eq!(e.json()["error"]["param"], "permissions[payments]", "{}", e.show());
    rt.post("/v1/api_keys")
        .form("permissions[payments]=read")
        .send()
        .err_param(400, "parameter_missing", "name");
    // Nothing was created by any of them.
    let keys = all_keys(rt, &rt.secret_key);
    assert!(keys.iter().all(|k| k["name"] != name.as_str()), "{keys:?}");
}

#[test]
fn an_idempotent_replay_does_not_show_the_secret_again() {
    let rt = shared();
    let name = uniq("replay");
    let idem = uniq("idem");
    let form = format!("name={name}&permissions[payments]=read");
    let first = rt.post("/v1/api_keys").idem(&idem).form(&form).send();
    assert!(!first.replayed());
    let first = first.ok();
    let rk = secret_of(&first);
    let again = rt.post("/v1/api_keys").idem(&idem).form(&form).send();
    assert!(again.replayed(), "{}", again.show());
    let again = again.ok();
    assert_eq!(again["id"], first["id"], "{again}");
    assert_eq!(
        again["secret"],
        Value::Null,
        "a replay showed the secret again: {again}"
    );
    // One key, and it works.
    let named = all_keys(rt, &rt.secret_key)
        .into_iter()
        .filter(|k| k["name"] == name.as_str())
        .count();
    assert_eq!(named, 1);
    rt.get("/v1/payments").key(&rk).send().ok();
    // A roll's replay likewise.
    let idem = uniq("idem");
    let id = id_of(&first);
    let rolled = rt.post(&format!("/v1/api_keys/{id}/roll")).idem(&idem).send().ok();
    assert!(secret_of(&rolled).starts_with("rk_test_"));
    let again = rt.post(&format!("/v1/api_keys/{id}/roll")).idem(&idem).send();
    assert!(again.replayed(), "{}", again.show());
    let again = again.ok();
    assert_eq!(
        (&again["id"], &again["secret"]),
        (&rolled["id"], &Value::Null),
        "{again}"
    );
}

//! Concurrent requests: one idempotency key creates one payment; racing transitions, one winner.

use vinr_conformance::*;

#[test]
fn twenty_concurrent_posts_with_one_key_create_one_payment() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let key = uniq("race");
    let body = format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}");
    let resps = Req::send_at_once(
        (0..20)
            .map(|_| rt.post("/v1/payments").idem(&key).form(&body))
            .collect(),
    );
    // Payments record their key in the create's own commit: every duplicate runs, one commits,
    // and the others answer its stored response, replayed (docs/api.md, Idempotency).
    let mut ids_seen = std::collections::BTreeSet::new();
    for r in &resps {
        assert_eq!(r.status, 200, "every duplicate answers the payment{}", r.show());
        ids_seen.insert(id_of(&r.json()));
    }
    let fresh = resps.iter().filter(|r| !r.replayed()).count();
    assert_eq!(fresh, 1, "exactly one answer is not a replay");
    assert_eq!(ids_seen.len(), 1, "all answers carry the same payment: {ids_seen:?}");
    let listed = ids(&rt.get(&format!("/v1/payments?customer={cust}&limit=100")).send().ok());
    assert_eq!(
        listed,
        ids_seen.into_iter().collect::<Vec<_>>(),
        "exactly one payment was created"
    );
}

fn race(rt: &Runtime, id: &str, forms: [&str; 2]) -> [Resp; 2] {
    let mut it = Req::send_at_once(
        forms
            .iter()
            .map(|f| rt.post(&format!("/v1/payments/{id}/capture")).form(f))
            .collect(),
    )
    .into_iter();
    [it.next().unwrap(), it.next().unwrap()]
}

#[test]
fn racing_captures_have_one_winner() {
    let rt = shared();
    for round in 0..8 {
        let p = manual_payment(rt, 5000);
        let id = id_of(&p);
        let [a, b] = race(rt, &id, ["amount_to_capture=1000", "amount_to_capture=2000"]);
        let winners: Vec<(&Resp, i64)> = [(&a, 1000), (&b, 2000)]
            .into_iter()
            .filter(|(r, _)| r.status == 200)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one capture succeeds{}{}",
            a.show(),
            b.show()
        );
        let loser = if a.status == 200 { &b } else { &a };
        assert!(
            (400..500).contains(&loser.status),
            "round {round}: the loser gets a 4xx{}",
            loser.show()
        );
        loser.err_in(&[400, 409], &["payment_invalid_state", "concurrent_modification"]);
        let (w, amount) = winners[0];
        assert_eq!(w.json()["amount_received"], amount, "round {round}{}", w.show());
        let now = get_payment(rt, &id);
        assert_eq!(now["status"], "succeeded", "round {round}: {now}");
        assert_eq!(
            now["amount_received"], amount,
            "round {round}: amount_received is the winner's: {now}"
        );
        let ch = rt
            .get(&format!("/v1/charges/{}", now["latest_charge"].as_str().unwrap()))
            .send()
            .ok();
        assert_eq!(ch["amount_captured"], amount, "round {round}: {ch}");
    }
}

#[test]
fn concurrent_creates_with_distinct_keys_all_succeed() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let hs: Vec<_> = (0..16)
        .map(|_| {
            let req = rt.post("/v1/payments").idem(&uniq("k")).form(&format!(
                "amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}"
            ));
            std::thread::spawn(move || req.send())
        })
        .collect();
    let mut made = std::collections::BTreeSet::new();
    for h in hs {
        let r = h.join().unwrap();
        made.insert(id_of(&r.ok()));
    }
    assert_eq!(made.len(), 16);
    let listed: std::collections::BTreeSet<String> =
        ids(&rt.get(&format!("/v1/payments?customer={cust}&limit=100")).send().ok())
            .into_iter()
            .collect();
    assert_eq!(listed, made);
}

//! One tenant's slow endpoints must not stall another tenant's webhooks (docs/security.md,
//! "Webhook sending"). Account A points all of its 16 endpoints at a receiver that never answers
//! (each attempt holds a sender for the whole 30 s timeout) and makes a burst of events; account
//! B's event must still reach B's receiver within a few seconds, far below one attempt timeout.
//! Oldest-first claiming fails this: A's burst fills every send slot on `vinr dev` (64), and on
//! the Worker a queue batch or a cron sweep waits on A's attempts before B's.

use std::time::{Duration, Instant};

use vinr_conformance::receiver::Answer;
use vinr_conformance::webhooks::{delivery_until, endpoint, event_for};
use vinr_conformance::*;

const SCALE: (&str, &str) = ("VINR_RETRY_SCALE", "0.001");
/// B's webhook must arrive within this: well under one attempt timeout (30 s), which is what
/// it would wait behind A's attempts without fair shares.
const PROMPT: Duration = Duration::from_secs(8);
/// Endpoints per environment (`MAX_ENDPOINTS`).
const ENDPOINTS: usize = 16;
/// A's burst of events: 16 endpoints x 6 = 96 deliveries, more than `vinr dev` sends at once.
const BURST: usize = 6;

#[test]
fn an_accounts_black_holed_endpoints_do_not_delay_another_accounts_deliveries() {
    let rt = start_with_env(&[SCALE]);
    let hole = Receiver::with(Answer::Hang);
    for i in 0..ENDPOINTS {
        endpoint(
            &rt,
            &rt.secret_key,
            &format!("{}?n={i}", hole.url()),
            &["payment.succeeded"],
        );
    }
    let fast = Receiver::start(vec![200]);
    let (we_b, _) = endpoint(&rt, &rt.b_secret_key, &fast.url(), &["payment.succeeded"]);

    for _ in 0..BURST {
        succeeded_payment(&rt);
    }
    // A's attempts are under way (and hanging) before B's event exists.
    let held = hole.wait_for(4, Duration::from_secs(15), |_| true).len();
    assert!(
        held >= 4,
        "A's endpoints were being attempted: {held} (log: {:?})",
        rt.log_path()
    );

    for round in 0..3 {
        let pay_b = rt
            .post("/v1/payments")
            .key(&rt.b_secret_key)
            .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
            .send()
            .ok();
        let committed = Instant::now();
        let evt_b = id_of(&event_for(&rt, &rt.b_secret_key, "payment.succeeded", &id_of(&pay_b)));
        let got = fast.wait_for(1, PROMPT, |h| h.event_id().as_deref() == Some(evt_b.as_str()));
        assert_eq!(
            got.len(),
            1,
            "round {round}: B's event did not arrive within {PROMPT:?} while A's endpoints hang ({} of A's attempts held; log: {:?})",
            hole.hits().len(),
            rt.log_path()
        );
        eprintln!(
            "round {round}: B's webhook arrived {} ms after its payment, {} of A's attempts hanging",
            committed.elapsed().as_millis(),
            hole.hits().len()
        );
        let d = delivery_until(&rt, &rt.b_secret_key, &we_b, &evt_b, |d| d["status"] != "pending");
        assert_eq!(d["status"], "succeeded", "{d}");
        assert_eq!(d["attempts"], 1, "{d}");
    }
}

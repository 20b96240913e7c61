//! Fair shares between accounts over the real schema: the Worker's webhook sweep
//! (`webhooks::runner`, the fair due-query plus `fair::pick`) and the scheduled steps
//! (`jobs::run_due`). Account A has a backlog; account B's one item must be in the first round.

mod common;

use std::cell::RefCell;

use common::*;
use vinr_shared::jobs;
use vinr_shared::webhooks::delivery::DUE_SQL;
use vinr_shared::webhooks::fair::{PER_ACCOUNT, PER_ENDPOINT};
use vinr_shared::webhooks::runner::{self, Scope, Transport};

/// Answers 200 at once and notes every URL it was asked to POST to.
#[derive(Default)]
struct Recorder(RefCell<Vec<String>>);

impl Transport for Recorder {
    async fn post(&self, url: &str, _h: Vec<(&'static str, String)>, _b: String, _t: u64) -> Result<u16, String> {
        self.0.borrow_mut().push(url.to_string());
        Ok(200)
    }
}

fn endpoint(w: &World, acct: &str, id: &str) {
    w.db.0
        .execute(
            "INSERT INTO webhook_endpoints (id, account_id, livemode, url, enabled_events, secret, created, data) \
             VALUES (?1, ?2, 0, 'http://127.0.0.1:9/' || ?1, '[\"*\"]', 'whsec_x', 0, '{}')",
            [id, acct],
        )
        .unwrap();
}

/// An event of `acct` with one due delivery per endpoint of it, due at `due_ms`.
fn event(w: &World, acct: &str, evt: &str, due_ms: i64) {
    w.db.0
        .execute(
            "INSERT INTO events (id, account_id, livemode, type, created, data) VALUES (?1, ?2, 0, 'payment.succeeded', 0, '{}')",
            [evt, acct],
        )
        .unwrap();
    w.db.0
        .execute(
            "INSERT INTO webhook_deliveries (id, account_id, livemode, endpoint_id, event_id, status, attempts, next_attempt_at, created_ms, created) \
             SELECT 'wd_' || ?1 || '_' || e.id, ?2, 0, e.id, ?1, 'pending', 0, ?3, ?3, 0 FROM webhook_endpoints e WHERE e.account_id = ?2",
            rusqlite::params![evt, acct, due_ms],
        )
        .unwrap();
}

#[test]
fn one_accounts_backlog_does_not_crowd_out_another_account_in_the_sweep() {
    let w = world();
    let now_ms = w.env.now.get() * 1000;
    for i in 0..16 {
        endpoint(&w, "acct_A", &format!("we_a{i:02}"));
    }
    // A's burst is older than B's event: oldest-first would give A every slot.
    for n in 0..10 {
        event(&w, "acct_A", &format!("evt_a{n}"), now_ms - 60_000 + n);
    }
    endpoint(&w, "acct_B", "we_b");
    event(&w, "acct_B", "evt_b", now_ms - 1_000);

    let t = Recorder::default();
    let r = pollster::block_on(runner::run(&w.db, &w.env, &t, Scope::AllDue, 100, 1.0)).unwrap();
    let sent = t.0.borrow().clone();
    assert!(
        sent.iter().any(|u| u.ends_with("we_b")),
        "B is in the first run: {sent:?}"
    );
    let a: Vec<_> = sent.iter().filter(|u| u.contains("we_a")).collect();
    assert_eq!(a.len(), PER_ACCOUNT, "A gets its share, no more: {sent:?}");
    for i in 0..16 {
        let n = a.iter().filter(|u| u.ends_with(&format!("we_a{i:02}"))).count();
        assert!(n <= PER_ENDPOINT, "endpoint {i}: {n}");
    }
    assert_eq!((r.attempted, r.succeeded), (PER_ACCOUNT + 1, PER_ACCOUNT + 1));
    // Recorded: B's delivery succeeded, A's untouched ones still pending and due.
    let status: String =
        w.db.0
            .query_row(
                "SELECT status FROM webhook_deliveries WHERE event_id = 'evt_b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
    assert_eq!(status, "succeeded");
    // The next runs work A's backlog off.
    let mut runs = 0;
    while pollster::block_on(runner::run(&w.db, &w.env, &t, Scope::AllDue, 100, 1.0))
        .unwrap()
        .attempted
        > 0
    {
        runs += 1;
        assert!(runs < 20);
    }
    let left: i64 =
        w.db.0
            .query_row(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )
            .unwrap();
    assert_eq!(left, 0);
    assert_eq!(t.0.borrow().len(), 161);
}

#[test]
fn the_fair_due_query_reads_through_the_due_index() {
    let w = world();
    let plan: Vec<String> =
        w.db.0
            .prepare(&format!("EXPLAIN QUERY PLAN {DUE_SQL}"))
            .unwrap()
            .query_map(rusqlite::params![0i64, 10i64], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let plan = plan.join("\n");
    // The due rows come from a range of the partial index; the events and endpoints are looked up
    // by key. (The SCANs left are of the subqueries' own rows.)
    assert!(plan.contains("SEARCH d USING INDEX webhook_deliveries_due"), "{plan}");
    assert!(plan.contains("SEARCH e USING INDEX"), "{plan}");
    assert!(plan.contains("SEARCH w USING INDEX"), "{plan}");
    for table in ["webhook_deliveries", "events", "webhook_endpoints", "e\n", "w\n", "d\n"] {
        assert!(!plan.contains(&format!("SCAN {table}")), "{table}: {plan}");
    }
}

#[test]
fn scheduled_steps_take_accounts_in_turn() {
    let w = world();
    let now = w.env.now.get();
    // Steps of a kind this version does not know: running one postpones it by RETRY_SECS, which
    // shows which ones a round took.
    for n in 0..10 {
        w.db.0
            .execute(
                "INSERT INTO scheduled_jobs (id, account_id, livemode, kind, object_id, due_at, created) VALUES (?1, 'acct_A', 0, 'zzz', ?1, ?2, 0)",
                rusqlite::params![format!("job_a{n}"), now - 100 + n],
            )
            .unwrap();
    }
    w.db.0
        .execute(
            "INSERT INTO scheduled_jobs (id, account_id, livemode, kind, object_id, due_at, created) VALUES ('job_b', 'acct_B', 0, 'zzz', 'x', ?1, 0)",
            [now - 1],
        )
        .unwrap();
    let r = pollster::block_on(jobs::run_due(&w.db, &w.env, jobs::Scope::AllDue, 3)).unwrap();
    assert_eq!(r.failed, 3);
    let taken: Vec<String> =
        w.db.0
            .prepare("SELECT id FROM scheduled_jobs WHERE due_at > ?1 ORDER BY id")
            .unwrap()
            // Postponed by 60 s from at most 100 s ago; the others are still 91 s or more overdue.
            .query_map([now - 50], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert_eq!(taken, ["job_a0", "job_a1", "job_b"], "A's two oldest and B's");
}

#[test]
fn attempts_other_runs_have_under_way_count_against_the_share() {
    let w = world();
    let now_ms = w.env.now.get() * 1000;
    for i in 0..4 {
        endpoint(&w, "acct_A", &format!("we_a{i}"));
    }
    for n in 0..8 {
        event(&w, "acct_A", &format!("evt_a{n}"), now_ms - 60_000 + n);
    }
    endpoint(&w, "acct_B", "we_b");
    event(&w, "acct_B", "evt_b", now_ms - 1_000);
    // Another isolate's sweep leased A's 16 oldest and is still waiting on them.
    let lease = now_ms + 30_000;
    w.db.0
        .execute(
            "UPDATE webhook_deliveries SET next_attempt_at = ?1, leased_until = ?1 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE account_id = 'acct_A' ORDER BY next_attempt_at, seq LIMIT 16)",
            [lease],
        )
        .unwrap();
    let t = Recorder::default();
    pollster::block_on(runner::run(&w.db, &w.env, &t, Scope::AllDue, 100, 1.0)).unwrap();
    assert_eq!(
        *t.0.borrow(),
        ["http://127.0.0.1:9/we_b"],
        "A is at its cap: only B is sent"
    );
    // Once those leases have run out (their sweep died), A's share is free again.
    w.env.now.set(w.env.now.get() + 31);
    let t = Recorder::default();
    let r = pollster::block_on(runner::run(&w.db, &w.env, &t, Scope::AllDue, 100, 1.0)).unwrap();
    assert_eq!(r.attempted, PER_ACCOUNT, "{:?}", t.0.borrow());
    // Recording an answer clears the lease mark.
    let marked: i64 =
        w.db.0
            .query_row(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded' AND leased_until IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
    assert_eq!(marked, 0);
}

#[test]
fn the_in_flight_query_reads_through_its_index() {
    let w = world();
    let plan: String =
        w.db.0
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                vinr_shared::webhooks::delivery::IN_FLIGHT_SQL
            ))
            .unwrap()
            .query_map([0i64], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("\n");
    assert!(plan.contains("USING INDEX webhook_deliveries_leased"), "{plan}");
}

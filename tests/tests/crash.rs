//! Crash safety (issue 14, docs/security.md "Crash safety"): clients create, capture and refund
//! payments concurrently, with idempotency keys, while `vinr dev` is killed with SIGKILL at random
//! moments and restarted on the same data directory. Afterwards:
//!
//! - every acknowledged answer replays identically (same ids, same body) under its key;
//! - a request whose answer was lost either replays a committed answer or runs now, once; or its
//!   key is still claimed by the killed request (409 `idempotency_key_in_use`), and then nothing
//!   of it was committed;
//! - no idempotency key produced two payments or two refunds;
//! - every acknowledged object is there with the status and amounts acknowledged (as later
//!   acknowledged requests changed them);
//! - the money agrees: each captured payment and each refund has exactly its one transaction,
//!   what left the cardholders equals the merchant's nets plus the fees (the ledger sums to
//!   zero), and the balance equals the sum of the nets.
//!
//! vinr dev only: the suite cannot kill Cloudflare's runtime the way a machine dies (D1 commits
//! are the platform's), so on any other runtime this test says so and does nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vinr_conformance::*;

const ROUNDS: usize = 5;
const CLIENTS: usize = 6;
const CURRENCY: &str = "EUR";

/// One POST a client sent with an Idempotency-Key, and its answer if one came back.
#[derive(Clone, Debug)]
struct Sent {
    path: String,
    key: String,
    form: String,
    /// None: the connection died before the answer (the server was killed).
    answer: Option<(u16, Value)>,
}

impl Sent {
    fn req(&self, rt: &Runtime) -> Req {
        rt.post(&self.path).idem(&self.key).form(&self.form)
    }
}

/// What one client did to one payment: its create, then a capture (manual payments) and a
/// partial refund, each sent only once the one before was answered with 200.
#[derive(Clone, Debug, Default)]
struct Job {
    manual: bool,
    amount: i64,
    refund: i64,
    create: Option<Sent>,
    capture: Option<Sent>,
    refund_sent: Option<Sent>,
}

impl Job {
    fn sent(&self) -> [&Option<Sent>; 3] {
        [&self.create, &self.capture, &self.refund_sent]
    }

    /// Did a request of this job go unanswered (the server was killed under it)?
    fn cut(&self) -> bool {
        self.sent().into_iter().flatten().any(|s| s.answer.is_none())
    }
}

/// A small xorshift generator: the kill moments and amounts vary from run to run (the seed is
/// printed, so a failing run can be told apart).
struct Rng(AtomicU64);

impl Rng {
    fn next(&self, below: u64) -> u64 {
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.store(x, Ordering::Relaxed);
        x % below
    }
}

fn post(base: &str, key: &str, path: &str, idem: &str, form: String) -> Sent {
    let answer = Req::new(base, "POST", path)
        .key(key)
        .idem(idem)
        .form(&form)
        .send_raw()
        .ok()
        .map(|r| (r.status, serde_json::from_slice(&r.body).unwrap_or(Value::Null)));
    Sent {
        path: path.into(),
        key: idem.into(),
        form,
        answer,
    }
}

fn ok_id(s: &Option<Sent>) -> Option<String> {
    match s.as_ref().and_then(|s| s.answer.as_ref()) {
        Some((200, v)) => v["id"].as_str().map(str::to_string),
        _ => None,
    }
}

/// One job against `base` until an answer is missing (the server died) or it is done.
fn run_job(base: &str, sk: &str, client: usize, n: usize, rng: &Rng) -> Job {
    let amount = 1_000 + rng.next(9_000) as i64;
    let mut job = Job {
        manual: n.is_multiple_of(2),
        amount,
        refund: 100 + rng.next((amount / 2) as u64) as i64,
        ..Job::default()
    };
    let tag = uniq(&format!("crash-{client}-{n}"));
    let capture_method = if job.manual { "manual" } else { "automatic" };
    let create_key = format!("{tag}-create");
    job.create = Some(post(
        base,
        sk,
        "/v1/payments",
        &create_key,
        format!(
            "amount={amount}&currency={CURRENCY}&payment_method=pm_card_visa&capture_method={capture_method}&metadata[idem]={create_key}"
        ),
    ));
    let Some(pay) = ok_id(&job.create) else { return job };
    if job.manual {
        job.capture = Some(post(
            base,
            sk,
            &format!("/v1/payments/{pay}/capture"),
            &format!("{tag}-capture"),
            String::new(),
        ));
        if ok_id(&job.capture).is_none() {
            return job;
        }
    }
    let refund_key = format!("{tag}-refund");
    job.refund_sent = Some(post(
        base,
        sk,
        "/v1/refunds",
        &refund_key,
        format!("payment={pay}&amount={}&metadata[idem]={refund_key}", job.refund),
    ));
    job
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged_and_does_nothing_twice() {
    let which = std::env::var("VINR_TEST_RUNTIME").unwrap_or_else(|_| "vinr".into());
    if which != "vinr" {
        eprintln!("crash.rs: vinr dev only (VINR_TEST_RUNTIME={which}); nothing to do");
        return;
    }
    let started = Instant::now();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash.rs: seed {seed}");
    let rng = Rng(AtomicU64::new(seed));
    let mut rt = start();
    let jobs: Mutex<Vec<Job>> = Mutex::new(Vec::new());

    for round in 0..ROUNDS {
        let base = rt.base_url.clone();
        let sk = rt.secret_key.clone();
        let stop = AtomicBool::new(false);
        let before = jobs.lock().unwrap().len();
        std::thread::scope(|s| {
            for client in 0..CLIENTS {
                let (base, sk, stop, jobs, rng) = (&base, &sk, &stop, &jobs, &rng);
                s.spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let job = run_job(base, sk, client, round * 10_000 + n, rng);
                        let cut = job.cut();
                        jobs.lock().unwrap().push(job);
                        n += 1;
                        if cut {
                            // The server is gone: this client's next request waits for the restart.
                            break;
                        }
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(300 + rng.next(900)));
            rt.kill_hard().expect("vinr dev can be killed");
            stop.store(true, Ordering::SeqCst);
        });
        let all = jobs.lock().unwrap();
        let cut = all[before..].iter().filter(|j| j.cut()).count();
        eprintln!(
            "crash.rs: round {round}: {} jobs, {cut} cut short by the kill",
            all.len() - before
        );
        drop(all);
        rt.restart();
    }
    let jobs = jobs.into_inner().unwrap();
    assert!(
        jobs.iter().filter(|j| ok_id(&j.create).is_some()).count() >= ROUNDS * CLIENTS,
        "too little was acknowledged to test anything (log: {:?})",
        rt.log_path()
    );

    // 1. Every request again, under its key, as a client retrying would.
    //    Acknowledged: the same answer, replayed. Lost: a committed answer, or run now, or still
    //    claimed by the killed request (409), in which case it committed nothing (checked below).
    let mut final_answers: Vec<(Job, [Option<Value>; 3])> = Vec::new();
    // Of the lost answers: committed before the kill (replayed), run only now, still claimed.
    let (mut committed, mut ran_now, mut claimed) = (0, 0, 0);
    for job in &jobs {
        let mut got: [Option<Value>; 3] = [None, None, None];
        for (i, sent) in job.sent().into_iter().enumerate() {
            let Some(sent) = sent else { continue };
            let r = sent.req(&rt).send();
            match &sent.answer {
                Some((status, body)) => {
                    assert_eq!(*status, 200, "the workload is valid: {body}");
                    assert!(r.replayed(), "an acknowledged request replays{}", r.show());
                    assert_eq!(&r.ok(), body, "the replay is the acknowledged answer{}", r.show());
                    got[i] = Some(body.clone());
                }
                None if r.status == 409 => {
                    r.err(409, "idempotency_key_in_use");
                    claimed += 1;
                }
                None => {
                    if r.replayed() {
                        committed += 1;
                    } else {
                        ran_now += 1;
                    }
                    got[i] = Some(r.ok());
                }
            }
        }
        final_answers.push((job.clone(), got));
    }

    // 2. No key made two objects; the objects are what was answered.
    let payments = list_all(&rt, "/v1/payments");
    let refunds = list_all(&rt, "/v1/refunds");
    let by_key = |objs: &[Value]| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for o in objs {
            if let Some(k) = o["metadata"]["idem"].as_str() {
                m.entry(k.to_string()).or_default().push(id_of(o));
            }
        }
        m
    };
    let (pay_keys, refund_keys) = (by_key(&payments), by_key(&refunds));
    for (k, ids) in pay_keys.iter().chain(refund_keys.iter()) {
        assert_eq!(ids.len(), 1, "idempotency key {k} made {ids:?}");
    }
    let mut want_received = 0;
    let mut want_refunded = 0;
    let mut want_fees = 0;
    let mut txns_of_objects: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (job, [created, captured, refunded]) in &final_answers {
        let create_key = &job.create.as_ref().expect("every job creates").key;
        let Some(created) = created else {
            assert!(
                !pay_keys.contains_key(create_key),
                "a create still claimed by the killed request committed nothing: {:?}",
                pay_keys.get(create_key)
            );
            continue;
        };
        let pay_id = id_of(created);
        assert_eq!(pay_keys.get(create_key), Some(&vec![pay_id.clone()]), "{created}");
        let p = get_payment(&rt, &pay_id);
        assert_eq!(
            (p["amount"].as_i64(), &p["currency"]),
            (Some(job.amount), &created["currency"]),
            "{p}"
        );
        let captured_ok = !job.manual || captured.is_some();
        let status = if captured_ok { "succeeded" } else { "requires_capture" };
        assert_eq!(
            p["status"], status,
            "acknowledged: {created}, capture {captured:?}; now {p}"
        );
        if let Some(c) = captured {
            assert_eq!((&c["id"], &c["status"]), (&p["id"], &p["status"]), "{c}");
        }
        let received = if captured_ok { job.amount } else { 0 };
        assert_eq!(p["amount_received"], received, "{p}");
        if received > 0 {
            let t = p["balance_transaction"]
                .as_str()
                .unwrap_or_else(|| panic!("no transaction: {p}"));
            txns_of_objects.insert(t.to_string(), (received, fee_for(received)));
            want_received += received;
            want_fees += fee_for(received);
        }
        let refund_key = job.refund_sent.as_ref().map(|s| s.key.clone());
        let refund_ids: Vec<String> = match (refunded, &refund_key) {
            (Some(r), Some(k)) => {
                let re = rt.get(&format!("/v1/refunds/{}", id_of(r))).send().ok();
                assert_eq!(
                    (&re["amount"], &re["payment"]),
                    (&json!(job.refund), &json!(pay_id)),
                    "{re}"
                );
                assert_eq!(refund_keys.get(k), Some(&vec![id_of(r)]), "{re}");
                if r["status"] == "succeeded" {
                    assert_eq!(re["status"], "succeeded", "acknowledged {r}, now {re}");
                }
                assert_ne!(re["status"], "failed", "pm_card_visa refunds do not fail: {re}");
                let t = re["balance_transaction"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no transaction: {re}"));
                txns_of_objects.insert(t.to_string(), (-job.refund, 0));
                want_refunded += job.refund;
                vec![id_of(r)]
            }
            (None, Some(k)) => {
                assert!(!refund_keys.contains_key(k), "a claimed refund committed nothing: {k}");
                vec![]
            }
            _ => vec![],
        };
        assert_eq!(p["refunds"], json!(refund_ids), "{p}");
        assert_eq!(p["amount_refunded"], refund_ids.len() as i64 * job.refund, "{p}");
    }
    assert_eq!(
        payments.len(),
        pay_keys.len(),
        "every payment is one of the clients' (no object without its key)"
    );

    // 3. The money: one transaction per captured payment and per refund, and nothing else;
    //    cardholders' side = nets + fees (the ledger sums to zero); balance = sum of nets.
    let txns = all_transactions(&rt);
    let listed: BTreeSet<String> = txns.iter().map(id_of).collect();
    assert_eq!(listed.len(), txns.len(), "each transaction listed once");
    assert_eq!(
        listed,
        txns_of_objects.keys().cloned().collect::<BTreeSet<_>>(),
        "the transactions are exactly those of the captured payments and the refunds"
    );
    let (mut amounts, mut fees, mut nets) = (0, 0, 0);
    for t in &txns {
        let (amount, fee) = txns_of_objects[&id_of(t)];
        assert_eq!((int(t, "amount"), int(t, "fee")), (amount, fee), "{t}");
        assert_eq!(int(t, "net"), int(t, "amount") - int(t, "fee"), "{t}");
        assert!(
            t["currency"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(CURRENCY)),
            "{t}"
        );
        amounts += int(t, "amount");
        fees += int(t, "fee");
        nets += int(t, "net");
    }
    assert_eq!(
        amounts,
        want_received - want_refunded,
        "from the cardholders = into the merchant's balance and fees"
    );
    assert_eq!((fees, nets + fees), (want_fees, amounts), "the lines sum to zero");
    let (pending, available) = balance(&rt, CURRENCY);
    assert_eq!(pending + available, nets, "the balance is the sum of the nets");
    eprintln!(
        "crash.rs: answers lost to a kill: {committed} had committed, {ran_now} ran on retry, {claimed} still claimed"
    );
    eprintln!(
        "crash.rs: {} jobs, {} payments, {} refunds, {} transactions checked in {:.1} s",
        jobs.len(),
        payments.len(),
        refunds.len(),
        txns.len(),
        started.elapsed().as_secs_f64()
    );
}

//! Randomized property tests of the money: thousands of random API steps (payments, captures,
//! cancels, refunds, disputes, payouts, payout schedules, clock advances and scheduler rounds)
//! through the real pipeline over rusqlite with the real schema. After every step the ledger,
//! the balances, the balance transactions and `GET /v1/balance` must agree with each other and
//! with the test's own model of what it did and what the API answered (docs/money.md).
//!
//! Deterministic: a fixed xorshift per seed. On a failure the seed and its step list are printed.
//! `MONEY_PROPS_SEED=n` runs one seed; `MONEY_PROPS_SEEDS` and `MONEY_PROPS_STEPS` change the
//! default 40 seeds x 150 steps.

mod common;

use common::{Rng, World, world_at};
use serde_json::Value;
use std::collections::BTreeMap;
use vinr_shared::jobs;

const CURRENCIES: [&str; 3] = ["EUR", "USD", "JPY"];
const DAY: i64 = 86_400;
const DISPUTE_FEE: i64 = 1500;

/// The plan's capture fee, computed independently: round-half-up of 2.9 %, plus 30, at most the
/// captured amount.
fn capture_fee(a: i64) -> i64 {
    ((a * 290 + 5_000) / 10_000 + 30).min(a)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Card {
    Visa,
    RefundFail,
    Dispute,
    Declined,
}

impl Card {
    fn pm(self) -> &'static str {
        match self {
            Card::Visa => "pm_card_visa",
            Card::RefundFail => "pm_card_refund_fail",
            Card::Dispute => "pm_card_dispute",
            Card::Declined => "pm_card_declined",
        }
    }
}

#[derive(Debug)]
struct Pay {
    id: String,
    currency: String,
    card: Card,
    status: String,
    amount: i64,
    received: i64,
    /// Succeeded and pending refunds.
    refunded: i64,
    dispute: Option<String>,
}

#[derive(Debug)]
struct Refund {
    id: String,
    payment: String,
    amount: i64,
    status: String,
}

#[derive(Debug)]
struct Dispute {
    id: String,
    currency: String,
    amount: i64,
    status: String,
    due_by: i64,
    /// The evidence text saved last (what the sandbox issuer decides on).
    text: Option<String>,
    submitted_at: Option<i64>,
}

#[derive(Debug)]
struct Payout {
    id: String,
    currency: String,
    amount: i64,
    status: String,
    destination: String,
    arrival_date: i64,
}

macro_rules! ensure {
    ($c:expr, $($f:tt)+) => {
        if !$c {
            return Err(format!($($f)+));
        }
    };
}

type R<T = ()> = Result<T, String>;

struct Run {
    w: World,
    rng: Rng,
    log: Vec<String>,
    /// Expected SUM(net) of the balance transactions per currency, from the model.
    total: BTreeMap<String, i64>,
    pays: Vec<Pay>,
    refunds: Vec<Refund>,
    disputes: Vec<Dispute>,
    payouts: Vec<Payout>,
    /// The sandbox clock offset the API last reported.
    offset: i64,
    interval: String,
    /// The schedule was `manual` during the whole time since the last sync.
    manual_throughout: bool,
    /// Running merchant_available per currency over ledger_entries up to `avail_seq`.
    avail_running: BTreeMap<String, i64>,
    avail_seq: i64,
    requests: usize,
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

impl Run {
    fn new(seed: u64) -> Run {
        // Vary the time of day the run starts at, so batches fall between different steps.
        let start = 1_795_000_000 + (seed as i64 * 7_919) % DAY;
        Run {
            w: world_at(start, seed.wrapping_add(11)),
            rng: Rng::new(seed + 1),
            log: Vec::new(),
            total: CURRENCIES.iter().map(|c| (c.to_string(), 0)).collect(),
            pays: Vec::new(),
            refunds: Vec::new(),
            disputes: Vec::new(),
            payouts: Vec::new(),
            offset: 0,
            interval: "daily".into(),
            manual_throughout: false,
            avail_running: BTreeMap::new(),
            avail_seq: 0,
            requests: 0,
        }
    }

    fn clock(&self) -> i64 {
        self.w.env.now.get() + self.offset
    }

    fn note(&mut self, line: String) {
        self.log.push(format!("  {:>3}. {line}", self.log.len() + 1));
    }

    /// One API call; any 5xx fails the run.
    fn call(&mut self, method: &str, path: &str, body: &str) -> R<(u16, Value)> {
        self.requests += 1;
        let (status, v, _) = self.w.call(method, path, &self.w.sk, body, &[]);
        ensure!(status < 500, "{method} {path} {body} -> {status} {v}");
        Ok((status, v))
    }

    fn post(&mut self, path: &str, body: &str) -> R<(u16, Value)> {
        self.call("POST", path, body)
    }

    fn get(&mut self, path: &str) -> R<Value> {
        let (status, v) = self.call("GET", path, "")?;
        ensure!(status == 200, "GET {path} -> {status} {v}");
        Ok(v)
    }

    fn list_all(&mut self, path: &str) -> R<Vec<Value>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let q = match &after {
                Some(a) => format!("{path}?limit=100&starting_after={a}"),
                None => format!("{path}?limit=100"),
            };
            let v = self.get(&q)?;
            let data = v["data"].as_array().cloned().unwrap_or_default();
            after = data.last().map(|x| s(&x["id"]));
            out.extend(data);
            if v["has_more"] != true {
                return Ok(out);
            }
        }
    }

    fn add_total(&mut self, currency: &str, delta: i64) {
        *self.total.entry(currency.to_string()).or_insert(0) += delta;
    }

    fn expect_error(&self, what: &str, got: &(u16, Value), status: u16, want: &str) -> R {
        ensure!(
            got.0 == status && code(&got.1) == want,
            "{what}: expected {status} {want}, got {} {}",
            got.0,
            got.1
        );
        Ok(())
    }

    // ---- steps ----

    fn step(&mut self) -> R {
        match self.rng.below(100) {
            0..=21 => self.create_payment(),
            22..=29 => self.capture(),
            30..=32 => self.cancel(),
            33..=50 => self.refund(),
            51..=57 => self.dispute_update(),
            58..=60 => self.dispute_close(),
            61..=71 => self.payout(),
            72..=74 => self.schedule(),
            75..=89 => self.advance(),
            _ => self.scheduler_round(),
        }
    }

    fn create_payment(&mut self) -> R {
        let currency = self.rng.pick(&CURRENCIES).to_string();
        let amount = match self.rng.below(10) {
            0 => self.rng.range(50, 200),
            _ if currency == "JPY" => self.rng.range(50, 100_000),
            _ => self.rng.range(50, 500_000),
        };
        let card = *self.rng.pick(&[
            Card::Visa,
            Card::Visa,
            Card::RefundFail,
            Card::RefundFail,
            Card::Dispute,
            Card::Dispute,
            Card::Declined,
        ]);
        let manual = self.rng.chance(35);
        let body = format!(
            "amount={amount}&currency={currency}&payment_method={}&capture_method={}",
            card.pm(),
            if manual { "manual" } else { "automatic" }
        );
        let (st, p) = self.post("/v1/payments", &body)?;
        let status = s(&p["status"]);
        self.note(format!(
            "create payment {} {amount} {currency} {:?} {} -> {st} {status}",
            s(&p["id"]),
            card,
            if manual { "manual" } else { "auto" }
        ));
        if card == Card::Declined {
            ensure!(
                (st == 200 || st == 402) && status == "failed",
                "declined card: {st} {p}"
            );
            ensure!(
                p["balance_transaction"].is_null(),
                "a declined payment has no transaction: {p}"
            );
        } else {
            ensure!(st == 200, "create payment: {st} {p}");
            let want = if manual { "requires_capture" } else { "succeeded" };
            ensure!(status == want, "create payment: expected {want}: {p}");
        }
        let id = s(&p["id"]);
        if id.is_empty() {
            return Ok(());
        }
        let mut pay = Pay {
            id,
            currency: currency.clone(),
            card,
            status: status.clone(),
            amount,
            received: 0,
            refunded: 0,
            dispute: None,
        };
        if status == "succeeded" {
            ensure!(p["amount_received"] == amount, "amount_received {p}");
            pay.received = amount;
            self.add_total(&currency, amount - capture_fee(amount));
            self.check_payment_txn(&p, amount)?;
        }
        self.pays.push(pay);
        Ok(())
    }

    /// The capture's transaction: amount, the plan's fee, net.
    fn check_payment_txn(&mut self, p: &Value, amount: i64) -> R {
        let txn = s(&p["balance_transaction"]);
        ensure!(txn.starts_with("txn_"), "a captured payment has its transaction: {p}");
        let t = self.get(&format!("/v1/transactions/{txn}"))?;
        let fee = capture_fee(amount);
        ensure!(
            t["amount"] == amount && t["fee"] == fee && t["net"] == amount - fee && t["source_type"] == "payment",
            "capture transaction: expected amount {amount} fee {fee}: {t}"
        );
        Ok(())
    }

    fn pick_pay(&mut self, prefer: impl Fn(&Pay) -> bool, percent: u64) -> Option<usize> {
        if self.pays.is_empty() {
            return None;
        }
        let preferred: Vec<usize> = (0..self.pays.len()).filter(|&i| prefer(&self.pays[i])).collect();
        if !preferred.is_empty() && self.rng.chance(percent) {
            return Some(*self.rng.pick(&preferred));
        }
        Some(self.rng.below(self.pays.len() as u64) as usize)
    }

    fn capture(&mut self) -> R {
        let Some(i) = self.pick_pay(|p| p.status == "requires_capture", 85) else {
            return self.create_payment();
        };
        let (id, amount, status, currency) = (
            self.pays[i].id.clone(),
            self.pays[i].amount,
            self.pays[i].status.clone(),
            self.pays[i].currency.clone(),
        );
        let choice = self.rng.below(10);
        let to_capture = match choice {
            0..=3 => None,
            4..=7 => Some(self.rng.range(1, amount)),
            8 => Some(amount + self.rng.range(1, 1000)),
            _ => Some(0),
        };
        let body = to_capture.map(|a| format!("amount_to_capture={a}")).unwrap_or_default();
        let got = self.post(&format!("/v1/payments/{id}/capture"), &body)?;
        self.note(format!(
            "capture {id} ({status}, {amount} {currency}) {body} -> {} {}",
            got.0,
            if got.0 == 200 {
                s(&got.1["status"])
            } else {
                code(&got.1).to_string()
            }
        ));
        if status != "requires_capture" {
            return self.expect_error("capture", &got, 400, "payment_invalid_state");
        }
        match to_capture {
            Some(a) if a > amount => return self.expect_error("capture", &got, 400, "amount_too_large"),
            Some(a) if a < 1 => return self.expect_error("capture", &got, 400, "amount_too_small"),
            _ => {}
        }
        let captured = to_capture.unwrap_or(amount);
        let p = got.1;
        ensure!(
            got.0 == 200 && p["status"] == "succeeded" && p["amount_received"] == captured,
            "capture of {captured}: {p}"
        );
        self.pays[i].status = "succeeded".into();
        self.pays[i].received = captured;
        self.add_total(&currency, captured - capture_fee(captured));
        self.check_payment_txn(&p, captured)
    }

    fn cancel(&mut self) -> R {
        let Some(i) = self.pick_pay(|p| p.status == "requires_capture", 70) else {
            return self.create_payment();
        };
        let (id, status) = (self.pays[i].id.clone(), self.pays[i].status.clone());
        let got = self.post(&format!("/v1/payments/{id}/cancel"), "")?;
        self.note(format!("cancel {id} ({status}) -> {} {}", got.0, code(&got.1)));
        if status != "requires_capture" {
            return self.expect_error("cancel", &got, 400, "payment_invalid_state");
        }
        ensure!(
            got.0 == 200 && got.1["status"] == "canceled" && got.1["balance_transaction"].is_null(),
            "cancel: {got:?}"
        );
        self.pays[i].status = "canceled".into();
        Ok(())
    }

    fn dispute_status(&self, id: &Option<String>) -> Option<&str> {
        let id = id.as_ref()?;
        self.disputes.iter().find(|d| &d.id == id).map(|d| d.status.as_str())
    }

    fn refund(&mut self) -> R {
        let Some(i) = self.pick_pay(|p| p.status == "succeeded" && p.received > p.refunded, 85) else {
            return self.create_payment();
        };
        let p = &self.pays[i];
        let (id, status, currency, card) = (p.id.clone(), p.status.clone(), p.currency.clone(), p.card);
        let refundable = p.received - p.refunded;
        let dispute = self.dispute_status(&p.dispute).map(str::to_string);
        let amount = match self.rng.below(10) {
            0..=2 => None,
            3..=6 => Some(self.rng.range(1, refundable.max(1))),
            7 => Some(refundable),
            8 => Some(refundable.max(0) + self.rng.range(1, 500)),
            _ => Some(*self.rng.pick(&[0, -1, -500])),
        };
        let mut body = format!("payment={id}");
        if let Some(a) = amount {
            body.push_str(&format!("&amount={a}"));
        }
        if self.rng.chance(30) {
            body.push_str("&reason=requested_by_customer");
        }
        let got = self.post("/v1/refunds", &body)?;
        self.note(format!(
            "refund {body} ({status}, refundable {refundable} {currency}, dispute {dispute:?}) -> {} {}",
            got.0,
            if got.0 == 200 {
                format!("{} {}", s(&got.1["id"]), s(&got.1["status"]))
            } else {
                code(&got.1).to_string()
            }
        ));
        if status != "succeeded" {
            return self.expect_error("refund", &got, 400, "payment_invalid_state");
        }
        if dispute.is_some_and(|d| d != "won") {
            return self.expect_error("refund", &got, 400, "payment_disputed");
        }
        if refundable <= 0 {
            return self.expect_error("refund", &got, 400, "payment_fully_refunded");
        }
        match amount {
            Some(a) if a < 1 => return self.expect_error("refund", &got, 400, "amount_too_small"),
            Some(a) if a > refundable => return self.expect_error("refund", &got, 400, "amount_too_large"),
            _ => {}
        }
        let amount = amount.unwrap_or(refundable);
        let r = got.1;
        let want = if card == Card::RefundFail {
            "pending"
        } else {
            "succeeded"
        };
        ensure!(
            got.0 == 200 && r["amount"] == amount && r["status"] == want && r["currency"] == currency.as_str(),
            "refund of {amount}: expected {want}: {r}"
        );
        let t = self.get(&format!("/v1/transactions/{}", s(&r["balance_transaction"])))?;
        ensure!(
            t["amount"] == -amount && t["fee"] == 0 && t["source_type"] == "refund",
            "refund transaction: {t}"
        );
        self.pays[i].refunded += amount;
        self.add_total(&currency, -amount);
        self.refunds.push(Refund {
            id: s(&r["id"]),
            payment: id.clone(),
            amount,
            status: want.into(),
        });
        let p = self.get(&format!("/v1/payments/{id}"))?;
        ensure!(
            p["amount_refunded"] == self.pays[i].refunded,
            "payment amount_refunded: expected {}: {p}",
            self.pays[i].refunded
        );
        Ok(())
    }

    fn pick_dispute(&mut self) -> Option<usize> {
        if self.disputes.is_empty() {
            return None;
        }
        let open: Vec<usize> = (0..self.disputes.len())
            .filter(|&i| self.disputes[i].status == "needs_response")
            .collect();
        if !open.is_empty() && self.rng.chance(80) {
            return Some(*self.rng.pick(&open));
        }
        Some(self.rng.below(self.disputes.len() as u64) as usize)
    }

    fn dispute_update(&mut self) -> R {
        let Some(i) = self.pick_dispute() else {
            return self.create_payment();
        };
        let (id, status) = (self.disputes[i].id.clone(), self.disputes[i].status.clone());
        let text = *self
            .rng
            .pick(&["winning_evidence", "losing_evidence", "receipt attached"]);
        let submit = match self.rng.below(4) {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
        let mut body = format!(
            "evidence[uncategorized_text]={}&evidence[product_description]=widget",
            text.replace(' ', "+")
        );
        if let Some(b) = submit {
            body.push_str(&format!("&submit={b}"));
        }
        let got = self.post(&format!("/v1/disputes/{id}"), &body)?;
        self.note(format!(
            "dispute update {id} ({status}) {body} -> {} {}",
            got.0,
            if got.0 == 200 {
                s(&got.1["status"])
            } else {
                code(&got.1).to_string()
            }
        ));
        if status != "needs_response" {
            return self.expect_error("dispute update", &got, 400, "dispute_invalid_state");
        }
        let submit = submit.unwrap_or(true);
        let want = if submit { "under_review" } else { "needs_response" };
        ensure!(
            got.0 == 200 && got.1["status"] == want && got.1["evidence"]["uncategorized_text"] == text,
            "dispute update: expected {want}: {}",
            got.1
        );
        let now = self.clock();
        let d = &mut self.disputes[i];
        d.text = Some(text.into());
        d.status = want.into();
        if submit {
            d.submitted_at = Some(now);
        }
        Ok(())
    }

    fn dispute_close(&mut self) -> R {
        let Some(i) = self.pick_dispute() else {
            return self.create_payment();
        };
        let (id, status) = (self.disputes[i].id.clone(), self.disputes[i].status.clone());
        let got = self.post(&format!("/v1/disputes/{id}/close"), "")?;
        self.note(format!(
            "dispute close {id} ({status}) -> {} {}",
            got.0,
            if got.0 == 200 {
                s(&got.1["status"])
            } else {
                code(&got.1).to_string()
            }
        ));
        if status != "needs_response" {
            return self.expect_error("dispute close", &got, 400, "dispute_invalid_state");
        }
        ensure!(got.0 == 200 && got.1["status"] == "lost", "dispute close: {}", got.1);
        self.disputes[i].status = "lost".into();
        Ok(())
    }

    fn available(&mut self, currency: &str) -> R<i64> {
        let b = self.get(&format!("/v1/balance?currency={currency}"))?;
        Ok(b["balances"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|x| x["available"].as_i64())
            .unwrap_or(0))
    }

    fn payout(&mut self) -> R {
        let currency = self.rng.pick(&CURRENCIES).to_string();
        let available = self.available(&currency)?;
        let amount = match self.rng.below(20) {
            0..=4 => None,
            5..=11 => Some(self.rng.range(1, available.max(1))),
            12..=13 => Some(available),
            14..=18 => Some(available.max(0) + self.rng.range(1, 10_000)),
            _ => Some(*self.rng.pick(&[0, -1])),
        };
        let destination = if self.rng.chance(30) {
            "ba_test_failure"
        } else {
            "ba_test_success"
        };
        let mut body = format!("currency={currency}&destination={destination}");
        if let Some(a) = amount {
            body.push_str(&format!("&amount={a}"));
        }
        let got = self.post("/v1/payouts", &body)?;
        self.note(format!(
            "payout {body} (available {available}) -> {} {}",
            got.0,
            if got.0 == 200 {
                format!("{} {}", s(&got.1["id"]), s(&got.1["status"]))
            } else {
                code(&got.1).to_string()
            }
        ));
        if amount.is_some_and(|a| a < 1) {
            return self.expect_error("payout", &got, 400, "amount_too_small");
        }
        let amount = amount.unwrap_or(available);
        if amount > available || amount < 1 {
            return self.expect_error("payout", &got, 400, "balance_insufficient");
        }
        let po = got.1;
        ensure!(
            got.0 == 200
                && po["amount"] == amount
                && po["status"] == "pending"
                && po["automatic"] == false
                && po["destination"] == destination,
            "payout of {amount}: {po}"
        );
        let t = self.get(&format!("/v1/transactions/{}", s(&po["balance_transaction"])))?;
        ensure!(
            t["amount"] == -amount && t["fee"] == 0 && t["source_type"] == "payout" && t["payout_id"] == po["id"],
            "payout transaction: {t}"
        );
        self.add_total(&currency, -amount);
        self.payouts.push(Payout {
            id: s(&po["id"]),
            currency: currency.clone(),
            amount,
            status: "pending".into(),
            destination: destination.into(),
            arrival_date: po["arrival_date"].as_i64().unwrap_or(0),
        });
        let after = self.available(&currency)?;
        ensure!(
            after == available - amount && after >= 0,
            "available after a payout of {amount} from {available}: {after}"
        );
        Ok(())
    }

    fn schedule(&mut self) -> R {
        let interval = self.rng.pick(&["manual", "daily", "weekly", "monthly"]).to_string();
        let (st, v) = self.post("/v1/payouts/schedule", &format!("interval={interval}"))?;
        self.note(format!("payout schedule {interval} -> {st}"));
        ensure!(st == 200 && v["interval"] == interval.as_str(), "schedule: {st} {v}");
        let got = self.get("/v1/payouts/schedule")?;
        ensure!(got["interval"] == interval.as_str(), "schedule read back: {got}");
        if interval != "manual" {
            self.manual_throughout = false;
        }
        self.interval = interval;
        Ok(())
    }

    fn advance(&mut self) -> R {
        let seconds = match self.rng.below(10) {
            0..=3 => self.rng.range(1, 3_600),
            4..=6 => self.rng.range(3_600, DAY),
            _ => self.rng.range(DAY, 10 * DAY),
        };
        let (st, v) = self.post("/v1/test_helpers/clock/advance", &format!("seconds={seconds}"))?;
        self.note(format!("advance {seconds} s -> {st} steps_run {}", v["steps_run"]));
        ensure!(
            st == 200 && v["offset"] == self.offset + seconds,
            "advance: expected offset {}: {st} {v}",
            self.offset + seconds
        );
        self.offset += seconds;
        ensure!(
            v["now"] == self.clock(),
            "advance: now {} != {}",
            v["now"],
            self.clock()
        );
        let c = self.get("/v1/test_helpers/clock")?;
        ensure!(c["now"] == self.clock() && c["offset"] == self.offset, "clock: {c}");
        self.sync()
    }

    /// What `vinr dev`'s dispatcher and the Worker's cron do: every account's due steps, until
    /// none is left. Sometimes real time passes first.
    fn scheduler_round(&mut self) -> R {
        let passed = if self.rng.chance(50) {
            self.rng.range(1, 3 * DAY)
        } else {
            0
        };
        self.w.env.now.set(self.w.env.now.get() + passed);
        let mut ran = 0;
        for _ in 0..1000 {
            let r = pollster::block_on(jobs::run_due(&self.w.db, &self.w.env, jobs::Scope::AllDue, 200))
                .map_err(|e| format!("run_due: {e:?}"))?;
            ensure!(
                r.failed == 0,
                "run_due: {} step(s) could not be decided (after {ran} ran)",
                r.failed
            );
            ran += r.ran;
            if r.ran == 0 {
                break;
            }
        }
        self.note(format!("scheduler round after {passed} s of real time -> {ran} steps"));
        self.sync()
    }

    // ---- the model follows what the steps did ----

    fn sync(&mut self) -> R {
        let now = self.clock();
        // (payment, amount) of the refunds that failed in this round.
        let mut failed_now: Vec<(String, i64)> = Vec::new();
        // Refunds of the refund-failure card fail at the first round.
        for k in 0..self.refunds.len() {
            if self.refunds[k].status != "pending" {
                continue;
            }
            let id = self.refunds[k].id.clone();
            let r = self.get(&format!("/v1/refunds/{id}"))?;
            ensure!(
                r["status"] == "failed",
                "refund {id} still {} after a round",
                r["status"]
            );
            ensure!(
                r["failure_reason"] == "expired_or_canceled_card",
                "refund failure reason: {r}"
            );
            let t = self.get(&format!("/v1/transactions/{}", s(&r["failure_balance_transaction"])))?;
            let amount = self.refunds[k].amount;
            ensure!(
                t["amount"] == amount && t["fee"] == 0 && t["source_type"] == "refund_failure",
                "refund failure transaction: {t}"
            );
            self.refunds[k].status = "failed".into();
            let pay = self.refunds[k].payment.clone();
            let pi = self
                .pays
                .iter()
                .position(|p| p.id == pay)
                .ok_or("refund of an unknown payment")?;
            self.pays[pi].refunded -= amount;
            let cur = self.pays[pi].currency.clone();
            self.add_total(&cur, amount);
            failed_now.push((pay, amount));
        }

        // Disputes: new ones opened, open ones decided.
        for d in self.list_all("/v1/disputes")? {
            let id = s(&d["id"]);
            let status = s(&d["status"]);
            let amount = d["amount"].as_i64().unwrap_or(0);
            match self.disputes.iter().position(|x| x.id == id) {
                None => {
                    let pay = s(&d["payment"]);
                    let pi = self
                        .pays
                        .iter()
                        .position(|p| p.id == pay)
                        .ok_or(format!("dispute {id} of an unknown payment {pay}"))?;
                    let p = &self.pays[pi];
                    ensure!(
                        p.card == Card::Dispute && p.status == "succeeded" && p.dispute.is_none(),
                        "dispute {id} opened on {p:?}"
                    );
                    // Opened for what was captured and not refunded then: refunds of this payment
                    // that failed in this same round may or may not have failed before it opened.
                    let failed: i64 = failed_now.iter().filter(|f| f.0 == pay).map(|f| f.1).sum();
                    let (lo, hi) = (p.received - p.refunded - failed, p.received - p.refunded);
                    ensure!(
                        amount > 0 && lo <= amount && amount <= hi,
                        "dispute {id} amount {amount}, expected {lo}..={hi}: {p:?}"
                    );
                    ensure!(
                        d["fee"] == DISPUTE_FEE && d["currency"] == p.currency.as_str(),
                        "dispute fee/currency: {d}"
                    );
                    ensure!(
                        status == "needs_response" || status == "lost",
                        "a new dispute is {status}: {d}"
                    );
                    let due_by = d["evidence_details"]["due_by"].as_i64().unwrap_or(0);
                    let cur = p.currency.clone();
                    self.pays[pi].dispute = Some(id.clone());
                    self.add_total(&cur, -(amount + DISPUTE_FEE));
                    let pv = self.get(&format!("/v1/payments/{pay}"))?;
                    ensure!(
                        pv["dispute"] == id.as_str() && pv["amount_disputed"] == amount,
                        "disputed payment: {pv}"
                    );
                    self.disputes.push(Dispute {
                        id: id.clone(),
                        currency: cur,
                        amount,
                        status: "needs_response".into(),
                        due_by,
                        text: None,
                        submitted_at: None,
                    });
                }
                Some(k) => ensure!(self.disputes[k].amount == amount, "dispute {id} amount changed: {d}"),
            }
            let k = self.disputes.iter().position(|x| x.id == id).unwrap();
            let before = self.disputes[k].status.clone();
            let legal = match before.as_str() {
                "needs_response" => ["needs_response", "lost"].contains(&status.as_str()),
                "under_review" => ["under_review", "won", "lost"].contains(&status.as_str()),
                other => other == status,
            };
            ensure!(legal, "dispute {id}: {before} -> {status}");
            if status == "won" && before != "won" {
                let cur = self.disputes[k].currency.clone();
                self.add_total(&cur, amount);
                let txns = d["balance_transactions"].as_array().cloned().unwrap_or_default();
                ensure!(txns.len() == 2, "a won dispute has two transactions: {d}");
            }
            // Deadlines and the sandbox issuer's decisions have all run by now.
            let x = &self.disputes[k];
            match status.as_str() {
                "needs_response" => ensure!(
                    now < x.due_by,
                    "dispute {id} still needs_response at {now}, due_by {}",
                    x.due_by
                ),
                "under_review" => {
                    let decisive = matches!(x.text.as_deref(), Some("winning_evidence" | "losing_evidence"));
                    ensure!(
                        !decisive,
                        "dispute {id} with {:?} still under review after a round",
                        x.text
                    );
                    ensure!(
                        now < x.submitted_at.unwrap_or(0) + 14 * DAY,
                        "dispute {id} under review past 14 days"
                    );
                }
                "won" => ensure!(
                    before == "won" || x.text.as_deref() == Some("winning_evidence"),
                    "dispute {id} won with {:?}",
                    x.text
                ),
                _ => ensure!(
                    before == "lost" || before == "needs_response" || x.text.as_deref() != Some("winning_evidence"),
                    "dispute {id} lost with winning evidence"
                ),
            }
            self.disputes[k].status = status;
        }

        // Payouts: automatic ones made by the schedule; manual and automatic ones moving on.
        let manual = self.manual_throughout;
        for po in self.list_all("/v1/payouts")? {
            let id = s(&po["id"]);
            let status = s(&po["status"]);
            let amount = po["amount"].as_i64().unwrap_or(0);
            let currency = s(&po["currency"]);
            let k = match self.payouts.iter().position(|x| x.id == id) {
                Some(k) => k,
                None => {
                    ensure!(
                        po["automatic"] == true && po["destination"] == "ba_test_success" && amount > 0,
                        "unknown payout {po}"
                    );
                    ensure!(!manual, "an automatic payout while the schedule was manual: {po}");
                    self.add_total(&currency, -amount);
                    self.payouts.push(Payout {
                        id: id.clone(),
                        currency: currency.clone(),
                        amount,
                        status: "pending".into(),
                        destination: s(&po["destination"]),
                        arrival_date: po["arrival_date"].as_i64().unwrap_or(0),
                    });
                    self.payouts.len() - 1
                }
            };
            let x = &self.payouts[k];
            ensure!(
                x.amount == amount && x.currency == currency,
                "payout {id} changed: {po}"
            );
            let legal = match x.status.as_str() {
                "pending" | "in_transit" => ["in_transit", "paid", "failed"].contains(&status.as_str()),
                other => other == status,
            };
            ensure!(legal, "payout {id}: {} -> {status}", x.status);
            match status.as_str() {
                "in_transit" => ensure!(now < x.arrival_date, "payout {id} in transit past its arrival date"),
                "paid" => ensure!(
                    x.destination == "ba_test_success",
                    "payout {id} to {} paid",
                    x.destination
                ),
                _ => ensure!(
                    x.destination == "ba_test_failure" && po["failure_code"] == "account_closed",
                    "payout {id} failed: {po}"
                ),
            }
            if status == "failed" && x.status != "failed" {
                let t = self.get(&format!("/v1/transactions/{}", s(&po["failure_balance_transaction"])))?;
                ensure!(
                    t["amount"] == amount && t["source_type"] == "payout_failure",
                    "payout failure transaction: {t}"
                );
                self.add_total(&currency, amount);
            }
            self.payouts[k].status = status;
        }
        self.manual_throughout = self.interval == "manual";
        Ok(())
    }

    // ---- the properties ----

    fn rows(&self, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
        let mut st = self.w.db.0.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| (0..n).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn ints(&self, sql: &str) -> Vec<(String, Vec<i64>)> {
        self.rows(sql)
            .into_iter()
            .map(|r| {
                let key = match &r[0] {
                    rusqlite::types::Value::Text(t) => t.clone(),
                    v => format!("{v:?}"),
                };
                let nums = r[1..]
                    .iter()
                    .map(|v| {
                        if let rusqlite::types::Value::Integer(i) = v {
                            *i
                        } else {
                            i64::MIN
                        }
                    })
                    .collect();
                (key, nums)
            })
            .collect()
    }

    /// [`Self::ints`] of a query answering (currency, a, b) rows, keyed by currency.
    fn pairs(&self, sql: &str) -> BTreeMap<String, (i64, i64)> {
        self.ints(sql).into_iter().map(|(c, n)| (c, (n[0], n[1]))).collect()
    }

    fn check(&mut self) -> R {
        // 1. The ledger sums to zero per currency, and so does every posting.
        for (cur, n) in self.ints("SELECT currency, SUM(amount) FROM ledger_entries GROUP BY currency") {
            ensure!(n[0] == 0, "ledger_entries of {cur} sum to {}", n[0]);
        }
        let bad = self.ints("SELECT posting_id || ' ' || currency, SUM(amount) FROM ledger_entries GROUP BY posting_id, currency HAVING SUM(amount) != 0");
        ensure!(bad.is_empty(), "unbalanced postings: {bad:?}");

        // 2. Balances = the merchant ledger accounts = the transactions (unsettled / settled).
        let balances = self
            .pairs("SELECT currency, pending, available FROM balances WHERE account_id = 'acct_A' AND livemode = 0");
        let other = self.ints(
            "SELECT currency, COUNT(*) FROM balances WHERE account_id != 'acct_A' OR livemode != 0 GROUP BY currency",
        );
        ensure!(other.is_empty(), "balances of other accounts moved: {other:?}");
        let ledger = self.pairs(
            "SELECT currency, COALESCE(SUM(CASE WHEN ledger_account = 'merchant_pending' THEN amount END), 0), \
             COALESCE(SUM(CASE WHEN ledger_account = 'merchant_available' THEN amount END), 0) \
             FROM ledger_entries WHERE account_id = 'acct_A' AND livemode = 0 GROUP BY currency",
        );
        let txns = self.pairs(
            "SELECT currency, COALESCE(SUM(CASE WHEN settlement_status = 'unsettled' THEN net END), 0), \
             COALESCE(SUM(CASE WHEN settlement_status = 'settled' THEN net END), 0) \
             FROM balance_transactions WHERE account_id = 'acct_A' AND livemode = 0 GROUP BY currency",
        );
        for cur in balances
            .keys()
            .chain(ledger.keys())
            .chain(txns.keys())
            .chain(self.total.keys())
        {
            let b = balances.get(cur).copied().unwrap_or((0, 0));
            let l = ledger.get(cur).copied().unwrap_or((0, 0));
            let t = txns.get(cur).copied().unwrap_or((0, 0));
            ensure!(
                b == l,
                "{cur}: balances (pending, available) {b:?} != ledger merchant_pending/merchant_available {l:?}"
            );
            ensure!(
                b == t,
                "{cur}: balances (pending, available) {b:?} != SUM(net) of (unsettled, settled) transactions {t:?}"
            );
            // 3. pending + available = SUM(net) = the model's total.
            let want = self.total.get(cur).copied().unwrap_or(0);
            ensure!(
                b.0 + b.1 == want,
                "{cur}: pending + available = {} but the model expects {want} (balances {b:?})",
                b.0 + b.1
            );
        }

        // 4. No negative amounts where impossible.
        let neg = self.ints(
            "SELECT 'payout ' || id, json_extract(data, '$.amount') FROM payouts WHERE json_extract(data, '$.amount') <= 0 \
             UNION ALL SELECT 'refund ' || id, json_extract(data, '$.amount') FROM refunds WHERE json_extract(data, '$.amount') <= 0 \
             UNION ALL SELECT 'dispute ' || id, json_extract(data, '$.amount') FROM disputes WHERE json_extract(data, '$.amount') <= 0 \
             UNION ALL SELECT 'txn fee ' || id, fee FROM balance_transactions WHERE fee < 0 OR net != amount - fee \
             UNION ALL SELECT 'payment ' || id, json_extract(data, '$.amount_refunded') FROM payments \
                 WHERE json_extract(data, '$.amount_refunded') < 0 OR json_extract(data, '$.amount_refunded') > json_extract(data, '$.amount_received')",
        );
        ensure!(neg.is_empty(), "impossible amounts: {neg:?}");
        // A payout never leaves the available balance below zero: replay merchant_available.
        let lines = self.rows(&format!(
            "SELECT le.seq, le.currency, le.amount, COALESCE(bt.source_type, '') FROM ledger_entries le LEFT JOIN balance_transactions bt ON bt.id = le.posting_id \
             WHERE le.ledger_account = 'merchant_available' AND le.seq > {} ORDER BY le.seq",
            self.avail_seq
        ));
        for l in lines {
            let (
                rusqlite::types::Value::Integer(seq),
                rusqlite::types::Value::Text(cur),
                rusqlite::types::Value::Integer(amount),
                rusqlite::types::Value::Text(kind),
            ) = (&l[0], &l[1], &l[2], &l[3])
            else {
                return Err(format!("ledger line {l:?}"));
            };
            let run = self.avail_running.entry(cur.clone()).or_insert(0);
            *run += amount;
            ensure!(
                kind != "payout" || *run >= 0,
                "{cur}: a payout left the available balance at {run} (ledger seq {seq})"
            );
            self.avail_seq = *seq;
        }
        // Each payment's amount_refunded is its refunds that did not fail, and what the model says.
        let refunded = self.ints(
            "SELECT p.id, json_extract(p.data, '$.amount_refunded'), json_extract(p.data, '$.amount_received'), \
             COALESCE((SELECT SUM(json_extract(r.data, '$.amount')) FROM refunds r WHERE r.payment_id = p.id AND r.status != 'failed'), 0) FROM payments p",
        );
        for (id, n) in refunded {
            ensure!(
                n[0] == n[2],
                "payment {id}: amount_refunded {} != its refunds that did not fail {}",
                n[0],
                n[2]
            );
            if let Some(p) = self.pays.iter().find(|p| p.id == id) {
                ensure!(
                    n[0] == p.refunded && n[1] == p.received,
                    "payment {id}: (refunded, received) ({}, {}) but the model has ({}, {})",
                    n[0],
                    n[1],
                    p.refunded,
                    p.received
                );
            }
        }
        // Settlements describe exactly the transactions they settled.
        let stl = self.ints(
            "SELECT s.id, json_extract(s.data, '$.net'), (SELECT COALESCE(SUM(net), 0) FROM balance_transactions t WHERE t.settlement_id = s.id), \
             json_extract(s.data, '$.transaction_count'), (SELECT COUNT(*) FROM balance_transactions t WHERE t.settlement_id = s.id) FROM settlements s",
        );
        for (id, n) in stl {
            ensure!(
                n[0] == n[1] && n[2] == n[3],
                "settlement {id}: net {} count {} but its transactions have {} and {}",
                n[0],
                n[2],
                n[1],
                n[3]
            );
        }

        // 5. GET /v1/balance answers the balances table.
        let b = self.get("/v1/balance")?;
        let api: BTreeMap<String, (i64, i64)> = b["balances"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|x| {
                (
                    s(&x["currency"]),
                    (
                        x["pending"].as_i64().unwrap_or(i64::MIN),
                        x["available"].as_i64().unwrap_or(i64::MIN),
                    ),
                )
            })
            .collect();
        ensure!(api == balances, "GET /v1/balance {api:?} != balances {balances:?}");
        Ok(())
    }
}

impl Run {
    /// What a run exercised: object states and rejected requests, for the summary line.
    fn coverage(&self, into: &mut BTreeMap<String, usize>) {
        let mut add = |k: String| *into.entry(k).or_insert(0) += 1;
        self.pays.iter().for_each(|p| add(format!("payment {}", p.status)));
        self.refunds.iter().for_each(|r| add(format!("refund {}", r.status)));
        self.disputes.iter().for_each(|d| add(format!("dispute {}", d.status)));
        self.payouts.iter().for_each(|p| add(format!("payout {}", p.status)));
        for (kind, n) in self.ints("SELECT 'automatic payouts', COUNT(*) FROM payouts WHERE json_extract(data, '$.automatic') UNION ALL SELECT 'settlements', COUNT(*) FROM settlements") {
            *into.entry(kind).or_insert(0) += n[0] as usize;
        }
        for line in &self.log {
            if let Some(code) = line.rsplit(" -> 400 ").next().filter(|_| line.contains(" -> 400 ")) {
                *into.entry(format!("400 {code}")).or_insert(0) += 1;
            }
        }
    }
}

struct Failure {
    seed: u64,
    message: String,
    log: Vec<String>,
}

/// Runs one seed; returns the number of steps checked, or the failure.
fn run_seed(seed: u64, steps: usize, coverage: &mut BTreeMap<String, usize>) -> Result<(usize, usize), Failure> {
    let mut run = Run::new(seed);
    let mut done = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> R {
        run.check()?;
        for _ in 0..steps {
            run.step()?;
            run.check().map_err(|e| format!("after step {}: {e}", run.log.len()))?;
            done += 1;
        }
        Ok(())
    }));
    let message = match result {
        Ok(Ok(())) => {
            run.coverage(coverage);
            return Ok((done, run.requests));
        }
        Ok(Err(e)) => e,
        Err(p) => format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        ),
    };
    Err(Failure {
        seed,
        message,
        log: run.log,
    })
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn money_properties_hold_over_random_steps() {
    let steps = env_usize("MONEY_PROPS_STEPS", 150);
    let seeds: Vec<u64> = match std::env::var("MONEY_PROPS_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(one) => vec![one],
        None => (1..=env_usize("MONEY_PROPS_SEEDS", 40) as u64).collect(),
    };
    let started = std::time::Instant::now();
    let (mut checked, mut requests) = (0, 0);
    let mut failures = Vec::new();
    let mut coverage = BTreeMap::new();
    for &seed in &seeds {
        match run_seed(seed, steps, &mut coverage) {
            Ok((n, r)) => {
                checked += n;
                requests += r;
            }
            Err(f) => failures.push(f),
        }
    }
    eprintln!(
        "money_props: {} seeds x {steps} steps: {checked} random steps checked ({requests} API calls) in {:.1} s; {} seed(s) failed",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    eprintln!("money_props: coverage of the passing seeds: {coverage:?}");
    if failures.is_empty() {
        return;
    }
    let mut report = String::new();
    for (n, f) in failures.iter().enumerate() {
        report.push_str(&format!(
            "\n=== seed {} (MONEY_PROPS_SEED={}): {}\n",
            f.seed, f.seed, f.message
        ));
        // The full step list for the first few; the others in one line each.
        if n < 3 {
            report.push_str(&f.log.join("\n"));
            report.push('\n');
        }
    }
    panic!(
        "{} of {} seeds broke a money property:{report}",
        failures.len(),
        seeds.len()
    );
}

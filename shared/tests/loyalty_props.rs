//! Randomized property tests of Engagement: random sequences of payments by members (some with
//! the dispute card), refunds (partial and full), lost disputes, manual earns, burns and
//! adjustments, redemptions (of rewards with and without stock) and their cancels, and clock
//! advances (pending points activating, lots expiring, tiers reviewed), through the real
//! pipeline over rusqlite with the real schema, under a random program. After every step: each
//! account's `points_balance` is the sum of its active transactions and `pending_points` of its
//! pending ones; spent + active + pending + expired = lifetime; the points ledger sums to zero
//! and holds each account's balances; no reward's stock is negative.
//!
//! Deterministic: a fixed xorshift per seed; on a failure the seed and the steps are printed.
//! `LOYALTY_PROPS_SEED=n` runs one seed; `LOYALTY_PROPS_SEEDS` and `LOYALTY_PROPS_STEPS` change
//! the default 12 seeds x 80 steps.

mod common;

use common::{Rng, World, env_num, world_at};
use serde_json::Value;

const DAY: i64 = 86_400;

type R = Result<(), String>;

struct Run {
    w: World,
    rng: Rng,
    /// (customer, loyalty account)
    members: Vec<(String, String)>,
    payments: Vec<String>,
    rewards: Vec<String>,
    redemptions: Vec<String>,
    log: Vec<String>,
}

fn ok(step: &str, (status, v): (u16, Value)) -> Result<Value, String> {
    if status == 200 {
        Ok(v)
    } else {
        Err(format!("{step}: HTTP {status} {v}"))
    }
}

/// A 200, or one of the refusals `codes` (which must have changed nothing: the checks see it).
fn ok_or(step: &str, (status, v): (u16, Value), codes: &[&str]) -> R {
    match status {
        200 => Ok(()),
        400 if codes.contains(&v["error"]["code"].as_str().unwrap_or("")) => Ok(()),
        _ => Err(format!("{step}: HTTP {status} {v}")),
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

impl Run {
    fn new(seed: u64) -> Result<Run, String> {
        let w = world_at(1_795_000_000, seed);
        let mut rng = Rng::new(seed);
        let program = format!(
            "earn_rate=1&pending_days={}&expiry_months={}&auto_enroll=true&tiers[0][name]=silver&tiers[0][min_points]=300&tiers[0][multiplier]=1.5",
            rng.below(4),
            rng.below(3)
        );
        ok("program", w.post("/v1/loyalty/program", &program))?;
        let mut rewards = Vec::new();
        for (cost, stock) in [(50, Some(3)), (120, None), (400, Some(1))] {
            let stock = stock.map(|s| format!("&stock={s}")).unwrap_or_default();
            let r = ok(
                "reward",
                w.post("/v1/loyalty/rewards", &format!("name=R&points_cost={cost}{stock}")),
            )?;
            rewards.push(id(&r));
        }
        Ok(Run {
            w,
            rng,
            members: Vec::new(),
            payments: Vec::new(),
            rewards,
            redemptions: Vec::new(),
            log: vec![program],
        })
    }

    fn step(&mut self) -> R {
        match self.rng.below(16) {
            0..=3 => self.pay(),
            4 | 5 => self.refund(),
            6 => self.lose_dispute(),
            7 => self.manual(),
            8..=10 => self.redeem(),
            11 => self.cancel(),
            _ => self.advance(),
        }
    }

    /// A payment by a member (or a new customer, enrolled by it).
    fn pay(&mut self) -> R {
        let cust = if self.members.is_empty() || self.rng.below(4) == 0 {
            let c = ok("customer", self.w.post("/v1/customers", "name=M"))?;
            id(&c)
        } else {
            self.rng.pick(&self.members).0.clone()
        };
        let pm = *self
            .rng
            .pick(&["pm_card_visa", "pm_card_visa", "pm_card_mastercard", "pm_card_dispute"]);
        let amount = self.rng.range(50, 40_000);
        let form = format!("amount={amount}&currency=EUR&payment_method={pm}&customer={cust}");
        self.log.push(format!("pay {form}"));
        let p = ok("pay", self.w.post("/v1/payments", &form))?;
        self.payments.push(id(&p));
        if !self.members.iter().any(|m| m.0 == cust) {
            let list = ok("accounts", self.w.get(&format!("/v1/loyalty/accounts?customer={cust}")))?;
            let loy = list["data"][0]["id"]
                .as_str()
                .ok_or_else(|| format!("the first capture did not enrol {cust}: {list}"))?;
            self.members.push((cust, loy.to_string()));
        }
        Ok(())
    }

    fn refund(&mut self) -> R {
        if self.payments.is_empty() {
            return Ok(());
        }
        let pay = self.rng.pick(&self.payments).clone();
        let p = ok("payment", self.w.get(&format!("/v1/payments/{pay}")))?;
        let left = p["amount_received"].as_i64().unwrap_or(0) - p["amount_refunded"].as_i64().unwrap_or(0);
        if left <= 0 {
            return Ok(());
        }
        let amount = if self.rng.chance(40) {
            left
        } else {
            self.rng.range(1, left)
        };
        self.log.push(format!("refund {pay} {amount}"));
        ok_or(
            "refund",
            self.w.post("/v1/refunds", &format!("payment={pay}&amount={amount}")),
            &[
                "payment_disputed",
                "payment_invalid_state",
                "amount_too_large",
                "charge_disputed",
            ],
        )
    }

    fn lose_dispute(&mut self) -> R {
        for pay in self.payments.clone() {
            let p = ok("payment", self.w.get(&format!("/v1/payments/{pay}")))?;
            let Some(dp) = p["dispute"].as_str() else { continue };
            let d = ok("dispute", self.w.get(&format!("/v1/disputes/{dp}")))?;
            if d["status"] == "needs_response" {
                self.log.push(format!("lose dispute {dp}"));
                return ok("close", self.w.post(&format!("/v1/disputes/{dp}/close"), "")).map(|_| ());
            }
        }
        Ok(())
    }

    fn manual(&mut self) -> R {
        if self.members.is_empty() {
            return Ok(());
        }
        let loy = self.rng.pick(&self.members).1.clone();
        let form = match self.rng.below(3) {
            0 => format!("type=earn&points={}", self.rng.range(1, 300)),
            1 => format!("type=burn&points={}", self.rng.range(1, 300)),
            _ => format!("type=adjust&points={}", self.rng.range(-50, 50).max(1)),
        };
        self.log.push(format!("transaction {loy} {form}"));
        ok_or(
            "transaction",
            self.w.post(&format!("/v1/loyalty/accounts/{loy}/transactions"), &form),
            &["insufficient_points"],
        )
    }

    fn redeem(&mut self) -> R {
        if self.members.is_empty() {
            return Ok(());
        }
        let loy = self.rng.pick(&self.members).1.clone();
        let rwd = self.rng.pick(&self.rewards).clone();
        self.log.push(format!("redeem {loy} {rwd}"));
        let (status, v) = self
            .w
            .post("/v1/loyalty/redemptions", &format!("account={loy}&reward={rwd}"));
        if status == 200 {
            self.redemptions.push(id(&v));
        }
        ok_or("redeem", (status, v), &["insufficient_points", "reward_out_of_stock"])
    }

    fn cancel(&mut self) -> R {
        if self.redemptions.is_empty() {
            return Ok(());
        }
        let rdm = self.rng.pick(&self.redemptions).clone();
        self.log.push(format!("cancel {rdm}"));
        ok_or(
            "cancel",
            self.w.post(&format!("/v1/loyalty/redemptions/{rdm}/cancel"), ""),
            &["redemption_canceled"],
        )
    }

    fn advance(&mut self) -> R {
        let days = 1 + self.rng.below(50) as i64;
        self.log.push(format!("advance {days} days"));
        ok(
            "advance",
            self.w
                .post("/v1/test_helpers/clock/advance", &format!("seconds={}", days * DAY)),
        )
        .map(|_| ())
    }

    fn check(&self) -> R {
        for (_, loy) in &self.members {
            let a = ok("account", self.w.get(&format!("/v1/loyalty/accounts/{loy}")))?;
            let n = |f: &str| a[f].as_i64().unwrap_or(i64::MIN);
            let sum = |status: &str| {
                self.w.count(&format!(
                    "SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions WHERE loyalty_account = '{loy}' AND status = '{status}'"
                ))
            };
            let ledger = |name: &str| {
                self.w.count(&format!(
                    "SELECT COALESCE(SUM(points), 0) FROM points_entries WHERE loyalty_account = '{loy}' AND ledger_account = '{name}'"
                ))
            };
            if n("points_balance") != sum("active") {
                return Err(format!("balance is not the sum of active ptx ({}): {a}", sum("active")));
            }
            if n("pending_points") != sum("pending") {
                return Err(format!(
                    "pending is not the sum of pending ptx ({}): {a}",
                    sum("pending")
                ));
            }
            if n("spent_points") + n("points_balance") + n("pending_points") + n("expired_points")
                != n("lifetime_points")
            {
                return Err(format!("spent + active + pending + expired != lifetime: {a}"));
            }
            for (name, field) in [
                ("points_active", "points_balance"),
                ("points_pending", "pending_points"),
                ("points_spent", "spent_points"),
                ("points_expired", "expired_points"),
            ] {
                if ledger(name) != n(field) {
                    return Err(format!("ledger {name} = {} but {field}: {a}", ledger(name)));
                }
            }
            if -ledger("points_issued") != n("lifetime_points") {
                return Err(format!(
                    "ledger points_issued = {} but lifetime: {a}",
                    ledger("points_issued")
                ));
            }
        }
        if self.w.count("SELECT COALESCE(SUM(points), 0) FROM points_entries") != 0 {
            return Err("the points ledger does not sum to zero".into());
        }
        if self.w.count("SELECT COUNT(*) FROM loyalty_rewards WHERE stock < 0") != 0 {
            return Err("a reward's stock is negative".into());
        }
        Ok(())
    }
}

fn run_seed(seed: u64, steps: usize) -> R {
    let mut run = Run::new(seed)?;
    for i in 0..steps {
        let result = run.step().and_then(|()| run.check());
        if let Err(e) = result {
            return Err(format!(
                "seed {seed}, step {i}: {e}\nsteps:\n  {}",
                run.log.join("\n  ")
            ));
        }
    }
    let moved = run.w.count("SELECT COUNT(*) FROM loyalty_transactions");
    let kinds = run.w.count("SELECT COUNT(DISTINCT type) FROM loyalty_transactions");
    if run.members.is_empty() || kinds < 4 {
        return Err(format!(
            "seed {seed}: too little happened ({moved} transactions of {kinds} types)"
        ));
    }
    eprintln!(
        "seed {seed}: {} members, {moved} points transactions of {kinds} types",
        run.members.len()
    );
    Ok(())
}

#[test]
fn random_loyalty_sequences_keep_balances_the_points_ledger_and_stock_consistent() {
    let steps = env_num("LOYALTY_PROPS_STEPS", 80) as usize;
    let seeds: Vec<u64> = match std::env::var("LOYALTY_PROPS_SEED") {
        Ok(s) => vec![s.parse().expect("LOYALTY_PROPS_SEED is a number")],
        Err(_) => (1..=env_num("LOYALTY_PROPS_SEEDS", 12)).collect(),
    };
    for seed in seeds {
        if let Err(e) = run_seed(seed, steps) {
            panic!("{e}");
        }
    }
}

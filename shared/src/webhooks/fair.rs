//! Fair shares between accounts and endpoints when claiming due deliveries, so that one tenant's
//! slow or failing endpoints (each attempt may hold a sender for the whole 30 s timeout) cannot
//! stall everyone else's webhooks. Two rules, decided here for every dispatcher:
//!
//! - at most [`PER_ENDPOINT`] attempts to one endpoint at once, and at most [`PER_ACCOUNT`] for
//!   one account (each environment of an account counts apart from the other);
//! - claims go round-robin across accounts: every account's oldest due delivery first, then
//!   every account's second, and so on, instead of the globally oldest first.
//!
//! The query ([`FAIR_DUE_SQL`]) already ranks due rows that way and leaves out all but each
//! endpoint's oldest [`PER_ENDPOINT`]; [`pick`] then applies the caps against what the
//! dispatcher has in flight.

use std::collections::HashMap;

/// Attempts to one endpoint at once.
pub const PER_ENDPOINT: usize = 4;
/// Attempts for one account (one environment of it) at once.
pub const PER_ACCOUNT: usize = 16;

/// Every account's due deliveries, ranked fairly: the rows [`super::delivery::Job::from_row`]
/// reads (the account key `account_id:livemode` last). Binds: now (unix ms), limit. Each endpoint
/// contributes at most its [`PER_ENDPOINT`] oldest due rows; rows are ordered by their rank
/// within their account (then age), so a limit never leaves an account out in favour of another
/// account's backlog. The due rows are read from a range of the partial index
/// `webhook_deliveries_due`, events and endpoints by key (tests/fairness_sqlite.rs checks the
/// plan).
pub const FAIR_DUE_SQL: &str = concat!(
    "SELECT q.id, q.event_id, q.endpoint_id, q.next_attempt_at, q.attempts, q.created_ms, e.data, ",
    "w.url, w.secret, w.previous_secret, w.previous_expires_at, w.livemode, w.disabled, w.deleted, q.acct ",
    "FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.acct ORDER BY r.next_attempt_at, r.seq) AS account_rank ",
    "FROM (SELECT d.seq, d.id, d.event_id, d.endpoint_id, d.next_attempt_at, d.attempts, d.created_ms, ",
    "d.account_id || ':' || d.livemode AS acct, ",
    "ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.seq) AS endpoint_rank ",
    "FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= ?) r ",
    "WHERE r.endpoint_rank <= 4) q ",
    "JOIN events e ON e.id = q.event_id ",
    "JOIN webhook_endpoints w ON w.id = q.endpoint_id ",
    "ORDER BY q.account_rank, q.next_attempt_at, q.seq LIMIT ?"
);

/// Attempts in flight, by account key and by endpoint.
#[derive(Debug, Default, Clone)]
pub struct InFlight {
    accounts: HashMap<String, usize>,
    endpoints: HashMap<String, usize>,
}

impl InFlight {
    pub fn add(&mut self, account: &str, endpoint: &str) {
        *self.accounts.entry(account.to_string()).or_default() += 1;
        *self.endpoints.entry(endpoint.to_string()).or_default() += 1;
    }

    pub fn remove(&mut self, account: &str, endpoint: &str) {
        for (map, key) in [(&mut self.accounts, account), (&mut self.endpoints, endpoint)] {
            if let Some(n) = map.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
    }

    fn account(&self, a: &str) -> usize {
        self.accounts.get(a).copied().unwrap_or(0)
    }

    fn endpoint(&self, e: &str) -> usize {
        self.endpoints.get(e).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// What [`pick`] chose.
#[derive(Debug, PartialEq, Eq)]
pub struct Picked {
    /// Indices into the candidates, in the order to start them.
    pub chosen: Vec<usize>,
    /// Some candidate was left out only because its account or endpoint was at its cap: the
    /// dispatcher should look again when an attempt ends, not when the row is next due.
    pub capped: bool,
}

/// Chooses up to `free` of `candidates` (account key, endpoint id), given in the order of
/// [`FAIR_DUE_SQL`] (or any oldest-first order): round-robin across accounts in order of first
/// appearance, each account's in its own order, never taking an account past [`PER_ACCOUNT`]
/// or an endpoint past [`PER_ENDPOINT`] attempts counting those already `in_flight`.
pub fn pick<A: AsRef<str>, E: AsRef<str>>(candidates: &[(A, E)], in_flight: &InFlight, free: usize) -> Picked {
    // Each account's candidates, accounts in order of first appearance.
    let mut order: Vec<&str> = Vec::new();
    let mut queues: HashMap<&str, std::collections::VecDeque<usize>> = HashMap::new();
    for (i, (a, _)) in candidates.iter().enumerate() {
        let a = a.as_ref();
        queues
            .entry(a)
            .or_insert_with(|| {
                order.push(a);
                Default::default()
            })
            .push_back(i);
    }
    let mut taken = in_flight.clone();
    let mut chosen = Vec::new();
    let mut capped = false;
    loop {
        let mut progress = false;
        for a in &order {
            if chosen.len() >= free {
                return Picked { chosen, capped };
            }
            let q = queues.get_mut(a).expect("every account has a queue");
            if q.is_empty() {
                continue;
            }
            if taken.account(a) >= PER_ACCOUNT {
                capped = true;
                q.clear();
                continue;
            }
            // This account's next candidate whose endpoint has room; those whose endpoint is
            // full are dropped from this round's choice.
            while let Some(i) = q.pop_front() {
                let e = candidates[i].1.as_ref();
                if taken.endpoint(e) >= PER_ENDPOINT {
                    capped = true;
                    continue;
                }
                taken.add(a, e);
                chosen.push(i);
                progress = true;
                break;
            }
        }
        if !progress {
            return Picked { chosen, capped };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(c: &[(&str, &str)], f: &InFlight, free: usize) -> (Vec<usize>, bool) {
        let p = pick(c, f, free);
        (p.chosen, p.capped)
    }

    #[test]
    fn round_robin_across_accounts() {
        // A's burst comes first (oldest); B's single delivery still gets the second slot.
        let c = [("a", "e1"), ("a", "e2"), ("a", "e3"), ("b", "f1"), ("a", "e4")];
        assert_eq!(picks(&c, &InFlight::default(), 2), (vec![0, 3], false));
        assert_eq!(picks(&c, &InFlight::default(), 10), (vec![0, 3, 1, 2, 4], false));
    }

    #[test]
    fn endpoint_cap_counts_what_is_in_flight() {
        let c = [("a", "e1"); 6];
        let p = picks(&c, &InFlight::default(), 10);
        assert_eq!(p, (vec![0, 1, 2, 3], true));
        let mut f = InFlight::default();
        for _ in 0..3 {
            f.add("a", "e1");
        }
        assert_eq!(picks(&c, &f, 10), (vec![0], true));
        f.add("a", "e1");
        assert_eq!(picks(&c, &f, 10), (vec![], true));
        // Another endpoint of the same account is not held up by the full one.
        let c = [("a", "e1"), ("a", "e1"), ("a", "e2")];
        assert_eq!(picks(&c, &f, 10), (vec![2], true));
        f.remove("a", "e1");
        assert_eq!(picks(&c, &f, 10), (vec![0, 2], true));
    }

    #[test]
    fn account_cap_leaves_room_for_others() {
        let eps: Vec<String> = (0..40).map(|i| format!("e{}", i % 16)).collect();
        let mut c: Vec<(&str, &str)> = eps.iter().map(|e| ("a", e.as_str())).collect();
        c.push(("b", "f1"));
        let p = pick(&c, &InFlight::default(), 64);
        assert!(p.capped);
        assert_eq!(p.chosen.iter().filter(|&&i| c[i].0 == "a").count(), PER_ACCOUNT);
        assert!(p.chosen.contains(&40), "B's delivery is chosen");
        // With A at its cap already, only B is started.
        let mut f = InFlight::default();
        for i in 0..PER_ACCOUNT {
            f.add("a", &format!("e{i}"));
        }
        assert_eq!(pick(&c, &f, 64).chosen, vec![40]);
        f.remove("a", "e0");
        assert_eq!(pick(&c, &f, 64).chosen, vec![0, 40]);
    }

    #[test]
    fn the_query_keeps_each_endpoints_share() {
        // `concat!` cannot read the constant: keep the literal in step with it.
        assert!(FAIR_DUE_SQL.contains(&format!("endpoint_rank <= {PER_ENDPOINT})")));
    }

    #[test]
    fn nothing_to_do() {
        let c: [(&str, &str); 0] = [];
        assert_eq!(picks(&c, &InFlight::default(), 5), (vec![], false));
        assert_eq!(picks(&[("a", "e")], &InFlight::default(), 0), (vec![], false));
    }
}

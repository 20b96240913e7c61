//! Helpers of the platform tests (docs/platforms.md): connected accounts, acting as them, and a
//! fixed pseudo-random sequence for the randomized split histories.

use crate::fixtures::id_of;
use crate::runtime::Runtime;
use serde_json::Value;

/// The header that acts as a connected account.
pub const ACT: &str = "x-account-id";

/// A new connected account of the sandbox, made with `form` (`POST /v1/accounts`).
pub fn connected(rt: &Runtime, form: &str) -> Value {
    let a = rt.post("/v1/accounts").form(form).send().ok();
    assert_eq!(a["object"], "account", "{a}");
    a
}

/// A new connected account's id: its balances start at zero, its objects are its own.
pub fn new_account(rt: &Runtime) -> String {
    id_of(&connected(rt, "business_name=Shop"))
}

/// xorshift64 (13, 7, 17): the same steps from the same seed, so a failing history repeats.
pub struct Steps(u64);

impl Steps {
    pub fn new(seed: u64) -> Steps {
        Steps(seed | 1)
    }

    /// In `0..n` (0 when `n` < 1).
    pub fn below(&mut self, n: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as i64
    }
}

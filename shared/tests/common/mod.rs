//! What the native pipeline tests share: an in-memory database with the real schema
//! (schema/migrations/*.sql), two accounts with keys, a settable clock, and calls through
//! `vinr_shared::api::handle` as the components make them.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use vinr_shared::api::{Group, handle};
use vinr_shared::http::{Request, Response};
use vinr_shared::hub::{HubCall, HubReply};
use vinr_shared::keys::{KeyKind, hash_key, new_key};
use vinr_shared::port::Env;
pub use vinr_shared::sqlite::SqliteDb;

/// A settable clock and deterministic randomness.
pub struct TestEnv {
    pub now: Cell<i64>,
    pub counter: RefCell<u64>,
    /// Every terminal hub call, in order; each is answered as a connected device's hub would
    /// (delivered, or timed out for a sync wait: no device answers here).
    pub hub_calls: RefCell<Vec<HubCall>>,
    /// What the pipeline logged (`Env::log_error`): (id, message).
    pub logs: RefCell<Vec<(String, String)>>,
}

impl Env for TestEnv {
    fn now(&self) -> i64 {
        self.now.get()
    }
    fn fill_random(&self, buf: &mut [u8]) {
        let mut c = self.counter.borrow_mut();
        for b in buf.iter_mut() {
            *c = c.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (*c >> 33) as u8;
        }
    }
    fn hash_secret(&self) -> Option<Vec<u8>> {
        Some(b"a test deployment's hash key, 32+ bytes".to_vec())
    }
    fn log_error(&self, id: &str, message: &str) {
        self.logs.borrow_mut().push((id.to_string(), message.to_string()));
    }
    async fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    async fn terminal_hub(&self, call: &HubCall) -> HubReply {
        self.hub_calls.borrow_mut().push(call.clone());
        match call {
            HubCall::Deliver { wait_ms: Some(_), .. } => HubReply::TimedOut,
            _ => HubReply::Delivered,
        }
    }
}

pub struct World {
    pub db: SqliteDb,
    pub env: TestEnv,
    /// acct_A's sandbox secret and publishable keys, and its live secret key.
    pub sk: String,
    pub pk: String,
    pub live: String,
    /// acct_B's sandbox secret key.
    pub other: String,
}

pub fn account(db: &SqliteDb, env: &TestEnv, id: &str) -> (String, String, String) {
    db.0.execute(
        "INSERT INTO accounts (id, name, fingerprint_key, created) VALUES (?1, 'T', ?1, 0)",
        [id],
    )
    .unwrap();
    let mut fill = |b: &mut [u8]| env.fill_random(b);
    let keys = [
        (KeyKind::Secret, false),
        (KeyKind::Public, false),
        (KeyKind::Secret, true),
    ]
    .map(|(k, live)| new_key(k, live, &mut fill));
    for (key, (kind, live)) in keys.iter().zip([("secret", 0), ("public", 0), ("secret", 1)]) {
        db.0.execute(
            "INSERT INTO api_keys (id, key_hash, account_id, livemode, kind, redacted, created) VALUES (?, ?, ?, ?, ?, 'x', 0)",
            rusqlite::params![format!("key_{}", &hash_key(key)[..24]), hash_key(key), id, live, kind],
        )
        .unwrap();
    }
    let [sk, pk, live] = keys;
    (sk, pk, live)
}

/// A fresh world whose clock starts at `now` and whose randomness starts from `seed`.
pub fn world_at(now: i64, seed: u64) -> World {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "sql")) {
        conn.execute_batch(&std::fs::read_to_string(f).unwrap()).unwrap();
    }
    let db = SqliteDb(conn);
    let env = TestEnv {
        now: Cell::new(now),
        counter: RefCell::new(seed),
        hub_calls: RefCell::new(Vec::new()),
        logs: RefCell::new(Vec::new()),
    };
    let (sk, pk, live) = account(&db, &env, "acct_A");
    let (other, _, _) = account(&db, &env, "acct_B");
    World {
        db,
        env,
        sk,
        pk,
        live,
        other,
    }
}

pub fn world() -> World {
    world_at(1_795_000_000, 7)
}

pub fn group_of(path: &str) -> Group {
    Group::for_path(path).unwrap_or(Group::Payments)
}

impl World {
    pub fn call(
        &self,
        method: &str,
        path_q: &str,
        key: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> (u16, serde_json::Value, Response) {
        let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
        let mut headers = vec![("authorization".to_string(), format!("Bearer {key}"))];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let req = Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            body: body.as_bytes().to_vec(),
        };
        let resp = pollster::block_on(handle(group_of(path), &req, &self.db, &self.env));
        assert!(resp.header("request-id").is_some_and(|r| r.starts_with("req_")));
        let v = serde_json::from_slice(&resp.body).unwrap();
        (resp.status, v, resp)
    }
    pub fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (s, v, _) = self.call("POST", path, &self.sk, body, &[]);
        (s, v)
    }
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (s, v, _) = self.call("GET", path, &self.sk, "", &[]);
        (s, v)
    }
    pub fn count(&self, sql: &str) -> i64 {
        self.db.0.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// xorshift64*: small, fixed, good enough to pick steps.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo + 1) as u64) as i64
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// A number from environment variable `name` (a property test's seeds or steps), else `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

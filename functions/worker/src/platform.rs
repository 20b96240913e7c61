//! The Worker's side of the other ports: clock and randomness from the JS runtime, the terminal
//! hub over the terminals' Durable Objects (the client is `terminal::call_hub`), the API-key
//! cache over KV, and webhook POSTs over `fetch`.

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use std::time::Duration;
use vinr_shared::hub::{HubCall, HubReply};
use vinr_shared::port::{Cache, Env};
use vinr_shared::webhooks::runner::Transport;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::kv::KvStore;
use worker::{AbortController, Delay, Fetch, Headers, Method, ObjectNamespace, Request, RequestInit, RequestRedirect};

#[wasm_bindgen]
extern "C" {
    /// Web Crypto's CSPRNG (the same source `crypto.randomUUID` uses).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// Clock, randomness and waiting from the JS runtime; the terminal hub is the terminals'
/// Durable Objects (`TERMINALS`), when the Worker has that binding.
#[derive(Clone, Default)]
pub struct WorkerEnv {
    terminals: Option<ObjectNamespace>,
    /// The `VINR_HASH_KEY` secret (`wrangler secret put VINR_HASH_KEY`; a `--var` in local dev).
    hash_key: Option<String>,
}

impl WorkerEnv {
    pub fn new(env: &worker::Env) -> Self {
        WorkerEnv {
            terminals: crate::terminal::namespace(env),
            hash_key: env.secret("VINR_HASH_KEY").ok().map(|s| s.to_string()),
        }
    }
}

impl Env for WorkerEnv {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }
    fn hash_secret(&self) -> Option<Vec<u8>> {
        self.hash_key.as_ref().map(|k| k.clone().into_bytes())
    }
    fn log_error(&self, id: &str, message: &str) {
        worker::console_error!("{id}: {message}");
    }
    fn fill_random(&self, buf: &mut [u8]) {
        // getRandomValues fills at most 65,536 bytes per call.
        for chunk in buf.chunks_mut(65_536) {
            get_random_values(chunk);
        }
    }
    async fn sleep_ms(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }
    async fn terminal_hub(&self, call: &HubCall) -> HubReply {
        crate::terminal::call_hub(self.terminals.as_ref(), call).await
    }
}

/// KV as the API-key cache. Entries carry their own freshness bound (auth::KEY_CACHE_SECS);
/// the KV TTL only keeps the namespace from filling up (60 s is KV's minimum).
pub struct KvCache(pub Option<KvStore>);

const KV_TTL_SECS: u64 = 60;

impl Cache for KvCache {
    async fn get(&self, key: &str) -> Option<String> {
        self.0.as_ref()?.get(key).text().await.ok().flatten()
    }
    async fn put(&self, key: &str, value: String) {
        if let Some(kv) = &self.0
            && let Ok(put) = kv.put(key, value)
        {
            let _ = put.expiration_ttl(KV_TTL_SECS).execute().await;
        }
    }
}

/// Bytes of a receiver's answer that are read (and dropped), as on `vinr dev`: enough for the
/// connection to be reused after a short reply, never a memory risk.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Webhook POSTs through the Workers `fetch`: redirects are not followed (a 3xx comes back as
/// the status, a failed attempt; the policy checked the original URL only, and a 307 would
/// re-send the signed body elsewhere), and the whole attempt, the capped body read included,
/// runs under the timeout.
pub struct FetchTransport;

impl Transport for FetchTransport {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
        timeout_ms: u64,
    ) -> Result<u16, String> {
        let h = Headers::new();
        for (k, v) in &headers {
            h.set(k, v).map_err(|e| format!("invalid header {k}: {e}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(h)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(body.into()));
        let req = Request::new_with_init(url, &init).map_err(|e| format!("invalid request: {e}"))?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut resp = Fetch::Request(req)
                .send_with_signal(&signal)
                .await
                .map_err(|e| short(&e.to_string()))?;
            let status = resp.status_code();
            // Read up to the cap so the connection can be reused; the content does not matter,
            // and dropping the stream cancels the rest.
            if let Ok(stream) = resp.stream() {
                let mut stream = std::pin::pin!(stream);
                let mut read = 0;
                while read < MAX_RESPONSE_BODY {
                    match stream.next().await {
                        Some(Ok(chunk)) => read += chunk.len(),
                        _ => break,
                    }
                }
            }
            Ok(status)
        };
        let timeout = Delay::from(Duration::from_millis(timeout_ms));
        match select(std::pin::pin!(exchange), timeout).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => {
                controller.abort();
                Err(vinr_shared::webhooks::delivery::TIMED_OUT.to_string())
            }
        }
    }
}

/// An error message cut to 200 characters.
pub(crate) fn short(s: &str) -> String {
    let s = s.trim();
    if s.len() <= 200 {
        s.to_string()
    } else {
        format!("{}…", &s[..s.char_indices().nth(200).map_or(s.len(), |(i, _)| i)])
    }
}

//! `vinr dev`'s limits (docs/security.md, "vinr dev limits"): CPU time and memory per instance
//! ([`cpu`]), the header-read timeout and the connection cap (applied by the server's accept
//! loop), and the instance pool's share for terminal payment creates. [`Gates`] holds the shared
//! state: two semaphores, nothing per request but a permit.

pub mod config;
pub mod cpu;

use std::sync::Arc;

use http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
use wasmtime::PoolConcurrencyLimitError;
use wasmtime_wasi_http::handler::InstantiationError;

pub use config::Limits;
pub use cpu::Tag;

/// The path of terminal payment creates: a sync one holds its instance until the outcome, up to
/// 150 s (docs/terminals.md).
const TERMINAL_CREATE_PATH: &str = "/v1/terminal/payments";

/// `error.code` of a request stopped for exceeding the CPU limit.
pub const CPU_STOPPED: &str = "cpu_time_limit_exceeded";

/// Seconds a client should wait before retrying when all instances are in use: requests take
/// milliseconds, so one frees up soon.
const POOL_RETRY_AFTER: u32 = 1;
/// ... and when the terminal creates' share is taken: held ones end within 150 s, most sooner.
const TERMINAL_RETRY_AFTER: u32 = 5;

pub struct Gates {
    pub limits: Limits,
    connections: Arc<Semaphore>,
    terminal_creates: Semaphore,
}

/// A request answered by the host instead of a component: status, `error.code`, message, and
/// the `Retry-After` seconds of a 503. Always `error.type` `api_error`.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u32>,
}

impl Gates {
    pub fn new(limits: Limits) -> Gates {
        Gates {
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            terminal_creates: Semaphore::new(limits.terminal_creates),
            limits,
        }
    }

    /// A connection's place, held until it closes: waits while `max_connections` are open (the
    /// kernel's listen backlog holds the newcomers meanwhile).
    pub async fn connection(&self) -> OwnedSemaphorePermit {
        self.connections
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed")
    }

    /// Admits a request to a component, or refuses it before anything runs. A terminal payment
    /// create takes a place among `terminal_creates`, held until its response.
    pub fn admit(&self, method: &http::Method, path: &str) -> Result<Option<SemaphorePermit<'_>>, Refusal> {
        if method != http::Method::POST || path.trim_end_matches('/') != TERMINAL_CREATE_PATH {
            return Ok(None);
        }
        match self.terminal_creates.try_acquire() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "terminal_capacity_exhausted",
                message: format!(
                    "{} terminal payment creates are in progress (sync ones wait up to 150 s for the outcome); nothing was created: retry later.",
                    self.limits.terminal_creates
                ),
                retry_after: Some(TERMINAL_RETRY_AFTER),
            }),
        }
    }

    /// The host's answer for a request its component could not serve because of a limit; `None`
    /// for other failures.
    pub fn refusal_for(&self, error: &wasmtime::Error, tag: Tag) -> Option<Refusal> {
        if tag.was_stopped() {
            return Some(Refusal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: CPU_STOPPED,
                message: format!(
                    "The request was stopped: its handler computed for more than {} ms.",
                    self.limits.cpu.as_millis()
                ),
                retry_after: None,
            });
        }
        if pool_exhausted(error) {
            return Some(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "server_busy",
                message: format!(
                    "All {} component instances are in use; nothing was done: retry later.",
                    self.limits.pool_instances
                ),
                retry_after: Some(POOL_RETRY_AFTER),
            });
        }
        None
    }
}

/// Whether `error` is an instantiation that found the pooling allocator full (instances,
/// memories, tables or stacks).
fn pool_exhausted(error: &wasmtime::Error) -> bool {
    error
        .downcast_ref::<InstantiationError<Tag>>()
        .is_some_and(|e| e.error.downcast_ref::<PoolConcurrencyLimitError>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(terminal_creates: usize) -> Gates {
        Gates::new(Limits {
            terminal_creates,
            ..Limits::default()
        })
    }

    #[test]
    fn terminal_creates_share_a_bounded_number_of_places() {
        let g = gates(2);
        let post = http::Method::POST;
        let a = g.admit(&post, "/v1/terminal/payments").unwrap();
        let b = g.admit(&post, "/v1/terminal/payments/").unwrap();
        assert!(a.is_some() && b.is_some());
        let refused = g.admit(&post, "/v1/terminal/payments").unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.code, "terminal_capacity_exhausted");
        assert_eq!(refused.retry_after, Some(TERMINAL_RETRY_AFTER));
        // Everything else passes without a place.
        for (m, p) in [
            (http::Method::GET, "/v1/terminal/payments"),
            (post.clone(), "/v1/terminal/payments/tpay_1/cancel"),
            (post.clone(), "/v1/payments"),
        ] {
            assert!(g.admit(&m, p).unwrap().is_none(), "{m} {p}");
        }
        drop(a);
        assert!(g.admit(&post, "/v1/terminal/payments").unwrap().is_some());
    }

    fn empty() -> wasmtime_wasi_http::WasiBody {
        use http_body_util::BodyExt;
        http_body_util::Empty::new()
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed_unsync()
    }

    #[tokio::test]
    async fn a_full_pool_is_a_503_and_a_cpu_stop_a_500() {
        use crate::components::{Allocation, engine_with};
        use wasmtime::component::{Component, Linker};

        let limits = Limits {
            pool_instances: 1,
            cpu: std::time::Duration::from_millis(10),
            ..Limits::default()
        };
        let g = Gates::new(limits.clone());
        // The second instance of a one-instance pool, reported as the request handler reports it.
        let engine = engine_with(&limits, Allocation::Pooling).unwrap();
        let component = Component::new(&engine, "(component)").unwrap();
        let linker = Linker::<()>::new(&engine);
        let mut first = wasmtime::Store::new(&engine, ());
        linker.instantiate_async(&mut first, &component).await.unwrap();
        let mut second = wasmtime::Store::new(&engine, ());
        let full = linker.instantiate_async(&mut second, &component).await.unwrap_err();
        let tag = Tag::next();
        let e = wasmtime::Error::from(InstantiationError {
            request_data: tag,
            request: std::sync::Mutex::new(http::Request::new(empty())),
            error: Arc::new(full),
        });
        let r = g.refusal_for(&e, tag).expect("a refusal");
        assert_eq!((r.status, r.code), (StatusCode::SERVICE_UNAVAILABLE, "server_busy"));
        assert_eq!(r.retry_after, Some(POOL_RETRY_AFTER));

        // A guard out of ticks stops its guest and tells its request's tag.
        let mut guard = cpu::Guard::new(&limits);
        guard.serve(tag);
        assert!(matches!(guard.on_tick(), wasmtime::UpdateDeadline::Continue(1)));
        assert!(matches!(guard.on_tick(), wasmtime::UpdateDeadline::Interrupt));
        let r = g.refusal_for(&e, tag).expect("a refusal");
        assert_eq!(
            (r.status, r.code, r.retry_after),
            (StatusCode::INTERNAL_SERVER_ERROR, "cpu_time_limit_exceeded", None)
        );
        assert!(r.message.contains("10 ms"), "{}", r.message);
    }

    #[test]
    fn other_failures_are_not_refusals() {
        let g = gates(1);
        let e = wasmtime::format_err!("wasm trap: unreachable");
        assert_eq!(g.refusal_for(&e, Tag::next()), None);
        assert_eq!(g.refusal_for(&e, Tag::default()), None);
    }
}

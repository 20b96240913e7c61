//! CPU time per request, by wasmtime's epoch interruption, and each instance's memory limit.
//!
//! One ticker thread advances the engine's epoch every [`TICK`]. A Store's deadline is always one
//! tick ahead of the epoch it last saw, and each time guest code finds the deadline passed, the
//! Store pays one tick from its budget ([`Guard::on_tick`]) and the deadline moves one tick on.
//! Guest code checks the deadline only while it runs (at function entries and loop headers), so a
//! guest that waits in a host call (a sleep, the terminal hub, a webhook, SQL) pays at most the
//! one tick in which it resumes, however long it waited: the budget counts compute, not waiting.
//! When the budget is gone the guest traps ([`wasmtime::Trap::Interrupt`]).
//!
//! The check is cheap (a load and a compare in compiled code) and the callback runs at most once
//! per tick per running guest; nothing here allocates per request (the Store's callbacks are
//! closures without captures).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};

use super::Limits;

/// The epoch's period: the CPU limit's resolution.
pub const TICK: Duration = Duration::from_millis(10);

/// Advances `engine`'s epoch every [`TICK`] until the engine is dropped.
pub fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new().name("vinr-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(TICK);
            match engine.upgrade() {
                Some(e) => e.increment_epoch(),
                None => return,
            }
        }
    })?;
    Ok(())
}

/// Ticks of compute in `cpu` (rounded up; at least one).
pub fn ticks_in(cpu: Duration) -> u64 {
    (cpu.as_nanos().div_ceil(TICK.as_nanos()) as u64).max(1)
}

/// Which request a Store serves, so that a stop can be told to the server (wasmtime-wasi-http
/// reports a trapped instance to the request only as "worker trapped or panicked").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag(u64);

static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// The last tags stopped for CPU, by `tag % STOPPED.len()`: the server looks its request up right
/// after the stop, long before as many more stops could reuse the slot.
static STOPPED: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

impl Tag {
    /// A tag no other request has (0 is no request's: a warm-up instance).
    pub fn next() -> Tag {
        Tag(NEXT_TAG.fetch_add(1, Ordering::Relaxed))
    }

    fn slot(self) -> &'static AtomicU64 {
        &STOPPED[(self.0 % STOPPED.len() as u64) as usize]
    }

    /// Whether the request's instance was stopped for exceeding the CPU limit.
    pub fn was_stopped(self) -> bool {
        self.0 != 0 && self.slot().load(Ordering::Acquire) == self.0
    }
}

/// What a Store holds for its limits.
pub struct Guard {
    ticks_left: u64,
    tag: Tag,
    stopped: bool,
    memory: StoreLimits,
}

impl Guard {
    pub fn new(limits: &Limits) -> Guard {
        Guard {
            ticks_left: ticks_in(limits.cpu),
            tag: Tag::default(),
            stopped: false,
            memory: StoreLimitsBuilder::new().memory_size(limits.memory).build(),
        }
    }

    /// The request the Store now serves.
    pub fn serve(&mut self, tag: Tag) {
        self.tag = tag;
    }

    /// Whether this Store's guest was stopped for exceeding the CPU limit.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Guest code found a tick passed.
    pub(super) fn on_tick(&mut self) -> UpdateDeadline {
        if self.ticks_left == 0 {
            self.stopped = true;
            if self.tag.0 != 0 {
                self.tag.slot().store(self.tag.0, Ordering::Release);
            }
            return UpdateDeadline::Interrupt;
        }
        self.ticks_left -= 1;
        // Not `Yield`: that fails (and so traps) in guest code wasmtime runs off a fiber, and a
        // spurious trap would be worse than a guest keeping its thread until it is stopped.
        UpdateDeadline::Continue(1)
    }
}

/// Store data with a [`Guard`].
pub trait Guarded: Send + 'static {
    fn guard(&mut self) -> &mut Guard;
}

/// Applies the CPU budget and the memory limit of the Store's [`Guard`] to `store`.
pub fn arm<T: Guarded>(store: &mut Store<T>) {
    store.limiter(|data| &mut data.guard().memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().guard().on_tick()));
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use wasmtime::{Linker, Module, Trap};

    use super::*;
    use crate::components::{Allocation, engine_with};

    struct Data(Guard);

    impl Guarded for Data {
        fn guard(&mut self) -> &mut Guard {
            &mut self.0
        }
    }

    /// `spin` loops for ever; `wait(ms)` waits in an async host call `ms` milliseconds, twice;
    /// `grow(pages)` grows the memory (1 page initially) and returns `memory.grow`'s answer.
    const WAT: &str = r#"
        (module
          (import "host" "sleep" (func $sleep (param i32)))
          (memory 1)
          (func (export "spin") (loop $l (br $l)))
          (func (export "wait") (param i32)
            (call $sleep (local.get 0))
            (call $sleep (local.get 0)))
          (func (export "grow") (param i32) (result i32)
            (memory.grow (local.get 0))))
    "#;

    fn limits(cpu_ms: u64) -> Limits {
        Limits {
            cpu: Duration::from_millis(cpu_ms),
            memory: 1 << 20,
            pool_instances: 4,
            ..Limits::default()
        }
    }

    /// An engine made by the server's own function, a Store armed as the server arms it, and the
    /// test module instantiated in it.
    async fn instance(l: &Limits, allocation: Allocation) -> (Store<Data>, wasmtime::Instance) {
        let engine = engine_with(l, allocation).unwrap();
        start_ticker(&engine).unwrap();
        let module = Module::new(&engine, WAT).unwrap();
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap_async("host", "sleep", |_caller, (ms,): (i32,)| {
                Box::new(async move { tokio::time::sleep(Duration::from_millis(ms as u64)).await })
            })
            .unwrap();
        let mut store = Store::new(&engine, Data(Guard::new(l)));
        arm(&mut store);
        let instance = linker.instantiate_async(&mut store, &module).await.unwrap();
        (store, instance)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_endless_loop_is_stopped_at_the_cpu_limit() {
        for allocation in [Allocation::Pooling, Allocation::OnDemand] {
            let (mut store, instance) = instance(&limits(200), allocation).await;
            store.data_mut().0.serve(Tag::next());
            let tag = store.data().0.tag;
            let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
            let t0 = Instant::now();
            let err = spin.call_async(&mut store, ()).await.unwrap_err();
            let took = t0.elapsed();
            assert_eq!(
                err.downcast_ref::<Trap>(),
                Some(&Trap::Interrupt),
                "{allocation:?}: {err:#}"
            );
            assert!(
                took >= Duration::from_millis(190) && took < Duration::from_secs(5),
                "{allocation:?}: a 200 ms limit stopped the loop after {took:?}"
            );
            assert!(store.data().0.stopped(), "{allocation:?}");
            assert!(tag.was_stopped(), "{allocation:?}: the server is told");
            assert!(!Tag::next().was_stopped());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_in_a_host_call_is_not_counted() {
        for allocation in [Allocation::Pooling, Allocation::OnDemand] {
            let (mut store, instance) = instance(&limits(100), allocation).await;
            let wait = instance.get_typed_func::<i32, ()>(&mut store, "wait").unwrap();
            let t0 = Instant::now();
            // 2 × 300 ms of waiting under a 100 ms limit.
            wait.call_async(&mut store, 300).await.unwrap();
            assert!(t0.elapsed() >= Duration::from_millis(600), "{allocation:?}");
            assert!(!store.data().0.stopped(), "{allocation:?}");
            // The budget is still there for compute, and still ends it.
            let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
            let err = spin.call_async(&mut store, ()).await.unwrap_err();
            assert_eq!(
                err.downcast_ref::<Trap>(),
                Some(&Trap::Interrupt),
                "{allocation:?}: {err:#}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_is_capped_in_both_allocators() {
        for allocation in [Allocation::Pooling, Allocation::OnDemand] {
            // 1 MiB limit, 64 KiB pages, 1 page to start with.
            let (mut store, instance) = instance(&limits(1000), allocation).await;
            let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
            assert_eq!(
                grow.call_async(&mut store, 16).await.unwrap(),
                -1,
                "{allocation:?}: 17 pages"
            );
            assert_eq!(
                grow.call_async(&mut store, 15).await.unwrap(),
                1,
                "{allocation:?}: 16 pages"
            );
            assert_eq!(
                grow.call_async(&mut store, 1).await.unwrap(),
                -1,
                "{allocation:?}: 17 pages"
            );
        }
    }

    #[test]
    fn ticks_round_up() {
        assert_eq!(ticks_in(Duration::from_millis(1)), 1);
        assert_eq!(ticks_in(Duration::from_millis(10)), 1);
        assert_eq!(ticks_in(Duration::from_millis(11)), 2);
        assert_eq!(ticks_in(Duration::from_secs(10)), 1000);
    }
}

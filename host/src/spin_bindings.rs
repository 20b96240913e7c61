//! Rust bindings for the two Spin interfaces `vinr` implements itself (host/wit/, copied from
//! spin-sdk 7.0.0). WIT `async func`s get `&Accessor` (they may create streams and futures);
//! `trappable` lets host-side failures (a full resource table) trap instead of being disguised
//! as guest-visible errors.
wasmtime::component::bindgen!({
    path: "wit",
    world: "vinr:host/spin-host",
    imports: { default: trappable },
    with: {
        "spin:sqlite/sqlite.connection": crate::sqlite_host::Connection,
        "spin:key-value/key-value.store": crate::kv_host::KvStore,
    },
});

pub use spin::key_value::key_value as kv;
pub use spin::sqlite::sqlite;

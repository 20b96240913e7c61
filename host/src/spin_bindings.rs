//! Rust bindings for the Spin interface `vinr` implements itself, spin:sqlite (host/wit/, copied
//! from spin-sdk 7.0.0). WIT `async func`s get `&Accessor` (they may create streams and futures);
//! `trappable` lets host-side failures (a full resource table) trap instead of being disguised
//! as guest-visible errors.
wasmtime::component::bindgen!({
    path: "wit",
    world: "vinr:host/spin-host",
    imports: { default: trappable },
    with: {
        "spin:sqlite/sqlite.connection": crate::sqlite_host::Connection,
    },
});

pub use spin::sqlite::sqlite;

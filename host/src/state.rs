//! What each component instance's Store holds ([`HostState`]): WASI, wasi:http with the
//! terminal hub as the only outbound destination, and what the Spin interfaces `vinr`
//! implements need. The server creates it per request; the interface implementation
//! (`sqlite_host`) and the linker (`components`) use it.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::db::Pool;
use crate::limits::cpu::{Guard, Guarded};
use crate::terminal_hub::outbound::HubHooks;

/// Everything a Store holds for one instance.
pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    /// Outbound HTTP: only the terminal hub (`terminal_hub::outbound`).
    pub hooks: HubHooks,
    pub spin: SpinCtx,
    /// CPU budget and memory limit (`limits::cpu`).
    pub guard: Guard,
}

impl Guarded for HostState {
    fn guard(&mut self) -> &mut Guard {
        &mut self.guard
    }
}

/// What the spin:sqlite implementation needs: the component's grants from spin.toml and the
/// connection pool.
pub struct SpinCtx {
    pub grants: Arc<Grants>,
    pub sqlite: Arc<Pool>,
}

pub struct Grants {
    pub sqlite_databases: Vec<String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

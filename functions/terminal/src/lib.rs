//! The terminals route group (/v1/terminals, /v1/terminal/payments) as a Spin component (routes
//! in spin.toml). The devices' WebSocket (`/v1/terminal/connect`) is not served here: the
//! runtime's terminal hub holds it, and this component reaches the hub by outbound HTTP
//! (`Env::terminal_hub` in the Spin adapter).

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::TerminalRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<TerminalRoutes>(req).await
}

//! The refunds route group (/v1/refunds, /v1/disputes) as a Spin component (routes in spin.toml).

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::RefundsRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<RefundsRoutes>(req).await
}

//! The balance route group (/v1/balance, /v1/transactions, /v1/settlements, /v1/payouts, /v1/processing_plan, /v1/test_helpers) as a Spin component (routes in spin.toml).

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::BalanceRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<BalanceRoutes>(req).await
}

//! The `intents` route group as a Spin component (routes in spin.toml): seed 004's payment
//! intents under `/v1/payment_intents`, their attempts, captures and refunds.

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::IntentsRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<IntentsRoutes>(req).await
}

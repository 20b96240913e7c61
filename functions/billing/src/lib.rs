//! The `billing` route group as a Spin component (routes in spin.toml): products and prices.

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::BillingRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<BillingRoutes>(req).await
}

//! The `customers` route group as a Spin component (routes in spin.toml).

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::CustomersRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<CustomersRoutes>(req).await
}

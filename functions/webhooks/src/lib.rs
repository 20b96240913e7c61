//! The `webhooks` route group (`/v1/webhooks`, `/v1/events`) as a Spin component (routes in spin.toml).

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::WebhooksRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<WebhooksRoutes>(req).await
}

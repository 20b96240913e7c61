//! The `api_keys` route group (`/v1/api_keys`: restricted keys, rolling, revoking) as a Spin
//! component (routes in spin.toml).

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::ApiKeysRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<ApiKeysRoutes>(req).await
}

//! The `loyalty` route group as a Spin component (routes in spin.toml): Engagement's program,
//! accounts, points transactions, rewards and redemptions under `/v1/loyalty/`.

use spin_sdk::http::{IntoResponse, Request};
use vinr_shared::api::LoyaltyRoutes;

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    vinr_spin_adapter::serve::<LoyaltyRoutes>(req).await
}

//! A platform's connected accounts (`acct_`, seed 004's "Accounts"): made by the platform with
//! `POST /v1/accounts` (or by `vinr account create --platform`), acted as with `x-account-id`,
//! paid by `payment_splits`. docs/platforms.md.

use crate::fields::Metadata;
use serde::{Deserialize, Serialize};

/// A connected account as returned.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ConnectedAccount {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^acct_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "account")))]
    pub object: String,
    /// Seed 004's name for `object`.
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "account")))]
    pub entity: String,
    pub business_name: Option<String>,
    /// Groups the accounts of one business (`x-business-id`, `GET /v1/business/payouts`).
    pub business_id: Option<String>,
    pub email: Option<String>,
    pub metadata: Metadata,
    /// The platform the account is connected to (seed 004's partner).
    pub partner_id: String,
    /// The environment it exists in; null for an account made by the CLI, which has keys of its
    /// own in both.
    pub livemode: Option<bool>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Unix seconds (the API's name).
    pub created: i64,
}

//! A payment method as the money flows use it (a payment's card, a refund's test behaviour):
//! a predefined test method, or a stored one of the account.

use crate::cards::{self, TEST_CARD_EXP, TestBehavior, test_card_by_pm};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::objects::{Card, PaymentMethod};
use crate::port::{Db, Env, Stmt};
use crate::sql_params;

/// A payment method as payments use it: its card snapshot, its test behaviour (sandbox), owner.
pub struct ResolvedPm {
    pub id: String,
    pub card: Card,
    pub behavior: Option<TestBehavior>,
    pub customer: Option<String>,
}

pub fn test_card_snapshot(key: &str, tc: &cards::TestCard) -> Card {
    Card {
        brand: tc.brand.into(),
        last4: tc.number[tc.number.len() - 4..].into(),
        exp_month: TEST_CARD_EXP.0,
        exp_year: TEST_CARD_EXP.1,
        fingerprint: cards::fingerprint(key, tc.number),
        funding: tc.funding.into(),
    }
}

/// Resolves a payment method named by parameter `param` (400 naming it if unknown).
pub async fn resolve<D: Db, E: Env>(cx: &Ctx<'_, D, E>, param: &str, id: &str) -> ApiResult<ResolvedPm> {
    if let Some(tc) = test_card_by_pm(id) {
        return Ok(ResolvedPm {
            id: id.into(),
            card: test_card_snapshot(&cx.fingerprint_key().await?, tc),
            behavior: Some(tc.behavior),
            customer: None,
        });
    }
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT data, test_behavior FROM payment_methods WHERE id = ? AND account_id = ? AND livemode = ?",
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::invalid(param, "resource_missing", format!("No such payment method: '{id}'.")))?;
    let pm: PaymentMethod = row[0]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::internal("unreadable stored payment method"))?;
    Ok(ResolvedPm {
        id: pm.id,
        card: pm.card,
        behavior: row[1].as_str().and_then(TestBehavior::from_code),
        customer: pm.customer,
    })
}

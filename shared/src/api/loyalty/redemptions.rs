//! `/v1/loyalty/redemptions`: exchange an account's points for a reward, list (filter
//! `account`), retrieve, cancel. The writes are [`crate::flows::loyalty::redemption`]'s.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use super::{data_of, id_filter, listed};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::fields;
use crate::flows::loyalty::redemption;
use crate::objects::loyalty::Redemption;
use crate::port::{Db, Env};
use crate::store::{load_path, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Cancel,
}

pub const CREATE: &[Field] = &[
    Field::str("account", 100).required().doc("The loy_ whose points pay."),
    Field::str("reward", 100).required().doc("The rwd_ redeemed."),
    Field::metadata(),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => {
            let account = p.required_string("account")?;
            let reward = p.required_string("reward")?;
            let (r, writes) = redemption::redeem(cx, &account, &reward, fields::new_metadata(p.params())?).await?;
            Ok(Outcome::write(to_json(&r), writes))
        }
        Action::List => {
            let spec = id_filter(p, "loyalty_redemptions", "account", "loyalty_account")?;
            listed(cx, p, spec, "redemptions", "data", data_of).await
        }
        Action::Retrieve => {
            let r = load_path::<Redemption, _, _>(cx, "loyalty_redemptions", "", "redemption", id).await?;
            Ok(Outcome::read(to_json(&r.obj)))
        }
        Action::Cancel => {
            let (r, writes) = redemption::cancel(cx, id).await?;
            Ok(Outcome::write(to_json(&r), writes))
        }
    }
}

//! `/v1/loyalty/transactions`: every points transaction of the environment, newest first
//! (filters `account`, `type`, `created[...]`), and one by id. They are created by the
//! movements themselves: captures, refunds, disputes, redemptions, expiries and
//! `POST /v1/loyalty/accounts/:id/transactions`.

use super::super::Outcome;
use super::super::operation::Args;
use super::{data_of, id_filter, listed};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::objects::loyalty::PointsTransaction;
use crate::port::{Db, Env};
use crate::store::{load_path, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    List,
    Retrieve,
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::List => {
            let mut spec = id_filter(p, "loyalty_transactions", "account", "loyalty_account")?;
            if let Some(t) = p.one_of("type")? {
                spec.filter.push_str(" AND type = ?");
                spec.filter_params.push(t.into());
            }
            for (op, value) in p.int_filter("created")? {
                spec.filter.push_str(&format!(" AND created {op} ?"));
                spec.filter_params.push(value.into());
            }
            listed(cx, p, spec, "transactions", "data", data_of).await
        }
        Action::Retrieve => {
            let t =
                load_path::<PointsTransaction, _, _>(cx, "loyalty_transactions", "", "points transaction", id).await?;
            Ok(Outcome::read(to_json(&t.obj)))
        }
    }
}

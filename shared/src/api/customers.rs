//! `/v1/customers`: create, retrieve, update, list, delete. One customer object is shared by
//! every product (seed 002).

use super::Outcome;
use super::operation::{Args, Field, Op};
use super::payment_methods::attach;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::events::EventType;
use crate::fields;
use crate::list::{self, ListSpec};
use crate::objects::{Customer, PaymentMethod};
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::store::{Loaded, guarded_update, load_path, to_json};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Update,
    Delete,
}

const EMAIL: Field = Field::checked("email", 512);
const NAME: Field = Field::str("name", 256);
const PHONE: Field = Field::str("phone", 40);
const DESCRIPTION: Field = Field::str("description", 1000);

pub const OPS: &[Op<Action>] = &[
    Op::post("customers", "create", Action::Create)
        .summary("Create a customer")
        .fields(&[
            EMAIL,
            NAME,
            PHONE,
            DESCRIPTION,
            Field::metadata(),
            Field::str("payment_method", 100),
        ])
        .answers("Customer"),
    Op::get("customers", "list", Action::List)
        .summary("List customers")
        .list()
        .fields(&[Field::str("email", 512)])
        .answers("CustomerList"),
    Op::get("customers/:id", "retrieve", Action::Retrieve)
        .summary("Retrieve a customer")
        .answers("Customer"),
    Op::post("customers/:id", "update", Action::Update)
        .summary("Update a customer")
        // A missing customer is a 404 whatever the fields.
        .checked_after_load()
        .fields(&[
            EMAIL,
            NAME,
            PHONE,
            DESCRIPTION,
            Field::metadata(),
            Field::str("default_payment_method", 100),
        ])
        .answers("Customer"),
    Op::delete("customers/:id", "delete", Action::Delete)
        .summary("Delete a customer")
        .answers("Deleted"),
];

const LIVE: &str = " AND deleted = 0";

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => list(cx, p).await,
        Action::Retrieve => Ok(Outcome::read(to_json(
            &load_path::<Customer, _, _>(cx, "customers", LIVE, "customer", id)
                .await?
                .obj,
        ))),
        Action::Update => update(cx, id, p).await,
        Action::Delete => {
            let Loaded { obj, version } = load_path::<Customer, _, _>(cx, "customers", LIVE, "customer", id).await?;
            let body = json!({ "id": obj.id, "object": "customer", "deleted": true });
            let mut writes: Vec<Stmt> =
                guarded_update("customers", "deleted = ?", sql_params![1_i64], id, version).into();
            writes.extend(events::record(
                cx.env,
                &cx.acct,
                EventType::CustomerDeleted,
                cx.now,
                &to_json(&obj),
            ));
            Ok(Outcome::write(body, writes))
        }
    }
}

fn checked_email(v: Option<String>) -> ApiResult<Option<String>> {
    v.map(|e| fields::email("email", &e)).transpose()
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let mut cust = Customer {
        id: cx.id("cust_"),
        object: "customer".into(),
        email: checked_email(p.string("email")?)?,
        name: p.string("name")?,
        phone: p.string("phone")?,
        description: p.string("description")?,
        default_payment_method: None,
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let mut writes = Vec::new();
    if let Some(pm) = p.string("payment_method")? {
        let (attached, w): (PaymentMethod, _) = attach(cx, "payment_method", &pm, &cust.id).await?;
        cust.default_payment_method = Some(attached.id);
        writes.extend(w);
    }
    let data = to_json(&cust);
    // The customer row goes first: the attach writes refer to it.
    writes.insert(
        0,
        Stmt::new(
            "INSERT INTO customers (id, account_id, livemode, email, created, data) VALUES (?, ?, ?, ?, ?, ?)",
            sql_params![
                &cust.id,
                &cx.acct.id,
                cx.acct.livemode,
                cust.email.clone(),
                cx.now,
                data.to_string()
            ],
        ),
    );
    writes.splice(
        1..1,
        events::record(cx.env, &cx.acct, EventType::CustomerCreated, cx.now, &data),
    );
    Ok(Outcome::write(data, writes))
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj: mut cust, version } = load_path::<Customer, _, _>(cx, "customers", LIVE, "customer", id).await?;
    p.check_after_load()?;
    if let Some(v) = p.update_text("email")? {
        cust.email = checked_email(v)?;
    }
    if let Some(v) = p.update_text("name")? {
        cust.name = v;
    }
    if let Some(v) = p.update_text("phone")? {
        cust.phone = v;
    }
    if let Some(v) = p.update_text("description")? {
        cust.description = v;
    }
    if let Some(m) = fields::metadata(p.params())? {
        fields::merge_metadata(&mut cust.metadata, m)?;
    }
    if let Some(v) = p.update_text("default_payment_method")? {
        if let Some(pm) = &v {
            let owned = cx
                .db
                .query(Stmt::new(
                    "SELECT 1 FROM payment_methods WHERE id = ? AND account_id = ? AND livemode = ? AND customer_id = ?",
                    sql_params![pm, &cx.acct.id, cx.acct.livemode, id],
                ))
                .await?;
            if owned.is_empty() {
                return Err(ApiError::invalid(
                    "default_payment_method",
                    "payment_method_not_attached",
                    format!("Payment method '{pm}' is not attached to customer {id}; attach it first."),
                ));
            }
        }
        cust.default_payment_method = v;
    }
    let data = to_json(&cust);
    let mut writes: Vec<Stmt> = guarded_update(
        "customers",
        "email = ?, data = ?",
        sql_params![cust.email.clone(), data.to_string()],
        id,
        version,
    )
    .into();
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::CustomerUpdated,
        cx.now,
        &data,
    ));
    Ok(Outcome::write(data, writes))
}

async fn list<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    let (filter, filter_params) = match p.string("email")? {
        Some(e) => (format!("{LIVE} AND email = ?"), sql_params![e]),
        None => (LIVE.to_string(), vec![]),
    };
    let (data, has_more) = list::fetch(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "customers",
            filter,
            filter_params,
        },
        &page,
    )
    .await?;
    Ok(Outcome::read(list::envelope("/v1/customers", data, has_more)))
}

//! `/v1/webhooks` (endpoints, their secrets and deliveries) and `/v1/events`. Delivery itself is
//! the runtime's dispatcher (host/src/dispatcher.rs locally); the rows it works from are made in
//! the same batch as each event (crate::events).

use super::Outcome;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events::{EventType, TYPES, canonical_type};
use crate::list::{self, ListSpec};
use crate::params::Params;
use crate::port::{Db, Env, Row, SqlValue, Stmt};
use crate::sql_params;
use crate::store::{Loaded, guarded_update, load_path, to_json};
use crate::webhooks::url_policy;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Update,
    Delete,
    RollSecret,
    Deliveries,
    Resend,
    Events,
    Event,
}

const URL: Field = Field::checked("url", 2048);
const ENABLED_EVENTS: Field = Field::str_list("enabled_events", 1);
const DESCRIPTION: Field = Field::str("description", 1000);

pub const OPS: &[Op<Action>] = &[
    Op::post("webhooks", "create", Action::Create)
        .summary("Create a webhook endpoint")
        .fields(&[URL.required(), ENABLED_EVENTS.required(), DESCRIPTION])
        .shows_once(&["secret"])
        .answers("WebhookEndpoint"),
    Op::get("webhooks", "list", Action::List)
        .summary("List webhook endpoints")
        .list()
        .answers("WebhookEndpointList"),
    Op::get("webhooks/:id", "retrieve", Action::Retrieve)
        .summary("Retrieve a webhook endpoint")
        .answers("WebhookEndpoint"),
    Op::post("webhooks/:id", "update", Action::Update)
        .summary("Update a webhook endpoint")
        // A missing endpoint is a 404 whatever the fields.
        .checked_after_load()
        .fields(&[URL, ENABLED_EVENTS, DESCRIPTION, Field::bool("disabled")])
        .answers("WebhookEndpoint"),
    Op::delete("webhooks/:id", "delete", Action::Delete)
        .summary("Delete a webhook endpoint")
        .answers("Deleted"),
    Op::post("webhooks/:id/roll_secret", "roll_secret", Action::RollSecret)
        .summary("Roll a webhook endpoint's signing secret")
        .fields(&[Field::int_in("expire_previous_after", 0, MAX_GRACE_SECS)])
        .shows_once(&["secret"])
        .answers("WebhookEndpoint"),
    Op::get("webhooks/:id/deliveries", "deliveries", Action::Deliveries)
        .summary("List a webhook endpoint's deliveries")
        .list()
        // The cursor is checked first, a missing endpoint is a 404, then the filter.
        .checked_after_load()
        .fields(&[Field::one_of("status", DELIVERY_STATUSES)])
        .answers("WebhookDeliveryList"),
    Op::post("webhooks/:id/resend", "resend", Action::Resend)
        .summary("Deliver an event to this endpoint again")
        .fields(&[Field::str("event", 100).required()])
        .answers("WebhookDelivery"),
    Op::get("events", "events", Action::Events)
        .summary("List events")
        .list()
        .fields(&[Field::str("type", 100), Field::int_filter("created")])
        .answers("EventList"),
    Op::get("events/:id", "event", Action::Event)
        .summary("Retrieve an event")
        .answers("Event"),
];

// As stored; responses add `status` and `failing_since` ([`render`]), and create and roll_secret
// the secret (`schema::rendered` documents them).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(transform = schema::rendered))]
pub struct WebhookEndpoint {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^we_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "webhook_endpoint")))]
    pub object: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub livemode: bool,
    pub created: i64,
}

/// The fields of an endpoint's responses that are not stored (the `openapi` feature).
#[cfg(feature = "openapi")]
mod schema {
    use serde_json::{Value, json};

    pub fn rendered(s: &mut schemars::Schema) {
        if let Some(p) = s.get_mut("properties").and_then(Value::as_object_mut) {
            p.insert(
                "status".into(),
                json!({ "type": "string", "enum": ["enabled", "disabled"] }),
            );
            p.insert("failing_since".into(), json!({ "type": ["integer", "null"] }));
            p.insert(
                "secret".into(),
                json!({ "type": ["string", "null"], "description": "Only in the responses of create and roll_secret; null in an idempotent replay of them (a secret is shown once)." }),
            );
            p.insert(
                "previous_secret_expires_at".into(),
                json!({ "type": "integer", "description": "Only in the response of roll_secret." }),
            );
        }
        if let Some(r) = s.get_mut("required").and_then(Value::as_array_mut) {
            r.extend([json!("status"), json!("failing_since")]);
        }
    }
}

const LIVE: &str = " AND deleted = 0";
/// How long a rolled secret keeps signing by default, and at most.
const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
const MAX_GRACE_SECS: i64 = 7 * 24 * 3600;
const MAX_ENDPOINTS: i64 = 16;

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let page = p.page()?;
            let spec = ListSpec {
                table: "webhook_endpoints",
                filter: LIVE.into(),
                filter_params: vec![],
            };
            let (rows, has_more) = list::fetch_rows(cx.db, &cx.acct, spec, &page, "data, failing_since").await?;
            let data = rows.iter().map(render_row).collect::<ApiResult<_>>()?;
            Ok(Outcome::read(list::envelope("/v1/webhooks", data, has_more)))
        }
        Action::Retrieve => Ok(Outcome::read(load_rendered(cx, id).await?)),
        Action::Update => update(cx, id, p).await,
        Action::Delete => {
            let ep = load_path::<WebhookEndpoint, _, _>(cx, "webhook_endpoints", LIVE, "webhook endpoint", id).await?;
            let mut writes: Vec<Stmt> =
                guarded_update("webhook_endpoints", "deleted = ?", sql_params![1_i64], id, ep.version).into();
            writes.push(stop_pending(id, "endpoint deleted"));
            Ok(Outcome::write(
                json!({ "id": id, "object": "webhook_endpoint", "deleted": true }),
                writes,
            ))
        }
        Action::RollSecret => {
            let grace = p.integer("expire_previous_after")?.unwrap_or(DEFAULT_GRACE_SECS);
            let ep = load_path::<WebhookEndpoint, _, _>(cx, "webhook_endpoints", LIVE, "webhook endpoint", id).await?;
            let secret = new_secret(cx);
            // The previous secret is read inside the UPDATE itself, so a racing roll cannot lose it.
            let writes: Vec<Stmt> = guarded_update(
                "webhook_endpoints",
                "previous_secret = secret, previous_expires_at = ?, secret = ?",
                sql_params![cx.wall + grace, &secret],
                id,
                ep.version,
            )
            .into();
            let mut body = render(&ep.obj, None);
            body["secret"] = json!(secret);
            body["previous_secret_expires_at"] = json!(cx.wall + grace);
            Ok(Outcome::write(body, writes))
        }
        Action::Deliveries => deliveries(cx, id, p).await,
        Action::Resend => {
            let event = p.required_string("event")?;
            load_path::<WebhookEndpoint, _, _>(cx, "webhook_endpoints", LIVE, "webhook endpoint", id).await?;
            let found = cx
                .db
                .query(Stmt::new(
                    "SELECT 1 FROM events WHERE id = ? AND account_id = ? AND livemode = ?",
                    sql_params![&event, &cx.acct.id, cx.acct.livemode],
                ))
                .await?;
            if found.is_empty() {
                return Err(ApiError::invalid(
                    "event",
                    "resource_missing",
                    format!("No such event: '{event}'."),
                ));
            }
            let wd = cx.id("wd_");
            let now_ms = cx.env.now_ms();
            let writes = vec![Stmt::new(
                "INSERT INTO webhook_deliveries (id, account_id, livemode, endpoint_id, event_id, status, attempts, next_attempt_at, created_ms, created) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                sql_params![&wd, &cx.acct.id, cx.acct.livemode, id, &event, now_ms, now_ms, cx.now],
            )];
            let body = WebhookDelivery {
                id: wd,
                object: "webhook_delivery",
                event,
                endpoint: id.to_string(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: Some(now_ms / 1000),
                last_status_code: None,
                last_error: None,
                last_duration_ms: None,
                last_attempt_at: None,
                created: cx.now,
            };
            Ok(Outcome::write(body.to_json(), writes))
        }
        Action::Events => events(cx, p).await,
        Action::Event => {
            let rows = cx
                .db
                .query(Stmt::new(
                    "SELECT data FROM events WHERE id = ? AND account_id = ? AND livemode = ?",
                    sql_params![id, &cx.acct.id, cx.acct.livemode],
                ))
                .await?;
            let data = rows
                .first()
                .and_then(|r| r[0].as_str())
                .ok_or_else(|| ApiError::not_found("id", "event", id))?;
            Ok(Outcome::read(
                serde_json::from_str(data).map_err(|_| ApiError::internal("unreadable stored event"))?,
            ))
        }
    }
}

fn new_secret<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> String {
    let mut buf = [0u8; 64];
    cx.env.fill_random(&mut buf);
    format!("whsec_{}", crate::ids::base62(&buf, 32))
}

/// `enabled_events`: a non-empty list of known event types, or `*`.
fn enabled_events(p: &Params) -> ApiResult<Option<Vec<String>>> {
    let items = match p.list_raw("enabled_events") {
        None => return Ok(None),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) if p.form => vec![Value::String(s.clone())],
        Some(_) => {
            return Err(ApiError::invalid(
                "enabled_events",
                "parameter_invalid",
                "enabled_events must be a list of event types.",
            ));
        }
    };
    if items.is_empty() || items.len() > TYPES.len() + 1 {
        return Err(ApiError::invalid(
            "enabled_events",
            "parameter_invalid",
            "enabled_events must list 1 or more event types (or '*').",
        ));
    }
    let mut out = Vec::new();
    for v in items {
        match v {
            Value::String(s) if s == "*" || EventType::parse(&s).is_some() => {
                let s = EventType::parse(&s).map_or("*", EventType::as_str).to_string();
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            Value::String(s) => {
                return Err(ApiError::invalid(
                    "enabled_events",
                    "event_type_unknown",
                    format!("Unknown event type '{s}'. Known: *, {}.", TYPES.join(", ")),
                ));
            }
            _ => {
                return Err(ApiError::invalid(
                    "enabled_events",
                    "parameter_invalid",
                    "enabled_events must be a list of strings.",
                ));
            }
        }
    }
    Ok(Some(out))
}

fn render(ep: &WebhookEndpoint, failing_since: Option<i64>) -> Value {
    let mut v = to_json(ep);
    v["status"] = json!(if ep.disabled { "disabled" } else { "enabled" });
    v["failing_since"] = json!(failing_since);
    v
}

fn render_row(r: &Row) -> ApiResult<Value> {
    let ep: WebhookEndpoint = r[0]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::internal("unreadable stored endpoint"))?;
    Ok(render(&ep, r[1].as_i64()))
}

async fn load_rendered<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Value> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT data, failing_since FROM webhook_endpoints WHERE id = ? AND account_id = ? AND livemode = ? AND deleted = 0",
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    render_row(
        rows.first()
            .ok_or_else(|| ApiError::not_found("id", "webhook endpoint", id))?,
    )
}

/// Pending deliveries of an endpoint that stops receiving are closed, not left to retry.
fn stop_pending(endpoint: &str, why: &str) -> Stmt {
    Stmt::new(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ? WHERE endpoint_id = ? AND status = 'pending'",
        sql_params![why, endpoint],
    )
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let url = url_policy::check("url", &p.required_string("url")?, cx.acct.livemode)?;
    let events = enabled_events(p.params())?.ok_or_else(|| ApiError::missing("enabled_events"))?;
    let count = cx
        .db
        .query(Stmt::new(
            "SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = ? AND livemode = ? AND deleted = 0",
            sql_params![&cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    if count.first().and_then(|r| r[0].as_i64()).unwrap_or(0) >= MAX_ENDPOINTS {
        return Err(ApiError::invalid(
            "url",
            "webhook_endpoint_limit",
            format!("An environment can have at most {MAX_ENDPOINTS} webhook endpoints."),
        ));
    }
    let ep = WebhookEndpoint {
        id: cx.id("we_"),
        object: "webhook_endpoint".into(),
        url,
        enabled_events: events,
        description: p.string("description")?,
        disabled: false,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let secret = new_secret(cx);
    let data = to_json(&ep);
    let writes = vec![Stmt::new(
        "INSERT INTO webhook_endpoints (id, account_id, livemode, url, enabled_events, secret, created, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &ep.id,
            &cx.acct.id,
            cx.acct.livemode,
            &ep.url,
            json!(ep.enabled_events).to_string(),
            &secret,
            cx.now,
            data.to_string()
        ],
    )];
    // The secret is shown once, here (and again only when rolled).
    let mut body = render(&ep, None);
    body["secret"] = json!(secret);
    Ok(Outcome::write(body, writes))
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj: mut ep, version } =
        load_path::<WebhookEndpoint, _, _>(cx, "webhook_endpoints", LIVE, "webhook endpoint", id).await?;
    p.check_after_load()?;
    if let Some(u) = p.string("url")? {
        ep.url = url_policy::check("url", &u, cx.acct.livemode)?;
    }
    if let Some(e) = enabled_events(p.params())? {
        ep.enabled_events = e;
    }
    if p.has("description") {
        ep.description = p.string("description")?;
    }
    let was_disabled = ep.disabled;
    if let Some(d) = p.boolean("disabled")? {
        ep.disabled = d;
    }
    let data = to_json(&ep);
    let mut writes: Vec<Stmt> = guarded_update(
        "webhook_endpoints",
        "url = ?, enabled_events = ?, disabled = ?, data = ?",
        sql_params![
            &ep.url,
            json!(ep.enabled_events).to_string(),
            ep.disabled,
            data.to_string()
        ],
        id,
        version,
    )
    .into();
    if ep.disabled && !was_disabled {
        writes.push(stop_pending(id, "endpoint disabled"));
    }
    let failing = cx
        .db
        .query(Stmt::new(
            "SELECT failing_since FROM webhook_endpoints WHERE id = ?",
            sql_params![id],
        ))
        .await?;
    Ok(Outcome::write(
        render(&ep, failing.first().and_then(|r| r[0].as_i64())),
        writes,
    ))
}

/// What a delivery's `status` can be.
pub const DELIVERY_STATUSES: &[&str] = &["pending", "succeeded", "failed"];

/// One event's delivery to one endpoint (times in unix seconds).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct WebhookDelivery {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^wd_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "webhook_delivery")))]
    pub object: &'static str,
    pub event: String,
    pub endpoint: String,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = DELIVERY_STATUSES)))]
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub created: i64,
}

impl WebhookDelivery {
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

async fn deliveries<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    load_path::<WebhookEndpoint, _, _>(cx, "webhook_endpoints", "", "webhook endpoint", id).await?;
    p.check_after_load()?;
    let mut filter = " AND endpoint_id = ?".to_string();
    let mut filter_params = sql_params![id];
    if let Some(s) = p.one_of("status")? {
        filter.push_str(" AND status = ?");
        filter_params.push(SqlValue::Text(s));
    }
    let url = format!("/v1/webhooks/{id}/deliveries");
    let spec = ListSpec {
        table: "webhook_deliveries",
        filter,
        filter_params,
    };
    let cols = "id, event_id, endpoint_id, status, attempts, next_attempt_at, last_status_code, last_error, last_duration_ms, last_attempt_at, created";
    let (rows, has_more) = list::fetch_rows(cx.db, &cx.acct, spec, &page, cols).await?;
    let secs = |v: &SqlValue| v.as_i64().map(|ms| ms / 1000);
    let data = rows
        .iter()
        .map(|r| {
            // id, event_id, endpoint_id, status, attempts and created are NOT NULL.
            let text = |i: usize| r[i].as_str().unwrap_or_default().to_string();
            WebhookDelivery {
                id: text(0),
                object: "webhook_delivery",
                event: text(1),
                endpoint: text(2),
                status: text(3),
                attempts: r[4].as_i64().unwrap_or_default(),
                next_attempt_at: secs(&r[5]),
                last_status_code: r[6].as_i64(),
                last_error: r[7].as_str().map(str::to_string),
                last_duration_ms: r[8].as_i64(),
                last_attempt_at: secs(&r[9]),
                created: r[10].as_i64().unwrap_or_default(),
            }
            .to_json()
        })
        .collect();
    Ok(Outcome::read(list::envelope(&url, data, has_more)))
}

async fn events<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    let mut filter = String::new();
    let mut filter_params = Vec::new();
    if let Some(t) = p.string("type")? {
        filter.push_str(" AND type = ?");
        filter_params.push(SqlValue::Text(canonical_type(&t).to_string()));
    }
    for (op, value) in p.int_filter("created")? {
        // `op` is one of the filter's fixed comparisons, never client text.
        filter.push_str(&format!(" AND created {op} ?"));
        filter_params.push(SqlValue::Int(value));
    }
    let (data, has_more) = list::fetch(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "events",
            filter,
            filter_params,
        },
        &page,
    )
    .await?;
    Ok(Outcome::read(list::envelope("/v1/events", data, has_more)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resent delivery as `json!` built it before [`WebhookDelivery`]: every field, nulls included.
    #[test]
    fn delivery_json() {
        let d = WebhookDelivery {
            id: "wd_1".into(),
            object: "webhook_delivery",
            event: "evt_1".into(),
            endpoint: "we_1".into(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: Some(1_795_272_391),
            last_status_code: None,
            last_error: None,
            last_duration_ms: None,
            last_attempt_at: None,
            created: 1_795_272_390,
        };
        assert_eq!(
            d.to_json(),
            json!({
                "id": "wd_1", "object": "webhook_delivery", "event": "evt_1", "endpoint": "we_1", "status": "pending", "attempts": 0,
                "next_attempt_at": 1_795_272_391, "last_status_code": null, "last_error": null, "last_duration_ms": null,
                "last_attempt_at": null, "created": 1_795_272_390,
            })
        );
    }
}

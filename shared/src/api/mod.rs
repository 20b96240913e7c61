//! The request pipeline every route group shares: route, authenticate, parse, claim the
//! idempotency key, run the handler, commit its writes (and the stored response) in one batch,
//! re-running the handler if a guarded transition lost a race.

pub mod accounts;
pub mod api_keys;
pub mod balance;
pub mod billing;
pub mod customers;
pub mod disputes;
pub mod intent_search;
pub mod intents;
pub mod loyalty;
pub mod operation;
pub mod payment_methods;
pub mod payments;
pub mod payouts;
pub mod refunds;
pub mod search;
pub mod terminals;
pub mod test_clock;
pub mod webhooks;

use crate::auth::{Account, authenticate};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult, INTERNAL};
use crate::http::{Request, Response};
use crate::idempotency::{self, Claim};
use crate::params::Params;
use crate::port::{Cache, Db, DbError, Env, NoCache, Stmt, new_id};
use operation::{Args, Op, Spec};
use serde_json::Value;

/// The OpenAPI document as served: minified JSON, generated from the declarations by
/// `crate::openapi` (tests) and committed as `schema/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../schema/openapi.json");

/// A route group: one Spin component (or one mount in the Worker) serves each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Payments,
    Customers,
    PaymentMethods,
    /// `/v1/webhooks` and `/v1/events`.
    Webhooks,
    /// `/v1/refunds` and `/v1/disputes`.
    Refunds,
    /// `/v1/balance`, `/v1/transactions`, `/v1/settlements`, `/v1/payouts`,
    /// `/v1/processing_plan`, `/v1/test_helpers`, and seed 004's `/v1/business/payouts` and
    /// `/v1/partners/:id/processing_plan`.
    Balance,
    /// `/v1/terminals` and `/v1/terminal/payments`.
    Terminal,
    /// `/v1/api_keys`: key management, for secret keys only.
    ApiKeys,
    /// Billing: `/v1/products`, `/v1/prices`, `/v1/invoices`, `/v1/subscriptions` and
    /// `/v1/billing/settings`.
    Billing,
    /// Engagement: `/v1/loyalty/...` (program, accounts, transactions, rewards, redemptions).
    Loyalty,
    /// Seed 004's payment model: `/v1/payment_intents` and the platform's `/v1/accounts`.
    Intents,
}

impl Group {
    pub const ALL: [Group; 11] = [
        Group::Payments,
        Group::Customers,
        Group::PaymentMethods,
        Group::Webhooks,
        Group::Refunds,
        Group::Balance,
        Group::Terminal,
        Group::ApiKeys,
        Group::Billing,
        Group::Loyalty,
        Group::Intents,
    ];

    /// The group's operations, as declared (without their group-specific actions).
    pub fn specs(self) -> Vec<Spec> {
        fn of<A: Copy>(ops: &'static [Op<A>]) -> Vec<Spec> {
            ops.iter().map(|op| op.spec).collect()
        }
        match self {
            Group::Payments => of(payments::OPS),
            Group::Customers => of(customers::OPS),
            Group::PaymentMethods => of(payment_methods::OPS),
            Group::Webhooks => of(webhooks::OPS),
            Group::Refunds => of(refunds::OPS),
            Group::Balance => of(balance::OPS),
            Group::Terminal => of(terminals::OPS),
            Group::ApiKeys => of(api_keys::OPS),
            Group::Billing => of(billing::OPS),
            Group::Loyalty => of(loyalty::OPS),
            Group::Intents => of(intents::OPS),
        }
    }

    /// The group serving `path`: spin.toml's routes, for runtimes that mount every group in one
    /// program (the Worker). None for paths outside the API.
    pub fn for_path(path: &str) -> Option<Group> {
        let rest = path.strip_prefix("/v1/")?;
        let first = rest.split('/').next().unwrap_or("");
        Some(match first {
            // The OpenAPI document is served by the pipeline itself, in any group.
            "payments" | "charges" | "openapi.json" => Group::Payments,
            "customers" => Group::Customers,
            "payment_methods" => Group::PaymentMethods,
            "webhooks" | "events" => Group::Webhooks,
            "refunds" | "disputes" => Group::Refunds,
            "balance" | "transactions" | "settlements" | "payouts" | "processing_plan" | "test_helpers"
            | "business" | "partners" => Group::Balance,
            "terminals" | "terminal" => Group::Terminal,
            "api_keys" => Group::ApiKeys,
            "products" | "prices" | "invoices" | "subscriptions" | "billing" | "usage_records"
            | "subscription_items" => Group::Billing,
            "loyalty" => Group::Loyalty,
            "payment_intents" | "accounts" => Group::Intents,
            _ => return None,
        })
    }
}

/// The SQL condition and parameter of an optional `active` filter (the catalogues' lists:
/// products, prices, rewards).
pub(crate) fn active_filter(p: &Args<'_>) -> ApiResult<(String, Vec<crate::port::SqlValue>)> {
    Ok(match p.boolean("active")? {
        Some(a) => (" AND active = ?".into(), crate::sql_params![a]),
        None => (String::new(), Vec::new()),
    })
}

/// What a handler decided: the response body and the writes that make it true. `A` is the work
/// its route group may do once the writes are committed ([`Routes::After`]).
pub struct Outcome<A = NoAfter> {
    pub body: Value,
    pub writes: Vec<Stmt>,
    /// A body that is not JSON: (content type, bytes). Such answers are never stored for
    /// idempotent replay.
    pub raw: Option<(&'static str, Vec<u8>)>,
    /// The HTTP status of a success: 200, or 202 for work accepted but not finished.
    pub status: u16,
    /// Work after the commit that may replace the answer ([`Routes::after_commit`]).
    pub after: Option<A>,
}

/// The post-commit work of a route group that has none: no value exists, so an outcome of such a
/// group never carries any.
pub enum NoAfter {}

impl<A> Outcome<A> {
    pub fn read(body: Value) -> Outcome<A> {
        Outcome {
            body,
            writes: Vec::new(),
            raw: None,
            status: 200,
            after: None,
        }
    }

    pub fn write(body: Value, writes: Vec<Stmt>) -> Outcome<A> {
        Outcome {
            body,
            writes,
            raw: None,
            status: 200,
            after: None,
        }
    }
}

/// The declaration `method` and `segs` (the path after `/v1/`) name, and the path's id. A path
/// that matches with another method is a 405 listing the methods it allows.
pub fn match_op<A: Copy>(
    ops: &'static [Op<A>],
    method: &str,
    segs: &[&str],
) -> ApiResult<(&'static Op<A>, Option<String>)> {
    // (index, id, literal segments) of every declaration whose path matches.
    let mut matches: Vec<(usize, Option<String>, usize)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some((id, literals)) = match_path(op.spec.path, segs) {
            matches.push((i, id, literals));
        }
    }
    let best = matches.iter().map(|m| m.2).max();
    matches.retain(|m| Some(m.2) == best);
    if let Some((i, id, _)) = matches.iter().find(|m| ops[m.0].spec.method == method) {
        return Ok((&ops[*i], id.clone()));
    }
    if matches.is_empty() {
        return Err(route_not_found(method, segs));
    }
    let mut allowed: Vec<&str> = Vec::new();
    for m in &matches {
        if !allowed.contains(&ops[m.0].spec.method) {
            allowed.push(ops[m.0].spec.method);
        }
    }
    Err(method_not_allowed(method, &allowed))
}

/// Does `pattern` match `segs`? The captured id and how many literal segments matched (literal
/// segments win over `:id`, so `transactions/search` is never read as the id "search").
fn match_path(pattern: &str, segs: &[&str]) -> Option<(Option<String>, usize)> {
    let mut id = None;
    let mut literals = 0;
    let mut parts = pattern.split('/');
    for s in segs {
        match parts.next()? {
            ":id" if !s.is_empty() => id = Some((*s).to_string()),
            ":id" => return None,
            p if p == *s => literals += 1,
            _ => return None,
        }
    }
    parts.next().is_none().then_some((id, literals))
}

fn method_not_allowed(method: &str, allowed: &[&str]) -> ApiError {
    let mut e = ApiError::new(
        405,
        "invalid_request_error",
        "method_not_allowed",
        format!("{method} is not allowed on this path."),
    );
    e.allow = Some(allowed.join(", "));
    e
}

fn route_not_found(method: &str, segs: &[&str]) -> ApiError {
    ApiError::new(
        404,
        "invalid_request_error",
        "route_not_found",
        format!("Unrecognized request URL ({method}: /v1/{}).", segs.join("/")),
    )
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    }
}

/// A route group as a type: its table and handlers. A component that serves one group calls
/// [`serve_group`] with it, so it links that group's code only (and only the payments group
/// embeds the OpenAPI document); runtimes that mount every group dispatch with [`handle`].
#[allow(async_fn_in_trait)]
pub trait Routes {
    const GROUP: Group;
    /// Whether a request claims its idempotency key before its handler runs (`idempotency::claim`)
    /// instead of recording it in its one batch (`idempotency::record`): a group with an
    /// after-commit step reaches outside the database (the terminal hub, from the handler too),
    /// which a concurrent duplicate must not do twice. Derived from `after` in `route_groups!`.
    const CLAIMS_KEYS: bool;
    /// What the group's handlers do, one variant per operation.
    type Action: Copy + 'static;
    /// What the group's handlers may leave to do after their writes are committed ([`NoAfter`]
    /// for none).
    type After;
    fn route(method: &str, segs: &[&str]) -> ApiResult<Routed<Self::Action>>;
    async fn run<D: Db, E: Env>(
        cx: &Ctx<'_, D, E>,
        action: Self::Action,
        id: Option<&str>,
        a: &Args<'_>,
    ) -> ApiResult<Outcome<Self::After>>;
    /// Does `after` once the outcome's writes are committed; a new answer (status, body)
    /// replaces the committed one.
    async fn after_commit<D: Db, E: Env>(cx: &Ctx<'_, D, E>, after: Self::After) -> ApiResult<Option<(u16, Value)>>;
}

/// A routed request: the operation's declaration (its action, and the parameters the pipeline
/// checks before the handler runs) and the path's id.
pub struct Routed<A: 'static> {
    pub op: &'static Op<A>,
    pub id: Option<String>,
}

macro_rules! route_groups {
    (@after []) => { NoAfter };
    (@after [$after:ty]) => { $after };
    (@claims []) => { false };
    (@claims [$after:ty]) => { true };
    // No value of `NoAfter` exists: nothing to do, and nothing to match.
    (@after_commit $module:ident, $cx:ident, $a:ident, []) => {{
        let _ = $cx;
        match $a {}
    }};
    (@after_commit $module:ident, $cx:ident, $a:ident, [$after:ty]) => { $module::after_commit($cx, $a).await };
    (@impl $ty:ident, $group:ident, $module:ident, [$($after:ty)?]) => {
        impl Routes for $ty {
            const GROUP: Group = Group::$group;
            const CLAIMS_KEYS: bool = route_groups!(@claims [$($after)?]);
            type Action = $module::Action;
            type After = route_groups!(@after [$($after)?]);
            fn route(method: &str, segs: &[&str]) -> ApiResult<Routed<Self::Action>> {
                let (op, id) = match_op($module::OPS, method, segs)?;
                Ok(Routed { op, id })
            }
            async fn run<D: Db, E: Env>(
                cx: &Ctx<'_, D, E>,
                action: Self::Action,
                id: Option<&str>,
                a: &Args<'_>,
            ) -> ApiResult<Outcome<Self::After>> {
                $module::run(cx, action, id.unwrap_or_default(), a).await
            }
            async fn after_commit<D: Db, E: Env>(cx: &Ctx<'_, D, E>, after: Self::After) -> ApiResult<Option<(u16, Value)>> {
                route_groups!(@after_commit $module, cx, after, [$($after)?])
            }
        }
    };
    ($($ty:ident => $group:ident, $module:ident $(, after $after:ty)?;)*) => {
        $(
            pub struct $ty;
            route_groups!(@impl $ty, $group, $module, [$($after)?]);
        )*

        /// As [`serve_group`], for the group chosen at run time.
        pub async fn handle_cached<D: Db, E: Env, C: Cache>(group: Group, req: &Request, db: &D, env: &E, cache: &C) -> Served {
            match group {
                $(Group::$group => serve_group::<$ty, D, E, C>(req, db, env, cache).await,)*
            }
        }
    };
}

route_groups! {
    PaymentsRoutes => Payments, payments;
    CustomersRoutes => Customers, customers;
    PaymentMethodsRoutes => PaymentMethods, payment_methods;
    WebhooksRoutes => Webhooks, webhooks;
    RefundsRoutes => Refunds, refunds;
    BalanceRoutes => Balance, balance;
    TerminalRoutes => Terminal, terminals, after terminals::After;
    ApiKeysRoutes => ApiKeys, api_keys;
    BillingRoutes => Billing, billing;
    LoyaltyRoutes => Loyalty, loyalty;
    IntentsRoutes => Intents, intents;
}

/// Serves one request for a route group. Never fails: every error becomes its JSON response.
pub async fn handle<D: Db, E: Env>(group: Group, req: &Request, db: &D, env: &E) -> Response {
    handle_cached(group, req, db, env, &NoCache).await.response
}

/// A served request and the ids of the events its committed writes stored that have webhook
/// deliveries to make (all of them where the store does not count rows), in order: for a
/// runtime that pushes events to a queue once they are durable.
pub struct Served {
    pub response: Response,
    pub events: Vec<String>,
}

/// Serves one request for route group `G`, with API-key lookups cached in `cache`.
pub async fn serve_group<G: Routes, D: Db, E: Env, C: Cache>(req: &Request, db: &D, env: &E, cache: &C) -> Served {
    let request_id = new_id(env, "req_");
    let mut events = Vec::new();
    let mut response = match serve::<G, D, E, C>(req, db, env, cache, &mut events).await {
        Ok(r) => r,
        Err(mut e) => {
            if e.code == INTERNAL {
                // The cause (SQLite's message, say) goes to the log, not to the client.
                env.log_error(&request_id, &e.message);
                e.message = format!("Something went wrong on our side; the request id is {request_id}.");
            }
            let mut r = Response::json(e.status, &e.to_json());
            if let Some(allow) = e.allow {
                r.headers.push(("allow".into(), allow));
            }
            r
        }
    };
    response.headers.push(("request-id".into(), request_id));
    Served { response, events }
}

async fn serve<G: Routes, D: Db, E: Env, C: Cache>(
    req: &Request,
    db: &D,
    env: &E,
    cache: &C,
    events: &mut Vec<String>,
) -> ApiResult<Response> {
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = match path.strip_prefix("/v1/") {
        Some(rest) => rest.split('/').collect(),
        None => return Err(route_not_found(&req.method, &[path.trim_start_matches('/')])),
    };
    // Only the payments group serves the document (spin.toml and `Group::for_path` route it there),
    // so the other components do not embed it.
    if G::GROUP == Group::Payments && segs == ["openapi.json"] {
        if req.method != "GET" {
            return Err(method_not_allowed(&req.method, &["GET"]));
        }
        // Public: clients and mock generators fetch it without a key.
        return Ok(json_response(200, OPENAPI_JSON.as_bytes().to_vec()));
    }
    let route = G::route(&req.method, &segs)?;
    let now = env.now();
    let acct = authenticate(db, cache, now, req).await?;
    // A restricted key outside its grant: 403 before anything is read.
    crate::permissions::check(acct.permissions.as_ref(), route.op.spec.method, route.op.spec.path)?;
    // A platform acting as one of its connected accounts (seed 004): from here on the request
    // is that account's.
    let acct = crate::auth::acting_as(db, acct, req.header(crate::auth::ACCOUNT_HEADER)).await?;
    let is_post = operation::has_body(&req.method);
    let mut params = if is_post {
        Params::from_body(req.header("content-type"), &req.body)?
    } else {
        Params::from_query(&req.query)?
    };
    if is_post && !req.query.is_empty() {
        // Query parameters of a POST count as body parameters the body does not set (seed 003
        // appends `?simulateDelay=30` to the create URL).
        for (k, v) in Params::from_query(&req.query)?.root {
            // Query values are text; beside a JSON body (typed), a number in the query is a number.
            let v = match v {
                Value::String(s)
                    if !params.form && !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Value::from(s.parse::<i64>().unwrap_or(0))
                }
                other => other,
            };
            params.root.entry(k).or_insert(v);
        }
    }
    operation::header_params(route.op.spec.fields, &mut params, |n| req.header(n));
    let mut key = req
        .header("idempotency-key")
        .or_else(|| req.header("x-idempotency-key"))
        .map(str::to_string);
    if is_post {
        // Seed 000 lists `idempotencyKey` as a create parameter; it is not part of the request's identity.
        match params.root.remove("idempotencyKey") {
            Some(Value::String(k)) if key.is_none() => key = Some(k),
            Some(Value::String(_)) | None => {}
            Some(_) => {
                return Err(ApiError::invalid(
                    "idempotencyKey",
                    "parameter_invalid_string",
                    "idempotencyKey must be a string.",
                ));
            }
        }
    } else {
        key = None;
    }
    let cx = Ctx::new(db, env, acct, now);
    let mut key_use = KeyUse::None;
    // Owned copies for `key_use` to borrow: the key, its fingerprint, the claim token.
    let held: (String, String, String);
    if let Some(k) = key {
        idempotency::check_key(&k)?;
        if route.op.spec.seed004 && k.len() < operation::SEED004_MIN_KEY {
            return Err(idempotency::too_short(operation::SEED004_MIN_KEY));
        }
        let secret = env.hash_secret().ok_or_else(|| {
            ApiError::internal("VINR_HASH_KEY is not set: idempotent requests cannot be fingerprinted")
        })?;
        // Read only for card data: a cached live key does not carry it (`Ctx::fingerprint_key`).
        let fingerprint_key = if idempotency::has_card_secrets(&params.root) {
            cx.fingerprint_key().await?
        } else {
            String::new()
        };
        let hash = idempotency::request_hash(&secret, &fingerprint_key, &req.method, path, &params.root);
        let token = new_id(env, "");
        let decided = if G::CLAIMS_KEYS {
            Some(idempotency::claim(db, &cx.acct, &k, &hash, now, &token).await?)
        } else {
            idempotency::earlier(db, &cx.acct, &k, &hash, now).await?
        };
        if let Some(Claim::Replay { status, body }) = decided {
            return Ok(replayed(status, body));
        }
        held = (k, hash, token);
        let (key, hash, token) = (held.0.as_str(), held.1.as_str(), held.2.as_str());
        key_use = if G::CLAIMS_KEYS {
            KeyUse::Claimed { key, token }
        } else {
            KeyUse::Recorded { key, hash, token }
        };
    }
    // Each lost race means another request committed, so a request loses at most once per
    // competitor; 16 covers a burst of concurrent refunds of one payment (tests/tests/refunds.rs).
    const ATTEMPTS: usize = 16;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let op = &route.op.spec;
        // Refusals are the request's answer, replayed like any 4xx (they are in here).
        let result = match op
            .refuse_live(cx.acct.livemode)
            .and_then(|()| operation::check_before_handler(op, &params))
        {
            Ok(()) => {
                G::run(
                    &cx,
                    route.op.action,
                    route.id.as_deref(),
                    &Args::new(&params, op.fields),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => {
                if let Some((content_type, bytes)) = out.raw {
                    // Only reads answer raw bodies (downloads); a replay could not restore the type.
                    key_use.release(db, &cx.acct).await;
                    return Ok(Response {
                        status: 200,
                        headers: vec![("content-type".into(), content_type.into())],
                        body: bytes,
                    });
                }
                let body = serde_json::to_vec(&out.body).expect("a JSON value always serializes");
                let mut writes = out.writes;
                if key_use.is_some() {
                    let kept = idempotency::replay_body(&out.body, op.shown_once);
                    writes.extend(key_use.answer(&cx.acct, now, out.status, kept.as_deref().unwrap_or(&body)));
                }
                if writes.is_empty() {
                    return Ok(json_response(out.status, body));
                }
                let fan_outs = crate::events::fan_outs(&writes);
                match db.batch_counted(writes).await {
                    Ok(changed) => {
                        // An event no endpoint subscribes to has nothing to deliver.
                        *events = fan_outs
                            .into_iter()
                            .filter(|(_, i)| changed.as_ref().is_none_or(|c| c.get(*i).is_none_or(|n| *n > 0)))
                            .map(|(id, _)| id)
                            .collect();
                        let Some(after) = out.after else {
                            return Ok(json_response(out.status, body));
                        };
                        // Committed; what follows may give a later answer, which then becomes
                        // the one a retry with the same key replays.
                        let Some((status, later)) = G::after_commit(&cx, after).await? else {
                            return Ok(json_response(out.status, body));
                        };
                        let later = serde_json::to_vec(&later).expect("a JSON value always serializes");
                        if let Some((k, token)) = key_use.token() {
                            db.batch(idempotency::finish(&cx.acct, k, token, status, &later).into())
                                .await?;
                        }
                        return Ok(json_response(status, later));
                    }
                    Err(DbError::Conflict) => {
                        match key_use {
                            // A retry took the key over while this request ran (it outlived the
                            // claim): the retry runs it, this request must not.
                            KeyUse::Claimed { key, token } => {
                                if !idempotency::still_owned(db, &cx.acct, key, token).await? {
                                    return Err(idempotency::in_use());
                                }
                            }
                            // A concurrent duplicate committed first: its answer is this one's.
                            KeyUse::Recorded { key, hash, .. } => {
                                if let Some(Claim::Replay { status, body }) =
                                    idempotency::earlier(db, &cx.acct, key, hash, now).await?
                                {
                                    return Ok(replayed(status, body));
                                }
                            }
                            KeyUse::None => {}
                        }
                        // Another request changed the object first: decide again on fresh state.
                        if attempt < ATTEMPTS {
                            continue;
                        }
                        key_use.release(db, &cx.acct).await;
                        return Err(DbError::Conflict.into());
                    }
                    Err(e) => {
                        key_use.release(db, &cx.acct).await;
                        return Err(e.into());
                    }
                }
            }
            Err(e) => {
                if key_use.is_some() {
                    if e.status == 409 || e.status >= 500 {
                        key_use.release(db, &cx.acct).await;
                    } else {
                        // A 4xx is the request's final answer: replay it like a success (unless a
                        // retry or a duplicate got its answer stored first).
                        let body = serde_json::to_vec(&e.to_json()).expect("a JSON value always serializes");
                        match db.batch(key_use.answer(&cx.acct, now, e.status, &body)).await {
                            Ok(()) | Err(DbError::Conflict) => {}
                            Err(db_error) => return Err(db_error.into()),
                        }
                    }
                }
                return Err(e);
            }
        }
    }
}

/// How a request holds its idempotency key (`Routes::CLAIMS_KEYS` decides which).
#[derive(Clone, Copy)]
enum KeyUse<'a> {
    None,
    /// Claimed before the handler ran: the answer is stored only under this claim token.
    Claimed {
        key: &'a str,
        token: &'a str,
    },
    /// Unwritten until the request's batch, which records the key with the answer.
    Recorded {
        key: &'a str,
        hash: &'a str,
        token: &'a str,
    },
}

impl<'a> KeyUse<'a> {
    fn is_some(self) -> bool {
        !matches!(self, KeyUse::None)
    }

    /// The key and the token its stored answer carries (for a later answer, `finish`).
    fn token(self) -> Option<(&'a str, &'a str)> {
        match self {
            KeyUse::None => None,
            KeyUse::Claimed { key, token } | KeyUse::Recorded { key, token, .. } => Some((key, token)),
        }
    }

    /// The statements that store `body` as the key's answer, in the request's batch.
    fn answer(self, acct: &Account, now: i64, status: u16, body: &[u8]) -> Vec<Stmt> {
        match self {
            KeyUse::None => Vec::new(),
            KeyUse::Claimed { key, token } => idempotency::finish(acct, key, token, status, body).into(),
            KeyUse::Recorded { key, hash, token } => {
                idempotency::record(acct, key, hash, now, token, status, body).into()
            }
        }
    }

    /// Gives a claimed key back so that a retry can run afresh (a recorded key was never written).
    async fn release(self, db: &impl Db, acct: &Account) {
        if let KeyUse::Claimed { key, token } = self {
            // Best effort: if this fails too, the claim goes stale and is re-claimable after a minute.
            let _ = db.query(idempotency::release(acct, key, token)).await;
        }
    }
}

/// A stored answer, replayed.
fn replayed(status: u16, body: Vec<u8>) -> Response {
    let mut r = json_response(status, body);
    r.headers.push(("idempotent-replayed".into(), "true".into()));
    r
}

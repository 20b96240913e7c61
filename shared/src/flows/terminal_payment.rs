//! Terminal payments (`tpay_`): load what [`crate::domain::terminal_payment`] decides on, and turn
//! its decision into the writes of one batch: the payment behind its version guard, the terminal's
//! session released when the payment leaves pending/processing, the event, the money and the
//! time-driven steps. Callers are the API (`api::terminals`), the device protocol
//! (`device`) and the scheduled steps (`jobs`); they commit (and retry a lost race).

use crate::context::Ctx;
use crate::domain::terminal_payment::{self as domain, Created, Decision, Ids, Input, NewPayment};
use crate::error::ApiResult;
use crate::events;
use crate::ledger::SourceType;
use crate::port::{Db, Env, Stmt, new_id};
use crate::sql_params;
use crate::steps::{self, TerminalStep};
use crate::store::{self, Loaded, guarded_update};
use crate::terminal::payment::TerminalPayment;
use crate::terminal::terminals;

/// The runtime's ids and randomness, drawn when a decision asks for them.
struct EnvIds<'a, E: Env>(&'a E);

impl<E: Env> Ids for EnvIds<'_, E> {
    fn id(&mut self, prefix: &str) -> String {
        new_id(self.0, prefix)
    }
    fn random(&mut self, buf: &mut [u8]) {
        self.0.fill_random(buf)
    }
}

pub async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Option<Loaded<TerminalPayment>>> {
    store::load(cx, "terminal_payments", "", id).await
}

/// Loads payment `id` of a URL path: missing is a 404.
pub async fn load_path<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<TerminalPayment>> {
    store::load_path(cx, "terminal_payments", "", "terminal payment", id).await
}

/// A new payment on its terminal: the decision, and its writes (the row, the prompt timeout, the
/// terminal taken, on the simulator its cardholder's step). Reading the sandbox simulator
/// registers it on first use (a write of its own, see [`terminals::load`]).
pub async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, input: NewPayment<'_>) -> ApiResult<(Created, Vec<Stmt>)> {
    let terminal = terminals::load(cx.db, &cx.acct, &input.terminal_id, cx.now).await?;
    let c = domain::create(
        input,
        terminal.as_ref(),
        cx.acct.livemode,
        cx.wall,
        cx.now,
        &mut EnvIds(cx.env),
    )?;
    let p = &c.payment;
    let mut writes = vec![
        Stmt::new(
            "INSERT INTO terminal_payments (id, account_id, livemode, terminal_id, status, created, sim_card, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            sql_params![
                &p.id,
                &cx.acct.id,
                cx.acct.livemode,
                &p.terminal_id,
                p.status.as_str(),
                cx.now,
                c.sim_card,
                serde_json::to_string(p).expect("serializes")
            ],
        ),
        steps::schedule_once(&cx.acct, &c.prompt_timeout.0, c.prompt_timeout.1, cx.now),
    ];
    // Of two creates for one terminal, the second's batch aborts here and is decided again: busy.
    writes.extend(terminals::claim(&cx.acct, &p.terminal_id, &p.id));
    if let Some((step, due)) = &c.simulate {
        writes.push(steps::schedule_once(&cx.acct, step, *due, cx.now));
    }
    Ok((c, writes))
}

/// Decides `input` for the loaded payment: the payment as it will stand, and the writes (with
/// the loyalty points a capture earns its customer, in the same batch).
pub async fn apply<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    l: &Loaded<TerminalPayment>,
    input: Input<'_>,
) -> ApiResult<(TerminalPayment, Vec<Stmt>)> {
    let d = domain::decide(&l.obj, input, cx.now, &mut EnvIds(cx.env))?;
    let mut writes = encode(cx, &d, l.version);
    if let Some(posting) = d.posting.as_ref().filter(|p| p.source_type == SourceType::Payment) {
        let p = &d.payment;
        writes.extend(
            crate::flows::loyalty::earning::on_capture(
                cx,
                crate::flows::loyalty::earning::Capture {
                    payment: &p.id,
                    customer: p.customer.as_deref(),
                    amount: posting.amount,
                    currency: &posting.currency,
                },
            )
            .await?,
        );
    }
    Ok((d.payment, writes))
}

/// As [`apply`], for the payment of a URL path (missing: 404).
pub async fn apply_by_id<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    id: &str,
    input: Input<'_>,
) -> ApiResult<(TerminalPayment, Vec<Stmt>)> {
    apply(cx, &load_path(cx, id).await?, input).await
}

/// The writes of a decision, in this order: the payment (guarded on `version`), the terminal
/// released once the session is over, the event, the money, then the steps.
fn encode<D: Db, E: Env>(cx: &Ctx<'_, D, E>, d: &Decision, version: i64) -> Vec<Stmt> {
    let p = &d.payment;
    let mut w: Vec<Stmt> = guarded_update(
        "terminal_payments",
        "status = ?, data = ?",
        sql_params![p.status.as_str(), serde_json::to_string(p).expect("serializes")],
        &p.id,
        version,
    )
    .into();
    if !p.active() {
        w.push(Stmt::new(
            "UPDATE terminals SET active_payment = NULL WHERE account_id = ? AND livemode = ? AND id = ? AND active_payment = ?",
            sql_params![&cx.acct.id, cx.acct.livemode, &p.terminal_id, &p.id],
        ));
    }
    if let Some(kind) = d.event {
        w.extend(events::record(
            cx.env,
            &cx.acct,
            kind,
            cx.now,
            &serde_json::to_value(p).expect("serializes"),
        ));
    }
    if let Some(posting) = &d.posting {
        w.extend(crate::flows::post(&cx.acct, posting));
    }
    for (step, due) in &d.due {
        w.push(steps::schedule(&cx.acct, step, *due, cx.now));
    }
    for step in &d.unscheduled {
        w.push(steps::unschedule(&cx.acct, step));
    }
    w
}

/// A scheduled step of a terminal payment: decides on fresh state, or does nothing (no writes)
/// when the payment is gone or moved on meanwhile.
pub async fn step<D: Db, E: Env>(cx: &Ctx<'_, D, E>, kind: TerminalStep, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(l) = load(cx, id).await? else {
        return Ok(Vec::new());
    };
    let sim_card = match kind {
        TerminalStep::Simulate => cx
            .db
            .query(Stmt::new(
                "SELECT sim_card FROM terminal_payments WHERE id = ?",
                sql_params![id],
            ))
            .await?
            .first()
            .and_then(|r| r[0].as_str().map(str::to_string)),
        _ => None,
    };
    let Some(input) = domain::step_input(kind, &l.obj, sim_card.as_deref()) else {
        return Ok(Vec::new());
    };
    // A step that finds the payment already past it has nothing to do.
    Ok(apply(cx, &l, input).await.map(|(_, w)| w).unwrap_or_default())
}

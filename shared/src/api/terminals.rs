//! `/v1/terminals` and `/v1/terminal/payments` (seed 003, docs/terminals.md). A create commits
//! the payment and takes the terminal in one batch; talking to the device (and, in sync mode,
//! waiting for its outcome) happens after that commit, through [`After`].

use super::operation::{Args, Field, Op};
use crate::cards;
use crate::context::Ctx;
use crate::device::new_device_key;
use crate::domain::terminal_payment::{CancelReason, Input, NewPayment};
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::flows::terminal_payment as flow;
use crate::hub::{HubCall, HubReply};
use crate::jobs;
use crate::keys::hash_key;
use crate::list::{self, ListSpec};
use crate::money::{check_amount, parse_currency};
use crate::port::{Db, DbError, Env, SqlValue, Stmt};
use crate::sql_params;
use crate::steps::{Step, TerminalStep};
use crate::terminal::payment::{self as tp, TerminalPayment};
use crate::terminal::protocol::OFFLINE_AFTER_SECS;
use crate::terminal::terminals::{self, COLUMNS, SIMULATOR_ID, TerminalRow};
use serde_json::{Value, json};

/// This group's outcomes may leave work for after the commit.
type Outcome = super::Outcome<After>;

/// How long a sync create holds the request for the outcome (seed 003: set clients to ≥ 150 s).
pub const SYNC_WAIT_MS: u64 = 150_000;
/// The longest simulated interaction (`simulateDelay`), seconds.
pub const MAX_SIMULATE_DELAY: i64 = 600;
/// Seed 003's test cards: the ones `testCard` accepts.
pub const TEST_CARDS: &[&str] = &[
    "4242424242424242",
    "4000000000000002",
    "4000000000009995",
    "4000000000000069",
    "4100000000000019",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Register,
    ListTerminals,
    RetrieveTerminal,
    Create,
    List,
    Retrieve,
    Cancel,
    Capture,
}

const SIMULATE_DELAY_DOC: &str = "Sandbox: seconds of simulated interaction.";
const CAPTURE_METHODS: &[&str] = &["automatic", "manual"];
const RESPONSE_MODES: &[&str] = &["async", "sync"];

pub const OPS: &[Op<Action>] = &[
    Op::post("terminals", "register", Action::Register)
        .summary("Register a terminal (its deviceKey is shown once)")
        .fields(&[Field::str("label", 200), Field::metadata()])
        .shows_once(&["deviceKey"])
        .answers("TerminalRegistered"),
    Op::get("terminals", "list_terminals", Action::ListTerminals)
        .summary("List terminals")
        .list()
        .fields(&[Field::one_of("status", &["online", "offline", "busy"])])
        .answers("TerminalList"),
    Op::get("terminals/:id", "retrieve_terminal", Action::RetrieveTerminal)
        .summary("Retrieve a terminal (term_test_simulator: the sandbox's virtual one)")
        .answers("Terminal"),
    Op::post("terminal/payments", "create", Action::Create)
        .summary("Create a terminal payment (async: 202 pending; sync: held until the outcome, up to 150 s)")
        .fields(&[
            // Seed 003 names parameters in camelCase; the snake_case names are accepted too.
            Field::str("terminalId", 100).alias("terminal_id").doc("Required."),
            Field::int("amount").required().doc(super::payments::AMOUNT_DOC),
            Field::checked("currency", 10)
                .required()
                .doc("ISO 4217 code, e.g. USD."),
            Field::str("reference", 200),
            Field::str("customer", 100).doc(
                "A cust_ of this environment: the completed payment earns its loyalty points (docs/engagement.md).",
            ),
            Field::one_of("captureMethod", CAPTURE_METHODS).alias("capture_method"),
            Field::one_of("responseMode", RESPONSE_MODES).alias("response_mode"),
            Field::metadata(),
            // Spaces allowed ("4242 4242 4242 4242"): the handler checks which card it is.
            Field::checked_in("testCard", 40, TEST_CARDS)
                .alias("test_card")
                .doc("Sandbox, term_test_simulator only: the card its cardholder presents."),
            Field::int_in("simulateDelay", 0, MAX_SIMULATE_DELAY)
                .alias("simulate_delay")
                .doc(SIMULATE_DELAY_DOC)
                .in_query(),
        ])
        .answers("TerminalPayment"),
    Op::get("terminal/payments", "list", Action::List)
        .summary("List terminal payments")
        .list()
        .fields(&[
            Field::str("terminalId", 100).alias("terminal_id"),
            Field::one_of("status", tp::STATUSES),
        ])
        .answers("TerminalPaymentList"),
    Op::get("terminal/payments/:id", "retrieve", Action::Retrieve)
        .summary("Retrieve a terminal payment")
        .answers("TerminalPayment"),
    Op::post("terminal/payments/:id/cancel", "cancel", Action::Cancel)
        .summary("Cancel a terminal payment (only while pending)")
        .answers("TerminalPayment"),
    Op::post("terminal/payments/:id/capture", "capture", Action::Capture)
        .summary("Capture an authorized terminal payment (final amount: tips up to +20 %)")
        .fields(&[Field::int("amount").doc(super::payments::AMOUNT_DOC)])
        .answers("TerminalPayment"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Register => register(cx, p).await,
        Action::ListTerminals => list_terminals(cx, p).await,
        Action::RetrieveTerminal => {
            let t = terminals::load(cx.db, &cx.acct, id, cx.now)
                .await?
                .ok_or_else(|| ApiError::not_found("id", "terminal", id))?;
            Ok(Outcome::read(t.to_json(cx.wall)))
        }
        Action::Create => create(cx, p).await,
        Action::List => list_payments(cx, p).await,
        Action::Retrieve => Ok(Outcome::read(json_of(&flow::load_path(cx, id).await?.obj))),
        Action::Cancel => cancel(cx, id).await,
        Action::Capture => capture(cx, id, p).await,
    }
}

fn json_of(p: &TerminalPayment) -> Value {
    serde_json::to_value(p).expect("a terminal payment serializes")
}

async fn register<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let label = p.string("label")?;
    let metadata = fields::new_metadata(p.params())?;
    let id = cx.id("term_");
    let key = new_device_key(cx.env, cx.acct.livemode);
    let data = json!({ "label": label, "metadata": metadata });
    let write = Stmt::new(
        "INSERT INTO terminals (id, account_id, livemode, device_key_hash, created, data) VALUES (?, ?, ?, ?, ?, ?)",
        sql_params![
            &id,
            &cx.acct.id,
            cx.acct.livemode,
            hash_key(&key),
            cx.now,
            data.to_string()
        ],
    );
    let row = TerminalRow {
        id,
        livemode: cx.acct.livemode,
        data,
        created: cx.now,
        connected: false,
        last_seen_at: None,
        activated_at: None,
        active_payment: None,
        simulated: false,
    };
    let mut body = row.to_json(cx.wall);
    // Shown once: only its hash is kept.
    body["deviceKey"] = json!(key);
    Ok(Outcome::write(body, vec![write]))
}

async fn list_terminals<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    let seen_since = cx.wall - OFFLINE_AFTER_SECS;
    // The status is computed (docs/terminals.md); these are the same rules in SQL.
    let (filter, filter_params): (&str, Vec<SqlValue>) = match p.one_of("status")?.as_deref() {
        Some("busy") => (" AND active_payment IS NOT NULL", vec![]),
        Some("online") => (
            " AND active_payment IS NULL AND (device_key_hash IS NULL OR (connection_id IS NOT NULL AND last_seen_at > ?))",
            sql_params![seen_since],
        ),
        Some("offline") => (
            " AND active_payment IS NULL AND device_key_hash IS NOT NULL AND (connection_id IS NULL OR last_seen_at IS NULL OR last_seen_at <= ?)",
            sql_params![seen_since],
        ),
        _ => ("", vec![]),
    };
    let spec = ListSpec {
        table: "terminals",
        filter: filter.to_string(),
        filter_params,
    };
    let (rows, has_more) = list::fetch_rows(cx.db, &cx.acct, spec, &page, COLUMNS).await?;
    let data = rows.iter().map(|r| TerminalRow::from_row(r).to_json(cx.wall)).collect();
    Ok(Outcome::read(list::envelope("/v1/terminals", data, has_more)))
}

async fn list_payments<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    let mut filter = String::new();
    let mut filter_params = Vec::new();
    if let Some(t) = p.string("terminalId")? {
        filter.push_str(" AND terminal_id = ?");
        filter_params.push(SqlValue::from(t));
    }
    if let Some(s) = p.one_of("status")? {
        filter.push_str(" AND status = ?");
        filter_params.push(SqlValue::from(s));
    }
    let (data, has_more) = list::fetch(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "terminal_payments",
            filter,
            filter_params,
        },
        &page,
    )
    .await?;
    Ok(Outcome::read(list::envelope("/v1/terminal/payments", data, has_more)))
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let terminal_id = p.required_string("terminalId")?;
    let currency = parse_currency("currency", &p.required_string("currency")?)?;
    let amount = check_amount(
        "amount",
        p.integer("amount")?.ok_or_else(|| ApiError::missing("amount"))?,
        &currency,
    )?;
    let reference = p.string("reference")?;
    let customer = match p.string("customer")? {
        Some(c) => Some(
            crate::store::load_param::<crate::objects::Customer, _, _>(
                cx,
                "customers",
                " AND deleted = 0",
                "customer",
                "customer",
                &c,
            )
            .await?
            .obj
            .id,
        ),
        None => None,
    };
    let capture_method = p.one_of("captureMethod")?.unwrap_or_else(|| "automatic".into());
    let sync = p.one_of("responseMode")?.as_deref() == Some("sync");
    let metadata = fields::new_metadata(p.params())?;
    let card_param = p.name_used("testCard")?;
    let test_card = match p.string("testCard")? {
        None => None,
        Some(raw) => {
            let digits: String = raw.chars().filter(|c| *c != ' ').collect();
            if !TEST_CARDS.contains(&digits.as_str()) {
                return Err(ApiError::invalid(
                    card_param,
                    "parameter_invalid",
                    format!(
                        "{card_param} must be one of the sandbox test cards: {}.",
                        TEST_CARDS.join(", ")
                    ),
                ));
            }
            cards::test_card_by_number(&digits)
        }
    };

    // Within 0..=MAX_SIMULATE_DELAY: checked before the handler runs.
    let delay = p.integer("simulateDelay")?.unwrap_or(0);

    let (created, writes) = flow::create(
        cx,
        NewPayment {
            terminal_id: terminal_id.clone(),
            amount,
            currency,
            reference,
            customer,
            capture_method,
            sync,
            metadata,
            test_card,
            test_card_param: card_param,
            simulate_delay: delay,
        },
    )
    .await?;
    let simulated = created.simulated();
    let pay = created.payment;
    let body = json_of(&pay);
    let after = match (simulated, sync) {
        (true, false) => None,
        (true, true) => Some(After::Simulate {
            payment_id: pay.id.clone(),
            delay_ms: delay as u64 * 1000,
        }),
        (false, _) => Some(After::Deliver {
            terminal_id,
            payment: body.clone(),
            sync,
        }),
    };
    Ok(Outcome {
        status: 202,
        after,
        ..Outcome::write(body, writes)
    })
}

async fn cancel<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Outcome> {
    let (pay, writes) = flow::apply_by_id(cx, id, Input::Cancel(CancelReason::Requested)).await?;
    let after = (pay.terminal_id != SIMULATOR_ID).then(|| After::Cancel {
        terminal_id: pay.terminal_id.clone(),
        payment_id: pay.id.clone(),
    });
    Ok(Outcome {
        after,
        ..Outcome::write(json_of(&pay), writes)
    })
}

async fn capture<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let amount = p.integer("amount")?;
    let (pay, writes) = flow::apply_by_id(cx, id, Input::Capture { amount }).await?;
    Ok(Outcome::write(json_of(&pay), writes))
}

/// What a request does once its writes are committed: talk to the device, or wait for the
/// simulated cardholder.
#[derive(Clone, Debug)]
pub enum After {
    /// Send the new payment to its terminal's device; in sync mode wait for the outcome.
    Deliver {
        terminal_id: String,
        payment: Value,
        sync: bool,
    },
    /// Sync mode on the sandbox simulator: wait out the simulated interaction, then run its step.
    Simulate { payment_id: String, delay_ms: u64 },
    /// Tell the device to clear a cancelled payment's prompt.
    Cancel { terminal_id: String, payment_id: String },
}

/// Runs `after` (this group's [`super::Routes::after_commit`]); a new answer (status, body)
/// replaces the committed one.
pub async fn after_commit<D: Db, E: Env>(cx: &Ctx<'_, D, E>, after: After) -> ApiResult<Option<(u16, Value)>> {
    match after {
        After::Cancel {
            terminal_id,
            payment_id,
        } => {
            // Best effort: the cancel is committed; a device that missed it is told on reconnect
            // (the session is no longer re-sent) or when it next writes about the payment.
            let _ = cx
                .env
                .terminal_hub(&HubCall::Cancel {
                    terminal_id,
                    payment_id,
                })
                .await;
            Ok(None)
        }
        After::Simulate { payment_id, delay_ms } => {
            match simulated_wait(delay_ms) {
                SimulatedWait::Finish { after_ms } => {
                    if after_ms > 0 {
                        cx.env.sleep_ms(after_ms).await;
                    }
                    // The scheduler may have run it already; either way it runs once.
                    jobs::run_now(
                        cx.db,
                        cx.env,
                        &cx.acct,
                        &Step::Terminal(TerminalStep::Simulate, payment_id.clone()),
                    )
                    .await?;
                }
                // The interaction goes on: its scheduled step runs it at its time.
                SimulatedWait::Answer { after_ms } => cx.env.sleep_ms(after_ms).await,
            }
            current(cx, &payment_id).await.map(Some)
        }
        After::Deliver {
            terminal_id,
            payment,
            sync,
        } => {
            let payment_id = payment["id"].as_str().unwrap_or_default().to_string();
            let call = HubCall::Deliver {
                terminal_id,
                payment,
                wait_ms: sync.then_some(SYNC_WAIT_MS),
            };
            match cx.env.terminal_hub(&call).await {
                HubReply::Delivered => Ok(None),
                HubReply::Settled | HubReply::TimedOut => current(cx, &payment_id).await.map(Some),
                HubReply::Dropped => {
                    let (_, body) = current(cx, &payment_id).await?;
                    Err(ApiError::new(
                        502,
                        "terminal_error",
                        "communication_error",
                        format!("The terminal lost its connection during payment {payment_id}; retrieve the payment to confirm its outcome (cancel and retry if it is still pending)."),
                    )
                    .with_decline_code("communication_error")
                    .with_object("payment", body))
                }
                HubReply::NotConnected | HubReply::Unavailable { .. } => {
                    // The device went away between the check and the command: nothing will show
                    // this payment, so it fails now rather than wait for the prompt timeout.
                    fail_unreachable(cx, &payment_id).await?;
                    current(cx, &payment_id).await.map(Some)
                }
            }
        }
    }
}

/// How a sync create on the simulator waits for its simulated interaction (`simulateDelay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimulatedWait {
    /// The interaction ends within the sync window: wait it out, run it, answer its outcome.
    Finish { after_ms: u64 },
    /// It ends after the window: wait the window, then answer the payment as it stands (202).
    Answer { after_ms: u64 },
}

/// A sync create holds its request at most [`SYNC_WAIT_MS`] (docs/terminals.md), however long
/// `simulateDelay` is (up to [`MAX_SIMULATE_DELAY`]): a longer wait would outlast the clients'
/// timeouts and the host's (which answers 500 for a payment that committed).
pub fn simulated_wait(delay_ms: u64) -> SimulatedWait {
    if delay_ms <= SYNC_WAIT_MS {
        SimulatedWait::Finish { after_ms: delay_ms }
    } else {
        SimulatedWait::Answer { after_ms: SYNC_WAIT_MS }
    }
}

/// The payment as it stands: 200 once its session is over, 202 while it still runs.
async fn current<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<(u16, Value)> {
    let l = flow::load_path(cx, id).await?;
    Ok((if l.obj.active() { 202 } else { 200 }, json_of(&l.obj)))
}

async fn fail_unreachable<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<()> {
    for _ in 0..8 {
        let l = flow::load_path(cx, id).await?;
        let Ok((_, writes)) = flow::apply(
            cx,
            &l,
            Input::Fail {
                code: "terminal_offline",
            },
        )
        .await
        else {
            return Ok(());
        };
        match cx.db.batch(writes).await {
            Ok(()) => return Ok(()),
            Err(DbError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_simulated_interaction_is_waited_out_within_the_window_only() {
        assert_eq!(simulated_wait(0), SimulatedWait::Finish { after_ms: 0 });
        assert_eq!(simulated_wait(2_000), SimulatedWait::Finish { after_ms: 2_000 });
        assert_eq!(
            simulated_wait(SYNC_WAIT_MS),
            SimulatedWait::Finish { after_ms: SYNC_WAIT_MS }
        );
        for delay_ms in [SYNC_WAIT_MS + 1, 181_000, MAX_SIMULATE_DELAY as u64 * 1000] {
            assert_eq!(
                simulated_wait(delay_ms),
                SimulatedWait::Answer { after_ms: SYNC_WAIT_MS },
                "{delay_ms} ms"
            );
        }
    }
}

//! Terminals on Cloudflare (docs/terminals.md, "Runtime contract"): the device's connect route
//! and the hub, one Durable Object per terminal (`TERMINALS.idFromName(term_id)`).
//!
//! - [`connect`] (the Worker): `GET /v1/terminal/connect` with `Upgrade: websocket` and the
//!   device key (`Authorization: Bearer tdk_…` or `?key=`). Authenticates over D1 and forwards
//!   the upgrade to the terminal's object with the device in `x-vinr-device-*` headers (objects
//!   are reachable only through the binding, so the headers are trusted there).
//! - [`TerminalSession`] (the object): holds the terminal's one WebSocket with the hibernation
//!   API. What a frame means is decided by `vinr_shared::device`; the object only
//!   carries frames, and answers the API's hub calls (`POST /call`, a `HubCall` JSON body).
//!
//! Hibernation: everything a socket needs after the object was evicted (its device and
//! connection id) is its attachment. The in-memory state (waiters, the message queue) only
//! exists while a request or message is being served, when the object cannot hibernate.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{Either, select};
use serde::{Deserialize, Serialize};
use vinr_shared::device::{self, Device};
use vinr_shared::error::ApiError;
use vinr_shared::hub::{HubCall, HubReply};
use vinr_shared::terminal::protocol::ToDevice;
use worker::{
    Delay, DurableObject, Env, Headers, Method, ObjectNamespace, Request, RequestInit, Response, Result, State,
    WebSocket, WebSocketIncomingMessage, WebSocketPair, durable_object,
};

use crate::platform::{WorkerEnv, short};

/// The Durable Object namespace binding (wrangler.toml).
const BINDING: &str = "TERMINALS";
/// The object's URL for a hub call (any host: the request goes to the stub, not the network).
const CALL_URL: &str = "https://terminal-hub.vinr.internal/call";
const CONNECT_URL: &str = "https://terminal-hub.vinr.internal/connect";

const H_TERMINAL: &str = "x-vinr-device-terminal";
const H_ACCOUNT: &str = "x-vinr-device-account";
const H_LIVEMODE: &str = "x-vinr-device-livemode";

/// `WebSocket.readyState` values.
const CONNECTING: u16 = 0;
const OPEN: u16 = 1;

/// The terminals' object namespace, when the Worker has the binding.
pub fn namespace(env: &Env) -> Option<ObjectNamespace> {
    env.durable_object(BINDING).ok()
}

/// The hub client (`Env::terminal_hub` of the Worker): POSTs the call to its terminal's object,
/// which answers a `HubReply`.
pub async fn call_hub(ns: Option<&ObjectNamespace>, call: &HubCall) -> HubReply {
    let Some(ns) = ns else {
        return HubReply::Unavailable {
            message: format!("the Worker has no {BINDING} binding"),
        };
    };
    post_call(ns, call).await.unwrap_or_else(|e| HubReply::Unavailable {
        message: short(&e.to_string()),
    })
}

async fn post_call(ns: &ObjectNamespace, call: &HubCall) -> Result<HubReply> {
    let stub = ns.id_from_name(call.terminal_id())?.get_stub()?;
    let h = Headers::new();
    h.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(h)
        .with_body(Some(serde_json::to_string(call)?.into()));
    let mut resp = stub
        .fetch_with_request(Request::new_with_init(CALL_URL, &init)?)
        .await?;
    if resp.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "the terminal's object answered {}: {}",
            resp.status_code(),
            short(&resp.text().await.unwrap_or_default())
        )));
    }
    resp.json::<HubReply>().await
}

fn json_error(e: ApiError) -> Result<Response> {
    Ok(Response::from_json(&e.to_json())?.with_status(e.status))
}

fn is_upgrade(req: &Request) -> bool {
    req.headers()
        .get("upgrade")
        .ok()
        .flatten()
        .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
}

/// The device key: `Authorization: Bearer …`, else `?key=…`.
fn device_key(req: &Request) -> Option<String> {
    let bearer = req.headers().get("authorization").ok().flatten().and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().to_string())
    });
    bearer.filter(|k| !k.is_empty()).or_else(|| {
        let url = req.url().ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
            .filter(|k| !k.is_empty())
    })
}

/// `GET /v1/terminal/connect` (the Worker's side): authenticate, then hand the upgrade to the
/// terminal's object.
pub async fn connect(req: Request, env: &Env) -> Result<Response> {
    if req.method() != Method::Get {
        let mut resp = json_error(ApiError::new(
            405,
            "invalid_request_error",
            "method_not_allowed",
            "Use GET with Upgrade: websocket to connect a terminal device.",
        ))?;
        resp.headers_mut().set("allow", "GET")?;
        return Ok(resp);
    }
    if !is_upgrade(&req) {
        return json_error(ApiError::new(
            426,
            "invalid_request_error",
            "upgrade_required",
            "This endpoint takes a WebSocket: send Upgrade: websocket.",
        ));
    }
    let unauthorized = |msg: &str| json_error(ApiError::new(401, "authentication_error", "invalid_device_key", msg));
    let Some(key) = device_key(&req) else {
        return unauthorized("No device key provided: send Authorization: Bearer tdk_… (or ?key=tdk_…).");
    };
    let dev = match device::authenticate(&crate::db(env)?, &key).await {
        Ok(Some(dev)) => dev,
        Ok(None) => return unauthorized("Invalid device key provided."),
        Err(e) => {
            worker::console_error!("terminal connect: {e:?}");
            return json_error(ApiError::internal("The device could not be authenticated; try again."));
        }
    };
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    headers.set(H_TERMINAL, &dev.terminal_id)?;
    headers.set(H_ACCOUNT, &dev.account_id)?;
    headers.set(H_LIVEMODE, if dev.livemode { "1" } else { "0" })?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(&dev.terminal_id)?
        .get_stub()?;
    stub.fetch_with_request(Request::new_with_init(CONNECT_URL, &init)?)
        .await
}

/// What a socket carries across hibernation (its attachment).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Conn {
    terminal_id: String,
    account_id: String,
    livemode: bool,
    connection_id: String,
    /// When it connected (ms): the newest open socket is the terminal's connection.
    since_ms: f64,
}

impl Conn {
    fn device(&self) -> Device {
        Device {
            terminal_id: self.terminal_id.clone(),
            account_id: self.account_id.clone(),
            livemode: self.livemode,
        }
    }
}

/// Where the last connection's `Conn` is kept in the object's storage: a socket's attachment is
/// gone once the socket is closed, and its close handler still has to name the connection.
const LAST_CONN: &str = "conn";

/// Waiting hub calls of one payment, each with its own number (to drop it after its timeout).
type Waiters = Vec<(u64, oneshot::Sender<HubReply>)>;

enum Job {
    Message(WebSocket, String),
    Closed(WebSocket),
}

#[durable_object]
pub struct TerminalSession {
    state: State,
    env: Env,
    /// Hub calls waiting for a payment to settle, by `tpay_` id; each with its own number.
    waiters: RefCell<HashMap<String, Waiters>>,
    next_waiter: Cell<u64>,
    /// Device messages and closes are handled one at a time, in arrival order (their handlers
    /// await D1, during which the runtime delivers the next event).
    jobs: RefCell<VecDeque<Job>>,
    draining: Cell<bool>,
}

impl DurableObject for TerminalSession {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            waiters: RefCell::default(),
            next_waiter: Cell::new(0),
            jobs: RefCell::default(),
            draining: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        if path == "/connect" && is_upgrade(&req) {
            return self.accept(&req).await;
        }
        if path == "/call" && req.method() == Method::Post {
            let reply = match req.json::<HubCall>().await {
                Ok(call) => self.call(call).await,
                Err(e) => HubReply::Unavailable {
                    message: format!("invalid hub call: {e}"),
                },
            };
            return Response::from_json(&reply);
        }
        Response::error("Not found.", 404)
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        match message {
            WebSocketIncomingMessage::String(text) => self.run(Job::Message(ws, text)).await,
            WebSocketIncomingMessage::Binary(_) => send(
                &ws,
                &ToDevice::Error {
                    message: "Binary frames are not supported: send JSON text frames.".into(),
                },
            ),
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        // The hibernation API leaves the closing handshake to us. 1005/1006/1015 cannot be sent.
        let code = match code as u16 {
            c @ (1000 | 1001 | 1002 | 1003 | 1007..=1014 | 3000..=4999) => c,
            _ => 1000,
        };
        let _ = ws.close(Some(code), Some("closed"));
        self.run(Job::Closed(ws)).await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_warn!("terminal socket error: {error}");
        let _ = ws.close(Some(1011), Some("error"));
        self.run(Job::Closed(ws)).await;
        Ok(())
    }
}

fn send(ws: &WebSocket, frame: &ToDevice) {
    if let Err(e) = ws.send_with_str(frame.to_text()) {
        worker::console_warn!("terminal socket: send failed ({e})");
    }
}

fn ready_state(ws: &WebSocket) -> u16 {
    ws.as_ref().ready_state()
}

fn conn_of(ws: &WebSocket) -> Option<Conn> {
    ws.deserialize_attachment::<Conn>().ok().flatten()
}

impl TerminalSession {
    fn domain_env(&self) -> WorkerEnv {
        WorkerEnv::new(&self.env)
    }

    /// The device's sockets that are not closing, with their connections.
    fn open_sockets(&self) -> Vec<(WebSocket, Conn)> {
        self.state
            .get_websockets()
            .into_iter()
            .filter(|ws| matches!(ready_state(ws), CONNECTING | OPEN))
            .filter_map(|ws| conn_of(&ws).map(|c| (ws, c)))
            .collect()
    }

    /// The terminal's connection: its newest open socket.
    fn current(&self) -> Option<WebSocket> {
        self.open_sockets()
            .into_iter()
            .max_by(|a, b| a.1.since_ms.total_cmp(&b.1.since_ms))
            .map(|(ws, _)| ws)
    }

    /// A device connects: this socket replaces any other of the terminal.
    async fn accept(&self, req: &Request) -> Result<Response> {
        let h = req.headers();
        let (Some(terminal_id), Some(account_id), Some(livemode)) =
            (h.get(H_TERMINAL)?, h.get(H_ACCOUNT)?, h.get(H_LIVEMODE)?)
        else {
            return Response::error("Missing device headers.", 400);
        };
        let env = self.domain_env();
        let conn = Conn {
            terminal_id,
            account_id,
            livemode: livemode == "1",
            connection_id: device::new_connection_id(&env),
            since_ms: js_sys::Date::now(),
        };
        let older = self.open_sockets();
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&conn)?;
        for (ws, _) in older {
            let _ = ws.close(Some(1000), Some("replaced by a newer connection of this terminal"));
        }
        self.state.storage().put(LAST_CONN, &conn).await?;
        match device::connected(&crate::db(&self.env)?, &env, &conn.device(), &conn.connection_id).await {
            Ok(frames) => frames.iter().for_each(|f| send(&pair.server, f)),
            Err(e) => {
                worker::console_error!("terminal connect {}: {e:?}", conn.terminal_id);
                let _ = pair.server.close(Some(1011), Some("internal error"));
                return json_error(ApiError::internal(
                    "The device connection could not be recorded; try again.",
                ));
            }
        }
        Response::from_websocket(pair.client)
    }

    /// Queues a device event; the first caller handles the queue until it is empty.
    async fn run(&self, job: Job) {
        self.jobs.borrow_mut().push_back(job);
        if self.draining.replace(true) {
            return;
        }
        loop {
            let next = self.jobs.borrow_mut().pop_front();
            let Some(job) = next else { break };
            match job {
                Job::Message(ws, text) => self.on_message(&ws, &text).await,
                Job::Closed(ws) => self.on_closed(&ws).await,
            }
        }
        self.draining.set(false);
    }

    async fn on_message(&self, ws: &WebSocket, text: &str) {
        let Some(conn) = conn_of(ws) else {
            send(
                ws,
                &ToDevice::Error {
                    message: "This connection is closed; reconnect.".into(),
                },
            );
            return;
        };
        let step = match crate::db(&self.env) {
            Ok(db) => device::on_message(&db, &self.domain_env(), &conn.device(), text)
                .await
                .map_err(|e| format!("{e:?}")),
            Err(e) => Err(e.to_string()),
        };
        match step {
            Ok(step) => {
                step.replies.iter().for_each(|f| send(ws, f));
                for id in &step.settled {
                    self.wake(id, HubReply::Settled);
                }
                if !step.events.is_empty() {
                    let (env, events) = (self.env.clone(), step.events);
                    // Best effort: the cron sweep delivers whatever this misses.
                    self.state.wait_until(async move {
                        if let Err(e) = crate::enqueue(&env, events, 0).await {
                            worker::console_error!("webhook queue: send failed ({e}); the cron sweep will deliver");
                        }
                    });
                }
            }
            Err(e) => {
                worker::console_error!("terminal {} message: {e}", conn.terminal_id);
                send(
                    ws,
                    &ToDevice::Error {
                        message: "The server could not handle this message; try again.".into(),
                    },
                );
            }
        }
    }

    async fn on_closed(&self, ws: &WebSocket) {
        // The attachment may be gone with the socket: then it was the last connection (unless a
        // newer one is open, in which case it was an older, replaced one and nothing is known).
        let newer_open = |id: &str| self.open_sockets().iter().any(|(_, c)| c.connection_id != id);
        let conn = match conn_of(ws) {
            Some(c) => Some(c),
            None => match self.state.storage().get::<Conn>(LAST_CONN).await {
                Ok(Some(c)) if !newer_open(&c.connection_id) => Some(c),
                _ => None,
            },
        };
        let Some(conn) = conn else { return };
        if let Ok(db) = crate::db(&self.env)
            && let Err(e) = device::disconnected(&db, &self.domain_env(), &conn.device(), &conn.connection_id).await
        {
            worker::console_error!("terminal {} disconnect: {e:?}", conn.terminal_id);
        }
        // A replaced connection's session goes on on the newer one.
        if !newer_open(&conn.connection_id) {
            self.wake_all(HubReply::Dropped);
        }
    }

    fn register(&self, payment_id: &str) -> (u64, oneshot::Receiver<HubReply>) {
        let n = self.next_waiter.get();
        self.next_waiter.set(n + 1);
        let (tx, rx) = oneshot::channel();
        self.waiters
            .borrow_mut()
            .entry(payment_id.to_string())
            .or_default()
            .push((n, tx));
        (n, rx)
    }

    fn unregister(&self, payment_id: &str, n: u64) {
        let mut waiters = self.waiters.borrow_mut();
        if let Some(list) = waiters.get_mut(payment_id) {
            list.retain(|(m, _)| *m != n);
            if list.is_empty() {
                waiters.remove(payment_id);
            }
        }
    }

    fn wake(&self, payment_id: &str, reply: HubReply) {
        let list = self.waiters.borrow_mut().remove(payment_id).unwrap_or_default();
        for (_, tx) in list {
            let _ = tx.send(reply.clone());
        }
    }

    fn wake_all(&self, reply: HubReply) {
        let all = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, tx) in all.into_values().flatten() {
            let _ = tx.send(reply.clone());
        }
    }

    async fn call(&self, call: HubCall) -> HubReply {
        match call {
            HubCall::Deliver { payment, wait_ms, .. } => {
                let Some(ws) = self.current() else {
                    return HubReply::NotConnected;
                };
                let payment_id = payment
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                let frame = ToDevice::Payment { payment }.to_text();
                let Some(wait_ms) = wait_ms else {
                    return if ws.send_with_str(frame).is_ok() {
                        HubReply::Delivered
                    } else {
                        HubReply::NotConnected
                    };
                };
                // Registered before the frame goes out: the device may settle it at once.
                let (n, rx) = self.register(&payment_id);
                if ws.send_with_str(frame).is_err() {
                    self.unregister(&payment_id, n);
                    return HubReply::NotConnected;
                }
                let timeout = Delay::from(Duration::from_millis(wait_ms));
                match select(rx, pin!(timeout)).await {
                    // A sender dropped unanswered only goes with the object itself.
                    Either::Left((reply, _)) => reply.unwrap_or(HubReply::Dropped),
                    Either::Right(_) => {
                        self.unregister(&payment_id, n);
                        HubReply::TimedOut
                    }
                }
            }
            HubCall::Cancel { payment_id, .. } => {
                let sent = self.current().is_some_and(|ws| {
                    ws.send_with_str(
                        ToDevice::Cancel {
                            payment_id: payment_id.clone(),
                        }
                        .to_text(),
                    )
                    .is_ok()
                });
                self.wake(&payment_id, HubReply::Settled);
                if sent {
                    HubReply::Delivered
                } else {
                    HubReply::NotConnected
                }
            }
        }
    }
}

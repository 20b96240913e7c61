//! A simulated payment terminal (docs/terminals.md, "The device protocol").
//!
//! It connects to `ws://HOST:PORT/v1/terminal/connect` with `Authorization: Bearer <deviceKey>`,
//! sends a `heartbeat` every [`Options::heartbeat`], and plays the cardholder on every `payment`
//! frame: after [`Options::present_delay`] (plus the payment's `simulateDelay` seconds, when the
//! frame carries one) it sends `presented`, then after [`Options::pin_delay`] `authorize` with
//! [`Options::card`]. What the terminal's screen would show ("Pay USD 25.00 — order_8821",
//! "Approved A12345", "Declined: insufficient_funds", "Cancelled") goes to a log callback.
//!
//! Failure modes for tests: [`Options::drop`] closes the connection mid-payment (once), and
//! [`Options::reconnect_after`] comes back afterwards; a payment that had been presented before
//! the drop is authorized as soon as the server re-sends it (store-and-forward).
//! [`Options::ignore_payments`] never presents (the payment stays `pending`).
//!
//! - [`run`]: async, until the connection ends (and no reconnect is due).
//! - [`run_with`]: the same with every [`Event`] (frames, connects) and a shutdown future; `Send`
//!   when its callback is, so many devices can share one multi-threaded runtime (the bench).
//! - [`SimHandle`]: one device on its own thread, for blocking tests.
//!
//! Plain `ws://` only (loopback); no TLS.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};
use vinr_shared::terminal::protocol::{CONNECT_PATH, FromDevice, HEARTBEAT_SECS, ToDevice};

/// The approved sandbox test card.
pub const DEFAULT_CARD: &str = "4242424242424242";

/// How the simulated device and its cardholder behave.
#[derive(Clone, Debug)]
pub struct Options {
    /// The card number sent with `authorize` (a sandbox test card, e.g. `4000000000009995`).
    pub card: String,
    /// Reported with `presented`: `contactless` | `chip` | `swipe` | `manual`.
    pub entry_method: String,
    /// Before presenting the card (plus the frame's `simulateDelay` seconds, if any).
    pub present_delay: Duration,
    /// Between `presented` and `authorize` (the cardholder typing a PIN).
    pub pin_delay: Duration,
    /// Go offline mid-payment (once per run).
    pub drop: Option<DropPoint>,
    /// After a [`drop`](Self::drop), reconnect after this long. On reconnect the server re-sends
    /// the active payment; if the card had been presented, its `authorize` is sent at once.
    pub reconnect_after: Option<Duration>,
    /// Show payments but never present a card.
    pub ignore_payments: bool,
    /// Interval of the `heartbeat` frames.
    pub heartbeat: Duration,
    /// If set, the `hello` frame must name this terminal id (else the run fails).
    pub expect_terminal: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            card: DEFAULT_CARD.into(),
            entry_method: "contactless".into(),
            present_delay: Duration::ZERO,
            pin_delay: Duration::ZERO,
            drop: None,
            reconnect_after: None,
            ignore_payments: false,
            heartbeat: Duration::from_secs(HEARTBEAT_SECS),
            expect_terminal: None,
        }
    }
}

/// Where the device goes offline mid-payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropPoint {
    /// Close the connection right after receiving the `payment` frame.
    OnPayment,
    /// Close the connection right after sending `presented`.
    AfterPresented,
}

impl std::str::FromStr for DropPoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on-payment" | "on_payment" => Ok(DropPoint::OnPayment),
            "after-presented" | "after_presented" => Ok(DropPoint::AfterPresented),
            _ => Err(format!("unknown drop point {s:?} (on-payment | after-presented)")),
        }
    }
}

/// What happens on a device, for observers ([`run_with`]).
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// The server's `hello` arrived (the connection is up and authenticated).
    Connected,
    /// The connection ended (closed by the server, or dropped by [`Options::drop`]).
    Disconnected,
    /// A frame from the server, as received (JSON text).
    Frame(&'a str),
    /// A line the terminal's screen shows.
    Screen(&'a str),
}

/// `http://host:port` (or `ws://…`) → `ws://host:port/v1/terminal/connect`.
pub fn connect_url(base_url: &str) -> anyhow::Result<String> {
    let base = base_url.trim_end_matches('/');
    let rest = if let Some(r) = base.strip_prefix("http://") {
        r
    } else if let Some(r) = base.strip_prefix("ws://") {
        r
    } else if base.starts_with("https://") || base.starts_with("wss://") {
        bail!("{base_url}: TLS is not supported by the simulator (use http:// on loopback)")
    } else {
        base
    };
    let rest = rest.trim_end_matches(CONNECT_PATH);
    Ok(format!("ws://{rest}{CONNECT_PATH}"))
}

/// Runs a device until its connection ends (and no reconnect is due). `log` gets what the
/// screen shows. Fails if the first connection is refused (e.g. HTTP 401: a wrong key).
pub async fn run(base_url: &str, key: &str, opts: Options, log: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    run_with(
        base_url,
        key,
        opts,
        |e| {
            if let Event::Screen(s) = e {
                log(s)
            }
        },
        std::future::pending(),
    )
    .await
}

/// Something due on the device: present the card, or authorize it.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Present,
    Authorize,
}

struct Due {
    at: Instant,
    payment: String,
    step: Step,
}

/// How a connection ended.
enum End {
    Shutdown,
    Closed,
    Dropped,
}

/// As [`run`], reporting every [`Event`] and stopping (with a close frame) when `shutdown`
/// completes.
pub async fn run_with<F, S>(
    base_url: &str,
    key: &str,
    opts: Options,
    mut on_event: F,
    shutdown: S,
) -> anyhow::Result<()>
where
    F: FnMut(Event<'_>),
    S: Future<Output = ()>,
{
    let url = connect_url(base_url)?;
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("bad URL {url}"))?;
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).context("the key is not a valid header value")?,
    );
    tokio::pin!(shutdown);
    // Across connections: payments whose card was presented and not yet answered by a
    // `result` (re-authorized when re-sent after a reconnect), and whether the drop happened.
    let mut presented: HashSet<String> = HashSet::new();
    let mut dropped_once = false;
    loop {
        let connect = tokio_tungstenite::connect_async_with_config(request.clone(), None, true);
        let ws = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = connect => match r {
                Ok((ws, _)) => ws,
                Err(tungstenite::Error::Http(resp)) => {
                    let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                    bail!("{url}: the server refused the connection: HTTP {} {body}", resp.status())
                }
                Err(e) => return Err(anyhow!(e)).with_context(|| format!("cannot connect to {url}")),
            },
        };
        let (mut tx, mut rx) = ws.split();
        let mut heartbeat = tokio::time::interval_at(Instant::now() + opts.heartbeat, opts.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut due: Vec<Due> = Vec::new();
        let end: End = 'conn: loop {
            let next = due.iter().map(|d| d.at).min();
            let far = Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                _ = &mut shutdown => {
                    let _ = tx.send(Message::Close(None)).await;
                    break 'conn End::Shutdown;
                }
                _ = heartbeat.tick() => {
                    if tx.send(Message::text(FromDevice::Heartbeat {}.to_text())).await.is_err() {
                        break 'conn End::Closed;
                    }
                }
                _ = tokio::time::sleep_until(next.unwrap_or(far)), if next.is_some() => {
                    let now = Instant::now();
                    let (ready, later): (Vec<Due>, Vec<Due>) = due.drain(..).partition(|d| d.at <= now);
                    due = later;
                    for d in ready {
                        match d.step {
                            Step::Present => {
                                let f = FromDevice::Presented { payment_id: d.payment.clone(), entry_method: opts.entry_method.clone() };
                                if tx.send(Message::text(f.to_text())).await.is_err() {
                                    break 'conn End::Closed;
                                }
                                presented.insert(d.payment.clone());
                                on_event(Event::Screen(&format!("Card presented ({})", opts.entry_method)));
                                if opts.drop == Some(DropPoint::AfterPresented) && !dropped_once {
                                    dropped_once = true;
                                    break 'conn End::Dropped;
                                }
                                due.push(Due { at: Instant::now() + opts.pin_delay, payment: d.payment, step: Step::Authorize });
                            }
                            Step::Authorize => {
                                let f = FromDevice::Authorize { payment_id: d.payment.clone(), card: opts.card.clone() };
                                if tx.send(Message::text(f.to_text())).await.is_err() {
                                    break 'conn End::Closed;
                                }
                                on_event(Event::Screen("Authorizing..."));
                            }
                        }
                    }
                }
                msg = rx.next() => {
                    let text = match msg {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break 'conn End::Closed,
                        Some(Ok(Message::Text(t))) => t.to_string(),
                        Some(Ok(_)) => continue,
                    };
                    on_event(Event::Frame(&text));
                    let raw: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let frame = match serde_json::from_value::<ToDevice>(raw.clone()) {
                        Ok(f) => f,
                        Err(_) => {
                            on_event(Event::Screen(&format!("(unknown frame: {text})")));
                            continue;
                        }
                    };
                    match frame {
                        ToDevice::Hello { terminal } => {
                            let id = terminal["id"].as_str().unwrap_or("?");
                            if let Some(want) = &opts.expect_terminal
                                && want != id
                            {
                                let _ = tx.send(Message::Close(None)).await;
                                bail!("this key belongs to {id}, not to {want}");
                            }
                            let label = terminal["label"].as_str().map(|l| format!(" ({l})")).unwrap_or_default();
                            on_event(Event::Connected);
                            on_event(Event::Screen(&format!("Connected: {id}{label}")));
                        }
                        ToDevice::Payment { payment } => {
                            let id = payment["id"].as_str().unwrap_or_default().to_string();
                            on_event(Event::Screen(&prompt(&payment)));
                            let status = payment["status"].as_str().unwrap_or("");
                            if id.is_empty() || !matches!(status, "pending" | "processing") || opts.ignore_payments {
                                continue;
                            }
                            if due.iter().any(|d| d.payment == id) {
                                continue; // already under way on this connection
                            }
                            if opts.drop == Some(DropPoint::OnPayment) && !dropped_once {
                                dropped_once = true;
                                break 'conn End::Dropped;
                            }
                            if presented.contains(&id) || status == "processing" {
                                // Store-and-forward: the card was read before the connection
                                // dropped; send its authorization now.
                                due.push(Due { at: Instant::now(), payment: id, step: Step::Authorize });
                            } else {
                                let extra = simulate_delay(&raw).unwrap_or(0.0);
                                let at = Instant::now() + opts.present_delay + Duration::from_secs_f64(extra.clamp(0.0, 3600.0));
                                due.push(Due { at, payment: id, step: Step::Present });
                            }
                        }
                        ToDevice::Cancel { payment_id } => {
                            due.retain(|d| d.payment != payment_id);
                            presented.remove(&payment_id);
                            on_event(Event::Screen("Cancelled"));
                        }
                        ToDevice::Result { payment } => {
                            if let Some(id) = payment["id"].as_str() {
                                due.retain(|d| d.payment != id);
                                presented.remove(id);
                            }
                            on_event(Event::Screen(&outcome(&payment)));
                        }
                        ToDevice::Error { message } => on_event(Event::Screen(&format!("Error: {message}"))),
                    }
                }
            }
        };
        match end {
            End::Shutdown => return Ok(()),
            End::Closed => {
                on_event(Event::Disconnected);
                on_event(Event::Screen("Disconnected"));
                return Ok(());
            }
            End::Dropped => {
                // Abrupt: no close frame, as when the network goes away.
                drop(tx);
                drop(rx);
                on_event(Event::Disconnected);
                on_event(Event::Screen("Offline"));
                let Some(after) = opts.reconnect_after else {
                    return Ok(());
                };
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(after) => {}
                }
                on_event(Event::Screen("Reconnecting..."));
            }
        }
    }
}

/// `simulateDelay` (seconds) of a `payment` frame: on the frame or on the payment object.
fn simulate_delay(frame: &Value) -> Option<f64> {
    let pick = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    pick(&frame["simulateDelay"])
        .or_else(|| pick(&frame["payment"]["simulateDelay"]))
        .or_else(|| pick(&frame["payment"]["simulate_delay"]))
}

/// Minor units → "25.00" by the currency's exponent.
pub fn format_amount(amount: i64, currency: &str) -> String {
    let exp = match currency.to_ascii_uppercase().as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "VND" | "VUV"
        | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    };
    if exp == 0 {
        return amount.to_string();
    }
    let p = 10i64.pow(exp);
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs() as i64;
    format!("{sign}{}.{:0w$}", a / p, a % p, w = exp as usize)
}

/// "Pay USD 25.00 — order_8821".
pub fn prompt(payment: &Value) -> String {
    let currency = payment["currency"].as_str().unwrap_or("").to_ascii_uppercase();
    let amount = format_amount(payment["amount"].as_i64().unwrap_or(0), &currency);
    match payment["reference"].as_str() {
        Some(r) if !r.is_empty() => format!("Pay {currency} {amount} — {r}"),
        _ => format!("Pay {currency} {amount}"),
    }
}

/// "Approved A12345", "Declined: insufficient_funds", "Cancelled", ...
pub fn outcome(payment: &Value) -> String {
    let code = |k: &str| payment[k].as_str().unwrap_or("").to_string();
    match payment["status"].as_str().unwrap_or("") {
        "completed" => format!("Approved {}", code("authCode")),
        "authorized" => format!("Approved {} (authorized)", code("authCode")),
        "failed" => format!("Declined: {}", code("declineCode")),
        "cancelled" => "Cancelled".into(),
        other => format!("Payment {other}"),
    }
}

// ---- a device on its own thread ----

#[derive(Default)]
struct State {
    connected: bool,
    connections: usize,
    frames: Vec<String>,
    screen: Vec<String>,
    /// Set when the run ended: `Ok` or the error's text.
    ended: Option<Result<(), String>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        self.changed.notify_all();
    }

    /// Waits until `pred` holds (true) or `within` passes (false).
    fn wait(&self, within: Duration, pred: impl Fn(&State) -> bool) -> bool {
        let deadline = std::time::Instant::now() + within;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if pred(&s) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A simulated device on its own thread (with a current-thread tokio runtime), for blocking
/// code such as the conformance tests. Stopped by [`SimHandle::stop`] or when dropped.
pub struct SimHandle {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    name: String,
}

impl SimHandle {
    /// Starts a device for `key` against `base_url` (`http://127.0.0.1:PORT`).
    pub fn spawn(base_url: &str, key: &str, opts: Options) -> SimHandle {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (base_url, key) = (base_url.to_string(), key.to_string());
        let name = format!(
            "sim-{}",
            key.chars()
                .rev()
                .take(6)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
        );
        let sh = shared.clone();
        let label = name.clone();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                let on_event = |e: Event<'_>| match e {
                    Event::Connected => sh.update(|s| {
                        s.connected = true;
                        s.connections += 1;
                    }),
                    Event::Disconnected => sh.update(|s| s.connected = false),
                    Event::Frame(f) => sh.update(|s| s.frames.push(f.to_string())),
                    Event::Screen(l) => {
                        eprintln!("[{label}] {l}");
                        sh.update(|s| s.screen.push(l.to_string()))
                    }
                };
                let shutdown = async move {
                    let _ = stop_rx.await;
                };
                let r = rt.block_on(run_with(&base_url, &key, opts, on_event, shutdown));
                if let Err(e) = &r {
                    eprintln!("[{label}] ended: {e:#}");
                }
                sh.update(|s| {
                    s.connected = false;
                    s.ended = Some(r.map_err(|e| format!("{e:#}")));
                });
            })
            .expect("spawn simulator thread");
        SimHandle {
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
            name,
        }
    }

    /// Waits until the device is connected (its `hello` arrived); false if not within `within`
    /// or if the run ended first.
    pub fn wait_connected(&self, within: Duration) -> bool {
        self.shared.wait(within, |s| s.connected || s.ended.is_some()) && self.is_connected()
    }

    /// Waits until the device has connected `n` times in all (reconnects included).
    pub fn wait_connections(&self, n: usize, within: Duration) -> bool {
        self.shared
            .wait(within, |s| (s.connected && s.connections >= n) || s.ended.is_some())
            && {
                let s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
                s.connected && s.connections >= n
            }
    }

    /// Waits until the device is disconnected (or its run ended).
    pub fn wait_disconnected(&self, within: Duration) -> bool {
        self.shared
            .wait(within, |s| !s.connected && s.connections > 0 || s.ended.is_some())
    }

    pub fn is_connected(&self) -> bool {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).connected
    }

    /// How many times the device connected.
    pub fn connections(&self) -> usize {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).connections
    }

    /// Every frame received, as JSON text, in order.
    pub fn frames(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .frames
            .clone()
    }

    /// Every frame received, parsed.
    pub fn frames_json(&self) -> Vec<Value> {
        self.frames()
            .iter()
            .map(|f| serde_json::from_str(f).unwrap_or(Value::Null))
            .collect()
    }

    /// Waits for a received frame (parsed) that satisfies `pred`; returns the first one.
    pub fn wait_frame(&self, within: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let find = |s: &State| {
            s.frames
                .iter()
                .map(|f| serde_json::from_str::<Value>(f).unwrap_or(Value::Null))
                .find(|v| pred(v))
        };
        self.shared.wait(within, |s| find(s).is_some());
        find(&self.shared.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until the screen has shown a line that satisfies `pred`. A frame is recorded before
    /// the device acts on it, so its screen line can come a moment after `wait_frame` returns.
    pub fn wait_screen(&self, within: Duration, pred: impl Fn(&str) -> bool) -> bool {
        self.shared.wait(within, |s| s.screen.iter().any(|l| pred(l)))
    }

    /// What the screen showed, in order.
    pub fn screen(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .screen
            .clone()
    }

    /// `Some` once the run ended: `Ok`, or the error's text (e.g. a refused connection).
    pub fn ended(&self) -> Option<Result<(), String>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ended
            .clone()
    }

    /// Waits until the run ended (e.g. the server closed the connection).
    pub fn wait_ended(&self, within: Duration) -> Option<Result<(), String>> {
        self.shared.wait(within, |s| s.ended.is_some());
        self.ended()
    }

    /// Closes the connection (with a close frame) and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            eprintln!("[{}] simulator thread panicked", self.name);
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn screen_lines() {
        assert_eq!(
            prompt(&json!({"amount": 2500, "currency": "USD", "reference": "order_8821"})),
            "Pay USD 25.00 — order_8821"
        );
        assert_eq!(
            prompt(&json!({"amount": 500, "currency": "jpy", "reference": null})),
            "Pay JPY 500"
        );
        assert_eq!(format_amount(1005, "KWD"), "1.005");
        assert_eq!(
            outcome(&json!({"status": "completed", "authCode": "A12345"})),
            "Approved A12345"
        );
        assert_eq!(
            outcome(&json!({"status": "failed", "declineCode": "insufficient_funds"})),
            "Declined: insufficient_funds"
        );
        assert_eq!(outcome(&json!({"status": "cancelled"})), "Cancelled");
    }

    #[test]
    fn urls_and_drop_points() {
        assert_eq!(
            connect_url("http://127.0.0.1:8787").unwrap(),
            "ws://127.0.0.1:8787/v1/terminal/connect"
        );
        assert_eq!(
            connect_url("http://127.0.0.1:8787/").unwrap(),
            "ws://127.0.0.1:8787/v1/terminal/connect"
        );
        assert!(connect_url("https://x").is_err());
        assert_eq!("after-presented".parse::<DropPoint>(), Ok(DropPoint::AfterPresented));
        assert!("later".parse::<DropPoint>().is_err());
    }

    #[test]
    fn delay_from_frame_or_payment() {
        assert_eq!(
            simulate_delay(&json!({"type": "payment", "payment": {"simulateDelay": 2}})),
            Some(2.0)
        );
        assert_eq!(
            simulate_delay(&json!({"type": "payment", "simulateDelay": 1.5, "payment": {}})),
            Some(1.5)
        );
        assert_eq!(simulate_delay(&json!({"type": "payment", "payment": {}})), None);
    }
}

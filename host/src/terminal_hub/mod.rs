//! The terminal hub of `vinr dev` (docs/terminals.md, "Runtime contract"): holds each terminal's
//! device WebSocket and carries messages between it and the API. The domain decides
//! (`vinr_shared::device`); the hub only routes frames and wakes waiters.
//!
//! - [`socket`]: `GET /v1/terminal/connect`, the device's WebSocket, one task per connection.
//! - [`outbound`]: components reach the hub by an outbound HTTP request to
//!   `http://terminal-hub.vinr.internal/call` (a `HubCall` as JSON), answered here in-process.
//!
//! One [`Terminal`] per terminal id with a connection or waiters. Its `turn` lock serializes
//! everything that concerns that terminal: each device frame's database decision (taken with the
//! turn held) and each hub call, so two frames' decisions never interleave and a `payment` frame
//! is never sent while a frame about the previous payment is being decided.

pub mod outbound;
pub mod socket;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use vinr_shared::hub::{HubCall, HubReply};
use vinr_shared::terminal::protocol::ToDevice;

/// The longest a `deliver` call waits (its `waitMs` is capped to this): below the server's
/// request timeout (180 s), so the component always gets the hub's answer first.
pub const MAX_WAIT: Duration = Duration::from_secs(170);

/// What the connection's writer task sends.
#[derive(Debug)]
pub enum Outgoing {
    /// A JSON text frame.
    Text(String),
    /// Close the connection (it was replaced, or the server stops).
    Close(&'static str),
}

/// The device connection a terminal currently has.
struct Conn {
    /// Distinguishes this connection from the one that replaced it.
    serial: u64,
    tx: mpsc::UnboundedSender<Outgoing>,
    /// Tells the connection's reader to stop (it was replaced or the server stops).
    kick: Arc<Notify>,
}

#[derive(Default)]
struct State {
    conn: Option<Conn>,
    /// Callers of `deliver` with `waitMs`, by payment id.
    waiters: HashMap<String, Vec<oneshot::Sender<HubReply>>>,
}

/// One terminal's slot in the hub.
pub struct Terminal {
    /// Held while a device frame is decided (database work) and while a hub call runs.
    turn: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

impl Terminal {
    /// Is a device connected?
    pub fn connected(&self) -> bool {
        self.state.lock().unwrap().conn.is_some()
    }

    /// Is `serial` still the terminal's connection?
    pub fn is_current(&self, serial: u64) -> bool {
        self.state
            .lock()
            .unwrap()
            .conn
            .as_ref()
            .is_some_and(|c| c.serial == serial)
    }

    /// Queues frames on connection `serial` if it is still the current one.
    pub fn send(&self, serial: u64, frames: &[ToDevice]) -> bool {
        let st = self.state.lock().unwrap();
        match st.conn.as_ref() {
            Some(c) if c.serial == serial => frames.iter().all(|f| c.tx.send(Outgoing::Text(f.to_text())).is_ok()),
            _ => false,
        }
    }

    /// Answers everyone waiting for one of these payments with `Settled`.
    pub fn settle(&self, payment_ids: &[String]) {
        let mut st = self.state.lock().unwrap();
        for id in payment_ids {
            for w in st.waiters.remove(id).unwrap_or_default() {
                let _ = w.send(HubReply::Settled);
            }
        }
    }

    fn idle(&self) -> bool {
        let st = self.state.lock().unwrap();
        st.conn.is_none() && st.waiters.is_empty()
    }
}

/// All terminals' slots.
pub struct Hub {
    terminals: Mutex<HashMap<String, Arc<Terminal>>>,
    next_serial: AtomicU64,
    /// Where calls made from blocking threads (see [`call_from_blocking`]) are run.
    runtime: Option<tokio::runtime::Handle>,
}

/// The server's hub, for `HostEnv::terminal_hub` (the scheduler's steps run without a Store).
static GLOBAL: OnceLock<Arc<Hub>> = OnceLock::new();

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            terminals: Mutex::new(HashMap::new()),
            next_serial: AtomicU64::new(1),
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// Makes this the hub `HostEnv::terminal_hub` uses (the first one set stays).
    pub fn install_global(self: &Arc<Self>) {
        let _ = GLOBAL.set(self.clone());
    }

    /// The slot of `terminal_id`, created if needed. Give it back with [`Hub::release`].
    pub fn terminal(&self, terminal_id: &str) -> Arc<Terminal> {
        let mut map = self.terminals.lock().unwrap();
        map.entry(terminal_id.to_string())
            .or_insert_with(|| {
                Arc::new(Terminal {
                    turn: tokio::sync::Mutex::new(()),
                    state: Mutex::new(State::default()),
                })
            })
            .clone()
    }

    /// Drops the slot of `terminal_id` if nothing uses it any more (no connection, no waiters,
    /// and no one else holds it: taking a slot needs the map's lock, so the count is stable).
    pub fn release(&self, terminal_id: &str, t: Arc<Terminal>) {
        let mut map = self.terminals.lock().unwrap();
        if let Some(slot) = map.get(terminal_id)
            && Arc::ptr_eq(slot, &t)
            && Arc::strong_count(&t) == 2
            && t.idle()
        {
            map.remove(terminal_id);
        }
    }

    /// Makes `tx` the terminal's connection; a previous one is told to close (its waiters keep
    /// waiting: the payment is re-sent to the new connection, which can settle it). Call with
    /// the terminal's turn held. Returns the new connection's serial.
    pub fn attach(&self, t: &Terminal, tx: mpsc::UnboundedSender<Outgoing>, kick: Arc<Notify>) -> u64 {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let old = t.state.lock().unwrap().conn.replace(Conn { serial, tx, kick });
        if let Some(old) = old {
            let _ = old
                .tx
                .send(Outgoing::Close("replaced by a newer connection of this terminal"));
            old.kick.notify_one();
        }
        serial
    }

    /// Connection `serial` ended. If it was the terminal's current one, it is removed and
    /// everyone waiting on the terminal is answered `Dropped`. Returns whether it was current.
    pub fn detach(&self, t: &Terminal, serial: u64) -> bool {
        let mut st = t.state.lock().unwrap();
        if st.conn.as_ref().is_none_or(|c| c.serial != serial) {
            return false;
        }
        st.conn = None;
        for (_, ws) in st.waiters.drain() {
            for w in ws {
                let _ = w.send(HubReply::Dropped);
            }
        }
        true
    }

    /// Answers one call from the API.
    pub async fn call(&self, call: HubCall) -> HubReply {
        let terminal_id = call.terminal_id().to_string();
        let t = self.terminal(&terminal_id);
        let reply = self.call_on(&t, call).await;
        self.release(&terminal_id, t);
        reply
    }

    async fn call_on(&self, t: &Terminal, call: HubCall) -> HubReply {
        match call {
            HubCall::Deliver { payment, wait_ms, .. } => {
                let payment_id = payment
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                if wait_ms.is_some() && payment_id.is_empty() {
                    return HubReply::Unavailable {
                        message: "deliver with waitMs needs a payment with an id".into(),
                    };
                }
                let rx = {
                    let _turn = t.turn.lock().await;
                    let mut st = t.state.lock().unwrap();
                    let Some(conn) = st.conn.as_ref() else {
                        return HubReply::NotConnected;
                    };
                    let tx = conn.tx.clone();
                    // The waiter is in place before the frame leaves: the device cannot answer
                    // before we listen.
                    let rx = wait_ms.map(|_| {
                        let (wtx, wrx) = oneshot::channel();
                        st.waiters.entry(payment_id.clone()).or_default().push(wtx);
                        wrx
                    });
                    if tx
                        .send(Outgoing::Text(ToDevice::Payment { payment }.to_text()))
                        .is_err()
                    {
                        // The writer is gone: the connection is closing.
                        drop(rx);
                        prune(&mut st, &payment_id);
                        return HubReply::NotConnected;
                    }
                    rx
                };
                let (Some(rx), Some(ms)) = (rx, wait_ms) else {
                    return HubReply::Delivered;
                };
                let wait = Duration::from_millis(ms).min(MAX_WAIT);
                let reply = match tokio::time::timeout(wait, rx).await {
                    Ok(Ok(reply)) => reply,
                    // Our sender was dropped without an answer: the slot went away with its
                    // connection.
                    Ok(Err(_)) => HubReply::Dropped,
                    Err(_) => HubReply::TimedOut,
                };
                prune(&mut t.state.lock().unwrap(), &payment_id);
                reply
            }
            HubCall::Cancel { payment_id, .. } => {
                let _turn = t.turn.lock().await;
                // The cancel is committed: whoever waits for this payment has their outcome.
                t.settle(std::slice::from_ref(&payment_id));
                let st = t.state.lock().unwrap();
                match st.conn.as_ref() {
                    Some(c)
                        if c.tx
                            .send(Outgoing::Text(ToDevice::Cancel { payment_id }.to_text()))
                            .is_ok() =>
                    {
                        HubReply::Delivered
                    }
                    _ => HubReply::NotConnected,
                }
            }
        }
    }

    /// Server shutdown: every connection is closed and every waiter answered `Dropped`.
    pub fn shutdown(&self) {
        let terminals: Vec<Arc<Terminal>> = self.terminals.lock().unwrap().values().cloned().collect();
        for t in terminals {
            let mut st = t.state.lock().unwrap();
            if let Some(c) = st.conn.take() {
                let _ = c.tx.send(Outgoing::Close("the server is shutting down"));
                c.kick.notify_one();
            }
            for (_, ws) in st.waiters.drain() {
                for w in ws {
                    let _ = w.send(HubReply::Dropped);
                }
            }
        }
    }
}

/// Forgets waiters whose caller stopped waiting.
fn prune(st: &mut State, payment_id: &str) {
    if let Some(ws) = st.waiters.get_mut(payment_id) {
        ws.retain(|w| !w.is_closed());
        if ws.is_empty() {
            st.waiters.remove(payment_id);
        }
    }
}

/// A hub call from code that runs on a blocking thread holding the database's writer lock (the
/// scheduler's steps through `HostEnv`, or a device frame's decision). It must not wait for the
/// terminal's turn there: the turn's holder may itself be waiting for the writer lock. So the
/// call runs in the background (after the current holder's turn) and the answer is what can be
/// told at once: `NotConnected` without a connection, otherwise `Delivered`. A `deliver` made
/// this way never waits (`waitMs` is ignored).
pub fn call_from_blocking(call: &HubCall) -> HubReply {
    let Some(hub) = GLOBAL.get().cloned() else {
        return HubReply::Unavailable {
            message: "the terminal hub is not running".into(),
        };
    };
    let Some(rt) = hub.runtime.clone() else {
        return HubReply::Unavailable {
            message: "the terminal hub has no runtime".into(),
        };
    };
    let call = match call.clone() {
        HubCall::Deliver {
            terminal_id, payment, ..
        } => HubCall::Deliver {
            terminal_id,
            payment,
            wait_ms: None,
        },
        c @ HubCall::Cancel { .. } => c,
    };
    let connected = hub
        .terminals
        .lock()
        .unwrap()
        .get(call.terminal_id())
        .is_some_and(|t| t.connected());
    if let HubCall::Cancel {
        terminal_id,
        payment_id,
    } = &call
    {
        // Waiters need no turn: answer them now.
        if let Some(t) = hub.terminals.lock().unwrap().get(terminal_id) {
            t.settle(std::slice::from_ref(payment_id));
        }
    }
    if !connected {
        return HubReply::NotConnected;
    }
    rt.spawn(async move {
        hub.call(call).await;
    });
    HubReply::Delivered
}

/// No device survives a restart: whatever connections the database remembers are gone.
pub fn clear_stale_connections(conn: &rusqlite::Connection) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "UPDATE terminals SET connection_id = NULL WHERE connection_id IS NOT NULL",
        [],
    )?)
}

//! `GET /v1/terminal/connect`: a terminal's device WebSocket (docs/terminals.md, "The device
//! protocol"). The device key is checked before the upgrade (401 otherwise); then, per
//! connection: a new connection id, `device::connected` (its frames go first), and each text
//! frame through `device::on_message`, whose replies go back and whose settled payments wake the
//! hub's waiters. When the connection ends, `device::disconnected`.
//!
//! The domain's decisions run as the scheduler's steps do (`dispatcher::run_steps`): on the
//! writer connection with the writer lock held, on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rusqlite::Connection;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use vinr_shared::device::{self, Device};
use vinr_shared::port::DbError;
use vinr_shared::sqlite::SqliteDb;
use vinr_shared::terminal::protocol::{CONNECT_PATH, OFFLINE_AFTER_SECS, ToDevice};
use wasmtime_wasi_http::WasiBody;

use super::{Hub, Outgoing, Terminal};
use crate::db::Pool;
use crate::dispatcher::HostEnv;

/// Devices send small JSON frames; anything this large is not one of them.
const MAX_MESSAGE: usize = 64 << 10;

/// A connection with nothing from the device (not even a ping) for this long is closed: a
/// device heartbeats every 20 s, and after 60 s of silence the terminal shows offline anyway.
const SILENCE_LIMIT: Duration = Duration::from_secs(2 * OFFLINE_AFTER_SECS as u64);

fn json_body(body: String) -> WasiBody {
    Full::new(bytes::Bytes::from(body))
        .map_err(|never: std::convert::Infallible| match never {})
        .boxed_unsync()
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response<WasiBody> {
    let body = serde_json::json!({ "error": { "type": kind, "code": code, "message": message } }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(json_body(body))
        .unwrap()
}

/// The device key: `Authorization: Bearer tdk_…`, or the query parameter `key`.
fn device_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(key) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(vinr_shared::auth::bearer)
        .filter(|k| !k.is_empty())
    {
        return Some(key.to_string());
    }
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// Does the header hold this token (comma-separated, any case)?
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Answers `GET /v1/terminal/connect`: 401 for a missing or wrong key, 426 without a WebSocket
/// upgrade, otherwise 101 and the connection is served in the background.
pub async fn connect(
    hub: &Arc<Hub>,
    pool: &Arc<Pool>,
    mut req: hyper::Request<hyper::body::Incoming>,
) -> Response<WasiBody> {
    let Some(key) = device_key(req.headers(), req.uri().query()) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_device_key",
            "No device key provided: send `Authorization: Bearer tdk_…` (or `?key=tdk_…`).",
        );
    };
    let dev = match authenticate(pool, key).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_device_key",
                "Invalid device key.",
            );
        }
        Err(e) => {
            eprintln!("error: {CONNECT_PATH}: device authentication failed: {e:#}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "internal_error",
                "An internal error occurred.",
            );
        }
    };
    let headers = req.headers();
    if !has_token(headers, header::UPGRADE, "websocket") || !has_token(headers, header::CONNECTION, "upgrade") {
        return error(
            StatusCode::UPGRADE_REQUIRED,
            "invalid_request_error",
            "upgrade_required",
            "This endpoint only accepts a WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`).",
        );
    }
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let Some(accept) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|_| version_ok)
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        let mut r = error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_websocket_handshake",
            "Invalid WebSocket handshake: `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13` are required.",
        );
        r.headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return r;
    };
    let upgrade = hyper::upgrade::on(&mut req);
    let (hub, pool) = (hub.clone(), pool.clone());
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                // Frames are small JSON: 4 KiB buffers instead of tungstenite's 128 KiB each way, which
                // cost ~150 KiB per held device (bench: 5,000 devices).
                let config = WebSocketConfig::default()
                    .max_message_size(Some(MAX_MESSAGE))
                    .max_frame_size(Some(MAX_MESSAGE))
                    .read_buffer_size(4 * 1024)
                    .write_buffer_size(4 * 1024);
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                serve(hub, pool, Arc::new(dev), ws).await;
            }
            Err(e) => eprintln!("warning: {CONNECT_PATH}: WebSocket upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(json_body(String::new()))
        .unwrap()
}

/// Runs `f` on the writer connection with the writer lock held, on a blocking thread (the `Db`
/// port is async, rusqlite is not), as `dispatcher::run_steps` does.
async fn on_writer<T: Send + 'static>(
    pool: &Arc<Pool>,
    f: impl FnOnce(&SqliteDb<&Connection>) -> T + Send + 'static,
) -> anyhow::Result<T> {
    let mut guard = pool.writer.clone().lock_owned().await;
    pool.ensure_writer(&mut guard)?;
    tokio::task::spawn_blocking(move || {
        let conn = guard.as_ref().expect("opened by ensure_writer");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&SqliteDb(conn))));
        // Never hand the writer on inside a transaction.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        drop(guard);
        r.map_err(|_| anyhow::anyhow!("the terminal step panicked"))
    })
    .await?
}

fn db_failed(e: DbError) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

/// `device::authenticate`, a read on a pooled connection.
async fn authenticate(pool: &Arc<Pool>, key: String) -> anyhow::Result<Option<Device>> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let conn = pool.checkout()?;
        futures::executor::block_on(device::authenticate(&SqliteDb(&*conn), &key)).map_err(db_failed)
    })
    .await?
}

/// One device connection, from the upgrade to its end.
async fn serve<S>(hub: Arc<Hub>, pool: Arc<Pool>, dev: Arc<Device>, ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let kick = Arc::new(Notify::new());
    // The writer: frames in the order they were queued; a close ends it.
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Outgoing::Text(text) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close(reason) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: reason.into(),
                        })))
                        .await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });

    let t = hub.terminal(&dev.terminal_id);
    let connection_id = device::new_connection_id(&HostEnv);
    let serial = {
        let _turn = t.turn.lock().await;
        let serial = hub.attach(&t, tx.clone(), kick.clone());
        let (d, cid) = (dev.clone(), connection_id.clone());
        match on_writer(&pool, move |db| {
            futures::executor::block_on(device::connected(db, &HostEnv, &d, &cid))
        })
        .await
        {
            Ok(Ok(frames)) => {
                t.send(serial, &frames);
                Some(serial)
            }
            Ok(Err(e)) => {
                eprintln!(
                    "error: terminal {}: recording the connection failed: {e:?}",
                    dev.terminal_id
                );
                hub.detach(&t, serial);
                None
            }
            Err(e) => {
                eprintln!(
                    "error: terminal {}: recording the connection failed: {e:#}",
                    dev.terminal_id
                );
                hub.detach(&t, serial);
                None
            }
        }
    };
    let Some(serial) = serial else {
        let _ = tx.send(Outgoing::Close("the server could not record the connection"));
        drop(tx);
        let _ = writer.await;
        hub.release(&dev.terminal_id, t);
        return;
    };

    loop {
        let next = tokio::select! {
            _ = kick.notified() => break,
            next = tokio::time::timeout(SILENCE_LIMIT, stream.next()) => next,
        };
        let msg = match next {
            Err(_) => {
                let _ = tx.send(Outgoing::Close("no message from the device for too long"));
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(text) => {
                if !on_text(&pool, &t, &dev, serial, text.as_str().to_string()).await {
                    break;
                }
            }
            Message::Binary(_) => {
                let frame = ToDevice::Error {
                    message: "Binary frames are not used: send JSON text frames.".into(),
                };
                t.send(serial, &[frame]);
            }
            Message::Close(_) => break,
            // Pings are answered by tungstenite.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }

    // The end of this connection.
    {
        let _turn = t.turn.lock().await;
        hub.detach(&t, serial);
        let (d, cid) = (dev.clone(), connection_id.clone());
        // The domain clears the terminal's connection only if it is still this one.
        match on_writer(&pool, move |db| {
            futures::executor::block_on(device::disconnected(db, &HostEnv, &d, &cid))
        })
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "warning: terminal {}: recording the disconnection failed: {e:?}",
                dev.terminal_id
            ),
            Err(e) => eprintln!(
                "warning: terminal {}: recording the disconnection failed: {e:#}",
                dev.terminal_id
            ),
        }
    }
    drop(tx);
    // The writer ends once the hub's sender is gone too (detached above), after sending what
    // was queued.
    if tokio::time::timeout(Duration::from_secs(5), writer).await.is_err() {
        eprintln!(
            "warning: terminal {}: the connection's writer did not finish",
            dev.terminal_id
        );
    }
    hub.release(&dev.terminal_id, t);
}

/// One text frame: decided by the domain with the terminal's turn held. Returns false when the
/// connection should end (it was replaced meanwhile).
async fn on_text(pool: &Arc<Pool>, t: &Arc<Terminal>, dev: &Arc<Device>, serial: u64, text: String) -> bool {
    let _turn = t.turn.lock().await;
    if !t.is_current(serial) {
        return false;
    }
    let d = dev.clone();
    match on_writer(pool, move |db| {
        futures::executor::block_on(device::on_message(db, &HostEnv, &d, &text))
    })
    .await
    {
        Ok(Ok(step)) => {
            t.send(serial, &step.replies);
            t.settle(&step.settled);
            if !step.events.is_empty() {
                // Deliver the events' webhooks now, not at the dispatcher's next poll.
                pool.committed.notify_one();
            }
        }
        Ok(Err(e)) => {
            eprintln!(
                "error: terminal {}: a device message could not be decided: {e:?}",
                dev.terminal_id
            );
            t.send(
                serial,
                &[ToDevice::Error {
                    message: "The server could not process this message; send it again.".into(),
                }],
            );
        }
        Err(e) => {
            eprintln!(
                "error: terminal {}: a device message could not be decided: {e:#}",
                dev.terminal_id
            );
            t.send(
                serial,
                &[ToDevice::Error {
                    message: "The server could not process this message; send it again.".into(),
                }],
            );
        }
    }
    true
}

//! The Spin side of every route-group component: converts the spin-sdk request into the shared
//! domain's [`Request`], supplies the ports ([`Db`] over `spin:sqlite`, [`Env`] over WASI clocks
//! and randomness), and converts the answer back. No business logic lives here.

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::Full;
use spin_sdk::http::body::IncomingBodyExt;
// Both forms of the `spin:sqlite` 3.1 interface real Spin serves. Statements that start a write
// (`BEGIN IMMEDIATE`, an autocommit INSERT/UPDATE/DELETE) go through the async call, so that a
// host which queues writers can make us wait without blocking a thread. Everything else uses
// the synchronous call: it costs the host far less than the async variant's stream + future
// per statement, and the statements inside a write transaction then run without yielding.
use spin_sdk::sqlite::Value;
use spin_sdk::sqlite::wit::sqlite::Connection;
use vinr_shared::api::{Routes, serve_group};
use vinr_shared::error::ApiError;
use vinr_shared::http::{Request, Response};
use vinr_shared::hub::{HUB_URL, HubCall, HubReply};
use vinr_shared::params::MAX_BODY_BYTES;
use vinr_shared::port::{Db, DbError, Env, NoCache, Row, SqlValue, Stmt};

/// `Db` over one `spin:sqlite` connection to the `default` database.
pub struct SpinDb {
    conn: Connection,
}

fn to_spin(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Int(i) => Value::Integer(i),
        SqlValue::Real(f) => Value::Real(f),
        SqlValue::Text(s) => Value::Text(s),
        SqlValue::Blob(b) => Value::Blob(b),
    }
}

fn from_spin(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Int(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
    }
}

fn db_error(e: spin_sdk::sqlite::Error) -> DbError {
    use spin_sdk::sqlite::Error as E;
    match e {
        E::Io(msg) => DbError::from_message(msg),
        other => DbError::Other(format!("{other:?}")),
    }
}

impl SpinDb {
    pub async fn open() -> Result<SpinDb, DbError> {
        Ok(SpinDb {
            conn: Connection::open_async("default".to_string()).await.map_err(db_error)?,
        })
    }

    async fn exec(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Row>, DbError> {
        let params: Vec<Value> = params.into_iter().map(to_spin).collect();
        let rows = if starts_write(sql) {
            let (_, rows, done) = self
                .conn
                .execute_async(sql.to_string(), params)
                .await
                .map_err(db_error)?;
            let rows = rows.collect().await;
            done.await.map_err(db_error)?;
            rows
        } else {
            self.conn.execute(sql, &params).map_err(db_error)?.rows
        };
        Ok(rows
            .into_iter()
            .map(|r| r.values.into_iter().map(from_spin).collect())
            .collect())
    }
}

/// Does this statement begin a write (and so may have to queue for the database's writer)?
fn starts_write(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
    matches!(head.as_str(), "BEGIN " | "INSERT" | "UPDATE" | "DELETE")
}

impl Db for SpinDb {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, DbError> {
        self.exec(&stmt.sql, stmt.params).await
    }

    async fn batch(&self, stmts: Vec<Stmt>) -> Result<(), DbError> {
        // IMMEDIATE takes the write lock up front, so the batch cannot fail half-way on a
        // lock upgrade; any failing statement rolls everything back.
        self.exec("BEGIN IMMEDIATE", vec![]).await?;
        for s in stmts {
            if let Err(e) = self.exec(&s.sql, s.params).await {
                let _ = self.exec("ROLLBACK", vec![]).await;
                return Err(e);
            }
        }
        if let Err(e) = self.exec("COMMIT", vec![]).await {
            let _ = self.exec("ROLLBACK", vec![]).await;
            return Err(e);
        }
        Ok(())
    }
}

/// Clock and randomness from WASI.
pub struct WasiEnv;

impl Env for WasiEnv {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("WASI random is always available");
    }

    // `vinr dev` passes it to every component; under Spin, `spin up --env VINR_HASH_KEY=...`.
    fn hash_secret(&self) -> Option<Vec<u8>> {
        std::env::var("VINR_HASH_KEY").ok().map(String::into_bytes)
    }

    // The component's stderr is the runtime's log (`vinr dev` inherits it).
    fn log_error(&self, id: &str, message: &str) {
        eprintln!("error: {id}: {message}");
    }

    async fn sleep_ms(&self, ms: u64) {
        wasip3::clocks::monotonic_clock::wait_for(ms.saturating_mul(1_000_000)).await;
    }

    /// A `POST` of the call to `HUB_URL` (outbound HTTP; spin.toml allows that host for the
    /// terminal component). `vinr dev` answers it in-process; under Spin proper a hub service
    /// would. Any failure is `Unavailable`.
    async fn terminal_hub(&self, call: &HubCall) -> HubReply {
        let unavailable = |message: String| HubReply::Unavailable { message };
        let body = match serde_json::to_vec(call) {
            Ok(b) => b,
            Err(e) => return unavailable(format!("the hub call could not be encoded: {e}")),
        };
        let resp = match spin_sdk::http::post(HUB_URL, body).await {
            Ok(r) => r,
            Err(e) => return unavailable(format!("the terminal hub could not be reached: {e:?}")),
        };
        let status = resp.status();
        let bytes = match resp.into_body().bytes().await {
            Ok(b) => b,
            Err(e) => return unavailable(format!("the terminal hub's answer could not be read: {e:?}")),
        };
        match serde_json::from_slice::<HubReply>(&bytes) {
            Ok(reply) => reply,
            Err(_) if !status.is_success() => {
                unavailable(format!("the terminal hub answered HTTP {}", status.as_u16()))
            }
            Err(e) => unavailable(format!("the terminal hub's answer is not a hub reply: {e}")),
        }
    }
}

fn respond(r: Response) -> http::Response<Full<Bytes>> {
    let mut b = http::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(r.body))).unwrap_or_else(|_| {
        let mut resp = http::Response::new(Full::new(Bytes::from_static(
            b"{\"error\":{\"type\":\"api_error\",\"code\":\"internal_error\",\"message\":\"invalid response header\"}}",
        )));
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

fn error_response(e: ApiError) -> http::Response<Full<Bytes>> {
    let mut r = Response::json(e.status, &e.to_json());
    let mut id = [0u8; 48];
    WasiEnv.fill_random(&mut id);
    r.headers.push((
        "request-id".into(),
        format!("req_{}", vinr_shared::ids::base62(&id, 24)),
    ));
    respond(r)
}

/// Serves one HTTP request for route group `G`: the whole body of each component's handler.
pub async fn serve<G: Routes>(req: spin_sdk::http::Request) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // Read at most MAX_BODY_BYTES + 1 bytes: enough to know the body is too large.
    let mut buf = Vec::new();
    let mut stream = body.stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                buf.extend_from_slice(&c);
                if buf.len() > MAX_BODY_BYTES {
                    break;
                }
            }
            Err(_) => {
                return error_response(ApiError::new(
                    400,
                    "invalid_request_error",
                    "body_unreadable",
                    "The request body could not be read.",
                ));
            }
        }
    }
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
            .collect(),
        body: buf,
    };
    let db = match SpinDb::open().await {
        Ok(db) => db,
        Err(e) => return error_response(ApiError::from(e)),
    };
    respond(
        serve_group::<G, _, _, _>(&request, &db, &WasiEnv, &NoCache)
            .await
            .response,
    )
}

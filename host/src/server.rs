//! `vinr dev`: the HTTP server. Each request is matched to a route and handled by a fresh
//! instance of that route's component (as Spin does), created from the component's
//! pre-instantiated `ProxyPre`. The per-request machinery (running the guest, streaming bodies)
//! is wasmtime-wasi-http's `ProxyHandler`, the same one `wasmtime serve` uses, configured to
//! never reuse an instance.
//!
//! Terminals (docs/terminals.md): `GET /v1/terminal/connect` is answered here, before routing
//! (the device's WebSocket, held by `terminal_hub`), and the components' only outbound HTTP
//! destination is that hub (`terminal_hub::outbound`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use vinr_shared::terminal::protocol::CONNECT_PATH;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreContextMut};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, ProxyHandler, ProxyPre, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpView};

use crate::components;
use crate::db::{Database, Pool};
use crate::manifest::{Manifest, Route, match_route};
use crate::state::{Grants, HostState, SpinCtx};
use crate::terminal_hub::outbound::HubHooks;
use crate::terminal_hub::{Hub, socket};

/// A guest that has not produced its response by then is cut off (500). A sync terminal payment
/// (`responseMode: sync`, docs/terminals.md) holds its request up to 150 s waiting for the
/// device's outcome, so this must be comfortably above that.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What `dev` reads before it builds, for `serve`: the hash key and the retention policy.
struct Settings {
    hash_key: Arc<str>,
    retention: vinr_shared::retention::Policy,
}

pub struct DevOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    pub manifest: PathBuf,
    pub no_build: bool,
}

/// `VINR_TRACE_INSTANTIATION=1` logs how long each Store + instance took to create.
static TRACE_INSTANTIATION: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("VINR_TRACE_INSTANTIATION").is_some_and(|v| v != "0"));

/// One per component: makes a Store and an instance per request.
struct ComponentHandler {
    engine: Engine,
    pre: ProxyPre<HostState>,
    grants: Arc<Grants>,
    sqlite: Arc<Pool>,
    hub: Arc<Hub>,
    /// The deployment's hash key (host/src/hash_key.rs), the components' only environment variable.
    hash_key: Arc<str>,
}

impl HandlerState for ComponentHandler {
    type StoreData = HostState;
    type WorkerExpiration = Expiration;
    type WorkerState = SingleUse;

    async fn instantiate(&self) -> wasmtime::Result<Instance<HostState, Expiration, SingleUse>> {
        // Component logs (println!/eprintln!) go to vinr's own stdout/stderr. One environment
        // variable, the hash key, and no preopened directories: state lives behind spin:sqlite.
        let t0 = Instant::now();
        let wasi = WasiCtxBuilder::new()
            .inherit_stdout()
            .inherit_stderr()
            .env(crate::hash_key::ENV, &self.hash_key)
            .build();
        let mut store = Store::new(
            &self.engine,
            HostState {
                table: ResourceTable::new(),
                wasi,
                http: WasiHttpCtx::new(),
                hooks: HubHooks::new(self.hub.clone()),
                spin: SpinCtx {
                    grants: self.grants.clone(),
                    sqlite: self.sqlite.clone(),
                },
            },
        );
        let proxy = self.pre.instantiate_async(&mut store).await?;
        if *TRACE_INSTANTIATION {
            eprintln!("instantiate: {:.1} µs", t0.elapsed().as_secs_f64() * 1e6);
        }
        Ok(Instance {
            store,
            proxy,
            view: WasiHttpView::http,
            expiration: Expiration {
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: SingleUse,
        })
    }
}

/// Spin semantics: an instance serves exactly one request, so no state leaks between requests.
struct SingleUse;

impl WorkerState for SingleUse {
    type StoreData = HostState;
    type RequestData = ();

    fn should_accept_request(&self, _concurrent: usize, total: usize) -> ShouldAccept {
        if total >= 1 {
            ShouldAccept::Never
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, HostState>,
        _data: (),
        _task: wasmtime::component::GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        Box::pin(tokio::time::sleep(REQUEST_TIMEOUT))
    }

    fn drop(&self, store: Store<HostState>, result: wasmtime::Result<()>) {
        // Errors before the response are logged with the request; this catches traps after it
        // (e.g. while streaming the body or in post-return work).
        if let Err(e) = result {
            eprintln!("component instance failed: {e:#}");
        }
        // Dropping the store drops its resources: pooled SQLite connections go back to the pool
        // (rolled back if a transaction was left open).
        drop(store);
    }
}

/// Second line of defence for the request timeout, polled outside the store's event loop (see
/// wasmtime-wasi-http's `WorkerState::on_request_start` docs).
struct Expiration {
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiration {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>, status: WorkerStatus, start: Instant) -> Poll<()> {
        let timeout = match status {
            WorkerStatus::Idle => Duration::from_secs(1),
            WorkerStatus::Requests | WorkerStatus::PostReturn => REQUEST_TIMEOUT,
        };
        let me = self.get_mut();
        if let Some(deadline) = start.checked_add(timeout) {
            let deadline = tokio::time::Instant::from_std(deadline);
            if me.sleep.deadline() != deadline {
                me.sleep.as_mut().reset(deadline);
            }
            me.sleep.as_mut().poll(cx)
        } else {
            Poll::Pending
        }
    }
}

struct App {
    routes: Vec<Route>,
    handlers: HashMap<String, ProxyHandler<ComponentHandler>>,
    listen: SocketAddr,
    hub: Arc<Hub>,
    db: Arc<Pool>,
}

fn full_body(bytes: impl Into<Bytes>) -> WasiBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn new_request_id() -> String {
    vinr_shared::ids::new_id("req_", &mut crate::rand::fill)
}

fn json_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response<WasiBody> {
    let mut err = serde_json::json!({ "type": kind, "message": message });
    if let Some(code) = code {
        err["code"] = code.into();
    }
    let body = serde_json::json!({ "error": err }).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full_body(body))
        .unwrap()
}

/// Headers Spin adds to every request it routes to a component.
fn add_spin_headers(req: &mut hyper::Request<WasiBody>, route: &Route, listen: SocketAddr, client: SocketAddr) {
    let path = req.uri().path().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| listen.to_string());
    let full_url = format!("http://{host}{pq}");
    let component_route = route.raw.strip_suffix("/...").unwrap_or(&route.raw).to_string();
    let values = [
        ("spin-full-url", full_url.clone()),
        ("spin-path-info", route.pattern.path_info(&path).to_string()),
        ("spin-matched-route", route.raw.clone()),
        ("spin-raw-component-route", route.raw.clone()),
        ("spin-component-route", component_route),
        ("spin-base-path", "/".to_string()),
        ("spin-client-addr", client.to_string()),
    ];
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            req.headers_mut().insert(name, v);
        }
    }
    // Components see an absolute URL, as under Spin.
    if let Ok(uri) = full_url.parse() {
        *req.uri_mut() = uri;
    }
}

async fn handle(app: &App, req: hyper::Request<hyper::body::Incoming>, client: SocketAddr) -> Response<WasiBody> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();

    // The terminals' device WebSocket is the host's own (a component cannot hold a connection).
    let mut resp = if path == CONNECT_PATH && method == http::Method::GET {
        socket::connect(&app.hub, &app.db, req).await
    } else {
        route(app, req, client, &method, &path).await
    };

    let request_id = match resp.headers().get("request-id").and_then(|v| v.to_str().ok()) {
        Some(id) => id.to_string(),
        None => {
            let id = new_request_id();
            resp.headers_mut()
                .insert("request-id", HeaderValue::from_str(&id).unwrap());
            id
        }
    };
    // Never the body or the Authorization header: both may carry secrets.
    eprintln!(
        "{method} {path} {} {:.2}ms {request_id}",
        resp.status().as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    resp
}

/// A request for a component: matched to its route and served by a fresh instance.
async fn route(
    app: &App,
    req: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
    method: &http::Method,
    path: &str,
) -> Response<WasiBody> {
    match match_route(&app.routes, path) {
        None => json_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("route_not_found"),
            &format!("Unrecognized request URL ({method}: {path})."),
        ),
        Some(route) => {
            let handler = &app.handlers[&route.component];
            let mut req = req.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
            add_spin_headers(&mut req, route, app.listen, client);
            match handler.handle((), req).await {
                Ok(resp) => resp,
                Err(e) => {
                    eprintln!("error: {method} {path}: component {} failed: {e:#}", route.component);
                    json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "api_error",
                        None,
                        "An internal error occurred in the API handler.",
                    )
                }
            }
        }
    }
}

fn bind(listen: &str) -> anyhow::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("invalid listen address {listen:?} (expected e.g. 127.0.0.1:8787)"))?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => "address already in use".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
            _ => e.to_string(),
        };
        anyhow::anyhow!("cannot listen on {listen}: {why}")
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

pub fn dev(opts: DevOptions) -> anyhow::Result<()> {
    let manifest = Manifest::load(&opts.manifest)?;
    // A malformed VINR_DEV_SECRET_KEY should fail before a build, not after.
    crate::bootstrap::dev_secret_key_from_env()?;
    let webhooks = crate::dispatcher::Config::from_env()?;
    let retention = crate::retention::policy_from_env()?;
    // Bind first: a port in use should fail at once, not after a build.
    let std_listener = bind(&opts.listen)?;
    let listen = std_listener.local_addr()?;
    if !listen.ip().is_loopback() {
        eprintln!("warning: listening on {listen}, which is not a loopback address");
    }

    if !opts.no_build {
        components::run_builds(&manifest)?;
    }

    let db = Arc::new(Database::open(&opts.data_dir)?);
    let applied = crate::db::migrate(&db.main_path, &manifest.dir.join("schema/migrations"))?;
    for name in &applied {
        println!("Applied migration {name}");
    }
    {
        let conn = crate::db::open_connection(&db.main_path)?;
        crate::bootstrap::ensure_sandbox_account(&conn)?;
        crate::terminal_hub::clear_stale_connections(&conn)?;
    }
    db.main.spawn_checkpointer();
    let hash_key: Arc<str> = crate::hash_key::load_or_create(&opts.data_dir)?.into();

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = rt.block_on(serve(
        manifest,
        db.clone(),
        std_listener,
        listen,
        webhooks,
        Settings { hash_key, retention },
    ));
    // Stop workers still finishing post-return work before closing the database.
    rt.shutdown_timeout(Duration::from_secs(1));
    db.close();
    result
}

async fn serve(
    manifest: Manifest,
    db: Arc<Database>,
    std_listener: std::net::TcpListener,
    listen: SocketAddr,
    webhooks: crate::dispatcher::Config,
    Settings { hash_key, retention }: Settings,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let (engine, pooling) = components::make_engine()?;
    let loaded = components::load_all(&engine, &manifest, &db.dir.join("cache"))?;
    eprintln!(
        "Components ready in {:.1} ms ({})",
        start.elapsed().as_secs_f64() * 1000.0,
        if pooling {
            "pooling allocator"
        } else {
            "on-demand allocator"
        }
    );

    // The terminals' device connections (docs/terminals.md): components reach it by outbound
    // HTTP, the scheduler's steps through `HostEnv`.
    let hub = Hub::new();
    hub.install_global();
    let mut handlers = HashMap::new();
    for c in loaded {
        let grants = Arc::new(Grants {
            sqlite_databases: c.sqlite_databases,
        });
        handlers.insert(
            c.name,
            ProxyHandler::new(ComponentHandler {
                engine: engine.clone(),
                pre: c.pre,
                grants,
                sqlite: db.main.clone(),
                hub: hub.clone(),
                hash_key: hash_key.clone(),
            }),
        );
    }
    // Instantiate each component once now: it proves the component links and starts, and it
    // takes the first-touch page faults on the compiled code (~20 ms) off the first request.
    for (name, handler) in &handlers {
        let warm = Instant::now();
        handler
            .state()
            .instantiate()
            .await
            .map_err(|e| anyhow::anyhow!("component {name} cannot be instantiated: {e:#}"))?;
        if *TRACE_INSTANTIATION {
            eprintln!("warm-up {name}: {:.1} ms", warm.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let app = Arc::new(App {
        routes: manifest.routes.clone(),
        handlers,
        listen,
        hub: hub.clone(),
        db: db.main.clone(),
    });

    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    println!();
    println!("Serving http://{listen}");
    for r in &app.routes {
        println!("  {:<28} -> {}", r.raw, r.component);
    }
    println!("Data directory: {}", db.dir.display());
    // Webhook deliveries pending from a previous run (retries, or attempts cut off by a stop)
    // are simply due again: the dispatcher picks them up on its first round.
    let dispatcher = crate::dispatcher::Dispatcher::spawn(db.main.clone(), webhooks.clone())?;
    crate::retention::spawn(db.main.clone(), retention);
    if webhooks.retry_scale != 1.0 {
        println!("Webhook retries scaled by VINR_RETRY_SCALE={}", webhooks.retry_scale);
    }
    println!("Press Ctrl-C to stop.");

    // Graceful shutdown by hand: hyper-util's `GracefulShutdown` cannot watch a connection with
    // upgrades (the device WebSockets). Each connection task holds a receiver; shutdown is
    // signalled through it, and it is over when every receiver is gone.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: keep serving the connections we have.
                    eprintln!("warning: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Responses are written in one go or streamed by the guest; Nagle would only add delay.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(handle(&app, req, client).await) }
        });
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = closing.changed() => {
                    // Finish the request in flight (if any), then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            drop(closing);
            if let Err(e) = result {
                // Clients hanging up mid-request is routine; anything else is worth a line.
                if !e.is_incomplete_message() {
                    eprintln!("connection error: {e}");
                }
            }
        });
    }

    drop(listener);
    eprintln!("Shutting down: finishing in-flight requests and webhook attempts...");
    // Device connections close; requests waiting for a device's outcome get their answer now.
    hub.shutdown();
    drop(closing_rx);
    let _ = closing.send(true);
    let requests = async {
        if tokio::time::timeout(SHUTDOWN_GRACE, closing.closed()).await.is_err() {
            eprintln!(
                "warning: requests still running after {}s; stopping anyway",
                SHUTDOWN_GRACE.as_secs()
            );
        }
    };
    tokio::join!(requests, dispatcher.shutdown());
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("cannot install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

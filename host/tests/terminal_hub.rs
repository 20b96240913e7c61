//! `vinr dev`'s terminal hub end to end: the real binary serving the built components on a
//! loopback port, a device on the WebSocket, and a `responseMode: sync` terminal payment that
//! is held until the device answers (docs/terminals.md).
//!
//! Needs the components built (`vinr build`, as scripts/test.sh does before `cargo test`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A manifest with only the terminal component (compiling all of them takes minutes in a debug
/// build), next to a link to the project's migrations; the data directory's compiled-code cache
/// is shared between runs (its entries are keyed by the component's hash).
fn reduced_manifest(root: &Path, dir: &Path) -> PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::os::unix::fs::symlink(root.join("schema"), app.join("schema")).unwrap();
    let wasm = root.join("target/wasm32-wasip2/wasm/vinr_fn_terminal.wasm");
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "terminal-hub-test"
[[trigger.http]]
route = "/v1/terminals/..."
component = "terminal"
[[trigger.http]]
route = "/v1/terminal/..."
component = "terminal"
[component.terminal]
source = "{}"
sqlite_databases = ["default"]
allowed_outbound_hosts = ["http://terminal-hub.vinr.internal"]
"#,
        wasm.display()
    );
    std::fs::write(app.join("spin.toml"), manifest).unwrap();
    let cache = root.join("target/vinr-hub-test-cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::os::unix::fs::symlink(&cache, dir.join("data").join("cache")).unwrap();
    app.join("spin.toml")
}

/// `vinr dev` on a fresh data directory; killed on drop.
struct Server {
    child: Child,
    addr: String,
    dir: PathBuf,
    secret_key: String,
}

impl Server {
    fn start(tag: &str) -> Server {
        let root = root();
        let wasm = root.join("target/wasm32-wasip2/wasm/vinr_fn_terminal.wasm");
        assert!(
            wasm.exists(),
            "{} is missing: build the components first (`vinr build`)",
            wasm.display()
        );
        let bin = env!("CARGO_BIN_EXE_vinr");
        let dir = std::env::temp_dir().join(format!("vinr-hub-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let manifest = reduced_manifest(&root, &dir);
        let out = Command::new(bin)
            .args(["account", "create", "--json", "--data-dir"])
            .arg(dir.join("data"))
            .arg("--manifest")
            .arg(&manifest)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "account create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let acct: Value = serde_json::from_slice(&out.stdout).unwrap();
        let secret_key = acct["secret_key"].as_str().unwrap().to_string();

        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new(bin)
            .args(["dev", "--no-build", "--listen", &addr, "--data-dir"])
            .arg(dir.join("data"))
            .arg("--manifest")
            .arg(&manifest)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            addr,
            dir,
            secret_key,
        };
        // A debug build compiles the component in ~1 min the first time (then it is cached).
        let deadline = Instant::now() + Duration::from_secs(300);
        while TcpStream::connect(&server.addr).is_err() || server.log().lines().all(|l| !l.starts_with("Press Ctrl-C"))
        {
            assert!(Instant::now() < deadline, "vinr dev did not start:\n{}", server.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn log(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(self.dir.join("server.log")).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// One HTTP/1.1 request (connection closed after it): status and JSON body.
    fn request(&self, method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(200))).unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        // The account's secret key unless the caller sends its own Authorization.
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            req.push_str(&format!("Authorization: Bearer {}\r\n", self.secret_key));
        }
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut status_line = String::new();
        r.read_line(&mut status_line).unwrap();
        let status: u16 = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut len = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            if k.eq_ignore_ascii_case("content-length") {
                len = Some(v.trim().parse::<usize>().unwrap());
            }
            if k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
        let mut buf = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                r.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = len {
            buf.resize(n, 0);
            r.read_exact(&mut buf).unwrap();
        } else {
            r.read_to_end(&mut buf).unwrap();
        }
        (status, serde_json::from_slice(&buf).unwrap_or(Value::Null))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("server log ({}):\n{}", self.dir.display(), self.log());
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn device(addr: &str, key: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{addr}/v1/terminal/connect")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_payment_is_held_until_the_device_answers() {
    let server = Server::start("sync");
    let (status, term) = server.request("POST", "/v1/terminals", Some(&json!({"label": "Front counter"})), &[]);
    assert_eq!(status, 200, "{term}");
    let terminal_id = term["id"].as_str().unwrap().to_string();
    let key = term["deviceKey"].as_str().unwrap().to_string();

    // The endpoint refuses a wrong key before the upgrade, and a plain GET.
    match device(&server.addr, "tdk_test_wrong").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    let (status, body) = server.request(
        "GET",
        "/v1/terminal/connect",
        None,
        &[("Authorization", &format!("Bearer {key}"))],
    );
    assert_eq!(status, 426, "{body}");
    assert_eq!(body["error"]["code"], "upgrade_required", "{body}");

    let mut ws = device(&server.addr, &key).await.unwrap();
    let hello = recv(&mut ws).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(hello["terminal"]["id"], terminal_id.as_str());

    // The sync create, on its own thread: it must not answer before the device does.
    let create = json!({"terminalId": terminal_id, "amount": 2500, "currency": "USD", "responseMode": "sync"});
    let srv = &server;
    std::thread::scope(|scope| {
        let pending = scope.spawn(move || srv.request("POST", "/v1/terminal/payments", Some(&create), &[]));
        let rt = tokio::runtime::Handle::current();
        let payment_id = tokio::task::block_in_place(|| {
            rt.block_on(async {
                let frame = recv(&mut ws).await;
                assert_eq!(frame["type"], "payment", "{frame}");
                assert_eq!(frame["payment"]["status"], "pending");
                let id = frame["payment"]["id"].as_str().unwrap().to_string();
                tokio::time::sleep(Duration::from_millis(500)).await;
                assert!(!pending.is_finished(), "the sync create answered before the device did");
                send(
                    &mut ws,
                    json!({"type": "presented", "paymentId": id, "entryMethod": "contactless"}),
                )
                .await;
                send(
                    &mut ws,
                    json!({"type": "authorize", "paymentId": id, "card": "4242424242424242"}),
                )
                .await;
                // Replies: possibly an acknowledgement of `presented`, then the `result`.
                loop {
                    let f = recv(&mut ws).await;
                    if f["type"] == "result" {
                        assert_eq!(f["payment"]["status"], "completed", "{f}");
                        break;
                    }
                    assert_ne!(f["type"], "error", "{f}");
                }
                id
            })
        });
        let (status, body) = pending.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], payment_id.as_str());
        assert_eq!(body["status"], "completed", "{body}");
        assert_eq!(body["last4"], "4242");
    });

    // A sync payment whose device goes away before the outcome: 502 communication_error.
    let create = json!({"terminalId": terminal_id, "amount": 1200, "currency": "USD", "responseMode": "sync"});
    std::thread::scope(|scope| {
        let pending = scope.spawn(move || srv.request("POST", "/v1/terminal/payments", Some(&create), &[]));
        let rt = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            rt.block_on(async {
                let frame = recv(&mut ws).await;
                assert_eq!(frame["type"], "payment", "{frame}");
                ws.close(None).await.unwrap();
            })
        });
        let (status, body) = pending.join().unwrap();
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["code"], "communication_error", "{body}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_replaces_the_old_one() {
    let server = Server::start("replace");
    let (status, term) = server.request("POST", "/v1/terminals", Some(&json!({})), &[]);
    assert_eq!(status, 200, "{term}");
    let key = term["deviceKey"].as_str().unwrap().to_string();
    let mut first = device(&server.addr, &key).await.unwrap();
    assert_eq!(recv(&mut first).await["type"], "hello");
    // The key may come in the query too.
    let (mut second, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/v1/terminal/connect?key={key}", server.addr))
            .await
            .unwrap();
    assert_eq!(recv(&mut second).await["type"], "hello");
    // The first is closed by the server.
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match first.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the replaced connection was not closed");
    // The second stays usable: the terminal shows online.
    send(&mut second, json!({"type": "heartbeat"})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, t) = server.request(
        "GET",
        &format!("/v1/terminals/{}", term["id"].as_str().unwrap()),
        None,
        &[],
    );
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["status"], "online", "{t}");
}

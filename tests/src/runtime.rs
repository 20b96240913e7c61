//! Starting a runtime that serves the API. The tests only see [`Runtime`]: a base URL, the keys of
//! two accounts, and `restart()`. Which runtime is chosen by `VINR_TEST_RUNTIME`:
//!
//! - `vinr` (default): `vinr dev` from this workspace (binary from `VINR_BIN`, default
//!   `<workspace>/target/release/vinr`), on a fresh data directory and a free loopback port.
//!
//! To add a runtime (e.g. `wrangler dev`), implement [`Backend`] and add an arm to [`start`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Keys of one account as `vinr account create --json` prints them.
#[derive(Clone, Debug)]
pub struct AccountKeys {
    pub account: String,
    pub secret_key: String,
    pub public_key: String,
    pub live_secret_key: String,
    pub live_public_key: String,
}

/// One running runtime, as the tests see it.
pub trait Backend: Send + Sync {
    /// The current base URL, e.g. `http://127.0.0.1:8787` (no trailing slash, no `/v1`).
    fn base_url(&self) -> String;
    /// Stops the server and starts it again on the same data; the base URL may change.
    fn restart(&mut self);
    /// Where the server's output goes (shown when a test cannot reach it).
    fn log_path(&self) -> Option<PathBuf> {
        None
    }
    /// What to do at process exit for a runtime that is never dropped (the shared one).
    fn exit_cleanup(&self) -> Box<dyn Fn() + Send + Sync> {
        Box::new(|| {})
    }
}

pub struct Runtime {
    /// e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// Account A, sandbox.
    pub secret_key: String,
    pub public_key: String,
    /// Account A, live.
    pub live_secret_key: String,
    pub live_public_key: String,
    /// Account A's id (`acct_...`).
    pub account: String,
    /// Account B, sandbox: for isolation checks.
    pub b_secret_key: String,
    pub b_account: String,
    backend: Box<dyn Backend>,
}

impl Runtime {
    pub fn restart(&mut self) {
        self.backend.restart();
        self.base_url = self.backend.base_url();
    }

    pub fn log_path(&self) -> Option<PathBuf> {
        self.backend.log_path()
    }
}

/// The runtime chosen by `VINR_TEST_RUNTIME`, started fresh for the caller (stopped on drop).
pub fn start() -> Runtime {
    start_with_env(&[])
}

/// As [`start`], with extra environment variables for the server (kept across `restart()`), e.g.
/// `VINR_RETRY_SCALE=0.001` so that webhook retries come milliseconds apart.
pub fn start_with_env(env: &[(&str, &str)]) -> Runtime {
    let which = std::env::var("VINR_TEST_RUNTIME").unwrap_or_else(|_| "vinr".into());
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match which.as_str() {
        "vinr" => VinrDev::start(env),
        other => panic!("VINR_TEST_RUNTIME={other}: unknown runtime (known: vinr). Add a Backend in tests/src/runtime.rs."),
    }
}

/// One runtime shared by all tests of a test binary. It is started on a thread that lives as long
/// as the process, and the server is told to die with it (statics are never dropped).
pub fn shared() -> &'static Runtime {
    static SHARED: OnceLock<Runtime> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("vinr-runtime-owner".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(start);
                let _ = tx.send(r);
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn runtime owner thread");
        match rx.recv().expect("runtime owner thread") {
            Ok(rt) => {
                // Statics are never dropped: stop the server and remove its data at exit.
                extern "C" fn at_exit() {
                    if let Some(cleanup) = SHARED_CLEANUP.get() {
                        cleanup();
                    }
                }
                let _ = SHARED_CLEANUP.set(rt.backend.exit_cleanup());
                unsafe { libc::atexit(at_exit) };
                rt
            }
            Err(e) => std::panic::resume_unwind(e),
        }
    })
}

static SHARED_CLEANUP: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// The workspace root (the directory holding spin.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind a free port").port()
}

/// `vinr dev` on its own data directory.
pub struct VinrDev {
    bin: PathBuf,
    root: PathBuf,
    data_dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Extra environment variables of the server.
    env: Vec<(String, String)>,
}

impl VinrDev {
    pub fn bin() -> PathBuf {
        std::env::var_os("VINR_BIN").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target/release/vinr"))
    }

    fn start(env: Vec<(String, String)>) -> Runtime {
        let root = workspace_root();
        let bin = Self::bin();
        assert!(bin.exists(), "{} does not exist: build it (cargo build --release -p vinr) or set VINR_BIN", bin.display());
        let data_dir = new_data_dir(&root);
        let a = create_account(&bin, &root, &data_dir);
        let b = create_account(&bin, &root, &data_dir);
        let mut dev = VinrDev { bin, root, data_dir, port: 0, child: None, env };
        dev.spawn();
        Runtime {
            base_url: dev.base_url(),
            secret_key: a.secret_key,
            public_key: a.public_key,
            live_secret_key: a.live_secret_key,
            live_public_key: a.live_public_key,
            account: a.account,
            b_secret_key: b.secret_key,
            b_account: b.account,
            backend: Box::new(dev),
        }
    }

    fn log_file(&self) -> PathBuf {
        self.data_dir.join("vinr-dev.log")
    }

    fn spawn(&mut self) {
        self.port = free_port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_file()).expect("open server log");
        let mut cmd = Command::new(&self.bin);
        cmd.args(["dev", "--no-build", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .current_dir(&self.root)
            .env_remove("VINR_LISTEN")
            .env_remove("VINR_DATA_DIR")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            // The server dies with the thread that started it (see `shared`).
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Polls (up to 60 s) until the server answers an HTTP request.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("vinr dev exited early ({status}); log {}:\n{}", self.log_file().display(), tail(&self.log_file()));
            }
            if probe(self.port) {
                return;
            }
            if Instant::now() > deadline {
                panic!("vinr dev did not answer on port {} within 60 s; log:\n{}", self.port, tail(&self.log_file()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

impl Backend for VinrDev {
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
    fn log_path(&self) -> Option<PathBuf> {
        Some(self.log_file())
    }
    fn exit_cleanup(&self) -> Box<dyn Fn() + Send + Sync> {
        let pid = self.child.as_ref().map(|c| c.id() as libc::pid_t);
        let dir = self.data_dir.clone();
        Box::new(move || {
            if let Some(pid) = pid {
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                    for _ in 0..200 {
                        if libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) != 0 {
                            break;
                        }
                        libc::usleep(25_000);
                    }
                }
            }
            if std::env::var_os("VINR_KEEP_DATA").is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        })
    }
}

impl Drop for VinrDev {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("VINR_KEEP_DATA").is_none() {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// Any HTTP answer at all means the server is up.
fn probe(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /v1/payments HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1."))
}

/// `target/conformance/<pid>-<n>`; directories of processes that are gone are removed first.
fn new_data_dir(root: &Path) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = root.join("target/conformance");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok())
                && pid != std::process::id()
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create data dir");
    dir
}

fn create_account(bin: &Path, root: &Path, data_dir: &Path) -> AccountKeys {
    let out = Command::new(bin)
        .args(["account", "create", "--json", "--data-dir"])
        .arg(data_dir)
        .current_dir(root)
        .env_remove("VINR_DATA_DIR")
        .output()
        .unwrap_or_else(|e| panic!("run {} account create: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "vinr account create failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_else(|| panic!("no JSON from account create: {stdout}"));
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("account create JSON: {e}: {line}"));
    let field = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("account create JSON lacks {k}: {line}")).to_string();
    AccountKeys {
        account: field("account"),
        secret_key: field("secret_key"),
        public_key: field("public_key"),
        live_secret_key: field("live_secret_key"),
        live_public_key: field("live_public_key"),
    }
}

fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

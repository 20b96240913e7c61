//! Starting a runtime that serves the API. The tests only see [`Runtime`]: a base URL, the keys of
//! two accounts, and `restart()`. Which runtime is chosen by `VINR_TEST_RUNTIME`:
//!
//! - `vinr` (default): `vinr dev` from this workspace (binary from `VINR_BIN`, default
//!   `<workspace>/target/release/vinr`), on a fresh data directory and a free loopback port.
//! - `wrangler`: the Cloudflare Worker under `wrangler dev --local` (workerd with local D1, KV,
//!   Queues and Durable Objects), state in a fresh `--persist-to` directory. Needs the toolchain
//!   of `scripts/cloudflare-tools.sh`; every wrangler command runs through
//!   `scripts/cloudflare-env.sh`. The accounts are made by `vinr account create --sql` and loaded
//!   with `wrangler d1 execute`. `wrangler dev` never fires cron triggers, so the backend plays
//!   Cloudflare's scheduler: while it runs, a thread calls `GET /__scheduled?cron=*+*+*+*+*`
//!   (exposed by `--test-scheduled`) every second, where production fires every minute. See
//!   [`wrangler`].
//!
//! Every server runs in its own session (process group), which is what `stop` signals, so that
//! helpers it starts (wrangler's node processes, workerd) go with it; it also gets
//! `PR_SET_PDEATHSIG`, and carries `VINR_CONFORMANCE_DIR=<its dir>` in its environment so that
//! a later run can find and end what a killed test process left behind.
//!
//! To add a runtime, implement [`Backend`] and add an arm to [`start_with_env`].

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod wrangler;

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
    /// Kills the server at once (SIGKILL: no shutdown, nothing flushed), keeping its data for
    /// [`Backend::restart`]. Err on a runtime where that is not the test's to do.
    fn kill_hard(&mut self) -> Result<(), String> {
        Err("this runtime cannot be killed hard by the suite".into())
    }
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
    /// An account connected to account A (`vinr account create --platform A`): the one A's
    /// payments may name in `on_behalf_of`.
    pub connected_account: String,
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

    /// SIGKILL to the server (see [`Backend::kill_hard`]); [`Runtime::restart`] brings it back
    /// on the same data.
    pub fn kill_hard(&mut self) -> Result<(), String> {
        self.backend.kill_hard()
    }
}

/// The runtime chosen by `VINR_TEST_RUNTIME`, started fresh for the caller (stopped on drop).
pub fn start() -> Runtime {
    start_with_env(&[])
}

/// The server a tool (the benchmarks) was pointed at with a URL and a key, or else a `vinr dev`
/// started for it: (base URL, secret key, the started runtime, which must be kept alive).
pub fn given_or_started(url: Option<&str>, key: Option<&str>) -> (String, String, Option<Runtime>) {
    if let (Some(u), Some(k)) = (url, key) {
        return (u.to_string(), k.to_string(), None);
    }
    eprintln!("starting vinr dev ({})...", VinrDev::bin().display());
    let rt = start();
    eprintln!("vinr dev on {}", rt.base_url);
    (rt.base_url.clone(), rt.secret_key.clone(), Some(rt))
}

/// As [`start`], with extra environment variables for the server (kept across `restart()`), e.g.
/// `VINR_RETRY_SCALE=0.001` so that webhook retries come milliseconds apart.
pub fn start_with_env(env: &[(&str, &str)]) -> Runtime {
    let which = std::env::var("VINR_TEST_RUNTIME").unwrap_or_else(|_| "vinr".into());
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match which.as_str() {
        "vinr" => VinrDev::start(env),
        "wrangler" => wrangler::Wrangler::start(env),
        other => panic!(
            "VINR_TEST_RUNTIME={other}: unknown runtime (known: vinr, wrangler). Add a Backend in tests/src/runtime.rs."
        ),
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
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Both accounts' keys and the backend that serves them, as the tests see them.
fn runtime(a: AccountKeys, b: AccountKeys, connected: AccountKeys, backend: Box<dyn Backend>) -> Runtime {
    Runtime {
        base_url: backend.base_url(),
        secret_key: a.secret_key,
        public_key: a.public_key,
        live_secret_key: a.live_secret_key,
        live_public_key: a.live_public_key,
        account: a.account,
        b_secret_key: b.secret_key,
        b_account: b.account,
        connected_account: connected.account,
        backend,
    }
}

/// `vinr dev` on its own data directory.
pub struct VinrDev {
    bin: PathBuf,
    root: PathBuf,
    data_dir: PathBuf,
    port: u16,
    server: Option<Server>,
    /// Extra environment variables of the server.
    env: Vec<(String, String)>,
}

impl VinrDev {
    pub fn bin() -> PathBuf {
        std::env::var_os("VINR_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/release/vinr"))
    }

    /// [`Self::bin`], which must exist.
    fn checked_bin() -> PathBuf {
        let bin = Self::bin();
        assert!(
            bin.exists(),
            "{} does not exist: build it (cargo build --release -p vinr) or set VINR_BIN",
            bin.display()
        );
        bin
    }

    fn start(env: Vec<(String, String)>) -> Runtime {
        let root = workspace_root();
        let bin = Self::checked_bin();
        let data_dir = new_data_dir(&root);
        let create = |dir: &Path, platform: Option<&str>| {
            let mut args = vec![OsString::from("--data-dir")];
            args.push(dir.into());
            if let Some(p) = platform {
                args.extend(["--platform".into(), p.into()]);
            }
            create_account(&bin, &root, &args)
        };
        let a = create(&data_dir, None);
        let b = create(&data_dir, None);
        let connected = create(&data_dir, Some(&a.account));
        let mut dev = VinrDev {
            bin,
            root,
            data_dir,
            port: 0,
            server: None,
            env,
        };
        dev.spawn();
        runtime(a, b, connected, Box::new(dev))
    }

    fn log_file(&self) -> PathBuf {
        self.data_dir.join("vinr-dev.log")
    }

    fn spawn(&mut self) {
        self.port = free_port();
        let mut cmd = Command::new(&self.bin);
        cmd.args(["dev", "--no-build", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .current_dir(&self.root)
            .env_remove("VINR_LISTEN")
            .env_remove("VINR_DATA_DIR")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let server = Server::spawn(&mut cmd, &self.data_dir, &self.log_file(), "vinr dev");
        let server = self.server.insert(server);
        server.wait_ready(self.port, Duration::from_secs(60));
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
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
    fn kill_hard(&mut self) -> Result<(), String> {
        let server = self.server.take().ok_or("vinr dev is not running")?;
        server.kill_hard();
        Ok(())
    }
    fn log_path(&self) -> Option<PathBuf> {
        Some(self.log_file())
    }
    fn exit_cleanup(&self) -> Box<dyn Fn() + Send + Sync> {
        let pgid = self.server.as_ref().map(|s| s.pgid);
        let dir = self.data_dir.clone();
        Box::new(move || {
            if let Some(pgid) = pgid {
                kill_group(pgid, Duration::from_secs(5));
            }
            remove_data_dir(&dir);
        })
    }
}

impl Drop for VinrDev {
    fn drop(&mut self) {
        self.stop();
        remove_data_dir(&self.data_dir);
    }
}

/// Unless `VINR_KEEP_DATA` is set.
fn remove_data_dir(dir: &Path) {
    if std::env::var_os("VINR_KEEP_DATA").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A server process, leader of its own session and so of a process group that also holds
/// whatever it starts.
struct Server {
    child: Child,
    pgid: libc::pid_t,
    log: PathBuf,
    /// The log's length when this process started: what it wrote comes after.
    log_start: usize,
    what: &'static str,
}

impl Server {
    /// Spawns `cmd` with stdin from /dev/null and stdout+stderr appended to `log`, in a new
    /// session. It gets SIGTERM when the thread that started it ends (see [`shared`]), and
    /// `VINR_CONFORMANCE_DIR=dir` (inherited by its children) for [`kill_strays`].
    fn spawn(cmd: &mut Command, dir: &Path, log: &Path, what: &'static str) -> Server {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open server log");
        let log_start = out.metadata().map_or(0, |m| m.len() as usize);
        cmd.env(STRAY_MARKER, dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log fd"))
            .stderr(out);
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what} ({:?}): {e}", cmd.get_program()));
        let pgid = child.id() as libc::pid_t;
        Server {
            child,
            pgid,
            log: log.to_path_buf(),
            log_start,
            what,
        }
    }

    /// Polls until the server answers an HTTP request on `port`.
    fn wait_ready(&mut self, port: u16, within: Duration) {
        self.wait_ready_unless(port, within, None);
    }

    /// As [`Self::wait_ready`]; false (instead of a panic) when the server exited early with
    /// `retry_if` in its log, for a caller that knows that failure and starts it again.
    fn wait_ready_unless(&mut self, port: u16, within: Duration, retry_if: Option<&str>) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                kill_group(self.pgid, Duration::from_secs(2));
                let log = std::fs::read(&self.log).unwrap_or_default();
                let written = String::from_utf8_lossy(log.get(self.log_start..).unwrap_or_default());
                if retry_if.is_some_and(|needle| written.contains(needle)) {
                    return false;
                }
                panic!(
                    "{} exited early ({status}); log {}:\n{}",
                    self.what,
                    self.log.display(),
                    tail(&self.log)
                );
            }
            if probe(port) {
                return true;
            }
            if Instant::now() > deadline {
                kill_group(self.pgid, Duration::from_secs(5));
                let _ = self.child.wait();
                panic!(
                    "{} did not answer on port {port} within {} s; log {}:\n{}",
                    self.what,
                    within.as_secs(),
                    self.log.display(),
                    tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL to the whole group at once; waits until it is gone.
    fn kill_hard(mut self) {
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && group_alive(self.pgid) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM to the whole group; SIGKILL to what is left after a grace period.
    fn stop(mut self) {
        kill_group(self.pgid, Duration::from_secs(10));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment variable that marks a server's processes with its data directory.
const STRAY_MARKER: &str = "VINR_CONFORMANCE_DIR";

/// SIGTERM to process group `pgid`, then SIGKILL once `grace` has passed with members left.
/// Reaps the leader if it is our child (the others are reparented and reaped by init).
fn kill_group(pgid: libc::pid_t, grace: Duration) {
    unsafe {
        if libc::kill(-pgid, libc::SIGTERM) != 0 {
            return; // no such group
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        unsafe {
            libc::waitpid(pgid, std::ptr::null_mut(), libc::WNOHANG);
        }
        if !group_alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && group_alive(pgid) {
        unsafe {
            libc::waitpid(pgid, std::ptr::null_mut(), libc::WNOHANG);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether process group `pgid` has a member that is not a zombie.
fn group_alive(pgid: libc::pid_t) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return unsafe { libc::kill(-pgid, 0) == 0 };
    };
    entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2].parse::<libc::pid_t>() == Ok(pgid)
    })
}

/// Ends the processes that carry `VINR_CONFORMANCE_DIR=dir`: servers of a test process that was
/// killed before it could stop them (e.g. workerd, which outlives a killed wrangler).
fn kill_strays(dir: &Path) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let marker = format!("{STRAY_MARKER}={}", dir.display()).into_bytes();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|kv| kv == marker.as_slice()) {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Any HTTP answer at all means the server is up.
fn probe(port: u16) -> bool {
    http_get(port, "/v1/payments", Duration::from_secs(5)).is_some()
}

/// `GET path` on loopback; the status line and headers of the answer (or None: no HTTP answer).
fn http_get(port: u16, path: &str, timeout: Duration) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Up to the end of the headers (the body does not matter here).
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    (buf.len() >= 12 && buf.starts_with(b"HTTP/1.")).then(|| String::from_utf8_lossy(&buf).into_owned())
}

/// `target/conformance/<pid>-<n>`; directories of processes that are gone are removed first
/// (with any server process of theirs still running).
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
                kill_strays(&e.path());
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create data dir");
    dir
}

/// `vinr account create --json <args>`: the new account's keys.
fn create_account(bin: &Path, root: &Path, args: &[OsString]) -> AccountKeys {
    let out = Command::new(bin)
        .args(["account", "create", "--json"])
        .args(args)
        .current_dir(root)
        .env_remove("VINR_DATA_DIR")
        .output()
        .unwrap_or_else(|e| panic!("run {} account create: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vinr account create failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON from account create: {stdout}"));
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("account create JSON: {e}: {line}"));
    let field = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("account create JSON lacks {k}: {line}"))
            .to_string()
    };
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

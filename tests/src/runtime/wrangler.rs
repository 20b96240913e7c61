//! `VINR_TEST_RUNTIME=wrangler`: the Cloudflare Worker under `wrangler dev --local`.
//!
//! One runtime is a directory `target/conformance/<pid>-<n>/` holding `state/` (wrangler's
//! `--persist-to`: local D1, KV, Queues and Durable Objects), the accounts' SQL and the logs
//! (`wrangler.log` of `wrangler dev`, `wrangler-d1.log` of the setup commands). Starting it:
//!
//! 1. `wrangler d1 migrations apply vinr --local` (schema/migrations, as wrangler.toml says);
//! 2. `vinr account create --json --sql accounts-N.sql` for accounts A and B, then one
//!    `wrangler d1 execute vinr --local --file accounts.sql` with both;
//! 3. `wrangler dev --local` on free loopback ports, with `--var KEY:VALUE` for each environment
//!    variable given to [`super::start_with_env`] (wrangler.toml's `[vars]` are what the Worker
//!    reads), until it answers HTTP.
//!
//! Every wrangler command runs as `bash -c 'source scripts/cloudflare-env.sh && exec "$@"'` from
//! the workspace root: that script puts Node 22 and `node_modules/.bin` first on PATH and turns
//! off wrangler's telemetry. `wrangler dev` runs wrangler.toml's `[build]` command itself, so
//! the first start after a change of the Worker builds it (hence the long readiness timeout).
//!
//! Cron: `wrangler dev` never fires cron triggers on its own. Cloudflare fires ours (`* * * * *`)
//! every minute; here the backend is that scheduler: while `wrangler dev` runs, a thread calls
//! `GET /__scheduled?cron=*+*+*+*+*` (served because of `--test-scheduled`) every second
//! (without waiting for a run still under way, as Cloudflare does not; at most 4 at once; errors
//! ignored), so that the tests need not wait minutes for the sweep. It
//! follows the port across `restart()` and ends with the backend.
//!
//! `wrangler dev` is node (wrangler's launcher, which starts wrangler's CLI in a second node
//! process) plus workerd: ending only the first would leave workerd serving. So it runs in its
//! own session and stop/drop/exit signal the whole process group (see [`super::Server`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    Backend, Runtime, Server, VinrDev, create_account, free_port, http_get, kill_group, new_data_dir, remove_data_dir,
    runtime, tail,
};

/// The D1 database's name in wrangler.toml.
const DATABASE: &str = "vinr";
/// What the scheduler thread calls: the cron of wrangler.toml's `[triggers]`.
const CRON_PATH: &str = "/__scheduled?cron=*+*+*+*+*";
const CRON_EVERY: Duration = Duration::from_secs(1);
/// Cron runs under way at most (each may wait up to one attempt timeout on a slow receiver).
const MAX_CRON_RUNS: usize = 4;
/// The first start after a change of the Worker builds it.
const READY_WITHIN: Duration = Duration::from_secs(120);
/// Each of the D1 setup commands.
const SETUP_WITHIN: Duration = Duration::from_secs(120);
/// Starts of `wrangler dev` tried when a port it was given is taken meanwhile.
const PORT_ATTEMPTS: u32 = 3;
/// What wrangler's log says when one of its ports was taken.
const ADDRESS_IN_USE: &str = "Address already in use";

pub struct Wrangler {
    root: PathBuf,
    dir: PathBuf,
    /// `--var` pairs of `wrangler dev`.
    vars: Vec<(String, String)>,
    port: u16,
    server: Option<Server>,
    /// The process group of the running `wrangler dev` (0: none), for `exit_cleanup`.
    pgid: Arc<AtomicI32>,
    /// The port the scheduler calls (0: none, e.g. during a restart).
    cron_port: Arc<AtomicU16>,
    /// Cleared when the backend ends: the scheduler thread stops.
    alive: Arc<AtomicBool>,
}

impl Wrangler {
    pub(super) fn start(vars: Vec<(String, String)>) -> Runtime {
        let root = super::workspace_root();
        for (path, hint) in [
            ("scripts/cloudflare-env.sh", "the Cloudflare scripts are missing"),
            (
                "node_modules/.bin/wrangler",
                "install the toolchain: bash scripts/cloudflare-tools.sh",
            ),
        ] {
            assert!(
                root.join(path).exists(),
                "VINR_TEST_RUNTIME=wrangler: {} not found ({hint})",
                root.join(path).display()
            );
        }
        let bin = VinrDev::checked_bin();
        let dir = new_data_dir(&root);
        let state = dir.join("state");
        let t0 = Instant::now();

        run_wrangler(&root, &dir, &["d1", "migrations", "apply", DATABASE, "--local"], &state);
        let migrated = t0.elapsed();

        let mut all_sql = String::new();
        let mut accounts = Vec::new();
        // A, B, and an account connected to A.
        for n in 0..3 {
            let file = dir.join(format!("accounts-{n}.sql"));
            let mut args: Vec<std::ffi::OsString> = vec!["--sql".into(), file.clone().into()];
            if n == 2 {
                let a: &super::AccountKeys = &accounts[0];
                args.extend(["--platform".into(), a.account.clone().into()]);
            }
            accounts.push(create_account(&bin, &root, &args));
            all_sql
                .push_str(&std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display())));
        }
        let file = dir.join("accounts.sql");
        std::fs::write(&file, all_sql).expect("write accounts.sql");
        let file_arg = file.to_string_lossy().into_owned();
        run_wrangler(
            &root,
            &dir,
            &["d1", "execute", DATABASE, "--local", "--file", &file_arg],
            &state,
        );
        let executed = t0.elapsed();

        // The deployment's hash key (a secret in production: `wrangler secret put VINR_HASH_KEY`),
        // one per runtime and kept across restarts, as a deployment keeps its secret.
        // The sandbox limit off, as on `vinr dev` by default: a test's pace must not depend on
        // how fast the machine is (a fast one hit wrangler.toml's 100/s in odd_bytes.rs).
        // rate_limits.rs sets its own limits. A test's own value of either wins.
        let mut vars = vars;
        let defaults = [
            ("VINR_HASH_KEY", crate::fixtures::uniq("conformance-hash-key")),
            ("VINR_SANDBOX_RATE_LIMIT", "off".to_string()),
        ];
        for (name, value) in defaults {
            if !vars.iter().any(|(k, _)| k == name) {
                vars.push((name.to_string(), value));
            }
        }
        let mut w = Wrangler {
            root,
            dir,
            vars,
            port: 0,
            server: None,
            pgid: Arc::new(AtomicI32::new(0)),
            cron_port: Arc::new(AtomicU16::new(0)),
            alive: Arc::new(AtomicBool::new(true)),
        };
        w.spawn();
        eprintln!(
            "wrangler runtime {}: migrations {:.1} s, accounts {:.1} s, dev ready {:.1} s",
            w.dir.display(),
            migrated.as_secs_f64(),
            (executed - migrated).as_secs_f64(),
            (t0.elapsed() - executed).as_secs_f64()
        );
        let (cron_port, alive) = (w.cron_port.clone(), w.alive.clone());
        std::thread::Builder::new()
            .name("wrangler-cron".into())
            .spawn(move || scheduler(cron_port, alive))
            .expect("spawn the cron thread");
        let mut accounts = accounts.into_iter();
        let (a, b, connected) = (
            accounts.next().unwrap(),
            accounts.next().unwrap(),
            accounts.next().unwrap(),
        );
        runtime(a, b, connected, Box::new(w))
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("wrangler.log")
    }

    fn spawn(&mut self) {
        // `wrangler dev` binds more ports than the two we give it (miniflare's own loopback
        // sockets, chosen by the OS): between `free_port` and its bind, a runtime started beside
        // this one may take ours. Such a start fails at once with "Address already in use";
        // it is tried again on fresh ports.
        for attempt in 1..=PORT_ATTEMPTS {
            if self.try_spawn(attempt < PORT_ATTEMPTS) {
                return;
            }
            eprintln!("wrangler dev: a port was taken meanwhile (attempt {attempt}); trying fresh ports");
        }
    }

    /// One start; false when a port was taken meanwhile and `retry_taken` lets the caller retry.
    fn try_spawn(&mut self, retry_taken: bool) -> bool {
        self.port = free_port();
        let inspector = free_port();
        let mut cmd = wrangler_command(&self.root, &self.dir);
        cmd.args(["dev", "--local", "--ip", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--inspector-port")
            .arg(inspector.to_string())
            .args(["--inspector-ip", "127.0.0.1"])
            .arg("--persist-to")
            .arg(self.dir.join("state"))
            .args(["--show-interactive-dev-session=false", "--test-scheduled"]);
        for (k, v) in &self.vars {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        // `wrangler dev` runs wrangler.toml's `[build]` command: the first start in this process
        // may really build the Worker, and the runtimes started beside it must not build it too.
        static FIRST_START: Mutex<bool> = Mutex::new(false);
        let first_start = Some(FIRST_START.lock().unwrap_or_else(|e| e.into_inner())).filter(|started| !**started);
        let server = Server::spawn(&mut cmd, &self.dir, &self.log_file(), "wrangler dev");
        self.pgid.store(server.pgid, Ordering::SeqCst);
        let server = self.server.insert(server);
        let retry_if = retry_taken.then_some(ADDRESS_IN_USE);
        if !server.wait_ready_unless(self.port, READY_WITHIN, retry_if) {
            self.server = None;
            self.pgid.store(0, Ordering::SeqCst);
            return false;
        }
        if let Some(mut started) = first_start {
            *started = true;
        }
        self.cron_port.store(self.port, Ordering::SeqCst);
        true
    }

    fn stop(&mut self) {
        self.cron_port.store(0, Ordering::SeqCst);
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.pgid.store(0, Ordering::SeqCst);
    }
}

impl Backend for Wrangler {
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
        let (pgid, cron_port, alive, dir) = (
            self.pgid.clone(),
            self.cron_port.clone(),
            self.alive.clone(),
            self.dir.clone(),
        );
        Box::new(move || {
            alive.store(false, Ordering::SeqCst);
            cron_port.store(0, Ordering::SeqCst);
            let pgid = pgid.swap(0, Ordering::SeqCst);
            if pgid != 0 {
                kill_group(pgid, Duration::from_secs(5));
            }
            remove_data_dir(&dir);
        })
    }
}

impl Drop for Wrangler {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::SeqCst);
        self.stop();
        remove_data_dir(&self.dir);
    }
}

/// Plays Cloudflare's cron scheduler (see the module doc) until `alive` is cleared.
fn scheduler(port: Arc<AtomicU16>, alive: Arc<AtomicBool>) {
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    while alive.load(Ordering::SeqCst) {
        let p = port.load(Ordering::SeqCst);
        // As Cloudflare's cron, which fires on time whether or not the previous run has ended
        // (a sweep can wait 30 s on a receiver that never answers): each call on its own
        // thread, a few at most.
        if p != 0 && running.load(Ordering::SeqCst) < MAX_CRON_RUNS {
            running.fetch_add(1, Ordering::SeqCst);
            let running = running.clone();
            std::thread::spawn(move || {
                let _ = http_get(p, CRON_PATH, Duration::from_secs(60));
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
        let next = Instant::now() + CRON_EVERY;
        while alive.load(Ordering::SeqCst) && Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `wrangler <args>` with the environment of scripts/cloudflare-env.sh, from the workspace root.
fn wrangler_command(root: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        r#"source scripts/cloudflare-env.sh && exec "$@""#,
        "bash",
        "wrangler",
    ])
    .current_dir(root)
    // Plain logs; wrangler's own debug log files beside ours instead of in ~/.wrangler.
    .env("NO_COLOR", "1")
    .env("FORCE_COLOR", "0")
    .env("WRANGLER_LOG_PATH", dir.join("wrangler-logs"))
    // Loopback only: no banner (it checks npm for a newer wrangler), and no fetch of the
    // `Request.cf` object from workers.cloudflare.com (the placeholder is used instead).
    .env("WRANGLER_HIDE_BANNER", "true")
    .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
    // Its own dev registry (Workers started by other `wrangler dev`s, for service bindings):
    // runtimes started side by side are all "vinr-edge" and must not see one another.
    .env("WRANGLER_REGISTRY_PATH", dir.join("registry"));
    cmd
}

/// A wrangler command against the local state in `state`, which must succeed within
/// [`SETUP_WITHIN`]; its output is appended to `wrangler-d1.log`.
fn run_wrangler(root: &Path, dir: &Path, args: &[&str], state: &Path) {
    let log = dir.join("wrangler-d1.log");
    let line = format!("wrangler {} --persist-to {}", args.join(" "), state.display());
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open wrangler-d1.log");
        let _ = writeln!(f, "$ {line}");
    }
    let mut cmd = wrangler_command(root, dir);
    // CI=1: wrangler asks before applying migrations unless it runs non-interactively.
    cmd.args(args).arg("--persist-to").arg(state).env("CI", "1");
    let mut server = Server::spawn(&mut cmd, dir, &log, "wrangler");
    let deadline = Instant::now() + SETUP_WITHIN;
    let status = loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            server.stop();
            panic!(
                "{line} did not finish within {} s; log {}:\n{}",
                SETUP_WITHIN.as_secs(),
                log.display(),
                tail(&log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever it left in its group (it should leave nothing).
    kill_group(server.pgid, Duration::from_secs(5));
    assert!(
        status.success(),
        "{line} failed ({status}); log {}:\n{}",
        log.display(),
        tail(&log)
    );
}

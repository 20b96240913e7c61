//! `vinr-bench-terminal`: what terminals cost on `vinr dev` (docs/terminals.md).
//!
//! (a) **Latency.** One terminal with a simulated device (`vinr-terminal-sim`, zero delays: it
//!     presents and authorizes as soon as the `payment` frame arrives). `--payments` sequential
//!     sync payments through it; each create request is timed. Interleaved with the same number
//!     of `GET /v1/terminals/:id` (the baseline round trip), card payments (`POST /v1/payments`)
//!     and sync payments on `term_test_simulator` (no device), so every row sees the same
//!     conditions. Every request is a fresh HTTP/1.1 connection (the conformance client).
//! (b) **Connected devices.** Registers `--devices` terminals, connects one simulated device
//!     each (in batches of `--batch`), checks through `GET /v1/terminals?status=online` that all
//!     are online, holds them `--hold` seconds (heartbeats every 20 s) while measuring the
//!     server's CPU and memory, checks again, then makes a sync payment on the last one.
//!
//! It starts `vinr dev` itself (as the conformance harness does), or attaches to a running one
//! with `--url`/`--key`. It raises its open-file limit to the hard limit first; a `vinr dev` it
//! starts inherits it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vinr_conformance::Req;
use vinr_terminal_sim::{Event, Options};

mod procfs;
use procfs::{find_server, proc_usage};

struct Opts {
    url: Option<String>,
    key: Option<String>,
    payments: usize,
    warmup: usize,
    devices: usize,
    batch: usize,
    hold: f64,
    latency: bool,
    connections: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: vinr-bench-terminal [--url http://127.0.0.1:8787 --key sk_test_...] [--payments 300] [--warmup 20]\n\
         \x20                          [--devices 5000] [--batch 250] [--hold 25] [--only latency|devices]\n\
         Without --url, starts `vinr dev` (binary: $VINR_BIN or target/release/vinr) on a fresh data dir."
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        url: None,
        key: None,
        payments: 300,
        warmup: 20,
        devices: 5000,
        batch: 250,
        hold: 25.0,
        latency: true,
        connections: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--url" => o.url = Some(val()),
            "--key" => o.key = Some(val()),
            "--payments" => o.payments = val().parse().unwrap_or_else(|_| usage()),
            "--warmup" => o.warmup = val().parse().unwrap_or_else(|_| usage()),
            "--devices" => o.devices = val().parse().unwrap_or_else(|_| usage()),
            "--batch" => o.batch = val().parse().unwrap_or_else(|_| usage()),
            "--hold" => o.hold = val().parse().unwrap_or_else(|_| usage()),
            "--only" => match val().as_str() {
                "latency" => o.connections = false,
                "devices" => o.latency = false,
                _ => usage(),
            },
            _ => usage(),
        }
    }
    if o.url.is_some() != o.key.is_some() || o.payments == 0 || o.batch == 0 {
        usage();
    }
    o
}

/// Soft RLIMIT_NOFILE up to the hard limit; returns the soft limit now in force.
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r = want;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    let cur = r.rlim_cur as u64;
    cur
}

fn main() {
    let mut o = parse_opts();
    let nofile = raise_nofile();
    // Each device holds one descriptor here and one in the server (which inherits this limit).
    let max_devices = (nofile as usize).saturating_sub(512);
    if o.devices > max_devices {
        eprintln!(
            "open-file limit {nofile}: --devices {} lowered to {max_devices}",
            o.devices
        );
        o.devices = max_devices;
    }
    let (url, key, _server) = vinr_conformance::runtime::given_or_started(o.url.as_deref(), o.key.as_deref());
    let server_pid = find_server(&url);
    println!(
        "vinr-bench-terminal against {url} (server pid {}; {} cores; open-file limit {nofile})",
        server_pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut ok = true;
    if o.latency {
        ok &= latency(&rt, &url, &key, &o);
    }
    if o.connections {
        ok &= connections(&rt, &url, &key, &o, server_pid);
    }
    rt.shutdown_timeout(Duration::from_secs(5));
    if !ok {
        std::process::exit(1);
    }
}

// ---- helpers ----

fn post(url: &str, key: &str, path: &str, body: &Value) -> vinr_conformance::Resp {
    Req::new(url, "POST", path).key(key).json(body).unchecked().send()
}

fn register(url: &str, key: &str, label: &str) -> (String, String) {
    let r = post(url, key, "/v1/terminals", &json!({ "label": label }));
    let v = r.json();
    match (v["id"].as_str(), v["deviceKey"].as_str()) {
        (Some(id), Some(dk)) if r.status == 200 => (id.to_string(), dk.to_string()),
        _ => panic!("register a terminal: HTTP {} {}", r.status, r.text()),
    }
}

/// A device on `rt`: counts its connects in `connected` (and its failed runs in `failed`),
/// stops when `stop` turns true.
fn spawn_device(
    rt: &tokio::runtime::Runtime,
    url: &str,
    key: &str,
    connected: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (url, key) = (url.to_string(), key.to_string());
    rt.spawn(async move {
        let mut stop = stop;
        let c = connected.clone();
        let on_event = move |e: Event<'_>| match e {
            Event::Connected => {
                c.fetch_add(1, Ordering::SeqCst);
            }
            Event::Disconnected => {
                c.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        };
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = vinr_terminal_sim::run_with(&url, &key, Options::default(), on_event, shutdown).await
            && failed.fetch_add(1, Ordering::SeqCst) < 5
        {
            eprintln!("device failed: {e:#}");
        }
    })
}

fn wait_until(within: Duration, f: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

// ---- (a) latency ----

struct Row {
    name: &'static str,
    ms: Vec<f64>,
    bad: usize,
    first_bad: Option<String>,
}

impl Row {
    fn new(name: &'static str) -> Row {
        Row {
            name,
            ms: Vec::new(),
            bad: 0,
            first_bad: None,
        }
    }
    fn time(
        &mut self,
        f: impl FnOnce() -> vinr_conformance::Resp,
        good: impl FnOnce(&vinr_conformance::Resp) -> bool,
        record: bool,
    ) {
        let t0 = Instant::now();
        let r = f();
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if !good(&r) {
            self.bad += 1;
            self.first_bad
                .get_or_insert_with(|| format!("HTTP {} {}", r.status, r.text().chars().take(300).collect::<String>()));
        } else if record {
            self.ms.push(ms);
        }
    }
    fn print(&mut self) {
        self.ms.sort_by(f64::total_cmp);
        println!(
            "   {:<52} n={:<4} p50 {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  max {:>7.2}{}",
            self.name,
            self.ms.len(),
            pct(&self.ms, 50.0),
            pct(&self.ms, 90.0),
            pct(&self.ms, 99.0),
            self.ms.last().copied().unwrap_or(0.0),
            if self.bad > 0 {
                format!(
                    "  ({} bad answers, first: {})",
                    self.bad,
                    self.first_bad.as_deref().unwrap_or("")
                )
            } else {
                String::new()
            }
        );
    }
}

fn latency(rt: &tokio::runtime::Runtime, url: &str, key: &str, o: &Opts) -> bool {
    let (tid, dk) = register(url, key, "bench latency");
    let connected = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = spawn_device(rt, url, &dk, connected.clone(), failed.clone(), stop_rx);
    if !wait_until(Duration::from_secs(15), || connected.load(Ordering::SeqCst) == 1) {
        eprintln!("the latency device did not connect");
        return false;
    }
    let completed = |r: &vinr_conformance::Resp| r.status == 200 && r.json()["status"] == "completed";
    let mut get = Row::new("GET /v1/terminals/:id (baseline round trip)");
    let mut card = Row::new("POST /v1/payments (card, pm_card_visa)");
    let mut sim = Row::new("POST /v1/terminal/payments sync, term_test_simulator");
    let mut dev = Row::new("POST /v1/terminal/payments sync, simulated device");
    let get_path = format!("/v1/terminals/{tid}");
    let dev_body = json!({"terminalId": tid, "amount": 2500, "currency": "USD", "responseMode": "sync"});
    let sim_body =
        json!({"terminalId": "term_test_simulator", "amount": 2500, "currency": "USD", "responseMode": "sync"});
    let card_body = json!({"amount": 2500, "currency": "USD", "payment_method": "pm_card_visa"});
    let t0 = Instant::now();
    for i in 0..o.warmup + o.payments {
        let record = i >= o.warmup;
        get.time(
            || Req::new(url, "GET", &get_path).key(key).unchecked().send(),
            |r| r.status == 200,
            record,
        );
        dev.time(|| post(url, key, "/v1/terminal/payments", &dev_body), completed, record);
        card.time(
            || post(url, key, "/v1/payments", &card_body),
            |r| r.status == 200 && r.json()["status"] == "succeeded",
            record,
        );
        sim.time(|| post(url, key, "/v1/terminal/payments", &sim_body), completed, record);
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "== (a) sync terminal payment latency, ms ({} measured after {} warm-up, interleaved; {wall:.1} s)",
        o.payments, o.warmup
    );
    for r in [&mut get, &mut card, &mut sim, &mut dev] {
        r.print();
    }
    println!(
        "   added by the device round trip vs the GET baseline: p50 {:+.2} ms, p99 {:+.2} ms; vs the virtual terminal: p50 {:+.2} ms",
        pct(&dev.ms, 50.0) - pct(&get.ms, 50.0),
        pct(&dev.ms, 99.0) - pct(&get.ms, 99.0),
        pct(&dev.ms, 50.0) - pct(&sim.ms, 50.0),
    );
    let _ = stop_tx.send(true);
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
    dev.bad == 0 && get.bad == 0 && sim.bad == 0 && dev.ms.len() == o.payments
}

// ---- (b) connected devices ----

/// The ids of every terminal the list shows with `status=online` (following cursors).
fn online_ids(url: &str, key: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = "/v1/terminals?status=online&limit=100".to_string();
        if let Some(a) = &after {
            path.push_str(&format!("&starting_after={a}"));
        }
        let v = Req::new(url, "GET", &path).key(key).unchecked().send().json();
        let data = v["data"].as_array().cloned().unwrap_or_default();
        for t in &data {
            out.insert(t["id"].as_str().unwrap_or_default().to_string());
        }
        after = data.last().and_then(|t| t["id"].as_str()).map(str::to_string);
        if v["has_more"] != true || after.is_none() {
            return out;
        }
    }
}

fn connections(rt: &tokio::runtime::Runtime, url: &str, key: &str, o: &Opts, server: Option<u32>) -> bool {
    let n = o.devices;
    println!("== (b) {n} connected devices");
    // Register them, 8 requests at a time.
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let terms: Vec<(usize, String, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= n {
                            return mine;
                        }
                        let (id, dk) = register(url, key, &format!("bench device {i}"));
                        mine.push((i, id, dk));
                    }
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("register thread"))
            .collect()
    });
    let mut terms = terms;
    terms.sort_by_key(|t| t.0);
    println!(
        "   registered {} terminals in {:.1} s",
        terms.len(),
        t0.elapsed().as_secs_f64()
    );
    let before = server.and_then(proc_usage);
    let fds0 = open_fds();

    let connected = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(n);
    let t0 = Instant::now();
    let mut stalled = false;
    for chunk in terms.chunks(o.batch) {
        for (_, _, dk) in chunk {
            tasks.push(spawn_device(
                rt,
                url,
                dk,
                connected.clone(),
                failed.clone(),
                stop_rx.clone(),
            ));
        }
        let target = tasks.len();
        if !wait_until(Duration::from_secs(60), || {
            connected.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst) >= target
        }) {
            eprintln!(
                "   stalled: {} of {target} connected after 60 s",
                connected.load(Ordering::SeqCst)
            );
            stalled = true;
            break;
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    let up = connected.load(Ordering::SeqCst);
    println!(
        "   connected {up} of {n} in {connect_s:.1} s ({:.0} connections/s, batches of {}); failed runs: {}; client fds {} -> {}",
        up as f64 / connect_s.max(1e-9),
        o.batch,
        failed.load(Ordering::SeqCst),
        fds0,
        open_fds()
    );
    let ours: HashSet<String> = terms.iter().map(|t| t.1.clone()).collect();
    let t1 = Instant::now();
    let online = online_ids(url, key);
    let online_ours = ours.iter().filter(|id| online.contains(*id)).count();
    println!(
        "   GET /v1/terminals?status=online: {online_ours} of {n} online (listing took {:.2} s)",
        t1.elapsed().as_secs_f64()
    );
    let after_connect = server.and_then(proc_usage);
    if let (Some(b), Some(a)) = (before, after_connect) {
        println!(
            "   server RSS {:.0} MiB -> {:.0} MiB ({:.1} KiB per device)",
            b.0,
            a.0,
            (a.0 - b.0) * 1024.0 / up.max(1) as f64
        );
    }

    // Hold: heartbeats every 20 s from every device.
    if o.hold > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(o.hold));
        let held = server.and_then(proc_usage);
        if let (Some(a), Some(h)) = (after_connect, held) {
            println!(
                "   held {:.0} s: server CPU {:.1} % of one core ({:.0} heartbeats/s expected), RSS {:.0} MiB",
                o.hold,
                100.0 * (h.1 - a.1) / o.hold,
                up as f64 / vinr_shared::terminal::protocol::HEARTBEAT_SECS as f64,
                h.0
            );
        }
        let online = online_ids(url, key);
        println!(
            "   after holding: {} of {n} online, {} connected",
            ours.iter().filter(|id| online.contains(*id)).count(),
            connected.load(Ordering::SeqCst)
        );
    }

    // A payment on the last terminal, with all the others connected.
    let (_, last_id, _) = terms.last().expect("at least one device").clone();
    let t2 = Instant::now();
    let r = post(
        url,
        key,
        "/v1/terminal/payments",
        &json!({"terminalId": last_id, "amount": 2500, "currency": "USD", "responseMode": "sync"}),
    );
    let ms = t2.elapsed().as_secs_f64() * 1000.0;
    let paid = r.status == 200 && r.json()["status"] == "completed";
    println!(
        "   sync payment on the last terminal ({last_id}): HTTP {} {} in {ms:.1} ms",
        r.status,
        r.json()["status"].as_str().unwrap_or("?")
    );

    let t3 = Instant::now();
    let _ = stop_tx.send(true);
    rt.block_on(async {
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    });
    println!("   closed {up} connections in {:.1} s", t3.elapsed().as_secs_f64());
    !stalled && up == n && online_ours == n && paid
}

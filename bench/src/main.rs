//! `vinr-bench`: drives concurrent create-payment requests at `vinr dev` and prints throughput,
//! latency percentiles and the size of each component.
//!
//! It starts `vinr dev` itself (as the conformance harness does: two `vinr account create`, a free
//! port, a fresh data dir, stopped at exit), or attaches to a running server with `--url`/`--key`.
//! The client is raw HTTP/1.1 keep-alive over `std::net::TcpStream`, one thread per connection.
//! To show the client is not the bottleneck it reports its own CPU use, and `--baseline` first
//! runs the same load against trivial routes (a host-level 404 and an unauthenticated 401).
//!
//! `--webhooks` registers a webhook endpoint (payment.succeeded) pointing at a fast receiver
//! inside the bench, creates payments at full speed, and reports deliveries per second and the
//! time from the create response reaching the client to the webhook reaching the receiver.
//!
//! `--billing N` runs Billing's renewal benchmark instead (bench/src/billing.rs).
//! `--loyalty N` runs Engagement's benchmark instead (bench/src/loyalty.rs).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod billing;
mod loyalty;
mod procfs;
mod usage;

struct Opts {
    url: Option<String>,
    key: Option<String>,
    connections: usize,
    duration: f64,
    warmup: f64,
    baseline: bool,
    webhooks: bool,
    /// `--billing N`: the billing run (bench/src/billing.rs) instead of the create load.
    billing: Option<usize>,
    /// `--usage N`: the usage ingest (bench/src/usage.rs) instead of the create load.
    usage: Option<usize>,
    /// `--loyalty N`: redemptions and create-payment with loyalty (bench/src/loyalty.rs).
    loyalty: Option<usize>,
    /// `--runtimes vinr,wrangler`: the same create load against each runtime in turn (each started
    /// fresh by the conformance harness), then a side-by-side table.
    runtimes: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: vinr-bench [--url http://127.0.0.1:8787 --key sk_test_...] [--connections 8] [--duration 10] [--warmup 2] [--baseline] [--webhooks] [--billing 10000] [--usage 100000] [--loyalty 2000] [--runtimes vinr,wrangler]\n\
         Without --url, starts `vinr dev` (binary: $VINR_BIN or target/release/vinr) on a fresh data dir,\n\
         or each runtime of --runtimes in turn (as VINR_TEST_RUNTIME names them; wrangler needs\n\
         scripts/cloudflare-tools.sh and scripts/worker.sh build first)."
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        url: None,
        key: None,
        connections: 8,
        duration: 10.0,
        warmup: 2.0,
        baseline: false,
        webhooks: false,
        billing: None,
        usage: None,
        loyalty: None,
        runtimes: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--url" => o.url = Some(val()),
            "--key" => o.key = Some(val()),
            "--connections" | "-c" => o.connections = val().parse().unwrap_or_else(|_| usage()),
            "--duration" | "-d" => o.duration = val().parse().unwrap_or_else(|_| usage()),
            "--warmup" => o.warmup = val().parse().unwrap_or_else(|_| usage()),
            "--baseline" => o.baseline = true,
            "--webhooks" => o.webhooks = true,
            "--billing" => o.billing = Some(val().parse().unwrap_or_else(|_| usage())),
            "--usage" => o.usage = Some(val().parse().unwrap_or_else(|_| usage())),
            "--loyalty" => o.loyalty = Some(val().parse().unwrap_or_else(|_| usage())),
            "--runtimes" => o.runtimes = val().split(',').map(str::to_string).collect(),
            _ => usage(),
        }
    }
    if o.url.is_some() != o.key.is_some() || o.connections == 0 {
        usage();
    }
    o
}

#[derive(Clone, Copy)]
enum Load {
    CreatePayment,
    /// Create a payment tagged `metadata[bench]=<worker>-<n>` (for webhook latency).
    CreateTagged,
    /// Create a payment with these extra parameters (`--loyalty`: a customer), and what it is.
    CreateWith(&'static str, &'static str),
    /// `--loyalty`: redeem reward `.1` with these accounts, worker `w` only ever using those
    /// whose index is `w` modulo `.2` (so two connections never redeem on one account at once,
    /// unless there is one account), and what it is.
    Redeem(&'static [String], &'static str, usize, &'static str),
    NotFound,
    Unauthenticated,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::CreatePayment => "POST /v1/payments (create, unique Idempotency-Key)",
            Load::CreateTagged => "POST /v1/payments (create, tagged; a webhook endpoint subscribed)",
            Load::CreateWith(_, name) | Load::Redeem(_, _, _, name) => name,
            Load::NotFound => "GET /v1/nope (host 404, baseline)",
            Load::Unauthenticated => "GET /v1/payments without a key (component 401, baseline)",
        }
    }
    fn expected(self) -> u16 {
        match self {
            Load::CreatePayment | Load::CreateTagged | Load::CreateWith(..) | Load::Redeem(..) => 200,
            Load::NotFound => 404,
            Load::Unauthenticated => 401,
        }
    }
}

const BODY: &str = "amount=5000&currency=EUR&payment_method=pm_card_visa";

/// One keep-alive connection.
struct Conn {
    host: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    fn new(host: &str) -> Conn {
        Conn {
            host: host.into(),
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    fn stream(&mut self) -> std::io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.host)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.stream = Some(s);
            self.buf.clear();
        }
        Ok(self.stream.as_mut().unwrap())
    }

    /// Sends one request and reads the whole response; returns the status.
    fn roundtrip(&mut self, req: &[u8]) -> std::io::Result<u16> {
        let r = self.try_roundtrip(req);
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    fn try_roundtrip(&mut self, req: &[u8]) -> std::io::Result<u16> {
        self.stream()?.write_all(req)?;
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("non-UTF-8 headers"))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut content_length = None;
        let mut chunked = false;
        let mut close = false;
        for line in head.split("\r\n").skip(1) {
            let Some((k, v)) = line.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => content_length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v.contains("close"),
                _ => {}
            }
        }
        self.buf.drain(..head_end + 4);
        if chunked {
            loop {
                let nl = loop {
                    if let Some(p) = find(&self.buf, b"\r\n") {
                        break p;
                    }
                    self.fill()?;
                };
                let size_line = std::str::from_utf8(&self.buf[..nl]).map_err(|_| bad("chunk size"))?;
                let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| bad("chunk size"))?;
                while self.buf.len() < nl + 2 + size + 2 {
                    self.fill()?;
                }
                self.buf.drain(..nl + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else if let Some(len) = content_length {
            while self.buf.len() < len {
                self.fill()?;
            }
            self.buf.drain(..len);
        } else {
            close = true;
        }
        if close {
            self.stream = None;
        }
        Ok(status)
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self
            .stream
            .as_mut()
            .ok_or_else(|| bad("no connection"))?
            .read(&mut tmp)?;
        if n == 0 {
            return Err(bad("connection closed"));
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn bad(m: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string())
}

fn request(load: Load, host: &str, key: &str, worker: usize, n: u64, run: u64) -> Vec<u8> {
    match load {
        Load::CreatePayment => format!(
            "POST /v1/payments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: bench-{run}-{worker}-{n}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{BODY}",
            BODY.len()
        )
        .into_bytes(),
        Load::CreateTagged => {
            let body = format!("{BODY}&metadata[bench]={worker}-{n}");
            format!(
                "POST /v1/payments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: bench-{run}-{worker}-{n}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        Load::CreateWith(extra, _) => {
            let body = format!("{BODY}&{extra}");
            format!(
                "POST /v1/payments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: bench-{run}-{worker}-{n}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        Load::Redeem(accounts, reward, workers, _) => {
            let account = &accounts[(worker + n as usize * workers) % accounts.len()];
            let body = format!("account={account}&reward={reward}");
            format!(
                "POST /v1/loyalty/redemptions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: bench-{run}-{worker}-{n}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        Load::NotFound => format!("GET /v1/nope HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n").into_bytes(),
        Load::Unauthenticated => format!("GET /v1/payments HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
    }
}

#[derive(Default)]
struct Tally {
    ok: u64,
    other: std::collections::BTreeMap<String, u64>,
    lat_us: Vec<u32>,
    /// `--webhooks`: when each successful create's response arrived, by tag (all of them,
    /// warm-up included).
    answered: Vec<((usize, u64), Instant)>,
}

fn cpu_seconds() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn run_load(load: Load, host: &str, key: &str, o: &Opts) -> Tally {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(o.warmup);
    let end = measure_from + Duration::from_secs_f64(o.duration);
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..o.connections)
        .map(|w| {
            let (host, key, stop) = (host.to_string(), key.to_string(), stop.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::new(&host);
                let mut t = Tally::default();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let req = request(load, &host, &key, w, n, run);
                    n += 1;
                    let t0 = Instant::now();
                    let res = conn.roundtrip(&req);
                    let t1 = Instant::now();
                    if matches!(res, Ok(200)) && matches!(load, Load::CreateTagged) {
                        t.answered.push(((w, n - 1), t1));
                    }
                    if t1 >= end {
                        break;
                    }
                    if t0 < measure_from {
                        continue;
                    }
                    match res {
                        Ok(s) if s == load.expected() => {
                            t.ok += 1;
                            t.lat_us.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                        }
                        Ok(s) => *t.other.entry(format!("HTTP {s}")).or_default() += 1,
                        Err(e) => *t.other.entry(format!("error: {e}")).or_default() += 1,
                    }
                }
                t
            })
        })
        .collect();
    let cpu0 = cpu_seconds();
    // The server's CPU time over the measured window: per request, it is what a change costs,
    // and less noisy than throughput on a shared machine.
    let server = procfs::find_server(&format!("http://{host}"));
    std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
    let server_cpu0 = server.and_then(procfs::proc_usage).map(|(_, cpu)| cpu);
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let server_cpu = server
        .and_then(procfs::proc_usage)
        .zip(server_cpu0)
        .map(|((_, cpu), cpu0)| cpu - cpu0);
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for h in handles {
        let t = h.join().expect("worker");
        total.ok += t.ok;
        total.lat_us.extend(t.lat_us);
        total.answered.extend(t.answered);
        for (k, v) in t.other {
            *total.other.entry(k).or_default() += v;
        }
    }
    let client_cpu = cpu_seconds() - cpu0;
    report(load, &mut total, o, client_cpu, start.elapsed().as_secs_f64());
    match server_cpu {
        Some(cpu) if total.ok > 0 => println!(
            "   server CPU: {:.0} µs per answered request ({:.0}% of one core)",
            cpu * 1e6 / total.ok as f64,
            100.0 * cpu / o.duration
        ),
        _ => println!("   server CPU: not measured (the server is not a vinr dev on this machine)"),
    }
    total
}

/// The `p`th percentile (0-100) of sorted microsecond latencies, in milliseconds; 0 if none.
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    sorted_us[((p / 100.0) * (sorted_us.len() - 1) as f64).round() as usize] as f64 / 1000.0
}

fn report(load: Load, t: &mut Tally, o: &Opts, client_cpu: f64, wall: f64) {
    t.lat_us.sort_unstable();
    let pct = |p: f64| percentile_ms(&t.lat_us, p);
    let others: u64 = t.other.values().sum();
    println!("== {}", load.name());
    println!(
        "   {} connections, {:.0} s measured after {:.0} s warm-up",
        o.connections, o.duration, o.warmup
    );
    println!(
        "   throughput: {:.0} req/s with HTTP {} ({} in total); other answers: {}",
        t.ok as f64 / o.duration,
        load.expected(),
        t.ok,
        others
    );
    for (k, v) in &t.other {
        println!("     {v} x {k}");
    }
    println!(
        "   latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        t.lat_us.last().map(|&v| v as f64 / 1000.0).unwrap_or(0.0)
    );
    println!(
        "   client CPU: {:.2} s over {:.1} s wall = {:.0}% of one core",
        client_cpu,
        wall,
        100.0 * client_cpu / wall
    );
}

fn wasm_sizes(root: &std::path::Path) {
    let dir = root.join("target/wasm32-wasip2/wasm");
    println!("== components ({})", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    files.sort_by_key(|e| e.file_name());
    if files.is_empty() {
        println!("   (none)");
    }
    for f in files {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        println!(
            "   {:<36} {:>9} bytes ({:.1} KiB)",
            f.file_name().to_string_lossy(),
            len,
            len as f64 / 1024.0
        );
    }
}

fn main() {
    let o = parse_opts();
    let root = vinr_conformance::runtime::workspace_root();
    if !o.runtimes.is_empty() {
        return side_by_side(&o, &root);
    }
    if let Some(n) = o.billing {
        // One advance renews every subscription: more guest CPU than the per-request default.
        let started = o.url.is_none().then(|| {
            eprintln!("starting vinr dev (VINR_CPU_LIMIT_MS=600000 for the advance)...");
            vinr_conformance::runtime::start_with_env(&[("VINR_CPU_LIMIT_MS", "600000")])
        });
        let (url, key) = match &started {
            Some(rt) => (rt.base_url.clone(), rt.secret_key.clone()),
            None => (o.url.clone().unwrap_or_default(), o.key.clone().unwrap_or_default()),
        };
        return billing::run(&url, &key, n, o.connections);
    }
    if let Some(n) = o.loyalty {
        let (url, key, _server) = vinr_conformance::runtime::given_or_started(o.url.as_deref(), o.key.as_deref());
        return loyalty::run(&url, &key, n, &o);
    }
    if let Some(n) = o.usage {
        let (url, key, _server) = vinr_conformance::runtime::given_or_started(o.url.as_deref(), o.key.as_deref());
        return usage::run(&url, &key, n, o.connections);
    }
    let (url, key, _server) = vinr_conformance::runtime::given_or_started(o.url.as_deref(), o.key.as_deref());
    let host = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    println!(
        "vinr-bench against {url} ({} cores on this machine)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    if o.baseline {
        run_load(Load::NotFound, &host, &key, &o);
        run_load(Load::Unauthenticated, &host, &key, &o);
    }
    let t = if o.webhooks {
        webhooks(&url, &host, &key, &o)
    } else {
        run_load(Load::CreatePayment, &host, &key, &o)
    };
    wasm_sizes(&root);
    if t.ok == 0 {
        std::process::exit(1);
    }
}

/// `--runtimes`: create-payment load against each runtime, one after the other on the same
/// machine, then one table.
fn side_by_side(o: &Opts, root: &std::path::Path) {
    let mut rows = Vec::new();
    for name in &o.runtimes {
        eprintln!("starting runtime {name}...");
        // The harness picks its runtime from this variable; nothing else runs yet.
        unsafe { std::env::set_var("VINR_TEST_RUNTIME", name) };
        let rt = vinr_conformance::runtime::start();
        let host = rt
            .base_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        println!("vinr-bench: runtime {name} at {}", rt.base_url);
        // run_load reports, which leaves the latencies sorted.
        let t = run_load(Load::CreatePayment, &host, &rt.secret_key, o);
        let pct = |p: f64| percentile_ms(&t.lat_us, p);
        rows.push((
            name.clone(),
            t.ok as f64 / o.duration,
            pct(50.0),
            pct(99.0),
            t.other.values().sum::<u64>(),
        ));
        drop(rt);
    }
    println!(
        "== create payment, {} connections, {:.0} s each",
        o.connections, o.duration
    );
    println!(
        "   {:<10} {:>10} {:>9} {:>9} {:>8}",
        "runtime", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (name, rps, p50, p99, errs) in &rows {
        println!("   {name:<10} {rps:>10.0} {p50:>9.2} {p99:>9.2} {errs:>8}");
    }
    wasm_sizes(root);
    worker_size(root);
    if rows.iter().any(|r| r.1 == 0.0) {
        std::process::exit(1);
    }
}

/// The Worker bundle (scripts/worker.sh build), raw and gzipped as Cloudflare counts it.
fn worker_size(root: &std::path::Path) {
    let dir = root.join("functions/worker/build");
    println!("== worker bundle ({})", dir.display());
    for f in ["index_bg.wasm", "index.js"] {
        let path = dir.join(f);
        let Ok(raw) = std::fs::read(&path) else {
            println!("   {f}: not built");
            continue;
        };
        let gz = std::process::Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&path)
            .output()
            .map(|o| o.stdout.len())
            .unwrap_or(0);
        println!(
            "   {f:<36} {:>9} bytes, {:>9} gzipped ({:.1} KiB)",
            raw.len(),
            gz,
            gz as f64 / 1024.0
        );
    }
}

/// Each tagged event's tag (connection, sequence number) and when it arrived.
type Arrivals = Arc<std::sync::Mutex<Vec<((usize, u64), Instant)>>>;

/// The bench's webhook receiver: answers 200 at once and notes when each tagged event arrived.
struct Sink {
    port: u16,
    got: Arrivals,
}

fn sink() -> Sink {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let g = g.clone();
            std::thread::spawn(move || sink_conn(s, g));
        }
    });
    Sink { port, got }
}

fn sink_conn(mut s: TcpStream, got: Arrivals) {
    let _ = s.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut tmp = [0u8; 16 * 1024];
    loop {
        // One request: head, then content-length bytes.
        let (head_end, len) = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                let len = head
                    .split("\r\n")
                    .find_map(|l| {
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                break (p + 4, len);
            }
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        while buf.len() < head_end + len {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let at = Instant::now();
        let body = &buf[head_end..head_end + len];
        const KEY: &[u8] = b"\"bench\":\"";
        if let Some(p) = find(body, KEY) {
            let rest = &body[p + KEY.len()..];
            let tag = rest
                .iter()
                .position(|&b| b == b'"')
                .map(|e| String::from_utf8_lossy(&rest[..e]).into_owned());
            if let Some((w, n)) = tag.as_deref().and_then(|t| t.split_once('-'))
                && let (Ok(w), Ok(n)) = (w.parse(), n.parse())
            {
                got.lock().unwrap().push(((w, n), at));
            }
        }
        buf.drain(..head_end + len);
        if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}

fn webhooks(url: &str, host: &str, key: &str, o: &Opts) -> Tally {
    let sink = sink();
    let form = format!(
        "url=http%3A%2F%2F127.0.0.1%3A{}%2Fhook&enabled_events[]=payment.succeeded",
        sink.port
    );
    let ep = vinr_conformance::Req::new(url, "POST", "/v1/webhooks")
        .key(key)
        .form(&form)
        .send()
        .ok();
    println!(
        "== webhooks: endpoint {} -> receiver on 127.0.0.1:{}",
        ep["id"].as_str().unwrap_or("?"),
        sink.port
    );
    let load_start = Instant::now();
    let mut t = run_load(Load::CreateTagged, host, key, o);
    let load_end = Instant::now();
    let measure_from = load_start + Duration::from_secs_f64(o.warmup);
    // Wait for the outbox to drain (every create has exactly one delivery).
    let expected = t.answered.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.got.lock().unwrap().len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = sink.got.lock().unwrap().clone();
    let last = got.iter().map(|g| g.1).max().unwrap_or(load_end);
    let in_window = got.iter().filter(|g| g.1 >= measure_from && g.1 < load_end).count();
    let answered: std::collections::HashMap<(usize, u64), Instant> = t.answered.iter().cloned().collect();
    let mut lat_us: Vec<i64> = Vec::with_capacity(got.len());
    let mut early = 0;
    for (tag, at) in &got {
        if let Some(resp) = answered.get(tag) {
            if at < resp {
                early += 1;
                lat_us.push(-((*resp - *at).as_micros() as i64));
            } else {
                lat_us.push((*at - *resp).as_micros() as i64);
            }
        }
    }
    lat_us.sort_unstable();
    let pct = |p: f64| {
        if lat_us.is_empty() {
            0.0
        } else {
            lat_us[((p / 100.0) * (lat_us.len() - 1) as f64).round() as usize] as f64 / 1000.0
        }
    };
    let mut uniq: Vec<_> = got.iter().map(|g| g.0).collect();
    uniq.sort_unstable();
    uniq.dedup();
    println!("== webhook deliveries (payment.succeeded, one endpoint)");
    println!(
        "   received {} of {} ({} distinct); {:.0} deliveries/s during the measured load; outbox drained {:.2} s after the load ended",
        got.len(),
        expected,
        uniq.len(),
        in_window as f64 / o.duration,
        last.saturating_duration_since(load_end).as_secs_f64()
    );
    println!(
        "   create response -> webhook received, ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  ({} arrived before the client read the response)",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        lat_us.last().map(|&v| v as f64 / 1000.0).unwrap_or(0.0),
        early
    );
    if got.len() < expected {
        t.other
            .insert("webhooks not delivered".into(), (expected - got.len()) as u64);
    }
    t
}

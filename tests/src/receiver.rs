//! A webhook receiver on loopback for the delivery tests: an HTTP/1.1 server (keep-alive, one
//! thread per connection, std only) that records every request and answers with scripted
//! status codes.
//!
//! ```ignore
//! let rx = Receiver::start(vec![500, 500, 200]);   // then 200 for ever (the last repeats)
//! let hits = rx.wait_for(3, Duration::from_secs(10), |h| h.event_id() == Some(&id));
//! rx.stop();                                       // connection refused from now on
//! let rx = Receiver::start_on(port, vec![200]);    // back on the same port
//! let slow = Receiver::with(Answer::Hang);          // records requests, never answers
//! let hop = Receiver::with(Answer::Redirect(307, other.url()));
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body bytes, exactly as received (signatures are over these).
    pub body: Vec<u8>,
    /// Unix time in ms when the request was complete.
    pub received_ms: i64,
    /// The status this receiver answered.
    pub answered: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The event id in the body (`id`).
    pub fn event_id(&self) -> Option<String> {
        self.json()["id"].as_str().map(str::to_string)
    }
}

/// How a receiver answers.
#[derive(Clone, Debug)]
pub enum Answer {
    /// These statuses in turn; the last one repeats (empty: 200).
    Statuses(Vec<u16>),
    /// Never: the request is recorded and the connection held open, silent, until `stop`.
    Hang,
    /// `status` with `Location: <url>` (a redirect).
    Redirect(u16, String),
    /// 200 with a `content-length` of 1 GB, then a few bytes and silence: the body never ends.
    HangBody,
    /// 200 with a chunked body written as fast as the sender reads, until it hangs up;
    /// [`Receiver::body_bytes_sent`] tells how far it got.
    Flood,
}

struct State {
    hits: Mutex<Vec<Hit>>,
    changed: Condvar,
    statuses: Vec<u16>,
    answer: Answer,
    /// Response body bytes written in [`Answer::Flood`] mode.
    flooded: AtomicUsize,
    n: AtomicUsize,
    stopped: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

pub struct Receiver {
    pub port: u16,
    state: Arc<State>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Receiver {
    /// On a free loopback port. `statuses` are answered in turn; the last one repeats (empty: 200).
    pub fn start(statuses: Vec<u16>) -> Receiver {
        Self::start_on(0, statuses)
    }

    /// On `port` (0: a free one).
    pub fn start_on(port: u16, statuses: Vec<u16>) -> Receiver {
        Self::start_answering(port, Answer::Statuses(statuses))
    }

    /// On a free loopback port, answering as `answer` says.
    pub fn with(answer: Answer) -> Receiver {
        Self::start_answering(0, answer)
    }

    fn start_answering(port: u16, answer: Answer) -> Receiver {
        let statuses = match &answer {
            Answer::Statuses(s) => s.clone(),
            Answer::Redirect(status, _) => vec![*status],
            Answer::Hang => vec![0],
            Answer::HangBody | Answer::Flood => vec![200],
        };
        let listener =
            TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("receiver: bind 127.0.0.1:{port}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            hits: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            statuses: if statuses.is_empty() { vec![200] } else { statuses },
            answer,
            flooded: AtomicUsize::new(0),
            n: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        std::thread::Builder::new()
            .name(format!("receiver-{port}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if st.stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(c) = stream.try_clone() {
                        st.conns.lock().unwrap().push(c);
                    }
                    let st = st.clone();
                    std::thread::spawn(move || serve(stream, st));
                }
            })
            .expect("spawn receiver thread");
        Receiver { port, state }
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Response body bytes written so far ([`Answer::Flood`]).
    pub fn body_bytes_sent(&self) -> usize {
        self.state.flooded.load(Ordering::SeqCst)
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests match `pred` (or `within` passes); returns the matches.
    pub fn wait_for(&self, n: usize, within: Duration, pred: impl Fn(&Hit) -> bool) -> Vec<Hit> {
        let deadline = Instant::now() + within;
        let mut hits = self.state.hits.lock().unwrap();
        loop {
            let m: Vec<Hit> = hits.iter().filter(|h| pred(h)).cloned().collect();
            let now = Instant::now();
            if m.len() >= n || now >= deadline {
                return m;
            }
            hits = self.state.changed.wait_timeout(hits, deadline - now).unwrap().0;
        }
    }

    /// Stops listening and closes every open connection: senders get "connection refused".
    pub fn stop(&self) {
        if self.state.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop so that it sees `stopped` and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for c in self.state.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        // Wait until the port refuses connections.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match TcpStream::connect(("127.0.0.1", self.port)) {
                Err(_) => return,
                Ok(s) => {
                    let _ = s.shutdown(Shutdown::Both);
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Holds the connection without a word until the receiver stops (which closes it).
fn hang(st: &State) {
    while !st.stopped.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve(stream: TcpStream, st: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            match r.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if st.stopped.load(Ordering::SeqCst) {
            return;
        }
        let i = st.n.fetch_add(1, Ordering::SeqCst);
        let status = st.statuses[i.min(st.statuses.len() - 1)];
        {
            let mut hits = st.hits.lock().unwrap();
            hits.push(Hit {
                method,
                path,
                headers,
                body,
                received_ms: now_ms(),
                answered: status,
            });
            st.changed.notify_all();
        }
        let resp = match &st.answer {
            Answer::Statuses(_) => {
                format!("HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok")
            }
            Answer::Redirect(_, location) => {
                format!("HTTP/1.1 {status} X\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n")
            }
            Answer::Hang => return hang(&st),
            Answer::HangBody => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000000000\r\n\r\nok";
                if out.write_all(head.as_bytes()).is_ok() {
                    let _ = out.flush();
                    hang(&st);
                }
                return;
            }
            Answer::Flood => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if out.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk, b"\r\n".to_vec()].concat();
                // Until the sender hangs up (or a generous 4 GiB, should it read everything).
                while !st.stopped.load(Ordering::SeqCst) && st.flooded.load(Ordering::SeqCst) < (4usize << 30) {
                    if out.write_all(&framed).is_err() {
                        return;
                    }
                    st.flooded.fetch_add(64 * 1024, Ordering::SeqCst);
                }
                return;
            }
        };
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

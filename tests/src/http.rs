//! A tiny HTTP/1.1 client (one connection per request, `Connection: close`) and the assertions
//! every test uses. `send()` itself checks what every response must carry: a `request-id` header
//! (`req_...`) and a JSON body with `content-type: application/json`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::runtime::Runtime;

#[derive(Clone)]
pub struct Req {
    host: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// Headers given as bytes ([`Req::header_bytes`]), sent after `headers`.
    byte_headers: Vec<(String, Vec<u8>)>,
    /// The request target as bytes ([`Req::path_bytes`]), instead of `path`.
    path_bytes: Option<Vec<u8>>,
    body: Option<Vec<u8>>,
    check_conventions: bool,
    read_timeout: Duration,
}

impl Runtime {
    /// A request authenticated with account A's sandbox secret key (`Authorization: Bearer`).
    pub fn req(&self, method: &str, path: &str) -> Req {
        Req::new(&self.base_url, method, path).key(&self.secret_key)
    }
    pub fn get(&self, path: &str) -> Req {
        self.req("GET", path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.req("POST", path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.req("DELETE", path)
    }
}

impl Req {
    pub fn new(base_url: &str, method: &str, path: &str) -> Req {
        let host = base_url.trim_start_matches("http://").trim_end_matches('/').to_string();
        Req {
            host,
            method: method.into(),
            path: path.into(),
            headers: vec![],
            byte_headers: vec![],
            path_bytes: None,
            body: None,
            check_conventions: true,
            read_timeout: Duration::from_secs(60),
        }
    }

    fn set_header(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.byte_headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A header whose value is exactly these bytes (any bytes: not UTF-8, control bytes),
    /// replacing any header of that name.
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.byte_headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.byte_headers.push((name.into(), value.to_vec()));
        self
    }

    /// The request target (path and query) as exactly these bytes.
    pub fn path_bytes(mut self, target: &[u8]) -> Req {
        self.path = String::from_utf8_lossy(target).into_owned();
        self.path_bytes = Some(target.to_vec());
        self
    }

    /// `Authorization: Bearer <key>` (replacing any key already set).
    pub fn key(self, key: &str) -> Req {
        self.no_auth().set_header("Authorization", &format!("Bearer {key}"))
    }
    /// `X-Api-Key: <key>` (replacing any key already set).
    pub fn api_key(self, key: &str) -> Req {
        self.no_auth().set_header("X-Api-Key", key)
    }
    pub fn no_auth(mut self) -> Req {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("x-api-key"));
        self
    }
    pub fn header(self, name: &str, value: &str) -> Req {
        self.set_header(name, value)
    }
    pub fn idem(self, key: &str) -> Req {
        self.set_header("Idempotency-Key", key)
    }
    /// A form body (`application/x-www-form-urlencoded`), given already encoded as curl `-d` sends it.
    pub fn form(self, body: &str) -> Req {
        self.body(Some("application/x-www-form-urlencoded"), body.as_bytes())
    }
    pub fn json(self, body: &Value) -> Req {
        self.body(Some("application/json"), body.to_string().as_bytes())
    }
    /// Raw body bytes with the given content type (or none).
    pub fn body(mut self, content_type: Option<&str>, bytes: &[u8]) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        if let Some(ct) = content_type {
            self.headers.push(("Content-Type".into(), ct.into()));
        }
        self.body = Some(bytes.to_vec());
        self
    }
    /// Skip the per-response checks of `send()` (for tests that check them themselves).
    pub fn unchecked(mut self) -> Req {
        self.check_conventions = false;
        self
    }

    pub fn describe(&self) -> String {
        let mut s = match &self.path_bytes {
            Some(p) => format!("{} {}", self.method, p.escape_ascii()),
            None => format!("{} {}", self.method, self.path),
        };
        for (k, v) in &self.headers {
            s.push_str(&format!("\n  {k}: {v}"));
        }
        for (k, v) in &self.byte_headers {
            s.push_str(&format!("\n  {k}: {} (bytes)", v.escape_ascii()));
        }
        if let Some(b) = &self.body {
            let text = String::from_utf8_lossy(b);
            if text.len() > 400 {
                let head: String = text.chars().take(400).collect();
                s.push_str(&format!("\n  body ({} bytes): {head}...", b.len()));
            } else {
                s.push_str(&format!("\n  body: {text}"));
            }
        }
        s
    }

    pub fn send(self) -> Resp {
        let resp = self
            .send_raw()
            .unwrap_or_else(|e| panic!("request failed: {e}\nrequest: {}", self.describe()));
        if self.check_conventions {
            resp.check_conventions();
        }
        resp
    }

    /// Sends every request at the same moment (one thread each, released together by a
    /// barrier), for races; the responses come back in the order of `reqs`.
    pub fn send_at_once(reqs: Vec<Req>) -> Vec<Resp> {
        let barrier = std::sync::Barrier::new(reqs.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = reqs
                .into_iter()
                .map(|req| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        req.send()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("request thread")).collect()
        })
    }

    /// How long to wait for the answer (default 60 s), e.g. for a request held 150 s.
    pub fn read_timeout(mut self, d: Duration) -> Req {
        self.read_timeout = d;
        self
    }

    /// Sends the request; transport errors are returned, nothing is checked.
    pub fn send_raw(&self) -> std::io::Result<Resp> {
        let mut stream = TcpStream::connect(&self.host)?;
        stream.set_read_timeout(Some(self.read_timeout))?;
        stream.set_nodelay(true)?;
        let mut bytes = format!("{} ", self.method).into_bytes();
        bytes.extend_from_slice(self.path_bytes.as_deref().unwrap_or(self.path.as_bytes()));
        let mut head = format!(" HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.host);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        bytes.extend_from_slice(head.as_bytes());
        for (k, v) in &self.byte_headers {
            bytes.extend_from_slice(format!("{k}: ").as_bytes());
            bytes.extend_from_slice(v);
            bytes.extend_from_slice(b"\r\n");
        }
        if let Some(b) = &self.body {
            bytes.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        if let Some(b) = &self.body {
            bytes.extend_from_slice(b);
        }
        // A server may answer (413) and close before reading everything: as curl does, read the
        // answer while a large body is still being written.
        let mut write_err = None;
        let writer = if bytes.len() > 16 * 1024 {
            let mut w = stream.try_clone()?;
            Some(std::thread::spawn(move || {
                let _ = w.write_all(&bytes);
            }))
        } else {
            write_err = stream.write_all(&bytes).err();
            None
        };
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw) {
            Ok(_) => {}
            Err(e) if !raw.is_empty() => {
                let _ = e;
            }
            Err(e) => return Err(write_err.unwrap_or(e)),
        }
        if let Some(w) = writer {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = w.join();
        }
        parse_response(&raw).map(|(status, headers, body)| Resp {
            status,
            headers,
            body,
            req: self.describe(),
        })
    }
}

/// A parsed HTTP response: (status, headers, body).
type RawResponse = (u16, Vec<(String, String)>, Vec<u8>);

fn parse_response(raw: &[u8]) -> std::io::Result<RawResponse> {
    let bad = |m: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{m}: {:?}", String::from_utf8_lossy(&raw[..raw.len().min(300)])),
        )
    };
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("empty response"))?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if rest.len() < len {
            return Err(bad("body shorter than content-length"));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, body))
}

pub fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&rest[..nl]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        if rest.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A response, with the request that produced it (for failure messages).
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub req: String,
}

/// `terminal_error`: a terminal payment the terminal could not take (busy, offline) or lost
/// (communication_error); docs/terminals.md. `rate_limit_error`: a 429 (docs/security.md).
pub const ERROR_TYPES: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "idempotency_error",
    "api_error",
    "terminal_error",
    "rate_limit_error",
];

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// What a failure message shows: the request, the status and the body.
    pub fn show(&self) -> String {
        let t = self.text();
        let t = if t.len() > 1500 {
            format!("{}...", t.chars().take(1500).collect::<String>())
        } else {
            t
        };
        format!("\nrequest: {}\ngot: HTTP {} {}\n", self.req, self.status, t)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("response is not JSON ({e}){}", self.show()))
    }

    /// Every response, errors included: `request-id: req_...`, a JSON body, `content-type: application/json`.
    pub fn check_conventions(&self) {
        let rid = self
            .header("request-id")
            .unwrap_or_else(|| panic!("no request-id header{}", self.show()));
        assert!(
            rid.starts_with("req_") && rid.len() > 4,
            "request-id {rid:?} is not req_...{}",
            self.show()
        );
        let ct = self
            .header("content-type")
            .unwrap_or_else(|| panic!("no content-type header{}", self.show()));
        assert!(
            ct.starts_with("application/json"),
            "content-type {ct:?} is not application/json{}",
            self.show()
        );
        let _ = self.json();
    }

    /// Asserts a 200 and returns the body.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "expected HTTP 200{}", self.show());
        let v = self.json();
        assert!(v.get("error").is_none(), "200 with an error body{}", self.show());
        v
    }

    /// Asserts an error response of this status and code (and a well-formed error object);
    /// returns the `error` object.
    pub fn err(&self, status: u16, code: &str) -> Value {
        self.err_any(status, &[code])
    }

    /// As `err`, for cases where the API doc leaves the exact code open between a few.
    pub fn err_any(&self, status: u16, codes: &[&str]) -> Value {
        self.err_in(&[status], codes)
    }

    /// As `err`, where the API doc leaves both the status (among `statuses`) and the code open.
    pub fn err_in(&self, statuses: &[u16], codes: &[&str]) -> Value {
        let status = self.status;
        assert!(
            statuses.contains(&status),
            "expected HTTP {statuses:?} {codes:?}{}",
            self.show()
        );
        let v = self.json();
        let e = v
            .get("error")
            .unwrap_or_else(|| panic!("no error object{}", self.show()))
            .clone();
        let code = e["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error.code missing{}", self.show()));
        assert!(
            codes.contains(&code),
            "expected error code {codes:?}, got {code:?}{}",
            self.show()
        );
        let ty = e["type"]
            .as_str()
            .unwrap_or_else(|| panic!("error.type missing{}", self.show()));
        assert!(
            ERROR_TYPES.contains(&ty),
            "error.type {ty:?} is not one of {ERROR_TYPES:?}{}",
            self.show()
        );
        match status {
            401 => assert_eq!(
                ty,
                "authentication_error",
                "401 must be an authentication_error{}",
                self.show()
            ),
            409 => assert_eq!(
                ty,
                "idempotency_error",
                "409 must be an idempotency_error{}",
                self.show()
            ),
            429 => assert_eq!(ty, "rate_limit_error", "429 must be a rate_limit_error{}", self.show()),
            400 | 404 | 405 | 413 | 415 => {
                assert_eq!(
                    ty,
                    "invalid_request_error",
                    "{status} must be an invalid_request_error{}",
                    self.show()
                )
            }
            _ => {}
        }
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error.message missing{}",
            self.show()
        );
        e
    }

    /// As `err`, and the error names `param`.
    pub fn err_param(&self, status: u16, code: &str, param: &str) -> Value {
        let e = self.err(status, code);
        assert_eq!(
            e["param"].as_str(),
            Some(param),
            "expected error.param {param:?}{}",
            self.show()
        );
        e
    }

    /// As `err`, and the error carries no `param` (absent or null).
    pub fn err_no_param(&self, status: u16, code: &str) -> Value {
        let e = self.err(status, code);
        assert!(
            e.get("param").is_none_or(Value::is_null),
            "expected no error.param{}",
            self.show()
        );
        e
    }

    pub fn replayed(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }
}

/// Percent-encodes a form value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

//! Input that must never crash (issue 14, docs/security.md): multi-byte UTF-8, bytes that are not
//! UTF-8 (raw where HTTP allows them, percent-encoded as `%FF` elsewhere) and control bytes in
//! every header the API reads, every path segment, query parameter and body field (form and
//! JSON) of a representative set of operations. Every answer is a 4xx, or a 2xx where the value is
//! legitimately accepted (UTF-8 text in a free-text field, an odd header the API never reads);
//! never a 5xx, never a dropped connection; and after each batch a normal request still succeeds.
//!
//! The requests are written byte for byte (tests/src/http.rs over a TcpStream), so the test and
//! not an HTTP client decides what is sent. What the HTTP layer itself refuses (hyper under
//! vinr dev, workerd under wrangler) answers a plain 400 without the API's conventions: a 4xx too.
//! Runs on every runtime. A second test sends a terminal's device a card string of multi-byte
//! characters (security review M9): a decline, and the terminal keeps working.

use std::time::Duration;

use vinr_conformance::http::{ERROR_TYPES, enc};
use vinr_conformance::*;
use vinr_terminal_sim::{Options, SimHandle};

/// Multi-byte characters (2, 3 and 4 bytes), one across byte 7 as in `Bearer€`.
const UTF8: &[&str] = &["é", "€€", "🂡", "Bearer\u{e9}x"];
/// Not UTF-8, or control bytes, sent raw.
const RAW: &[&[u8]] = &[b"\xff", b"\xc3", b"\x80abc", b"\x00", b"\x01\x1b", b"\x7f"];
/// Percent-encoded: not UTF-8 (a lone byte, a cut sequence), control bytes, UTF-8.
const PCT: &[&str] = &[
    "%FF",
    "%C3",
    "%E2%82",
    "%00",
    "%0D%0A",
    "%1B%7F",
    "%C3%A9",
    "%F0%9F%82%A1",
];

enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
}

/// A valid request of one operation, and which of its fields take free text.
struct Op {
    name: &'static str,
    method: &'static str,
    segs: Vec<String>,
    query: Vec<(String, String)>,
    body: Body,
    /// Fields (form names, or JSON keys) where any UTF-8 text is a legitimate value.
    text: &'static [&'static str],
}

/// One change to an operation's request.
enum Change {
    /// A header with exactly these bytes as its value.
    Header(&'static str, Vec<u8>),
    /// Path segment `i` replaced by these bytes.
    Segment(usize, Vec<u8>),
    /// Query parameter `i`'s value replaced by these bytes (as they go on the wire).
    Query(usize, Vec<u8>),
    /// Form field or JSON key `i`'s value replaced by these bytes (inside the JSON string).
    Field(usize, Vec<u8>),
    /// An extra parameter of this name (query of a GET, body of a POST).
    Extra(Vec<u8>),
}

/// The headers the API reads; a value of them that is not text is always refused.
const READ_HEADERS: &[&str] = &["Authorization", "X-Api-Key", "Idempotency-Key", "Content-Type"];

/// What percent-decoding `wire` gives (form rules), to tell text from what is not.
fn decoded(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < wire.len() {
        let hex = wire
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (wire[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

impl Op {
    fn field_names(&self) -> Vec<String> {
        match &self.body {
            Body::None => vec![],
            Body::Form(f) => f.iter().map(|(k, _)| k.clone()).collect(),
            Body::Json(v) => v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default(),
        }
    }

    /// Must this change be refused (a 4xx), or may it also be accepted (a 2xx)?
    fn must_refuse(&self, c: &Change) -> bool {
        let text_ok = |name: &str, wire: &[u8], json: bool| {
            let value = if json { wire.to_vec() } else { decoded(wire) };
            // Raw control bytes inside a JSON string are not JSON.
            let json_ok = !json || value.iter().all(|b| *b >= 0x20);
            self.text.contains(&name) && std::str::from_utf8(&value).is_ok() && json_ok
        };
        match c {
            Change::Header(name, _) => READ_HEADERS.contains(name),
            Change::Segment(..) | Change::Extra(_) => true,
            Change::Query(i, wire) => !text_ok(&self.query[*i].0, wire, false),
            Change::Field(i, wire) => !text_ok(&self.field_names()[*i], wire, matches!(self.body, Body::Json(_))),
        }
    }

    /// The request with `c` applied, authenticated with `key`.
    fn request(&self, base: &str, key: &str, c: &Change) -> Req {
        let mut target = Vec::new();
        for (i, s) in self.segs.iter().enumerate() {
            target.push(b'/');
            match c {
                Change::Segment(j, b) if *j == i => target.extend_from_slice(b),
                _ => target.extend_from_slice(s.as_bytes()),
            }
        }
        let pairs = |list: &[(String, String)], changed: Option<(usize, &[u8])>, extra: Option<&[u8]>| {
            let mut out = Vec::new();
            for (i, (k, v)) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b'&');
                }
                out.extend_from_slice(enc_name(k).as_bytes());
                out.push(b'=');
                match changed {
                    Some((j, b)) if j == i => out.extend_from_slice(b),
                    _ => out.extend_from_slice(enc(v).as_bytes()),
                }
            }
            if let Some(name) = extra {
                if !out.is_empty() {
                    out.push(b'&');
                }
                out.extend_from_slice(name);
                out.extend_from_slice(b"=1");
            }
            out
        };
        let extra = match c {
            Change::Extra(n) => Some(n.as_slice()),
            _ => None,
        };
        let query_change = match c {
            Change::Query(i, b) => Some((*i, b.as_slice())),
            _ => None,
        };
        let query = pairs(&self.query, query_change, extra.filter(|_| self.method == "GET"));
        if !query.is_empty() {
            target.push(b'?');
            target.extend_from_slice(&query);
        }
        let field_change = match c {
            Change::Field(i, b) => Some((*i, b.as_slice())),
            _ => None,
        };
        let extra_body = extra.filter(|_| self.method == "POST");
        let mut req = Req::new(base, self.method, "/")
            .key(key)
            .path_bytes(&target)
            .unchecked();
        req = match &self.body {
            Body::None => req,
            Body::Form(f) => req.body(
                Some("application/x-www-form-urlencoded"),
                &pairs(f, field_change, extra_body),
            ),
            Body::Json(v) => req.body(Some("application/json"), &json_bytes(v, field_change, extra_body)),
        };
        match c {
            Change::Header(name, value) => req.header_bytes(name, value),
            _ => req,
        }
    }
}

/// A form name with its brackets kept (`metadata[k]`, `expand[]`), everything else encoded.
fn enc_name(k: &str) -> String {
    k.split_inclusive(['[', ']'])
        .map(|p| {
            let (body, bracket) = p.split_at(p.len() - usize::from(p.ends_with(['[', ']'])));
            format!("{}{bracket}", enc(body))
        })
        .collect()
}

/// `v` as JSON text, key `i`'s value replaced by a string holding exactly `bytes`, and an extra
/// key `extra` (raw bytes) if given.
fn json_bytes(v: &Value, changed: Option<(usize, &[u8])>, extra: Option<&[u8]>) -> Vec<u8> {
    let m = v.as_object().expect("a JSON body is an object");
    let mut out = b"{".to_vec();
    for (i, (k, val)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!("{}:", json!(k)).as_bytes());
        match changed {
            Some((j, b)) if j == i => {
                out.push(b'"');
                out.extend_from_slice(b);
                out.push(b'"');
            }
            _ => out.extend_from_slice(val.to_string().as_bytes()),
        }
    }
    if let Some(name) = extra {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":1");
    }
    out.push(b'}');
    out
}

/// The odd values of a value `base`: each odd thing alone and appended to it.
fn odd_values(base: &str, percent: bool) -> Vec<Vec<u8>> {
    let mut odd: Vec<Vec<u8>> = UTF8.iter().map(|s| s.as_bytes().to_vec()).collect();
    odd.extend(RAW.iter().map(|b| b.to_vec()));
    if percent {
        odd.extend(PCT.iter().map(|s| s.as_bytes().to_vec()));
    }
    let mut out = odd.clone();
    out.extend(odd.into_iter().map(|o| [base.as_bytes(), &o].concat()));
    out
}

fn ops(rt: &Runtime) -> Vec<Op> {
    let s = |x: &str| x.to_string();
    let kv = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (s(k), s(v))).collect::<Vec<_>>();
    let paid = id_of(&succeeded_payment(rt));
    let held = id_of(&manual_payment(rt, 5_000));
    let cust = id_of(&create_customer(rt));
    let segs = |p: &str| p.trim_start_matches('/').split('/').map(s).collect::<Vec<_>>();
    let search = kv(&[("start_date", "2020-01-01T00:00:00Z"), ("sort_column", "amount")]);
    vec![
        Op {
            name: "create payment (form)",
            method: "POST",
            segs: segs("/v1/payments"),
            query: vec![],
            body: Body::Form(kv(&[
                ("amount", "1000"),
                ("currency", "EUR"),
                ("payment_method", "pm_card_visa"),
                ("capture_method", "automatic"),
                ("description", "odd bytes"),
                ("metadata[k]", "v"),
            ])),
            text: &["description", "metadata[k]"],
        },
        Op {
            name: "create payment (JSON)",
            method: "POST",
            segs: segs("/v1/payments"),
            query: vec![],
            body: Body::Json(
                json!({"amount": 1000, "currency": "EUR", "payment_method": "pm_card_visa", "description": "odd"}),
            ),
            text: &["description"],
        },
        Op {
            name: "retrieve payment",
            method: "GET",
            segs: segs(&format!("/v1/payments/{paid}")),
            query: kv(&[("expand[]", "latest_charge")]),
            body: Body::None,
            text: &[],
        },
        Op {
            name: "list payments",
            method: "GET",
            segs: segs("/v1/payments"),
            query: kv(&[("limit", "3"), ("customer", &cust)]),
            body: Body::None,
            // A filter on an id that does not exist is an empty list.
            text: &["customer"],
        },
        Op {
            name: "capture",
            method: "POST",
            segs: segs(&format!("/v1/payments/{held}/capture")),
            query: vec![],
            body: Body::Form(kv(&[("amount_to_capture", "100")])),
            text: &[],
        },
        Op {
            name: "refund",
            method: "POST",
            segs: segs("/v1/refunds"),
            query: vec![],
            body: Body::Form(kv(&[
                ("payment", &paid),
                ("amount", "1"),
                ("reason", "requested_by_customer"),
                ("metadata[k]", "v"),
            ])),
            text: &["metadata[k]"],
        },
        Op {
            name: "create customer",
            method: "POST",
            segs: segs("/v1/customers"),
            query: vec![],
            body: Body::Form(kv(&[
                ("email", "odd@example.com"),
                ("name", "Odd"),
                ("description", "d"),
            ])),
            // UTF-8 in an email's local part or domain (internationalised addresses) is accepted.
            text: &["email", "name", "description"],
        },
        Op {
            name: "create payment method",
            method: "POST",
            segs: segs("/v1/payment_methods"),
            query: vec![],
            body: Body::Form(kv(&[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2040"),
                ("card[cvc]", "123"),
            ])),
            text: &[],
        },
        Op {
            name: "create webhook endpoint",
            method: "POST",
            segs: segs("/v1/webhooks"),
            query: vec![],
            // Port 9 (discard): nothing listens, deliveries fail fast.
            body: Body::Form(kv(&[
                ("url", "http://127.0.0.1:9/hook"),
                ("enabled_events[]", "payment.succeeded"),
                ("description", "d"),
            ])),
            // A URL with UTF-8 in its path (an IRI) is stored as given.
            text: &["url", "description"],
        },
        Op {
            name: "create terminal payment",
            method: "POST",
            segs: segs("/v1/terminal/payments"),
            query: vec![],
            body: Body::Json(json!({
                "terminalId": "term_test_simulator", "amount": 500, "currency": "USD",
                "responseMode": "async", "simulateDelay": 0, "reference": "r"
            })),
            text: &["reference"],
        },
        Op {
            name: "search transactions",
            method: "POST",
            segs: segs("/v1/transactions/search"),
            query: vec![],
            body: Body::Form([search.clone(), kv(&[("limit", "5")])].concat()),
            text: &[],
        },
        Op {
            name: "download transactions (CSV)",
            method: "POST",
            segs: segs("/v1/transactions/download"),
            query: vec![],
            body: Body::Form(search),
            text: &[],
        },
    ]
}

fn changes(op: &Op, rt: &Runtime) -> Vec<Change> {
    let mut out = Vec::new();
    for v in odd_values(&format!("Bearer {}", rt.secret_key), false) {
        out.push(Change::Header("Authorization", v));
    }
    for (name, base) in [
        ("X-Api-Key", rt.secret_key.as_str()),
        ("Idempotency-Key", "odd-key"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ] {
        for v in odd_values(base, false) {
            out.push(Change::Header(name, v));
        }
    }
    for (i, seg) in op.segs.iter().enumerate() {
        for v in odd_values(seg, true) {
            out.push(Change::Segment(i, v));
        }
    }
    for (i, (_, val)) in op.query.iter().enumerate() {
        for v in odd_values(&enc(val), true) {
            out.push(Change::Query(i, v));
        }
    }
    let json = matches!(op.body, Body::Json(_));
    for (i, name) in op.field_names().iter().enumerate() {
        let base = match &op.body {
            Body::Form(f) => enc(&f[i].1),
            Body::Json(v) => v[name]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v[name].to_string()),
            Body::None => unreachable!("no fields"),
        };
        for v in odd_values(&base, !json) {
            out.push(Change::Field(i, v));
        }
    }
    for v in odd_values("x", true) {
        out.push(Change::Extra(v));
    }
    // Last: a header the API does not read is dropped, and the request may succeed (a capture
    // then leaves nothing to capture for the changes above).
    for v in odd_values("x", false) {
        out.push(Change::Header("X-Odd", v));
    }
    out
}

/// An odd X-Api-Key is sent alone, as a client using that header would.
fn send(op: &Op, rt: &Runtime, c: &Change) -> Resp {
    let mut req = op.request(&rt.base_url, &rt.secret_key, c);
    if matches!(c, Change::Header("X-Api-Key", _)) {
        // Drops the Authorization header only: the changed X-Api-Key is a header of bytes.
        req = req.no_auth();
    }
    if matches!(c, Change::Header("Idempotency-Key", _)) || op.method == "GET" {
        return req
            .send_raw()
            .unwrap_or_else(|e| panic!("{}: no answer ({e})", op.name));
    }
    // Without an Idempotency-Key of their own the POSTs get a fresh one, so an accepted
    // request is never mistaken for a replay of another.
    req.idem(&uniq("odd"))
        .send_raw()
        .unwrap_or_else(|e| panic!("{}: no answer ({e})", op.name))
}

#[test]
fn odd_bytes_anywhere_are_a_4xx_never_a_5xx_and_the_server_keeps_serving() {
    let rt = shared();
    // (status, answered by the API rather than the HTTP layer) → count, for the log.
    let mut seen: std::collections::BTreeMap<(u16, bool), usize> = Default::default();
    let s = |x: &str| x.to_string();
    for op in ops(rt) {
        for c in changes(&op, rt) {
            let r = send(&op, rt, &c);
            *seen.entry((r.status, r.header("request-id").is_some())).or_default() += 1;
            assert!(r.status < 500, "{}: a 5xx{}", op.name, r.show());
            assert!(r.status >= 200, "{}: HTTP {}{}", op.name, r.status, r.show());
            if op.must_refuse(&c) {
                assert!(
                    (400..500).contains(&r.status),
                    "{}: must be refused{}",
                    op.name,
                    r.show()
                );
            }
            // An answer of the API (not the HTTP layer's own 400) is one of its errors.
            if r.header("request-id").is_some() && r.status >= 400 {
                let e = &r.json()["error"];
                let ty = e["type"].as_str().unwrap_or_default();
                assert!(ERROR_TYPES.contains(&ty), "{}: error.type{}", op.name, r.show());
                assert!(
                    e["code"].is_string() && e["message"].is_string(),
                    "{}{}",
                    op.name,
                    r.show()
                );
            }
        }
        // Still serving: the operation itself, unchanged, succeeds (once the simulator is free
        // again, and with room for one more webhook endpoint), and so does another group.
        if op.name == "create webhook endpoint" {
            for e in list_all(rt, "/v1/webhooks") {
                rt.delete(&format!("/v1/webhooks/{}", id_of(&e))).send().ok();
            }
        }
        let op = if op.name == "capture" {
            Op {
                segs: vec![s("v1"), s("payments"), id_of(&manual_payment(rt, 5_000)), s("capture")],
                ..op
            }
        } else {
            op
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = send(&op, rt, &Change::Header("X-Odd", b"x".to_vec()));
            if (200..300).contains(&r.status) {
                break;
            }
            assert!(
                r.status == 409 && std::time::Instant::now() < deadline,
                "{}: the unchanged request fails after the odd ones{}",
                op.name,
                r.show()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(rt.get("/v1/balance").send().status, 200, "after {}", op.name);
        assert_eq!(rt.get("/v1/customers?limit=1").send().status, 200, "after {}", op.name);
    }
    eprintln!("odd_bytes.rs: (status, from the API) -> requests: {seen:?}");
}

#[test]
fn a_device_card_string_of_multibyte_characters_is_declined_and_the_terminal_keeps_working() {
    let rt = shared();
    let (t, key) = vinr_conformance::terminals::register_terminal(rt, "odd card");
    let terminal = id_of(&t);
    let connect = |card: &str| {
        let d = SimHandle::spawn(
            &rt.base_url,
            &key,
            Options {
                card: card.into(),
                ..Options::default()
            },
        );
        assert!(
            d.wait_connected(Duration::from_secs(20)),
            "the device did not connect: {:?}",
            d.ended()
        );
        d
    };
    // "€€" is 6 bytes: the last four bytes cut a character (security review M9).
    for card in ["€€", "4242€4242", "🂡🂢🂣🂤", "42424242424242\u{e9}"] {
        let d = connect(card);
        let p = vinr_conformance::terminals::sync_tpay(rt, &terminal, 700, json!({}));
        assert_eq!(p["status"], "failed", "card {card:?}: {p}");
        assert!(p["last4"].is_null(), "no last4 from a card that is not digits: {p}");
        d.stop();
    }
    // The same terminal, a real card: approved.
    let d = connect("4242424242424242");
    let p = vinr_conformance::terminals::sync_tpay(rt, &terminal, 800, json!({}));
    vinr_conformance::terminals::check_approved(&p, 800);
    d.stop();
    assert_eq!(rt.get("/v1/balance").send().status, 200);
}

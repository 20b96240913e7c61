//! Outbound HTTP of the components (`wasi:http` `handler.handle` / `client.send`, what spin-sdk
//! 7's `spin_sdk::http::send` calls). The only destination is the terminal hub:
//! `POST http://terminal-hub.vinr.internal/call` with a `HubCall` as JSON is answered in-process
//! with the `HubReply` as JSON. Every other request is refused (`HTTP-request-denied`): the
//! components have no other outbound need, and `vinr dev` does not reach the network for them.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use vinr_shared::hub::{HUB_AUTHORITY, HubCall, HubReply};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::Hub;

/// A hub call is one small JSON object.
const MAX_CALL_BYTES: usize = 1 << 20;

/// The `wasi:http` hooks of every component instance.
pub struct HubHooks {
    hub: Arc<Hub>,
}

impl HubHooks {
    pub fn new(hub: Arc<Hub>) -> HubHooks {
        HubHooks { hub }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

fn body(bytes: impl Into<Bytes>) -> WasiBody {
    Full::new(bytes.into())
        .map_err(|never: std::convert::Infallible| match never {})
        .boxed_unsync()
}

fn json(status: StatusCode, text: String) -> Response<WasiBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body(text))
        .unwrap()
}

/// Is this request addressed to the hub (`http://terminal-hub.vinr.internal[:80]/…`)?
pub fn is_hub_request<B>(req: &http::Request<B>) -> bool {
    let uri = req.uri();
    uri.scheme() == Some(&http::uri::Scheme::HTTP)
        && uri.host().is_some_and(|h| h.eq_ignore_ascii_case(HUB_AUTHORITY))
        && uri.port_u16().is_none_or(|p| p == 80)
}

/// Answers one request to the hub.
pub async fn answer(hub: &Hub, req: http::Request<WasiBody>) -> Result<Response<WasiBody>, Error> {
    if req.uri().path() != "/call" {
        return Ok(json(
            StatusCode::NOT_FOUND,
            r#"{"error":"the terminal hub answers POST /call only"}"#.into(),
        ));
    }
    if req.method() != Method::POST {
        return Ok(json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"the terminal hub answers POST /call only"}"#.into(),
        ));
    }
    let bytes = match Limited::new(req.into_body(), MAX_CALL_BYTES).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return match e.downcast::<Error>() {
                Ok(e) => Err(*e),
                Err(_) => Err(Error::HttpRequestBodySize(None)),
            };
        }
    };
    let reply = match serde_json::from_slice::<HubCall>(&bytes) {
        Ok(call) => hub.call(call).await,
        Err(e) => HubReply::Unavailable {
            message: format!("not a hub call: {e}"),
        },
    };
    let status = if matches!(reply, HubReply::Unavailable { .. }) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        serde_json::to_string(&reply).expect("a hub reply always serializes"),
    ))
}

impl WasiHttpHooks for HubHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = wasmtime_wasi_http::Result<(Response<WasiBody>, IoFuture)>> + Send> {
        if !is_hub_request(&request) {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let hub = self.hub.clone();
        Box::new(async move {
            let resp = answer(&hub, request).await?;
            // The response is complete: there is no connection I/O left to drive.
            Ok((resp, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

//! A Workers request as the domain's `Request`, refused (as the Spin adapter refuses it) where it
//! cannot be one: a header the API reads that is not text, a body declared over the limit, a body
//! the transport failed to deliver.

use futures_util::StreamExt;
use vinr_shared::error::ApiError;
use vinr_shared::http::{Request as ApiRequest, request_headers};
use vinr_shared::params::{self, MAX_BODY_BYTES};
use vinr_shared::port::new_id;
use worker::{Env, Headers, Request, Response, Result};

use crate::platform::WorkerEnv;

/// Reads `req` (whose URL path is `path`) for the pipeline, or the error to answer instead.
pub async fn read(req: &mut Request, url: &worker::Url, path: String) -> std::result::Result<ApiRequest, ApiError> {
    // JS header values are byte strings: a byte of 0x80 or more arrives as a character of two
    // UTF-8 bytes, so anything but visible ASCII fails `header_text` here as it does under Spin.
    let raw: Vec<(String, String)> = req.headers().entries().collect();
    let headers = request_headers(raw.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))?;
    let declared = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.as_str());
    params::check_declared_length(declared)?;
    let body = if req.inner().body().is_none() {
        Vec::new()
    } else if declared.is_some() {
        // Framed by its length, which is within the limit: one read.
        req.bytes().await.map_err(|_| params::body_unreadable())?
    } else {
        // Chunked, length unknown: stop one byte past the limit (enough to answer 413).
        let mut stream = req.stream().map_err(|_| params::body_unreadable())?;
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk.map_err(|_| params::body_unreadable())?);
            if buf.len() > MAX_BODY_BYTES {
                break;
            }
        }
        buf
    };
    Ok(ApiRequest {
        method: req.method().to_string(),
        query: url.query().unwrap_or("").to_string(),
        headers,
        body,
        path,
    })
}

/// The answer to a request [`read`] refused: the pipeline's error shape, with a request id.
pub fn refuse(env: &Env, e: ApiError) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("request-id", &new_id(&WorkerEnv::new(env), "req_"))?;
    Ok(Response::from_json(&e.to_json())?
        .with_status(e.status)
        .with_headers(headers))
}

//! One Durable Object per terminal (`TERMINALS.idFromName(term_id)`): the single place that holds
//! the terminal's WebSocket, so commands for one terminal are serialized. The terminals issue
//! builds the Cloud API on it; today it accepts a device's WebSocket with the hibernation API and
//! records when the device was last heard from (the 60 s online/offline rule).

use worker::{DurableObject, Env, Request, Response, Result, State, WebSocket, WebSocketIncomingMessage, WebSocketPair, durable_object};

#[durable_object]
pub struct TerminalSession {
    state: State,
}

impl DurableObject for TerminalSession {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.headers().get("upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            let pair = WebSocketPair::new()?;
            // Hibernation: the runtime keeps the socket while the object sleeps.
            self.state.accept_web_socket(&pair.server);
            self.state.storage().put("last_seen_ms", js_sys::Date::now() as i64).await?;
            return Response::from_websocket(pair.client);
        }
        Response::error("Expected a WebSocket upgrade.", 426)
    }

    async fn websocket_message(&self, _ws: WebSocket, _message: WebSocketIncomingMessage) -> Result<()> {
        self.state.storage().put("last_seen_ms", js_sys::Date::now() as i64).await
    }
}

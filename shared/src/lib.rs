//! VINR domain core. Sans-IO: storage, clock and randomness come in through the ports in
//! [`port`]; the platform adapters (Spin components, the Cloudflare Worker) supply them.

pub mod ids;
pub mod keys;

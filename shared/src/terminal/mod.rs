//! Terminals and card-present payments through the Cloud API (seed 003, docs/terminals.md).
//! `payment` holds the lifecycle, `terminals` the registered devices, `protocol` the frames a
//! device exchanges with the server, `device` what those frames mean, and `hub` what the API asks
//! of the runtime component that holds the devices' connections.

pub mod device;
pub mod hub;
pub mod payment;
pub mod protocol;
pub mod terminals;

//! Terminals and card-present payments through the Cloud API (seed 003, docs/terminals.md).
//! `payment` holds the `tpay_` object, `terminals` the registered devices, and `protocol` the frames
//! a device exchanges with the server. What those frames mean is [`crate::device`]; what the API asks
//! of the runtime component that holds the devices' connections is [`crate::hub`]. The lifecycle is
//! [`crate::domain::terminal_payment`].

pub mod payment;
pub mod protocol;
pub mod terminals;

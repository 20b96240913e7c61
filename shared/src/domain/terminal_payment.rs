//! Terminal payments: the `tpay_` lifecycle (filled in by the domain-layer change).

//! Refunds: what may be refunded, and a refund that fails (filled in by the domain-layer change).

//! Disputes: opening, evidence, the issuer's decision (filled in by the domain-layer change).

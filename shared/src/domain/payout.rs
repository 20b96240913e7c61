//! Payouts: on demand, by schedule, and their way to the bank (filled in by the domain-layer change).

//! The OS random number generator: ids, API keys and fingerprints made by the host, and the
//! randomness of `HostEnv` (the scheduler's and the terminal hub's `Env`).

/// Fills `buf` from the OS; panics if the OS cannot provide randomness.
pub fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random number generator failed");
}

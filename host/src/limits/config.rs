//! The limits' settings: one environment variable each (docs/security.md, "vinr dev limits"),
//! read once at startup. A malformed value stops `vinr dev` with a message naming the variable.

use std::time::Duration;

use anyhow::bail;

/// Every limit of `vinr dev`, with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Guest compute per request (instantiation included), counted in epoch ticks.
    pub cpu: Duration,
    /// How long a client may take to send a request's headers (also how long an idle keep-alive
    /// connection stays open).
    pub header_timeout: Duration,
    /// Open HTTP connections; more wait to be accepted.
    pub max_connections: usize,
    /// Component instances the pooling allocator has room for (all components together).
    pub pool_instances: u32,
    /// Terminal payment creates in flight at once (a sync one holds its instance up to 150 s).
    pub terminal_creates: usize,
    /// Largest linear memory of an instance, in bytes.
    pub memory: usize,
}

pub const CPU_MS: &str = "VINR_CPU_LIMIT_MS";
pub const HEADER_TIMEOUT_MS: &str = "VINR_HEADER_TIMEOUT_MS";
pub const MAX_CONNECTIONS: &str = "VINR_MAX_CONNECTIONS";
pub const INSTANCE_POOL: &str = "VINR_INSTANCE_POOL";
pub const MAX_TERMINAL_CREATES: &str = "VINR_MAX_TERMINAL_CREATES";
pub const MEMORY_MB: &str = "VINR_MEMORY_LIMIT_MB";

/// ~64 concurrent requests plus instances still finishing (post-return) after their response.
const DEFAULT_POOL: u32 = 128;
/// Below the usual soft limit of 1024 open files, which the databases share.
const DEFAULT_CONNECTIONS: usize = 512;
/// The API handlers are small JSON programs; 256 MiB is far above what they use.
const DEFAULT_MEMORY_MB: usize = 256;
/// Above it the pool's address-space reservation (every slot reserves this much) gets silly.
const MAX_MEMORY_MB: usize = 4096;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            cpu: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: DEFAULT_CONNECTIONS,
            pool_instances: DEFAULT_POOL,
            terminal_creates: default_terminal_creates(DEFAULT_POOL),
            memory: DEFAULT_MEMORY_MB << 20,
        }
    }
}

/// A quarter of the pool: sync terminal payments held for minutes leave the rest to the API.
fn default_terminal_creates(pool: u32) -> usize {
    (pool as usize / 4).max(1)
}

impl Limits {
    pub fn from_env() -> anyhow::Result<Limits> {
        Limits::parse(|name| std::env::var(name).ok())
    }

    /// The limits given by `var` (an environment lookup), defaults for what it lacks.
    pub fn parse(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Limits> {
        let d = Limits::default();
        let int = |name: &str, max: u64| -> anyhow::Result<Option<u64>> {
            let Some(raw) = var(name) else { return Ok(None) };
            match raw.trim().parse::<u64>() {
                Ok(v) if (1..=max).contains(&v) => Ok(Some(v)),
                _ => bail!("{name}={raw:?}: expected a whole number from 1 to {max}"),
            }
        };
        let ms = |name: &str, default: Duration| -> anyhow::Result<Duration> {
            Ok(int(name, 86_400_000)?.map_or(default, Duration::from_millis))
        };
        let pool_instances = int(INSTANCE_POOL, 10_000)?.map_or(d.pool_instances, |v| v as u32);
        let terminal_creates = match int(MAX_TERMINAL_CREATES, u64::from(pool_instances))? {
            Some(v) => v as usize,
            None => default_terminal_creates(pool_instances),
        };
        Ok(Limits {
            cpu: ms(CPU_MS, d.cpu)?,
            header_timeout: ms(HEADER_TIMEOUT_MS, d.header_timeout)?,
            max_connections: int(MAX_CONNECTIONS, 1_000_000)?.map_or(d.max_connections, |v| v as usize),
            pool_instances,
            terminal_creates,
            memory: int(MEMORY_MB, MAX_MEMORY_MB as u64)?.map_or(d.memory, |v| (v as usize) << 20),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> anyhow::Result<Limits> {
        Limits::parse(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_without_variables() {
        let l = parse(&[]).unwrap();
        assert_eq!(l, Limits::default());
        assert_eq!(l.cpu, Duration::from_secs(10));
        assert_eq!(l.header_timeout, Duration::from_secs(10));
        assert_eq!(l.max_connections, 512);
        assert_eq!(l.pool_instances, 128);
        assert_eq!(l.terminal_creates, 32);
        assert_eq!(l.memory, 256 << 20);
    }

    #[test]
    fn each_variable_sets_its_limit() {
        let l = parse(&[
            (CPU_MS, "250"),
            (HEADER_TIMEOUT_MS, " 1000 "),
            (MAX_CONNECTIONS, "3"),
            (INSTANCE_POOL, "8"),
            (MAX_TERMINAL_CREATES, "8"),
            (MEMORY_MB, "16"),
        ])
        .unwrap();
        assert_eq!(
            l,
            Limits {
                cpu: Duration::from_millis(250),
                header_timeout: Duration::from_secs(1),
                max_connections: 3,
                pool_instances: 8,
                terminal_creates: 8,
                memory: 16 << 20,
            }
        );
        // The terminal share follows a smaller pool unless it is set.
        assert_eq!(parse(&[(INSTANCE_POOL, "8")]).unwrap().terminal_creates, 2);
        assert_eq!(parse(&[(INSTANCE_POOL, "2")]).unwrap().terminal_creates, 1);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, bad) in [
            (CPU_MS, "0"),
            (CPU_MS, "ten"),
            (HEADER_TIMEOUT_MS, "-1"),
            (MAX_CONNECTIONS, "1.5"),
            (INSTANCE_POOL, "0"),
            (MEMORY_MB, "5000"),
            (MEMORY_MB, ""),
        ] {
            let e = parse(&[(name, bad)]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{name}=")), "{name}={bad:?}: {e}");
        }
        // More terminal creates than instances would let them take the whole pool.
        let e = parse(&[(INSTANCE_POOL, "4"), (MAX_TERMINAL_CREATES, "5")])
            .unwrap_err()
            .to_string();
        assert!(e.contains(MAX_TERMINAL_CREATES) && e.contains("1 to 4"), "{e}");
    }
}

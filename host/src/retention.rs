//! vinr dev's retention purge (shared/src/retention.rs, docs/security.md): once a minute, and on
//! start, bounded batches on the writer connection, the writer lock taken per batch so API
//! writes queue behind at most one batch; repeated while a table still gives full batches.

use std::sync::Arc;
use std::time::Duration;

use vinr_shared::retention::{self, Policy, Purged};
use vinr_shared::sqlite::SqliteDb;

use crate::db::Pool;

const EVERY: Duration = Duration::from_secs(60);
/// Batches per round at most: 100 × 500 rows per table; the next round goes on.
const MAX_BATCHES: usize = 100;

/// `VINR_EVENT_RETENTION_DAYS` (whole days, default 30).
pub fn policy_from_env() -> anyhow::Result<Policy> {
    Policy::parse(std::env::var("VINR_EVENT_RETENTION_DAYS").ok().as_deref()).map_err(anyhow::Error::msg)
}

pub fn spawn(pool: Arc<Pool>, policy: Policy) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            for _ in 0..MAX_BATCHES {
                match batch(&pool, policy).await {
                    Ok(p) if p.more() => tokio::task::yield_now().await,
                    Ok(_) => break,
                    Err(e) => {
                        eprintln!("warning: retention purge failed: {e:#}");
                        break;
                    }
                }
            }
        }
    });
}

async fn batch(pool: &Arc<Pool>, policy: Policy) -> anyhow::Result<Purged> {
    let mut guard = pool.writer.clone().lock_owned().await;
    pool.ensure_writer(&mut guard)?;
    let now = crate::db::now_unix();
    let purged = tokio::task::spawn_blocking(move || {
        let conn = guard.as_ref().expect("opened by ensure_writer");
        futures::executor::block_on(retention::purge_batch(&SqliteDb(conn), now, policy))
    })
    .await?;
    purged.map_err(|e| anyhow::anyhow!("{e:?}"))
}

//! What the pool and the kept counts tell an operator; the server turns it into metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::prelude::*;
use modelgate_core::{ModelCount, PoolTelemetry};
use r2d2::event::{CheckoutEvent, HandleEvent, TimeoutEvent};

use crate::conn::{DbConn, Pool};
use crate::error::StoreResult;
use crate::schema::model_counts;

/// Counts the pool's checkouts, the time they waited and the ones that gave up.
#[derive(Debug, Default)]
pub(crate) struct PoolEvents {
    checkouts: AtomicU64,
    waited_nanos: AtomicU64,
    timeouts: AtomicU64,
}

/// The handler r2d2 calls; it shares the counters with the store.
#[derive(Debug)]
pub(crate) struct PoolEventHandler(pub(crate) Arc<PoolEvents>);

impl HandleEvent for PoolEventHandler {
    fn handle_checkout(&self, event: CheckoutEvent) {
        let waited = u64::try_from(event.duration().as_nanos()).unwrap_or(u64::MAX);
        self.0.checkouts.fetch_add(1, Ordering::Relaxed);
        self.0.waited_nanos.fetch_add(waited, Ordering::Relaxed);
    }

    fn handle_timeout(&self, _event: TimeoutEvent) {
        self.0.timeouts.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn pool(pool: &Pool, events: &PoolEvents) -> PoolTelemetry {
    let state = pool.state();
    PoolTelemetry {
        max_connections: pool.max_size(),
        connections: state.connections,
        idle: state.idle_connections,
        checkouts: events.checkouts.load(Ordering::Relaxed),
        wait_seconds: events.waited_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        timeouts: events.timeouts.load(Ordering::Relaxed),
    }
}

/// Models per org from the counts the triggers keep (one small read, whatever the table's size).
pub(crate) fn model_counts(conn: &mut DbConn) -> StoreResult<Vec<ModelCount>> {
    let rows: Vec<(String, i64)> =
        model_counts::table.select((model_counts::org_id, model_counts::total)).load(conn)?;
    let mut counts: Vec<ModelCount> = Vec::new();
    for (org_id, total) in rows {
        // '' is the catalog's row; an org may have a row per source.
        let org_id = (!org_id.is_empty()).then_some(org_id);
        let total = u64::try_from(total).unwrap_or_default();
        match counts.iter_mut().find(|c| c.org_id == org_id) {
            Some(count) => count.total += total,
            None => counts.push(ModelCount { org_id, total }),
        }
    }
    counts.sort_by(|a, b| a.org_id.cmp(&b.org_id));
    Ok(counts)
}

//! Lists a dialect serves without pages (`/v1/models`, Open WebUI's arrays and exports): read
//! from the registry in batches and written out as they come, so memory stays flat however many
//! models there are and however many such requests run at once.

use std::collections::VecDeque;
use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpResponse, error};
use futures_util::{StreamExt, stream};
use modelgate_core::{
    Column, Ctx, DomainResult, ModelEntry, ModelQuery, ModelView, Registry, ScanCursor,
};
use serde_json::Value;

use crate::Services;

/// Models read per registry call.
pub const SCAN_BATCH: i64 = 1000;

/// Turns a batch of models into what goes out, on the blocking pool with the registry at hand
/// (Syft shows each model's endpoints: one more query per batch, not per model).
pub type RenderBatch =
    Arc<dyn Fn(&dyn Registry, &Ctx, Vec<ModelView>) -> DomainResult<Vec<Value>> + Send + Sync>;

/// Writes one [`ModelEntry`] as it goes out (JSON, appended to the buffer).
pub type RenderEntry = Arc<dyn Fn(&ModelEntry, &mut Vec<u8>) + Send + Sync>;

/// What a list reads of each model, and how it is written.
#[derive(Clone)]
pub enum Render {
    /// Whole models.
    Views(RenderBatch),
    /// Only what [`ModelEntry`] names: for lists that print a few columns of many models.
    Entries(RenderEntry),
}

/// How one list is written: `head`, the rendered models separated by commas, `tail`.
pub struct ModelList {
    /// Read one after another, each in its own order (Open WebUI's `/all`: custom models by
    /// creation, then the catalog by id). Each is sorted by at most one scannable column.
    pub queries: Vec<ModelQuery>,
    /// What comes before the first model, e.g. `{"object":"list","data":[`.
    pub head: &'static str,
    pub tail: &'static str,
    pub render: Render,
}

impl ModelList {
    /// `head`, then each model as `item` renders it (`None` leaves it out), then `tail`.
    pub fn new(
        queries: Vec<ModelQuery>,
        (head, tail): (&'static str, &'static str),
        item: impl Fn(&ModelView) -> Option<Value> + Send + Sync + 'static,
    ) -> Self {
        let render: RenderBatch =
            Arc::new(move |_, _, batch| Ok(batch.iter().filter_map(&item).collect()));
        Self { queries, head, tail, render: Render::Views(render) }
    }

    /// `head`, then each model's [`ModelEntry`] as `item` writes it, then `tail`.
    pub fn entries(
        queries: Vec<ModelQuery>,
        (head, tail): (&'static str, &'static str),
        item: impl Fn(&ModelEntry, &mut Vec<u8>) + Send + Sync + 'static,
    ) -> Self {
        Self { queries, head, tail, render: Render::Entries(Arc::new(item)) }
    }

    /// A bare JSON array.
    pub fn array(
        queries: Vec<ModelQuery>,
        item: impl Fn(&ModelView) -> Option<Value> + Send + Sync + 'static,
    ) -> Self {
        Self::new(queries, ("[", "]"), item)
    }
}

/// A batch read of `query`, with where the next batch starts (just after its last item, as
/// `cursor` says) and whether it is the last (shorter than a full batch).
fn batch_of<T>(
    batch: Vec<T>,
    query: &ModelQuery,
    cursor: impl Fn(&T, Column) -> Option<ScanCursor>,
) -> (Vec<T>, Option<ScanCursor>, bool) {
    let next = batch.last().and_then(|item| cursor(item, sort_column(query)));
    let last = (batch.len() as i64) < SCAN_BATCH;
    (batch, next, last)
}

/// One batch of `query` after `after`: its models, where the next batch starts, and whether it
/// is the last.
fn read_batch(
    registry: &dyn Registry,
    ctx: &Ctx,
    query: &ModelQuery,
    after: Option<&ScanCursor>,
) -> DomainResult<(Vec<ModelView>, Option<ScanCursor>, bool)> {
    let batch = registry.scan_models(ctx, query, after, SCAN_BATCH)?;
    Ok(batch_of(batch, query, |view, column| ScanCursor::after(&view.model, column)))
}

/// Runs `each` on the models `query` finds, one batch at a time, on the calling thread (a
/// registry call), until it answers `false`: for answers built from many models that keep far
/// less of them (tag names, a page of a filter the store cannot apply).
pub fn scan_all(
    registry: &dyn Registry,
    ctx: &Ctx,
    query: &ModelQuery,
    mut each: impl FnMut(Vec<ModelView>) -> bool,
) -> DomainResult<()> {
    let mut after = None;
    loop {
        let (batch, next, last) = read_batch(registry, ctx, query, after.as_ref())?;
        if batch.is_empty() || !each(batch) || last {
            return Ok(());
        }
        after = next;
    }
}

struct Scan {
    services: Data<Services>,
    ctx: Arc<Ctx>,
    render: Render,
    queries: VecDeque<ModelQuery>,
    after: Option<ScanCursor>,
    /// A batch read but not yet written (the first one, read before answering).
    ready: Option<Vec<u8>>,
    wrote_one: bool,
    done: bool,
}

/// `items` as `write` writes each, separated by commas.
fn joined<T>(items: &[T], write: impl Fn(&T, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        if !out.is_empty() {
            out.push(b',');
        }
        write(item, &mut out);
    }
    out
}

fn sort_column(query: &ModelQuery) -> Column {
    query.sort.first().map_or(Column::Seq, |sort| sort.column)
}

impl Scan {
    /// The next batch of the current query, rendered (its items written out and separated by
    /// commas, on the blocking pool with the read), moving on to the next query when it is
    /// exhausted; `None` when every query is.
    async fn next_batch(&mut self) -> DomainResult<Option<Vec<u8>>> {
        if let Some(ready) = self.ready.take() {
            return Ok(Some(ready));
        }
        while let Some(query) = self.queries.front().cloned() {
            let (ctx, after, render) =
                (Arc::clone(&self.ctx), self.after.clone(), self.render.clone());
            let (read, next, last, items) = self
                .services
                .call(move |r| match render {
                    Render::Views(render) => {
                        let (batch, next, last) = read_batch(r, &ctx, &query, after.as_ref())?;
                        let read = batch.len();
                        let values = render(r, &ctx, batch)?;
                        let out = joined(&values, |value, out| {
                            // Writing a `Value` into a Vec cannot fail.
                            let _ = serde_json::to_writer(out, value);
                        });
                        Ok((read, next, last, out))
                    }
                    Render::Entries(item) => {
                        let batch =
                            r.scan_model_entries(&ctx, &query, after.as_ref(), SCAN_BATCH)?;
                        let (batch, next, last) = batch_of(batch, &query, ScanCursor::after_entry);
                        Ok((batch.len(), next, last, joined(&batch, |e, out| item(e, out))))
                    }
                })
                .await?;
            self.after = next;
            if last {
                self.next_query();
            }
            if read > 0 {
                return Ok(Some(items));
            }
        }
        Ok(None)
    }

    fn next_query(&mut self) {
        self.queries.pop_front();
        self.after = None;
    }

    /// A batch's items, after a comma when items were written before.
    fn write(&mut self, items: Vec<u8>) -> Bytes {
        if items.is_empty() {
            return Bytes::new();
        }
        let first = !self.wrote_one;
        self.wrote_one = true;
        if first {
            return Bytes::from(items);
        }
        let mut out = Vec::with_capacity(items.len() + 1);
        out.push(b',');
        out.extend_from_slice(&items);
        Bytes::from(out)
    }
}

/// Answers `list` as one JSON document written batch by batch. The first batch is read before
/// answering, so a failure then (database down) is still the caller's own error response; a
/// failure later ends the response early, the only thing left to do once a 200 has gone out.
pub async fn stream_models(
    services: Data<Services>,
    ctx: Ctx,
    list: ModelList,
) -> DomainResult<HttpResponse> {
    let ModelList { queries, head, tail, render } = list;
    let mut scan = Scan {
        services,
        ctx: Arc::new(ctx),
        render,
        queries: queries.into(),
        after: None,
        ready: None,
        wrote_one: false,
        done: false,
    };
    scan.ready = scan.next_batch().await?;
    let head = Bytes::from_static(head.as_bytes());
    let body = stream::unfold(scan, move |mut scan| async move {
        if scan.done {
            return None;
        }
        let chunk = match scan.next_batch().await {
            Ok(Some(items)) => Ok(scan.write(items)),
            Ok(None) => {
                scan.done = true;
                Ok(Bytes::from_static(tail.as_bytes()))
            }
            Err(e) => {
                crate::log_failure(&e);
                scan.done = true;
                Err(error::ErrorInternalServerError("the list could not be read to its end"))
            }
        };
        Some((chunk, scan))
    });
    let body = stream::once(async move { Ok::<_, actix_web::Error>(head) }).chain(body);
    Ok(HttpResponse::Ok().content_type(ContentType::json()).streaming(body))
}

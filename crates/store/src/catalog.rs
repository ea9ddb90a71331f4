//! Keeps the built-in (catalog) models in step with the catalog shipped with the binary.

use std::collections::HashMap;

use diesel::prelude::*;
use modelgate_core::fields::{apply_change, validate_key};
use modelgate_core::{CatalogModel, CatalogSync, DomainError, Model, ModelFields, Source};

use crate::Store;
use crate::audit::Auditor;
use crate::conn::DbConn;
use crate::error::StoreResult;
use crate::models::{hydrate, insert_model, write_model};
use crate::rows::{ModelRow, now};
use crate::schema::models;

const DIALECT: &str = "catalog";

impl Store {
    pub(crate) fn sync_catalog_in(
        &self,
        conn: &mut DbConn,
        catalog: Vec<CatalogModel>,
    ) -> StoreResult<CatalogSync> {
        let rows: Vec<ModelRow> = models::table
            .filter(models::org_id.is_null())
            .select(ModelRow::as_select())
            .load(conn)?;
        let mut existing: HashMap<String, Model> =
            hydrate(conn, rows)?.into_iter().map(|m| (m.key.clone(), m)).collect();
        let auditor = Auditor::system(None, DIALECT);
        let mut report = CatalogSync::default();
        for entry in catalog {
            validate_key(&entry.key).map_err(DomainError::invalid)?;
            // A built-in model is exactly what the catalog says: start from defaults each time.
            let mut fields = ModelFields::default();
            let uuid = existing.get(&entry.key).map_or_else(uuid::Uuid::new_v4, |m| m.uuid);
            let sealer = self.cipher.bound(crate::cipher::model_object(&uuid));
            apply_change(&mut fields, entry.change, DIALECT, None, &sealer)?;
            match existing.remove(&entry.key) {
                Some(before) if before.fields == fields => report.unchanged += 1,
                Some(before) => {
                    let after = Model {
                        fields,
                        version: before.version + 1,
                        updated_at: now(),
                        ..before.clone()
                    };
                    write_model(conn, auditor, "sync", &before, &after)?;
                    report.updated += 1;
                }
                None => {
                    let model =
                        insert_model(conn, uuid, None, entry.key, Source::Builtin, None, fields)?;
                    auditor.record(
                        conn,
                        "model",
                        &model.uuid.to_string(),
                        "sync",
                        None,
                        Some(&model),
                    )?;
                    report.created += 1;
                }
            }
        }
        for (_, gone) in existing {
            diesel::delete(models::table.find(gone.seq)).execute(conn)?;
            auditor.record(conn, "model", &gone.uuid.to_string(), "sync", Some(&gone), None)?;
            report.removed += 1;
        }
        Ok(report)
    }
}

//! Moving every stored secret to the current key (`modelgate rotate-secret-key`).

use diesel::prelude::*;
use modelgate_core::{DomainResult, SealedSecret};

use crate::conn::{DbConn, lock_model, lock_provider};
use crate::error::StoreResult;
use crate::rows::{ProviderRow, extra_secrets_text};
use crate::schema::{models, providers};
use crate::{Resealed, Store};

impl Store {
    /// Seals every stored secret again under the current key, bound to its row and field:
    /// values under a previous key, and values earlier versions wrote without a key id or a
    /// slot. Run after changing `MODELGATE_SECRET_KEY` with the old key among the previous keys;
    /// once it returns, the previous keys are no longer needed. Each row is its own short
    /// transaction, so servers keep serving meanwhile; running it again does nothing more.
    /// Nothing a client sees changes, so no version moves and no history row is written.
    pub fn reseal_secrets(&self) -> DomainResult<Resealed> {
        let mut done = Resealed::default();
        // Values sealed under the current key start with its id: only the others are visited.
        let current = format!("v2:{}:%", self.cipher.current_key_id());
        let (sealed_models, up_to_date): (Vec<i64>, i64) = self.read(|conn| {
            let stale = models::table
                .filter(models::api_key_enc.is_not_null())
                .filter(models::api_key_enc.assume_not_null().not_like(&current))
                .order(models::seq)
                .select(models::seq)
                .load(conn)?;
            let fresh = models::table
                .filter(models::api_key_enc.assume_not_null().like(&current))
                .count()
                .get_result(conn)?;
            Ok((stale, fresh))
        })?;
        done.already_current += usize::try_from(up_to_date).unwrap_or_default();
        for seq in sealed_models {
            let resealed = self.write(|conn| self.reseal_model(conn, seq))?;
            count(&mut done, resealed);
        }
        // Providers are read once; only those holding a stale secret get a write transaction,
        // so a start with nothing to do writes nothing.
        let rows: Vec<ProviderRow> = self.read(|conn| {
            Ok(providers::table
                .order(providers::seq)
                .select(ProviderRow::as_select())
                .load(conn)?)
        })?;
        for row in rows {
            let provider = row.into_provider()?;
            let secrets: Vec<&SealedSecret> =
                provider.api_key.iter().chain(provider.extra_secrets.values()).collect();
            if secrets.iter().all(|s| !self.cipher.needs_reseal(&s.ciphertext)) {
                done.already_current += secrets.len();
                continue;
            }
            let (resealed, current) =
                self.write(|conn| self.reseal_provider(conn, provider.seq))?;
            done.resealed += resealed;
            done.already_current += current;
        }
        Ok(done)
    }

    /// Whether the model's key needed (and got) a new seal; `None` when it has none any more.
    fn reseal_model(&self, conn: &mut DbConn, seq: i64) -> StoreResult<Option<bool>> {
        if !lock_model(conn, seq)? {
            return Ok(None);
        }
        let row: Option<(String, Option<String>)> = models::table
            .find(seq)
            .select((models::uuid, models::api_key_enc))
            .first(conn)
            .optional()?;
        let Some((uuid, Some(stored))) = row else { return Ok(None) };
        if !self.cipher.needs_reseal(&stored) {
            return Ok(Some(false));
        }
        let uuid = uuid::Uuid::parse_str(&uuid)
            .map_err(|e| crate::StoreError::Corrupt(format!("model uuid: {e}")))?;
        let slot = crate::cipher::model_slot(&uuid, "api_key");
        let resealed = self.reseal(&stored, &slot)?;
        diesel::update(models::table.find(seq))
            .set(models::api_key_enc.eq(resealed))
            .execute(conn)?;
        Ok(Some(true))
    }

    /// How many of the provider's secrets were sealed again, and how many were current.
    fn reseal_provider(&self, conn: &mut DbConn, seq: i64) -> StoreResult<(usize, usize)> {
        if !lock_provider(conn, seq)? {
            return Ok((0, 0));
        }
        let mut provider = providers::table
            .find(seq)
            .select(ProviderRow::as_select())
            .first(conn)?
            .into_provider()?;
        let (mut resealed, mut current) = (0, 0);
        let mut step = |secret: &mut SealedSecret| -> StoreResult<()> {
            if self.cipher.needs_reseal(&secret.ciphertext) {
                secret.ciphertext = self.reseal(&secret.ciphertext, &secret.slot)?;
                resealed += 1;
            } else {
                current += 1;
            }
            Ok(())
        };
        if let Some(key) = provider.api_key.as_mut() {
            step(key)?;
        }
        for secret in provider.extra_secrets.values_mut() {
            step(secret)?;
        }
        if resealed > 0 {
            diesel::update(providers::table.find(seq))
                .set((
                    providers::api_key_enc.eq(provider.api_key.as_ref().map(|k| &k.ciphertext)),
                    providers::extra_secrets.eq(extra_secrets_text(&provider.extra_secrets)?),
                ))
                .execute(conn)?;
        }
        Ok((resealed, current))
    }

    fn reseal(&self, stored: &str, slot: &str) -> StoreResult<String> {
        let plaintext = self.cipher.decrypt(stored, slot)?;
        Ok(self.cipher.encrypt(plaintext.expose(), slot)?)
    }
}

fn count(done: &mut Resealed, resealed: Option<bool>) {
    match resealed {
        Some(true) => done.resealed += 1,
        Some(false) => done.already_current += 1,
        None => {}
    }
}

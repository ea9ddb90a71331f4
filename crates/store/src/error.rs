//! The store's internal error, flattened into [`DomainError`] at the registry boundary.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use modelgate_core::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Db(#[from] DieselError),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("configuration: {0}")]
    Config(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

fn is_connection_failure(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::BrokenTransactionManager
            | DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _)
    )
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(domain) => domain,
            StoreError::Pool(e) => DomainError::Unavailable(modelgate_core::error::Internal {
                context: "database pool",
                cause: Box::new(e),
            }),
            StoreError::Db(e) if is_connection_failure(&e) => {
                DomainError::Unavailable(modelgate_core::error::Internal {
                    context: "database connection",
                    cause: Box::new(e),
                })
            }
            other => DomainError::internal("store", other),
        }
    }
}

/// Turns a unique-constraint violation into a domain conflict; other errors pass through.
pub(crate) fn conflict_on_unique(
    entity: modelgate_core::Entity,
    value: &str,
) -> impl FnOnce(DieselError) -> StoreError + '_ {
    move |error| match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::Domain(DomainError::Conflict { entity, value: value.to_owned() })
        }
        other => StoreError::Db(other),
    }
}

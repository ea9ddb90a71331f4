//! The one error type every registry operation returns.
//!
//! Variants are the wire contract between core and the dialects: each dialect renders them in its
//! own format. Internal causes are carried for logs and never rendered.

use std::fmt;

use crate::fields::Field;

/// What kind of thing an error is about, so a dialect can pick its sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entity {
    Org,
    User,
    Group,
    ApiKey,
    Model,
    Provider,
    Endpoint,
    UserDefault,
}

/// Why an action on something the caller can see was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denied {
    /// The caller may read but not write this.
    Write,
    /// The caller's role may not create models or other registry entries.
    Create,
    /// Only org admins may do this (manage users, groups, other people's keys).
    Admin,
    /// Only org admins may make a model readable by the whole org.
    SharePublic,
    /// Built-in catalog models are read-only for everyone.
    Builtin,
}

/// A rule a value broke. Dialects turn these into their own messages.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Violation {
    Required,
    Empty,
    TooLong {
        max: usize,
    },
    /// Below the minimum (inclusive): `value >= min` was required.
    BelowMin {
        min: f64,
    },
    /// Must be strictly greater than `than`.
    NotGreaterThan {
        than: f64,
    },
    /// One of a fixed set of values was expected.
    NotOneOf {
        allowed: Vec<String>,
    },
    /// Refers to something that does not exist (a provider, a base model).
    UnknownReference,
    /// A free-form rule, with a sentence for humans.
    Invalid {
        reason: String,
    },
}

/// Where a violation happened: a canonical model field or a named field of another entity.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Model(Field),
    Named(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub subject: Subject,
    pub violation: Violation,
}

impl FieldError {
    pub fn model(field: Field, violation: Violation) -> Self {
        Self { subject: Subject::Model(field), violation }
    }

    pub fn named(name: &'static str, violation: Violation) -> Self {
        Self { subject: Subject::Named(name), violation }
    }
}

/// An internal failure: its cause goes to the logs, never to a client.
pub struct Internal {
    pub context: &'static str,
    pub cause: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Debug for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.cause)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Does not exist, or exists where the caller cannot see it (another org, no read right).
    #[error("{0:?} not found")]
    NotFound(Entity),
    #[error("permission denied: {0:?}")]
    Denied(Denied),
    /// A unique name is taken (`value` is the name the caller asked for).
    #[error("{entity:?} '{value}' already exists")]
    Conflict { entity: Entity, value: String },
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The caller's key was revoked after this replica cached it (see [`crate::Unconfirmed`]):
    /// answered as an invalid key.
    #[error("unknown or revoked API key")]
    Unauthenticated,
    /// The record changed since the caller read it (`expected_version` did not match).
    #[error("version mismatch")]
    VersionMismatch,
    /// The service cannot reach its database right now.
    #[error("storage unavailable")]
    Unavailable(Internal),
    #[error("internal error")]
    Internal(Internal),
}

impl DomainError {
    pub fn internal(
        context: &'static str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal(Internal { context, cause: cause.into() })
    }

    pub fn invalid(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }

    /// The cause behind an internal or unavailable error, for logging.
    pub fn cause(&self) -> Option<&Internal> {
        match self {
            Self::Internal(i) | Self::Unavailable(i) => Some(i),
            _ => None,
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

/// A lookup's answer with "not found" as `None`; any other error stays an error.
pub fn found<T>(result: DomainResult<T>) -> DomainResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(DomainError::NotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

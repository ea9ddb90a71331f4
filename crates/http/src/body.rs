//! JSON request bodies, read with a size limit; failures render in the dialect's format.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use crate::auth::AuthGate;
use crate::{DEFAULT_BODY_LIMIT, Dialect, Services, into_error};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyFailure {
    /// The body is larger than the configured limit (in bytes).
    TooLarge { limit: usize },
    /// No body at all.
    Empty,
    /// Not JSON. `position` is the byte offset where parsing failed.
    Invalid { message: String, position: usize },
    /// The connection failed while reading.
    Unreadable,
}

/// A request body parsed as JSON (any value: dialects check its shape themselves).
///
/// Declared after a [`crate::Caller`] in a handler's arguments, a body failure is only reported
/// once the caller is authenticated, so a bad key always wins over a bad body.
pub struct JsonBody<D: Dialect> {
    pub value: Value,
    dialect: PhantomData<D>,
}

impl<D: Dialect> JsonBody<D> {
    pub fn into_inner(self) -> Value {
        self.value
    }
}

/// Byte offset of a serde_json error, from its line and column.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize =
        bytes.split(|b| *b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    line_start + column.saturating_sub(1)
}

/// How deeply a body's arrays and objects may nest. Answers echo input a few levels deeper
/// (pydantic's `input`, a model inside a list page), and JSON parsers commonly stop at 128
/// levels (serde_json, the test kit's among them): a body at serde_json's own limit would be
/// stored and echoed in answers its clients cannot parse. Model settings never need more.
pub const MAX_BODY_DEPTH: usize = 64;

/// The byte offset of the first array or object opened deeper than [`MAX_BODY_DEPTH`].
fn too_deep(bytes: &[u8]) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BODY_DEPTH {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses a complete body as JSON.
pub fn parse_json(bytes: &[u8]) -> Result<Value, BodyFailure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyFailure::Empty);
    }
    if let Some(position) = too_deep(bytes) {
        return Err(BodyFailure::Invalid {
            message: format!("nested more than {MAX_BODY_DEPTH} levels deep"),
            position,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| BodyFailure::Invalid {
        message: e.to_string(),
        position: byte_offset(bytes, e.line(), e.column()),
    })
}

async fn read_limited(payload: &mut Payload, limit: usize) -> Result<web::BytesMut, BodyFailure> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyFailure::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyFailure::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl<D: Dialect> FromRequest for JsonBody<D> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit =
            req.app_data::<web::Data<Services>>().map_or(DEFAULT_BODY_LIMIT, |s| s.body_limit);
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let gate = req.extensions().get::<AuthGate>().cloned();
        let mut payload = payload.take();
        Box::pin(async move {
            let read = async {
                // Refuse an announced oversize body before reading any of it.
                if declared.is_some_and(|len| len > limit) {
                    return Err(D::body_failure(BodyFailure::TooLarge { limit }));
                }
                let bytes = read_limited(&mut payload, limit).await.map_err(D::body_failure)?;
                let value = match parse_json(&bytes) {
                    Err(BodyFailure::Empty) => D::empty_body().ok_or(BodyFailure::Empty),
                    other => other,
                }
                .map_err(D::body_failure)?;
                // No store can keep U+0000 (see `crate::nul`): refused here, for every handler.
                let nul = crate::nul::scan_json(&value);
                if nul.is_empty() { Ok(value) } else { Err(D::nul_refused(&nul)) }
            };
            match read.await {
                Ok(value) => Ok(JsonBody { value, dialect: PhantomData }),
                Err(refusal) => {
                    let authenticated = match gate {
                        Some(gate) => gate.passed().await,
                        None => true,
                    };
                    if authenticated {
                        Err(into_error(refusal))
                    } else {
                        // The caller's 401 is the answer; the handler never runs.
                        Ok(JsonBody { value: Value::Null, dialect: PhantomData })
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_carry_the_byte_position() {
        assert_eq!(parse_json(b"  "), Err(BodyFailure::Empty));
        match parse_json(b"{\"a\": 1,\n \"b\": }") {
            Err(BodyFailure::Invalid { position, .. }) => assert_eq!(position, 15),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(parse_json(b"[1]"), Ok(serde_json::json!([1])));
    }

    #[test]
    fn bodies_nested_too_deeply_are_invalid() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse_json(nested(MAX_BODY_DEPTH).as_bytes()).is_ok());
        let deep = format!("{{\"a\": {}}}", nested(MAX_BODY_DEPTH));
        match parse_json(deep.as_bytes()) {
            Err(BodyFailure::Invalid { message, position }) => {
                assert_eq!(message, "nested more than 64 levels deep");
                assert_eq!(position, 6 + MAX_BODY_DEPTH - 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Brackets inside strings (escaped quotes included) do not count.
        let text = format!("{{\"a\": \"\\\"{}\"}}", "[".repeat(200));
        assert!(parse_json(text.as_bytes()).is_ok());
    }
}

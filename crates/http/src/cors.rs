//! Cross-origin access for browser clients (a product's web UI served from another origin).
//! Off unless the operator names the origins allowed (`MODELGATE_CORS_ORIGINS`).

use actix_cors::Cors;
use actix_web::http::Method;
use actix_web::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName};

use crate::middleware::REQUEST_ID_HEADER;

/// Syft Space's tenant header, sent by its clients on every call.
const TENANT_HEADER: HeaderName = HeaderName::from_static("x-tenant-name");

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 3600;

/// Which origins may call the API from a browser.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access: browsers refuse other origins' calls (the default).
    #[default]
    Off,
    /// Any origin (`*`).
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
}

impl CorsOrigins {
    /// Reads a comma-separated list of origins, or `*`. Empty means off.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let entries: Vec<&str> =
            spec.split(',').map(str::trim).filter(|entry| !entry.is_empty()).collect();
        if entries.is_empty() {
            return Ok(Self::Off);
        }
        if entries.contains(&"*") {
            return if entries.len() == 1 {
                Ok(Self::Any)
            } else {
                Err("`*` allows every origin and cannot be combined with others".to_owned())
            };
        }
        entries.into_iter().map(origin).collect::<Result<Vec<_>, _>>().map(Self::List)
    }
}

/// One origin as browsers send it: scheme, host and optional port, no path. A trailing `/` is
/// forgiven, since it is how origins are often copied from an address bar.
fn origin(entry: &str) -> Result<String, String> {
    let trimmed = entry.strip_suffix('/').unwrap_or(entry);
    let host = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://"));
    let valid = host.is_some_and(|host| {
        !host.is_empty() && host.chars().all(|c| c.is_ascii_graphic() && !"/?#@".contains(c))
    });
    if valid {
        Ok(trimmed.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{entry}` is not an origin such as https://ui.example.com or http://localhost:3000"
        ))
    }
}

/// The CORS middleware for `origins`: preflights answered, the headers the clients send allowed,
/// `X-Request-Id` readable by scripts. Disabled when `origins` is [`CorsOrigins::Off`].
pub fn middleware(origins: &CorsOrigins) -> actix_web::middleware::Condition<Cors> {
    let base = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .allowed_headers([AUTHORIZATION, CONTENT_TYPE, ACCEPT, REQUEST_ID_HEADER, TENANT_HEADER])
        .expose_headers([REQUEST_ID_HEADER])
        .max_age(PREFLIGHT_MAX_AGE);
    let cors = match origins {
        CorsOrigins::Off => base,
        CorsOrigins::Any => base.allow_any_origin().send_wildcard(),
        CorsOrigins::List(list) => {
            list.iter().fold(base, |cors, origin| cors.allowed_origin(origin))
        }
    };
    actix_web::middleware::Condition::new(*origins != CorsOrigins::Off, cors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_as_operators_write_them() {
        assert_eq!(CorsOrigins::parse(""), Ok(CorsOrigins::Off));
        assert_eq!(CorsOrigins::parse(" , "), Ok(CorsOrigins::Off));
        assert_eq!(CorsOrigins::parse("*"), Ok(CorsOrigins::Any));
        assert_eq!(
            CorsOrigins::parse("https://UI.example.com/, http://localhost:3000"),
            Ok(CorsOrigins::List(vec![
                "https://ui.example.com".to_owned(),
                "http://localhost:3000".to_owned()
            ]))
        );
        for bad in [
            "ui.example.com",
            "https://",
            "https://ui.example.com/app",
            "ftp://x",
            "*, https://a.b",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}

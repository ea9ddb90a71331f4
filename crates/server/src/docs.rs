//! Browsable API documentation: `/docs` lists every API; `/docs/{api}` renders its OpenAPI
//! document with Scalar, whose script is served from the binary (no CDN, nothing fetched from
//! elsewhere: its default fonts, telemetry and AI agent are off).

use std::sync::LazyLock;

use actix_web::http::header::{CACHE_CONTROL, ContentType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Each documented API: its page under `/docs`, its title and where its document is served.
pub const APIS: [(&str, &str, &str); 6] = [
    ("admin", "Admin API", "/admin/v1/openapi.json"),
    ("v1", "OpenAI model discovery (/v1)", "/v1/openapi.json"),
    ("openwebui", "Open WebUI models", "/openwebui/openapi.json"),
    ("xagent", "Xagent models", "/xagent/openapi.json"),
    ("syft", "Syft Space models and endpoints", "/syft/openapi.json"),
    ("respan", "Respan custom models and providers", "/respan/openapi.json"),
];

const SCRIPT_PATH: &str = "/docs/scalar.js";

/// Read once: it is large (about 5 MB) and never changes while the process runs.
static SCRIPT: LazyLock<Option<Bytes>> =
    LazyLock::new(|| scalar_api_reference::get_asset("scalar.js").map(Bytes::from));

fn index_page() -> String {
    let items: String = APIS
        .iter()
        .map(|(slug, title, document)| {
            format!(
                "<li><a href=\"/docs/{slug}\">{title}</a> <small>(<a href=\"{document}\">{document}</a>)</small></li>\n"
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>modelgate API documentation</title></head>\n\
         <body><h1>modelgate API documentation</h1>\n<ul>\n{items}</ul>\n\
         <p>Every API takes <code>Authorization: Bearer &lt;modelgate key&gt;</code>.</p></body></html>\n"
    )
}

async fn index() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::html()).body(index_page())
}

async fn page(api: web::Path<String>) -> HttpResponse {
    let Some((_, title, document)) = APIS.iter().find(|(slug, _, _)| *slug == api.as_str()) else {
        return modelgate_http::detail(actix_web::http::StatusCode::NOT_FOUND, "Not Found");
    };
    let config = json!({
        "url": document,
        "metaData": { "title": format!("modelgate · {title}") },
        "withDefaultFonts": false,
        "telemetry": false,
        "agent": { "disabled": true },
    });
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(scalar_api_reference::scalar_html(&config, Some(SCRIPT_PATH)))
}

async fn script() -> HttpResponse {
    match SCRIPT.as_ref() {
        Some(script) => HttpResponse::Ok()
            .content_type("application/javascript; charset=utf-8")
            .insert_header((CACHE_CONTROL, "public, max-age=86400"))
            .body(script.clone()),
        None => modelgate_http::detail(actix_web::http::StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `/docs`, `/docs/scalar.js` and a page per API (fixed paths before the pattern).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/docs", web::get().to(index))
        .route(SCRIPT_PATH, web::get().to(script))
        .route("/docs/{api}", web::get().to(page));
}

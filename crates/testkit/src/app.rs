//! The real actix app over a test database, with typed request helpers.

use actix_http::Request;
use actix_service::ServiceExt;
use actix_service::boxed::BoxService;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use modelgate_http::cors::CorsOrigins;
use modelgate_http::{DatabaseHealth, Services};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use crate::TestDb;
use crate::openapi::ResponseContract;

pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    /// The body parsed as JSON; `Value::Null` when it is not JSON.
    pub json: Value,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_json(&self) -> bool {
        self.header("content-type").is_some_and(|ct| ct.starts_with("application/json"))
            && serde_json::from_slice::<Value>(&self.bytes).is_ok()
    }
}

impl std::fmt::Debug for TestResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text())
    }
}

type AppService = BoxService<Request, ServiceResponse<BoxBody>, actix_web::Error>;

fn boxed<S, B>(service: S) -> AppService
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    actix_service::boxed::service(service.map(ServiceResponse::map_into_boxed_body))
}

/// The app under test: the same builder and middleware the server runs, on a test database.
pub struct TestApp {
    pub db: TestDb,
    service: AppService,
    /// The OpenAPI document served under each path prefix (`/xagent`, or `` for a dialect at
    /// the root of its own listener), fetched from the app itself on first use; `None` where
    /// nothing is documented.
    contracts: std::sync::Mutex<HashMap<String, Option<Arc<ResponseContract>>>>,
}

impl TestApp {
    pub async fn new(db: TestDb, configure: impl FnOnce(&mut web::ServiceConfig)) -> Self {
        Self::with_body_limit(db, modelgate_http::DEFAULT_BODY_LIMIT, configure).await
    }

    pub async fn with_body_limit(
        db: TestDb,
        body_limit: usize,
        configure: impl FnOnce(&mut web::ServiceConfig),
    ) -> Self {
        Self::build(db, body_limit, &CorsOrigins::Off, configure).await
    }

    /// The app with cross-origin calls allowed from `origins`.
    pub async fn with_cors(
        db: TestDb,
        origins: &CorsOrigins,
        configure: impl FnOnce(&mut web::ServiceConfig),
    ) -> Self {
        Self::build(db, modelgate_http::DEFAULT_BODY_LIMIT, origins, configure).await
    }

    /// The app with the server's database health monitor (see `modelgate_http::health`).
    pub async fn with_health(
        db: TestDb,
        health: Arc<DatabaseHealth>,
        configure: impl FnOnce(&mut web::ServiceConfig),
    ) -> Self {
        let services =
            Services::new(db.store.clone(), modelgate_http::DEFAULT_BODY_LIMIT).with_health(health);
        Self::with_services(db, services, &CorsOrigins::Off, configure).await
    }

    async fn build(
        db: TestDb,
        body_limit: usize,
        origins: &CorsOrigins,
        configure: impl FnOnce(&mut web::ServiceConfig),
    ) -> Self {
        let services = Services::new(db.store.clone(), body_limit);
        Self::with_services(db, services, origins, configure).await
    }

    async fn with_services(
        db: TestDb,
        services: Services,
        origins: &CorsOrigins,
        configure: impl FnOnce(&mut web::ServiceConfig),
    ) -> Self {
        let services = web::Data::new(services);
        let app = modelgate_http::app::build(services, origins.clone()).configure(configure);
        let service = test::init_service(app).await;
        Self { db, service: boxed(service), contracts: Default::default() }
    }

    /// Sends a request. Every answer to an operation that a dialect's OpenAPI document describes
    /// is checked against that document (status listed, body valid), so the documents cannot
    /// drift from what the app really answers.
    pub async fn call(&self, request: TestRequest) -> TestResponse {
        let request = request.to_request();
        let method = request.method().clone();
        let path = request.path().to_owned();
        let response = self.raw_call(request).await;
        if !path.ends_with("/openapi.json")
            && let Some((prefix, contract)) = self.contract_for(&path).await
        {
            contract.check(&method, &path[prefix.len()..], response.status, &response.bytes);
        }
        response
    }

    /// Sends a request and returns the response unread, for tests that read a stream part of
    /// the way (and then drop it, as a caller that goes away).
    pub async fn open(&self, request: TestRequest) -> ServiceResponse {
        match self.service.call(request.to_request()).await {
            Ok(response) => response,
            Err(error) => {
                ServiceResponse::from_err(error, test::TestRequest::default().to_http_request())
            }
        }
    }

    async fn raw_call(&self, request: Request) -> TestResponse {
        let response = match self.service.call(request).await {
            Ok(response) => response,
            Err(error) => {
                ServiceResponse::from_err(error, test::TestRequest::default().to_http_request())
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = test::read_body(response).await.to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse { status, headers, bytes, json }
    }

    /// The document describing `path`: the one served under its first two segments (the admin
    /// API's `/admin/v1`), else under its first (a dialect's prefix on the main listener), else
    /// the one at the root (a dialect's own listener).
    async fn contract_for(&self, path: &str) -> Option<(String, Arc<ResponseContract>)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut candidates = vec![String::new()];
        for depth in 1..=2 {
            // Only prefixes with something after them: a path is not its own document's prefix.
            if segments.len() > depth && segments[..depth].iter().all(|s| !s.is_empty()) {
                candidates.insert(0, format!("/{}", segments[..depth].join("/")));
            }
        }
        for prefix in candidates {
            let cached = self.contracts.lock().unwrap().get(&prefix).cloned();
            let contract = match cached {
                Some(known) => known,
                None => {
                    let served = self
                        .raw_call(
                            TestRequest::get().uri(&format!("{prefix}/openapi.json")).to_request(),
                        )
                        .await;
                    let found = (served.status == 200 && served.json.get("openapi").is_some())
                        .then(|| Arc::new(ResponseContract::new(served.json)));
                    self.contracts.lock().unwrap().insert(prefix.clone(), found.clone());
                    found
                }
            };
            if let Some(contract) = contract {
                return Some((prefix, contract));
            }
        }
        None
    }

    /// A request with an optional bearer key and an optional JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut request = TestRequest::default().method(method).uri(path);
        if let Some(key) = key {
            request = request.insert_header(("Authorization", format!("Bearer {key}")));
        }
        if let Some(body) = body {
            request = request.set_json(body);
        }
        self.call(request).await
    }

    /// A request with a raw body (for malformed or oversize bodies).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Vec<u8>,
    ) -> TestResponse {
        let mut request = TestRequest::default()
            .method(method)
            .uri(path)
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body);
        if let Some(key) = key {
            request = request.insert_header(("Authorization", format!("Bearer {key}")));
        }
        self.call(request).await
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> TestResponse {
        self.send(Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> TestResponse {
        self.send(Method::POST, path, key, Some(body)).await
    }

    pub async fn put(&self, path: &str, key: Option<&str>, body: Value) -> TestResponse {
        self.send(Method::PUT, path, key, Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: Option<&str>, body: Value) -> TestResponse {
        self.send(Method::PATCH, path, key, Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: Option<&str>) -> TestResponse {
        self.send(Method::DELETE, path, key, None).await
    }
}

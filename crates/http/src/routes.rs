//! Route tables: a dialect declares its routes once, and the same table both mounts them and
//! lists them, so its OpenAPI document can be checked against what is really served.

use std::sync::LazyLock;

use actix_web::dev::{HttpServiceFactory, Service};
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, web};
use serde_json::Value;

use crate::metrics::RouteLabel;

/// Set on a request to a fixed path that also stands for a resource route (Respan's
/// `/api/models/list/` is the model called `list`; Syft Space's `/endpoints/validate-slug` is the
/// endpoint with that slug): the value the route's `{param}` would have had.
#[derive(Clone, Copy)]
struct StandsFor(&'static str);

/// Marks `req` as naming the resource `value`, before its handlers run through [`call`].
pub fn stand_for(req: &HttpRequest, value: &'static str) {
    actix_web::HttpMessage::extensions_mut(req).insert(StandsFor(value));
}

/// A resource route's single path parameter, decoded as `web::Path` decodes it, or the value a
/// fixed path stands for (see [`stand_for`]). For a dialect's own `FromRequest` of that parameter.
pub fn path_or_fixed(
    req: &HttpRequest,
    payload: &mut actix_web::dev::Payload,
) -> Result<String, actix_web::Error> {
    if let Some(StandsFor(value)) = actix_web::HttpMessage::extensions(req).get().copied() {
        return Ok(value.to_owned());
    }
    web::Path::<String>::from_request(req, payload).into_inner().map(web::Path::into_inner)
}

/// Runs `handler` as actix would: its arguments extracted from the request, an extraction failure
/// answered with the failure's own response. For a route answering as another route's handlers.
pub async fn call<F, Args>(
    handler: F,
    req: &HttpRequest,
    payload: &mut actix_web::dev::Payload,
) -> HttpResponse
where
    F: Handler<Args, Output = HttpResponse>,
    Args: FromRequest,
{
    match Args::from_request(req, payload).await {
        Ok(args) => handler.call(args).await,
        Err(error) => HttpResponse::from_error(error),
    }
}

/// Makes a route anew for each path it is mounted at (actix's routes are not `Clone`).
type RouteFactory = Box<dyn Fn() -> actix_web::Route>;

/// One resource: the path patterns it answers and a route per method.
pub struct Resource {
    paths: Vec<&'static str>,
    routes: Vec<(Method, RouteFactory)>,
    /// Answers methods the resource does not serve (actix's own 405 otherwise).
    fallback: Option<RouteFactory>,
    /// Methods the fallback serves itself (see [`Resource::allows`]).
    fallback_methods: Vec<Method>,
}

impl Resource {
    fn new(paths: Vec<&'static str>) -> Self {
        Self { paths, routes: Vec::new(), fallback: None, fallback_methods: Vec::new() }
    }

    pub fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let routed = method.clone();
        let route = move || web::route().method(routed.clone()).to(handler.clone());
        self.routes.push((method, Box::new(route)));
        self
    }

    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, handler)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PUT, handler)
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, handler)
    }

    /// The answer for methods this resource does not serve.
    pub fn fallback<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.fallback = Some(Box::new(move || web::to(handler.clone())));
        self
    }

    /// Methods the fallback answers itself rather than refusing (a fixed path that is also a
    /// name, say), so that the `Allow` header of a 405 lists them beside the routed ones.
    pub fn allows(mut self, methods: &[Method]) -> Self {
        self.fallback_methods.extend_from_slice(methods);
        self
    }

    /// The `Allow` value: every method served here, in Django's order (as DRF lists them), then
    /// any other in table order.
    fn allow_header(&self) -> String {
        const ORDER: [Method; 8] = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
        ];
        let served: Vec<&Method> =
            self.routes.iter().map(|(method, _)| method).chain(&self.fallback_methods).collect();
        let mut out: Vec<&str> =
            ORDER.iter().filter(|m| served.contains(m)).map(Method::as_str).collect();
        for method in served {
            if !out.contains(&method.as_str()) {
                out.push(method.as_str());
            }
        }
        out.join(", ")
    }
}

/// An ordered table of resources. Order matters as in actix: the first matching pattern wins,
/// so fixed paths go before patterns that would also match them.
#[derive(Default)]
pub struct Routes {
    resources: Vec<Resource>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a resource answering every path in `paths`.
    pub fn resource<const N: usize>(
        mut self,
        paths: [&'static str; N],
        build: impl FnOnce(Resource) -> Resource,
    ) -> Self {
        self.resources.push(build(Resource::new(paths.to_vec())));
        self
    }

    /// Every `(method, path)` the table serves, paths in OpenAPI form (see [`openapi_path`]),
    /// without duplicates, in table order.
    pub fn endpoints(&self) -> Vec<(Method, String)> {
        let mut out: Vec<(Method, String)> = Vec::new();
        for resource in &self.resources {
            for path in &resource.paths {
                for (method, _) in &resource.routes {
                    let entry = (method.clone(), openapi_path(path));
                    if !out.contains(&entry) {
                        out.push(entry);
                    }
                }
            }
        }
        out
    }

    /// Mounts every resource, each of its paths as a resource of its own, in table order: actix
    /// matches a resource of several paths with regular expressions, even fixed ones, and
    /// tries every resource before the one a request is for (seen: a seventh of the CPU of an
    /// Open WebUI GET).
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        for resource in &self.resources {
            for path in &resource.paths {
                cfg.service(resource.service_at(path));
            }
        }
    }
}

impl Resource {
    fn service_at(&self, path: &'static str) -> impl HttpServiceFactory + use<> {
        let allow = HeaderValue::from_str(&self.allow_header()).ok();
        let mut resource = web::resource(path).app_data(RouteLabel(path));
        for (_, route) in &self.routes {
            resource = resource.route(route());
        }
        if let Some(fallback) = &self.fallback {
            resource = resource.default_service(fallback());
        }
        // RFC 9110 wants `Allow` on every 405. actix adds it to its own, but a dialect's fallback
        // (its own 405 body) cannot know the methods; the table does.
        resource.wrap_fn(move |req, service| {
            let allow = allow.clone();
            let answer = service.call(req);
            async move {
                let mut response = answer.await?;
                let refused = response.status() == StatusCode::METHOD_NOT_ALLOWED;
                let headers = response.headers_mut();
                if let (true, false, Some(allow)) = (refused, headers.contains_key(ALLOW), allow) {
                    headers.insert(ALLOW, allow);
                }
                Ok(response)
            }
        })
    }
}

/// An actix path pattern in OpenAPI form: `{name:regex}` becomes `{name}`, and a trailing `/`
/// is dropped (dialects that take both forms document one).
pub fn openapi_path(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '{' {
            let mut depth = 1;
            let mut in_regex = false;
            for inner in chars.by_ref() {
                match inner {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ':' if depth == 1 => in_regex = true,
                    _ => {}
                }
                if depth == 0 {
                    out.push('}');
                    break;
                }
                if !in_regex {
                    out.push(inner);
                }
            }
        }
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

/// A handler serving an OpenAPI document, with `servers` pointing at wherever the dialect is
/// mounted (`/openwebui` on the main listener, `/` on its own listener).
pub fn openapi_document(
    document: &'static LazyLock<Value>,
) -> impl Fn(HttpRequest) -> std::future::Ready<HttpResponse> + Clone + 'static {
    move |req: HttpRequest| {
        let prefix = req.path().strip_suffix("/openapi.json").unwrap_or("");
        let mut doc = Value::clone(document);
        if let Some(obj) = doc.as_object_mut() {
            let url = if prefix.is_empty() { "/" } else { prefix };
            obj.insert("servers".into(), serde_json::json!([{ "url": url }]));
        }
        std::future::ready(HttpResponse::Ok().json(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_paths_drop_regexes_and_trailing_slashes() {
        assert_eq!(openapi_path("/api/models/{model_name:.+}"), "/api/models/{model_name}");
        assert_eq!(openapi_path("/api/models/"), "/api/models");
        assert_eq!(openapi_path("/x/{id:[0-9]{1,3}}/y"), "/x/{id}/y");
        assert_eq!(openapi_path("/"), "/");
    }

    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[test]
    fn endpoints_list_every_path_and_method_once() {
        let routes = Routes::new()
            .resource(["/a", "/a/"], |r| r.get(ok).post(ok))
            .resource(["/a/{id:.+}"], |r| r.delete(ok));
        assert_eq!(
            routes.endpoints(),
            vec![
                (Method::GET, "/a".to_owned()),
                (Method::POST, "/a".to_owned()),
                (Method::DELETE, "/a/{id}".to_owned()),
            ]
        );
    }

    #[actix_web::test]
    async fn registered_tables_serve_their_routes() {
        let app = actix_web::test::init_service(actix_web::App::new().configure(|cfg| {
            Routes::new()
                .resource(["/a"], |r| {
                    r.get(ok).fallback(|| async { HttpResponse::ImATeapot().finish() })
                })
                .register(cfg)
        }))
        .await;
        let get = actix_web::test::TestRequest::get().uri("/a").to_request();
        assert_eq!(actix_web::test::call_service(&app, get).await.status(), 200);
        let post = actix_web::test::TestRequest::post().uri("/a").to_request();
        assert_eq!(actix_web::test::call_service(&app, post).await.status(), 418);
    }

    #[actix_web::test]
    async fn every_405_lists_the_methods_served() {
        let refuse = || async { HttpResponse::MethodNotAllowed().json("no") };
        let app = actix_web::test::init_service(actix_web::App::new().configure(|cfg| {
            Routes::new()
                .resource(["/own"], |r| r.delete(ok).get(ok).fallback(refuse))
                .resource(["/named"], |r| {
                    r.post(ok).fallback(refuse).allows(&[Method::PATCH, Method::GET])
                })
                .resource(["/plain"], |r| r.post(ok).get(ok))
                .register(cfg)
        }))
        .await;
        for (path, allow) in
            [("/own", "GET, DELETE"), ("/named", "GET, POST, PATCH"), ("/plain", "POST, GET")]
        {
            let put = actix_web::test::TestRequest::put().uri(path).to_request();
            let response = actix_web::test::call_service(&app, put).await;
            assert_eq!(response.status(), 405, "{path}");
            assert_eq!(response.headers().get(ALLOW).and_then(|v| v.to_str().ok()), Some(allow));
        }
        // Other answers are left alone.
        let get = actix_web::test::TestRequest::get().uri("/own").to_request();
        assert!(actix_web::test::call_service(&app, get).await.headers().get(ALLOW).is_none());
    }
}

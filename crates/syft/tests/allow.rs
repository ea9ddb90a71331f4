//! Issue 11, defect 7: every 405 carries `Allow`, including the one `validate-slug` answers for
//! the endpoint of that slug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::Method;
use common::{ENDPOINTS, MODELS, VALIDATE_SLUG, app};
use modelgate_testkit::backend_app_tests;
use serde_json::json;

backend_app_tests! {
    async fn every_405_lists_the_methods_of_its_path(db) {
        let (app, _, key) = app(db).await;
        for (path, allow) in [
            (VALIDATE_SLUG, "GET, POST, PATCH, DELETE"),
            (ENDPOINTS, "GET, POST"),
            (&format!("{MODELS}m") as &str, "GET, PATCH, DELETE"),
        ] {
            let refused = app.send(Method::PUT, path, Some(&key), None).await;
            assert_eq!((refused.status, &refused.json), (405, &json!({"detail": "Method Not Allowed"})), "{path}");
            assert!(refused.header("allow").is_some_and(|a| {
                let mut got: Vec<&str> = a.split(", ").collect();
                let mut want: Vec<&str> = allow.split(", ").collect();
                got.sort_unstable();
                want.sort_unstable();
                got == want
            }), "{path}: {:?}", refused.header("allow"));
        }
    }
}

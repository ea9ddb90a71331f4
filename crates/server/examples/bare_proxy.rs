//! The least a proxy built on modelgate's HTTP stack (actix-web serving, awc calling) can do: each
//! POST's body is sent to one upstream URL and its answer returned, with no authentication, no
//! JSON, no routing and no metering. `bench/run.sh` measures it beside modelgate's gateway, so
//! the report shows what any proxy on this stack costs on the machine, apart from modelgate's
//! own work.
//!
//!     bare_proxy <upstream URL> <listen address>

use std::cell::RefCell;

use actix_web::{App, HttpResponse, HttpServer, web};

thread_local! {
    /// One client per worker, keeping upstream connections alive (as the gateway does).
    static CLIENT: RefCell<Option<awc::Client>> = const { RefCell::new(None) };
}

async fn forward(body: web::Bytes, upstream: web::Data<String>) -> HttpResponse {
    let client =
        CLIENT.with(|cell| cell.borrow_mut().get_or_insert_with(awc::Client::default).clone());
    let sent = client
        .post(upstream.as_str())
        .insert_header(("Content-Type", "application/json"))
        .send_body(body)
        .await;
    let Ok(mut answer) = sent else { return HttpResponse::BadGateway().finish() };
    match answer.body().await {
        Ok(answered) => HttpResponse::Ok().content_type("application/json").body(answered),
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(upstream), Some(listen)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_proxy <upstream URL> <listen address>");
        std::process::exit(2);
    };
    let upstream = web::Data::new(upstream);
    HttpServer::new(move || {
        App::new().app_data(upstream.clone()).default_service(web::post().to(forward))
    })
    .bind(listen)?
    .run()
    .await
}

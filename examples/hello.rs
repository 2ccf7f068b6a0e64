//! The HTTP limit on this machine (not a test): actix-web's hello world, `GET /` → `{"ok":true}`,
//! with the same actix-web build the service uses. `bench/http.sh` divides every row by it.
//!   hello [ADDR]   (default 127.0.0.1:3999)
use actix_web::{App, HttpResponse, HttpServer, get};

#[get("/")]
async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"ok":true}"#)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3999".to_owned());
    HttpServer::new(|| App::new().service(index))
        .bind(addr)?
        .run()
        .await
}

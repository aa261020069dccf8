//! An axum service traced with fluoro-sdk: every request gets a segment (tower layer), the
//! call to another HTTP service a `remote` subsegment with the trace headers (reqwest
//! middleware), and DynamoDB-shaped calls `aws` subsegments.
//!
//! Run a daemon (`cargo run -p fluoro-daemon`) and a collector, then
//! `cargo run -p fluoro-sdk --example axum_service --features tower,reqwest` and
//! `curl localhost:3000/orders/42`.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use fluoro_sdk::integrations::reqwest::XRayMiddleware;
use fluoro_sdk::integrations::tower::XRayLayer;
use fluoro_sdk::{Recorder, begin_subsegment, current, in_subsegment};
use reqwest_middleware::ClientWithMiddleware;

#[derive(Clone)]
struct App {
    http: ClientWithMiddleware,
    inventory: String,
}

/// What an AWS SDK call looks like in X-Ray: an `aws` subsegment with operation, region,
/// request id and table name.
async fn get_item(table: &str, key: &str) -> Option<String> {
    in_subsegment("DynamoDB", async {
        let sub = current();
        sub.set_namespace("aws");
        sub.set_aws(|a| {
            a.operation = Some("GetItem".into());
            a.region = Some("us-east-1".into());
            a.table_name = Some(table.to_owned());
            a.request_id = Some("EXAMPLE".into());
        });
        tokio::time::sleep(Duration::from_millis(3)).await; // the call itself
        sub.set_http_response(200, None);
        Some(format!("{table}/{key}"))
    })
    .await
}

async fn order(State(app): State<App>, Path(id): Path<String>) -> String {
    current().annotate("order_id", id.clone());
    let item = get_item("orders", &id).await;
    {
        let _render = begin_subsegment("validate");
    }
    let stock = match app
        .http
        .get(format!("{}/items/{id}", app.inventory))
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => {
            current().add_error(&e);
            String::new()
        }
    };
    format!("{item:?} {stock}\n")
}

#[tokio::main]
async fn main() {
    let recorder = Recorder::builder("orders-service")
        .service_version(env!("CARGO_PKG_VERSION"))
        .build();
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(XRayMiddleware)
        .build();
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .with_state(App {
            http,
            inventory: std::env::var("INVENTORY_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:3001".into()),
        })
        .layer(XRayLayer::new(recorder.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}

//! The console's CSS and JavaScript, compiled into the binary (no build step, nothing fetched at
//! run time).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../static/console.css");
const JS: &str = include_str!("../static/console.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    crate::pages::secure(
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            body,
        )
            .into_response(),
    )
}

pub(crate) async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

pub(crate) async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

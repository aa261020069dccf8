//! A Lambda handler traced with fluoro-sdk. Lambda writes the function's segment itself and
//! passes its id in `_X_AMZN_TRACE_ID` (per invocation; `lambda_runtime` also hands it over
//! as the context's `xray_trace_id`). The facade segment built from it is never sent: each
//! subsegment goes to the daemon as soon as it closes, under the function's segment.
//!
//! With `lambda_runtime` the handler body is the same; the header comes from
//! `event.context.xray_trace_id`. Here a loop stands in for the runtime:
//! `_X_AMZN_TRACE_ID='Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1'
//! LAMBDA_TASK_ROOT=/var/task cargo run -p fluoro-sdk --example lambda_handler`

use std::time::Duration;

use fluoro_sdk::{Recorder, current, in_subsegment};

async fn handle_order(order_id: &str) -> Result<String, std::io::Error> {
    in_subsegment("handle_order", async {
        current().annotate("order_id", order_id.to_owned());
        in_subsegment("dynamodb", async {
            let sub = current();
            sub.set_namespace("aws");
            sub.set_aws(|a| {
                a.operation = Some("PutItem".into());
                a.table_name = Some("orders".into());
            });
            tokio::time::sleep(Duration::from_millis(2)).await;
            sub.set_http_response(200, None);
        })
        .await;
        let out: Result<String, std::io::Error> = if order_id.is_empty() {
            Err(std::io::Error::other("empty order id"))
        } else {
            Ok(format!("stored {order_id}"))
        };
        if let Err(e) = &out {
            // On the handler's subsegment: the facade itself is never sent.
            current().add_error(e);
        }
        out
    })
    .await
}

#[tokio::main]
async fn main() {
    // One recorder per process (cold start); one facade per invocation.
    let recorder = Recorder::from_env("orders-fn");
    for order_id in ["o-1", "o-2"] {
        let header = std::env::var("_X_AMZN_TRACE_ID").unwrap_or_default();
        let _reply = recorder.in_facade(&header, handle_order(order_id)).await;
    }
    recorder.flush(Duration::from_secs(1));
}

//! Integrations, each behind a cargo feature (all off by default):
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `tower` (or `axum`) | [`tower`](self) | a `Layer` for incoming HTTP requests (axum, hyper, tonic) |
//! | `reqwest` | [`reqwest`](self) | a `reqwest-middleware` middleware for outgoing HTTP requests |
//! | `aws-sdk` | [`aws_sdk`](self) | an aws-sdk-rust interceptor: `aws` subsegments for AWS calls |
//! | `opentelemetry` | [`otel`](self) | X-Ray id generator, propagator and span exporter for `opentelemetry_sdk` |
//! | `tracing-layer` | [`tracing`](self) | a `tracing-subscriber` layer: `tracing` spans become subsegments |

#[cfg(feature = "aws-sdk")]
pub mod aws_sdk;
#[cfg(feature = "opentelemetry")]
pub mod otel;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing-layer")]
pub mod tracing;

//! Integrations, each behind a cargo feature (all off by default):
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `tower` (or `axum`) | [`tower`](self) | a `Layer` for incoming HTTP requests (axum, hyper, tonic) |
//! | `reqwest` | [`reqwest`](self) | a `reqwest-middleware` middleware for outgoing HTTP requests |
//! | `tracing-layer` | [`tracing`](self) | a `tracing-subscriber` layer: `tracing` spans become subsegments |

#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing-layer")]
pub mod tracing;

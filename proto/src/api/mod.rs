//! Request and response shapes of the AWS X-Ray HTTP API (rest-json, API version 2016-04-12),
//! with AWS's exact PascalCase member names, so that boto3, the AWS CLI, aws-sdk-rust, JS v3 and
//! the Go daemon can talk to a Fluoro collector unchanged, and the console can talk to AWS.
//!
//! This module owns:
//! - the serde shapes of every operation the collector serves (traces, graphs, sampling, groups,
//!   tags, telemetry, encryption, destination) and every nested shape they use;
//! - [`EpochSeconds`], the wire form of a timestamp (a JSON number; also read from RFC 3339);
//! - [`Operation`], the routing table from `POST` path to operation;
//! - [`ErrorCode`], [`ApiError`] and [`ErrorBody`], the one way API errors are expressed;
//! - request `validate()` methods that enforce the model's constraints ([`limits`]) with
//!   precise [`ValidationError`] messages.
//!
//! Encoding rules kept throughout: absent optional members are omitted, never `null`; integer
//! and long members are Rust integers, so they never serialize with a decimal point; segment
//! documents travel as JSON strings; unknown members in requests are ignored.
//!
//! It must not depend on I/O, an async runtime or an HTTP framework: the collector maps these
//! values onto HTTP, the console onto its client.

mod config;
mod de;
mod error;
mod graph;
mod groups;
pub mod limits;
mod operation;
mod sampling;
mod telemetry;
mod time;
mod traces;
mod validation;

pub use config::*;
pub use error::*;
pub use graph::*;
pub use groups::*;
pub use operation::*;
pub use sampling::*;
pub use telemetry::*;
pub use time::*;
pub use traces::*;
pub use validation::ValidationError;

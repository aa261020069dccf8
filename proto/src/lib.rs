//! `fluoro-proto`: the contract every Fluoro component speaks through.
//!
//! It owns the bytes X-Ray SDKs put on the wire and the shapes of the X-Ray HTTP API:
//!
//! - [`ids`]: trace ids (`1-<epoch>-<random>`) and 64-bit entity ids, with lossless conversion to
//!   W3C/OTLP ids;
//! - [`header`]: the `X-Amzn-Trace-Id` header;
//! - [`frame`]: the UDP datagram framing (`{"format":"json","version":1}\n<document>`);
//! - [`segment`]: the typed model of segment and subsegment documents, which keeps every field it
//!   does not know so that a parse followed by a write loses nothing;
//! - [`head`]: the cheap parse of just the fields routing needs;
//! - [`validate`]: the checks X-Ray applies to a document, mapped onto the error codes AWS returns
//!   in `UnprocessedTraceSegments`;
//! - [`api`]: request and response shapes of the X-Ray API with AWS's member names;
//! - [`sigv4`]: AWS Signature Version 4 (signing and the steps verification repeats).
//! - `otlp` (feature `otlp`): OTLP trace messages and the span ↔ segment translation.
//!
//! This crate does no I/O and depends on no async runtime, HTTP stack or database: the daemon,
//! collector, SDK and console all depend on it, and it depends on none of them.

pub mod api;
pub mod frame;
pub mod head;
pub mod header;
pub mod ids;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod segment;
pub mod sigv4;
pub mod validate;

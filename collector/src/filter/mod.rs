//! X-Ray filter expressions (spec `xray-api.md` §3): parse them, and evaluate them in memory.
//!
//! Pure: no I/O, no SQL. This module depends on `fluoro_proto` (segments, `TraceSummary`) and on
//! [`crate::trace`] (the assembled trace, [`service_id`](crate::trace::service_id) for node
//! identity); it must not depend on the store, the HTTP layer or the graph module.
//!
//! - [`parse`] turns the text into a [`Filter`], or a [`FilterError`] that says where and what
//!   was expected (`filter expression: unexpected ')' at 27; expected a number after '='`).
//!   The tree prints back as canonical text that parses to the same tree.
//! - [`matches`] / [`matches_with`] evaluate a filter against one assembled trace and its
//!   summary: the reference evaluator (the oracle for any faster path).
//!
//! Grammar and the choices made where the spec is silent are in `docs/filter-expressions.md`;
//! in short: `!` > AND (explicit or implicit) > OR; keywords, operators and `true`/`false` are
//! case-insensitive, annotation keys are not; the empty expression matches everything; a bare
//! word is a string value (`name = traces`); an unclosed `{` is an error; which keywords are
//! valid depends on where they are (top level, `service`/`edge` block, root-cause block).
//!
//! - [`terms`] / [`needs`] are the index side: the facts of a trace the store indexes, and a
//!   necessary condition over them for a filter, so the store reads only candidate traces.
//!
//! Files: `ast.rs` (the tree and its text), `parse.rs` (lexer and parser), `eval.rs` (the
//! evaluator), `pushdown.rs` (index terms), `tests.rs`.

mod ast;
mod eval;
mod parse;
mod pushdown;

#[cfg(test)]
pub(crate) mod tests;

pub use ast::{
    Comparison, Filter, GroupKey, Keyword, NodeRef, Op, RootCauseKind, RootCauseLevel, Scope, Test,
    Value, ValueType,
};
pub use eval::{EvalOptions, GroupFilter, matches, matches_with};
pub use parse::{FilterError, parse};
pub use pushdown::{Need, needs, terms};

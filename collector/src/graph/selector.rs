//! `EntitySelectorExpression` of `GetTimeSeriesServiceStatistics`: which node or edge the
//! statistics are about (spec §2.2, §3.1).
//!
//! A selector is a filter expression (parsed by [`crate::filter::parse`], so it has the same
//! lexical rules and the same positioned errors) restricted to one `service(...)`, `edge(...)`
//! or bare `id(...)` term without a `{ }` block.

use super::contribution::NodeKey;
use crate::filter::{self, Filter, NodeRef};

/// Which nodes a selector means: every given field must match exactly; absent fields match
/// anything (`service("n")` and `id(name: "n")` both match every node named `n`, e.g. both
/// Lambda nodes of a function).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeMatcher {
    /// Node name.
    pub name: Option<String>,
    /// Node type.
    pub r#type: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
}

impl NodeMatcher {
    /// A matcher on the name only.
    pub fn name(name: impl Into<String>) -> NodeMatcher {
        NodeMatcher {
            name: Some(name.into()),
            ..NodeMatcher::default()
        }
    }

    /// True when `key` has every field this matcher gives.
    pub fn matches(&self, key: &NodeKey) -> bool {
        self.name.as_ref().is_none_or(|n| *n == key.name)
            && self
                .r#type
                .as_ref()
                .is_none_or(|t| key.r#type.as_ref() == Some(t))
            && self
                .account_id
                .as_ref()
                .is_none_or(|a| key.account_id.as_ref() == Some(a))
    }
}

/// A parsed `EntitySelectorExpression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntitySelector {
    /// `service(...)` or `id(...)`: statistics of the matching nodes (client nodes excluded:
    /// they have none), summed.
    Service(NodeMatcher),
    /// `edge(a, b)`: statistics of the edges from a node matching `a` to a node matching `b`,
    /// summed.
    Edge(NodeMatcher, NodeMatcher),
    /// No selector (the request has none): edge statistics of the edges leaving client nodes,
    /// i.e. of every request that entered the graph. Never produced by [`parse`](Self::parse).
    ClientEdges,
}

impl EntitySelector {
    /// Parses a selector. Errors are the filter parser's (`filter expression: unexpected ...
    /// at 8; expected ...`, positions are byte offsets into `input`), or say which form a
    /// selector must have.
    pub fn parse(input: &str) -> Result<EntitySelector, String> {
        // A bare `id(...)` is a node reference, valid in a filter only inside `service(...)`.
        let trimmed = input.trim_start();
        let bare_id = trimmed
            .get(..2)
            .is_some_and(|w| w.eq_ignore_ascii_case("id"))
            && trimmed[2..].trim_start().starts_with('(');
        const WRAP: &str = "service(";
        let parsed = if bare_id {
            filter::parse(&format!("{WRAP}{input})")).map_err(|mut e| {
                e.pos = e.pos.saturating_sub(WRAP.len()).min(input.len());
                e
            })
        } else {
            filter::parse(input)
        };
        let shape = "an entity selector is one service(\"name\"), id(...) or edge(a, b), without a { } block";
        match parsed.map_err(|e| e.to_string())? {
            Filter::Service {
                node: Some(n),
                block: None,
            } => Ok(EntitySelector::Service(matcher(n))),
            Filter::Edge {
                from,
                to,
                block: None,
            } => Ok(EntitySelector::Edge(matcher(from), matcher(to))),
            _ => Err(shape.to_owned()),
        }
    }
}

fn matcher(n: NodeRef) -> NodeMatcher {
    NodeMatcher {
        name: n.name,
        r#type: n.r#type,
        account_id: n.account_id,
    }
}

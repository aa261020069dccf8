//! `EntitySelectorExpression` of `GetTimeSeriesServiceStatistics`: which node or edge the
//! statistics are about (spec §2.2, §3.1).
//!
//! Grammar (keywords and argument names are case-insensitive, whitespace is free between
//! tokens, strings are double-quoted with `\` escaping the next character):
//!
//! ```text
//! selector := service | id | edge
//! service  := "service" "(" ( string | id ) ")"
//! id       := "id" "(" arg ( "," arg )* ")"        each of name/type/account.id at most once
//! arg      := ( "name" | "type" | "account.id" ) ":" string
//! edge     := "edge" "(" endpoint "," endpoint ")"
//! endpoint := string | id
//! ```

use std::fmt;

use super::contribution::NodeKey;

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
    /// Parses a selector. Errors name the 1-based character position, what was expected there
    /// and what was found, e.g. ``position 8: expected `(`, found `"` ``.
    pub fn parse(input: &str) -> Result<EntitySelector, String> {
        let mut p = Parser {
            chars: input.chars().collect(),
            pos: 0,
        };
        let sel = p.selector().map_err(|e| e.to_string())?;
        p.skip_ws();
        if p.pos < p.chars.len() {
            return Err(p.error("end of input").to_string());
        }
        Ok(sel)
    }
}

struct SyntaxError {
    /// 1-based character position.
    position: usize,
    expected: String,
    found: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "position {}: expected {}, found {}",
            self.position, self.expected, self.found
        )
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_owned(),
            Some(_) => {
                let word = self.word_at(self.pos);
                if word.is_empty() {
                    format!("`{}`", self.chars[self.pos])
                } else {
                    format!("`{word}`")
                }
            }
        }
    }

    fn word_at(&self, at: usize) -> String {
        self.chars[at..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == '.')
            .collect()
    }

    fn error(&self, expected: &str) -> SyntaxError {
        SyntaxError {
            position: self.pos + 1,
            expected: expected.to_owned(),
            found: self.found(),
        }
    }

    fn expect(&mut self, c: char) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("`{c}`")))
        }
    }

    /// Reads a keyword (letters, digits, `_`, `.`) without consuming it on failure.
    fn keyword(&mut self) -> String {
        self.skip_ws();
        let w = self.word_at(self.pos);
        self.pos += w.chars().count();
        w.to_ascii_lowercase()
    }

    fn selector(&mut self) -> Result<EntitySelector, SyntaxError> {
        self.skip_ws();
        let start = self.pos;
        match self.keyword().as_str() {
            "service" => {
                self.expect('(')?;
                self.skip_ws();
                let m = self.endpoint("a quoted service name or `id(...)`")?;
                self.expect(')')?;
                Ok(EntitySelector::Service(m))
            }
            "id" => Ok(EntitySelector::Service(self.id_args()?)),
            "edge" => {
                self.expect('(')?;
                let from = self.endpoint("a quoted service name or `id(...)`")?;
                self.expect(',')?;
                let to = self.endpoint("a quoted service name or `id(...)`")?;
                self.expect(')')?;
                Ok(EntitySelector::Edge(from, to))
            }
            _ => {
                self.pos = start;
                Err(self.error("`service`, `id` or `edge`"))
            }
        }
    }

    /// A quoted name or `id(...)`.
    fn endpoint(&mut self, expected: &str) -> Result<NodeMatcher, SyntaxError> {
        self.skip_ws();
        if self.peek() == Some('"') {
            return Ok(NodeMatcher::name(self.string()?));
        }
        let start = self.pos;
        if self.keyword() == "id" {
            return self.id_args();
        }
        self.pos = start;
        Err(self.error(expected))
    }

    /// The `( arg, ... )` of `id`, the keyword already read.
    fn id_args(&mut self) -> Result<NodeMatcher, SyntaxError> {
        self.expect('(')?;
        let mut m = NodeMatcher::default();
        loop {
            self.skip_ws();
            let start = self.pos;
            let arg = self.keyword();
            let slot = match arg.as_str() {
                "name" => &mut m.name,
                "type" => &mut m.r#type,
                "account.id" => &mut m.account_id,
                _ => {
                    self.pos = start;
                    return Err(self.error("`name`, `type` or `account.id`"));
                }
            };
            if slot.is_some() {
                self.pos = start;
                return Err(SyntaxError {
                    position: start + 1,
                    expected: format!("each argument of `id` once (`{arg}` is repeated)"),
                    found: format!("`{arg}`"),
                });
            }
            self.expect(':')?;
            self.skip_ws();
            *slot = Some(self.string()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(m);
                }
                _ => return Err(self.error("`,` or `)`")),
            }
        }
    }

    /// A double-quoted string; `\` escapes the next character.
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.skip_ws();
        if self.peek() != Some('"') {
            return Err(self.error("a double-quoted string"));
        }
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(SyntaxError {
                        position: self.pos + 1,
                        expected: format!(
                            "`\"` closing the string opened at position {}",
                            open + 1
                        ),
                        found: "end of input".to_owned(),
                    });
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') if self.pos + 1 < self.chars.len() => {
                    out.push(self.chars[self.pos + 1]);
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

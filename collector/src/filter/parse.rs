//! Lexer and recursive-descent parser (spec §3.3, with the choices listed in the module doc of
//! [`super`]).
//!
//! Tokens are read lazily, so the first problem in the text is the one reported, whether it
//! is a lexical one (an unterminated string) or a grammatical one.

use super::ast::{
    Comparison, Filter, GroupKey, Keyword, NodeRef, Op, RootCauseKind, RootCauseLevel, Scope, Test,
    Value, ValueType,
};

/// Why an expression did not parse: where, and what was expected there.
///
/// Displays as `filter expression: <problem> at <pos>; expected <expected>`, e.g.
/// `filter expression: unexpected ')' at 27; expected a value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter expression: {problem} at {pos}; expected {expected}")]
pub struct FilterError {
    /// Byte offset in the expression (its length for "end of expression").
    pub pos: usize,
    /// What was found: `unexpected ')'`, `unknown keyword 'foo'`, `unterminated string`, ...
    pub problem: String,
    /// What would have been valid there.
    pub expected: String,
}

impl FilterError {
    fn new(pos: usize, problem: impl Into<String>, expected: impl Into<String>) -> FilterError {
        FilterError {
            pos,
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// Parses a filter expression. Empty or whitespace-only text is [`Filter::All`].
pub fn parse(expr: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(expr);
    if p.peek()?.kind == Tok::End {
        return Ok(Filter::All);
    }
    let f = p.or_expr(Scope::Trace)?;
    let t = p.peek()?;
    match t.kind {
        Tok::End => Ok(f),
        Tok::RParen => Err(FilterError::new(
            t.pos,
            "unmatched ')'",
            "AND, OR or the end of the expression",
        )),
        _ => Err(p.unexpected(&t, "AND, OR or the end of the expression")),
    }
}

/// A token kind. Words are identifiers with dots (`http.url`, `annotation.k`, `AND`).
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Json(Vec<serde_json::Value>),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Bang,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Tok,
    pos: usize,
    /// Byte length in the source.
    len: usize,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl<'a> Lexer<'a> {
    fn next_token(&mut self) -> Result<Token, FilterError> {
        let src: &'a str = self.src;
        let trimmed = src[self.pos..].trim_start();
        self.pos = self.src.len() - trimmed.len();
        let start = self.pos;
        let mut chars = trimmed.chars();
        let Some(c) = chars.next() else {
            return Ok(Token {
                kind: Tok::End,
                pos: start,
                len: 0,
            });
        };
        let next = chars.next();
        let (kind, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '{' => (Tok::LBrace, 1),
            '}' => (Tok::RBrace, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            ':' => (Tok::Colon, 1),
            '=' => (Tok::Eq, 1),
            '!' if next == Some('=') => (Tok::Ne, 2),
            '!' => (Tok::Bang, 1),
            '<' if next == Some('=') => (Tok::Le, 2),
            '<' => (Tok::Lt, 1),
            '>' if next == Some('=') => (Tok::Ge, 2),
            '>' => (Tok::Gt, 1),
            '"' => self.string(start)?,
            '#' if next == Some('[') => self.json(start)?,
            '-' | '0'..='9' => self.number(start)?,
            c if is_word_start(c) => {
                let len = trimmed
                    .find(|c: char| !is_word_char(c))
                    .unwrap_or(trimmed.len());
                (Tok::Word(trimmed[..len].to_owned()), len)
            }
            c => {
                return Err(FilterError::new(
                    start,
                    format!("unexpected character '{c}'"),
                    "a keyword, a value, an operator or a parenthesis",
                ));
            }
        };
        self.pos = start + len;
        Ok(Token {
            kind,
            pos: start,
            len,
        })
    }

    /// A double-quoted string; `\` makes the next character literal.
    fn string(&self, start: usize) -> Result<(Tok, usize), FilterError> {
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((Tok::Str(out), i + 2)),
                '\\' => match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(FilterError::new(
            start,
            "unterminated string",
            "a closing '\"'",
        ))
    }

    fn number(&self, start: usize) -> Result<(Tok, usize), FilterError> {
        let s = &self.src[start..];
        let b = s.as_bytes();
        let digits = |mut i: usize| {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        let mut i = usize::from(b[0] == b'-');
        let int_end = digits(i);
        if int_end == i {
            return Err(FilterError::new(start, "unexpected '-'", "a number"));
        }
        i = int_end;
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i = digits(i + 1);
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            let end = digits(j);
            if end > j {
                i = end;
            }
        }
        if s[i..].starts_with(|c: char| is_word_char(c)) {
            let end = s.find(|c: char| !is_word_char(c)).unwrap_or(s.len());
            return Err(FilterError::new(
                start,
                format!("unexpected '{}'", &s[..end]),
                "a number, a keyword or a quoted string",
            ));
        }
        let n: f64 = s[..i]
            .parse()
            .map_err(|_| FilterError::new(start, "invalid number", "a number"))?;
        Ok((Tok::Num(n), i))
    }

    /// `#[ ... ]`: a JSON array, up to the matching `]` outside JSON strings.
    fn json(&self, start: usize) -> Result<(Tok, usize), FilterError> {
        let body = &self.src[start + 1..];
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if in_string {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '[' | '{' => depth += 1,
                ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        let text = &body[..=i];
                        return match serde_json::from_str::<Vec<serde_json::Value>>(text) {
                            Ok(items) => Ok((Tok::Json(items), i + 2)),
                            Err(e) => Err(FilterError::new(
                                start + 1,
                                format!("invalid JSON ({e})"),
                                "a JSON array after '#'",
                            )),
                        };
                    }
                }
                _ => {}
            }
        }
        Err(FilterError::new(
            start,
            "unterminated JSON array",
            "a closing ']'",
        ))
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    /// Open parentheses and braces: (position, closing token).
    open: Vec<usize>,
}

/// Describes a token for an error message.
fn describe(t: &Token, src: &str) -> String {
    match &t.kind {
        Tok::End => "end of expression".to_owned(),
        Tok::Str(s) => format!("string \"{s}\""),
        Tok::Json(_) => "JSON array".to_owned(),
        _ => format!("'{}'", &src[t.pos..t.pos + t.len]),
    }
}

const TERM: &str = "a keyword, '!', NOT, '(' or service(...)/edge(...)";

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            lexer: Lexer { src, pos: 0 },
            peeked: None,
            open: Vec::new(),
        }
    }

    fn peek(&mut self) -> Result<Token, FilterError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.clone().unwrap_or(Token {
            kind: Tok::End,
            pos: self.lexer.src.len(),
            len: 0,
        }))
    }

    fn bump(&mut self) -> Result<Token, FilterError> {
        let t = self.peek()?;
        self.peeked = None;
        Ok(t)
    }

    fn unexpected(&self, t: &Token, expected: &str) -> FilterError {
        FilterError::new(
            t.pos,
            format!("unexpected {}", describe(t, self.lexer.src)),
            expected,
        )
    }

    fn is_word(t: &Token, w: &str) -> bool {
        matches!(&t.kind, Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }

    /// Expects a token of this kind.
    fn expect(&mut self, kind: &Tok, what: &str) -> Result<Token, FilterError> {
        let t = self.bump()?;
        if &t.kind == kind {
            Ok(t)
        } else {
            Err(self.unexpected(&t, what))
        }
    }

    fn or_expr(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let mut items = vec![self.and_expr(scope)?];
        while Self::is_word(&self.peek()?, "or") {
            self.bump()?;
            items.push(self.and_expr(scope)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Filter::Or(items)
        })
    }

    fn and_expr(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let mut items = vec![self.unary(scope)?];
        loop {
            let t = self.peek()?;
            let starts_term = match &t.kind {
                Tok::Word(w) => {
                    if w.eq_ignore_ascii_case("and") {
                        self.bump()?;
                        true
                    } else {
                        !w.eq_ignore_ascii_case("or")
                    }
                }
                Tok::Bang | Tok::LParen => true,
                _ => false,
            };
            if !starts_term {
                break;
            }
            items.push(self.unary(scope)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Filter::And(items)
        })
    }

    fn unary(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let t = self.peek()?;
        if t.kind == Tok::Bang || Self::is_word(&t, "not") {
            self.bump()?;
            return Ok(Filter::Not(Box::new(self.unary(scope)?)));
        }
        self.primary(scope)
    }

    fn primary(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let t = self.bump()?;
        match &t.kind {
            Tok::LParen => {
                self.open.push(t.pos);
                let f = self.or_expr(scope)?;
                let close = self.peek()?;
                if close.kind != Tok::RParen {
                    if close.kind == Tok::End {
                        return Err(FilterError::new(
                            t.pos,
                            "unclosed '('",
                            format!("')' before the end of the expression (at {})", close.pos),
                        ));
                    }
                    return Err(self.unexpected(&close, "AND, OR or ')'"));
                }
                self.bump()?;
                self.open.pop();
                Ok(f)
            }
            Tok::Word(w) => {
                let w = w.clone();
                self.term(&t, &w, scope)
            }
            Tok::RParen if self.open.is_empty() => {
                Err(FilterError::new(t.pos, "unmatched ')'", TERM))
            }
            _ => Err(self.unexpected(&t, TERM)),
        }
    }

    fn term(&mut self, t: &Token, word: &str, scope: Scope) -> Result<Filter, FilterError> {
        let lower = word.to_ascii_lowercase();
        if let Some(k) = Keyword::from_lowercase(&lower) {
            if !k.valid_in(scope) {
                return Err(self.unknown(t, word, scope));
            }
            let cmp = self.comparison(word, Some(k.value_type()))?;
            return Ok(Filter::Test(Test { keyword: k, cmp }));
        }
        if matches!(lower.as_str(), "and" | "or") {
            return Err(self.unexpected(t, TERM));
        }
        if scope != Scope::RootCause
            && let Some(key) = annotation_key(word)
        {
            let key = match key {
                Some(k) => k.to_owned(),
                None => self.bracket_key()?,
            };
            let cmp = self.comparison(word, None)?;
            return Ok(Filter::Annotation { key, cmp });
        }
        if scope != Scope::Trace {
            return Err(self.unknown(t, word, scope));
        }
        match lower.as_str() {
            "service" => {
                self.expect(&Tok::LParen, "'(' after service")?;
                let node = if self.peek()?.kind == Tok::RParen {
                    None
                } else {
                    Some(self.node_ref()?)
                };
                self.expect(&Tok::RParen, "')' after the service")?;
                let block = self.block(Scope::Node)?;
                Ok(Filter::Service { node, block })
            }
            "edge" => {
                self.expect(&Tok::LParen, "'(' after edge")?;
                let from = self.node_ref()?;
                self.expect(&Tok::Comma, "',' between the two services of an edge")?;
                let to = self.node_ref()?;
                self.expect(&Tok::RParen, "')' after the second service")?;
                let block = self.block(Scope::Node)?;
                Ok(Filter::Edge { from, to, block })
            }
            "group.name" | "group.arn" => {
                let by = if lower == "group.name" {
                    GroupKey::Name
                } else {
                    GroupKey::Arn
                };
                let op = self.bump()?;
                let equal = match op.kind {
                    Tok::Eq => true,
                    Tok::Ne => false,
                    _ => return Err(self.unexpected(&op, &format!("'=' or '!=' after {word}"))),
                };
                let v = self.bump()?;
                let value = match v.kind {
                    Tok::Str(s) => s,
                    Tok::Word(w) if !is_reserved(&w) => w,
                    _ => return Err(self.unexpected(&v, "a quoted group name or ARN")),
                };
                Ok(Filter::Group { by, equal, value })
            }
            "rootcause.json" => {
                self.expect(&Tok::Eq, "'=' after rootcause.json")?;
                let v = self.bump()?;
                match v.kind {
                    Tok::Json(items) => Ok(Filter::RootCauseJson(items)),
                    _ => Err(self.unexpected(&v, "a JSON array written #[ ... ]")),
                }
            }
            _ => {
                if let Some((kind, level)) = rootcause_path(&lower) {
                    let block = self.block(Scope::RootCause)?;
                    return Ok(Filter::RootCause { kind, level, block });
                }
                Err(self.unknown(t, word, scope))
            }
        }
    }

    fn unknown(&self, t: &Token, word: &str, scope: Scope) -> FilterError {
        let expected = match scope {
            Scope::Trace => {
                "a keyword such as ok, fault, responsetime, http.url, user, annotation.KEY, \
                 service(...), edge(...), group.name or rootcause.*"
            }
            Scope::Node => {
                "a keyword valid inside service/edge blocks: ok, error, fault, throttle, \
                 partial, inferred, root, responsetime, duration, http.*, user, name, type, \
                 annotation.KEY"
            }
            Scope::RootCause => {
                "a keyword valid inside root-cause blocks: name, type, message, remote, \
                 inferred, first, last, index, coverage"
            }
        };
        FilterError::new(t.pos, format!("unknown keyword '{word}'"), expected)
    }

    /// `[ KEY ]` after `annotation`.
    fn bracket_key(&mut self) -> Result<String, FilterError> {
        self.expect(&Tok::LBracket, "'[' or '.KEY' after annotation")?;
        let k = self.bump()?;
        let key = match k.kind {
            Tok::Str(s) if !s.is_empty() => s,
            Tok::Word(w) => w,
            _ => return Err(self.unexpected(&k, "an annotation key")),
        };
        self.expect(&Tok::RBracket, "']' after the annotation key")?;
        Ok(key)
    }

    /// An optional operator and value. `ty` is the keyword's type (`None` for annotations,
    /// whose type is the value's).
    fn comparison(&mut self, word: &str, ty: Option<ValueType>) -> Result<Comparison, FilterError> {
        let t = self.peek()?;
        let op = match &t.kind {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            Tok::Lt => Op::Lt,
            Tok::Le => Op::Le,
            Tok::Gt => Op::Gt,
            Tok::Ge => Op::Ge,
            Tok::Word(w) if w.eq_ignore_ascii_case("contains") => Op::Contains,
            Tok::Word(w) if w.eq_ignore_ascii_case("beginswith") => Op::BeginsWith,
            Tok::Word(w) if w.eq_ignore_ascii_case("endswith") => Op::EndsWith,
            _ => return Ok(Comparison::Present),
        };
        if let Some(ty) = ty
            && !op.applies_to(ty)
        {
            let ops = match ty {
                ValueType::Bool => "'=' or '!='",
                ValueType::Number => "=, !=, <, <=, > or >=",
                ValueType::String => "=, !=, CONTAINS, BEGINSWITH or ENDSWITH",
            };
            return Err(self.unexpected(&t, &format!("{ops} ({} takes {})", word, ty.describe())));
        }
        self.bump()?;
        let v = self.bump()?;
        let value = match v.kind.clone() {
            Tok::Str(s) => Value::String(s),
            Tok::Num(n) => Value::Number(n),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Tok::Word(w) if !is_reserved(&w) => Value::String(w),
            _ => {
                let expected = match ty {
                    Some(ty) => format!("{} after '{}'", ty.describe(), op.as_str()),
                    None => format!("a value after '{}'", op.as_str()),
                };
                return Err(self.unexpected(&v, &expected));
            }
        };
        let vt = value.value_type();
        let fits = match ty {
            Some(ty) => vt == ty,
            None => op.applies_to(vt),
        };
        if !fits {
            let expected = match ty {
                Some(ty) => format!("{} ({word} takes {})", ty.describe(), ty.describe()),
                None => format!(
                    "{} after '{}'",
                    match op {
                        Op::Lt | Op::Le | Op::Gt | Op::Ge => "a number",
                        _ => "a quoted string",
                    },
                    op.as_str()
                ),
            };
            return Err(self.unexpected(&v, &expected));
        }
        Ok(Comparison::Is(op, value))
    }

    /// `"name"` or `id(name: "...", type: "...", account.id: "...")`.
    fn node_ref(&mut self) -> Result<NodeRef, FilterError> {
        const WHAT: &str = "a quoted service name or id(...)";
        let t = self.bump()?;
        match &t.kind {
            Tok::Str(s) => Ok(NodeRef {
                name: Some(s.clone()),
                ..NodeRef::default()
            }),
            Tok::Word(w) if w.eq_ignore_ascii_case("id") => {
                self.expect(&Tok::LParen, "'(' after id")?;
                let mut node = NodeRef {
                    id_form: true,
                    ..NodeRef::default()
                };
                loop {
                    let a = self.bump()?;
                    let slot = match &a.kind {
                        Tok::Word(w) if w.eq_ignore_ascii_case("name") => &mut node.name,
                        Tok::Word(w) if w.eq_ignore_ascii_case("type") => &mut node.r#type,
                        Tok::Word(w) if w.eq_ignore_ascii_case("account.id") => {
                            &mut node.account_id
                        }
                        _ => return Err(self.unexpected(&a, "name, type or account.id")),
                    };
                    if slot.is_some() {
                        return Err(FilterError::new(
                            a.pos,
                            format!("repeated '{}'", &self.lexer.src[a.pos..a.pos + a.len]),
                            "each of name, type and account.id at most once",
                        ));
                    }
                    self.expect(&Tok::Colon, "':' after the argument name")?;
                    let v = self.bump()?;
                    match v.kind {
                        Tok::Str(s) => *slot = Some(s),
                        _ => return Err(self.unexpected(&v, "a quoted string")),
                    }
                    let sep = self.bump()?;
                    match sep.kind {
                        Tok::Comma => {}
                        Tok::RParen => return Ok(node),
                        _ => return Err(self.unexpected(&sep, "',' or ')'")),
                    }
                }
            }
            _ => Err(self.unexpected(&t, WHAT)),
        }
    }

    /// An optional `{ expr }`.
    fn block(&mut self, scope: Scope) -> Result<Option<Box<Filter>>, FilterError> {
        let open = self.peek()?;
        if open.kind != Tok::LBrace {
            return Ok(None);
        }
        self.bump()?;
        let f = self.or_expr(scope)?;
        let close = self.peek()?;
        match close.kind {
            Tok::RBrace => {
                self.bump()?;
                Ok(Some(Box::new(f)))
            }
            Tok::End => Err(FilterError::new(
                open.pos,
                "unclosed '{'",
                format!("'}}' before the end of the expression (at {})", close.pos),
            )),
            _ => Err(self.unexpected(&close, "AND, OR or '}'")),
        }
    }
}

/// Words that are never values or keywords.
fn is_reserved(w: &str) -> bool {
    ["and", "or", "not"]
        .iter()
        .any(|r| w.eq_ignore_ascii_case(r))
}

/// `annotation.KEY` → `Some(Some(KEY))`; bare `annotation` (bracket form follows) →
/// `Some(None)`; anything else → `None`. The prefix is case-insensitive, the key is kept.
fn annotation_key(word: &str) -> Option<Option<&str>> {
    if word.eq_ignore_ascii_case("annotation") {
        return Some(None);
    }
    let prefix = word.get(..11)?;
    if prefix.eq_ignore_ascii_case("annotation.") && word.len() > 11 {
        Some(Some(&word[11..]))
    } else {
        None
    }
}

fn rootcause_path(lower: &str) -> Option<(RootCauseKind, RootCauseLevel)> {
    let rest = lower.strip_prefix("rootcause.")?;
    let (kind, level) = rest.split_once('.')?;
    let kind = match kind {
        "fault" => RootCauseKind::Fault,
        "error" => RootCauseKind::Error,
        "responsetime" => RootCauseKind::ResponseTime,
        _ => return None,
    };
    let level = match level {
        "service" => RootCauseLevel::Service,
        "entity" => RootCauseLevel::Entity,
        "exception" if kind != RootCauseKind::ResponseTime => RootCauseLevel::Exception,
        _ => return None,
    };
    Some((kind, level))
}

//! The syntax tree of a filter expression, and its canonical text ([`fmt::Display`]): the
//! text parses back to the same tree.

use std::fmt;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The empty expression (only whitespace): matches every trace.
    All,
    /// Every operand holds (`a AND b`, or `a b` juxtaposed). At least two operands.
    And(Vec<Filter>),
    /// Some operand holds (`a OR b`). At least two operands.
    Or(Vec<Filter>),
    /// `!f` or `NOT f`.
    Not(Box<Filter>),
    /// A simple keyword, bare or compared with a value.
    Test(Test),
    /// `annotation.KEY` or `annotation[KEY]`, bare or compared with a value.
    Annotation {
        /// The annotation key, case kept.
        key: String,
        /// What is tested.
        cmp: Comparison,
    },
    /// `service(NODE) { FILTER }`: some node of the trace matching `node` (any node when
    /// `None`), with a segment satisfying `block` when there is one.
    Service {
        /// Which nodes; `None` for `service()`.
        node: Option<NodeRef>,
        /// The sub-filter applied to each of the node's segments.
        block: Option<Box<Filter>>,
    },
    /// `edge(FROM, TO) { FILTER }`: some call from a node matching `from` to a node matching
    /// `to`, whose record satisfies `block` when there is one.
    Edge {
        /// The calling node.
        from: NodeRef,
        /// The called node.
        to: NodeRef,
        /// The sub-filter applied to each call's record.
        block: Option<Box<Filter>>,
    },
    /// `group.name = "g"` / `group.arn = "arn"`: the trace satisfies that group's filter
    /// (`!=`: it does not).
    Group {
        /// Looked up by name or by ARN.
        by: GroupKey,
        /// `true` for `=`, `false` for `!=`.
        equal: bool,
        /// The group's name or ARN.
        value: String,
    },
    /// `rootcause.KIND.LEVEL { FILTER }`: some element of the trace's root causes of that kind,
    /// at that level, satisfies `block` (bare: there is such an element).
    RootCause {
        /// Fault, error or response time.
        kind: RootCauseKind,
        /// Services, entities or exceptions.
        level: RootCauseLevel,
        /// The sub-filter applied to each element.
        block: Option<Box<Filter>>,
    },
    /// `rootcause.json = #[ ... ]`: every element of the array is a pattern that some root
    /// cause of the trace matches (members present must match, omitted ones are wildcards).
    RootCauseJson(Vec<serde_json::Value>),
}

/// A simple keyword and what is tested about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    /// The keyword.
    pub keyword: Keyword,
    /// Bare, or compared with a value.
    pub cmp: Comparison,
}

/// What a keyword or annotation is tested for.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// Bare keyword: true (booleans) or "has a value" (numbers, strings, annotations; a
    /// boolean annotation must be true).
    Present,
    /// `keyword op value`. The parser only builds type-correct pairs.
    Is(Op, Value),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `CONTAINS`
    Contains,
    /// `BEGINSWITH`
    BeginsWith,
    /// `ENDSWITH`
    EndsWith,
}

impl Op {
    /// The operator as written in canonical text.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "CONTAINS",
            Op::BeginsWith => "BEGINSWITH",
            Op::EndsWith => "ENDSWITH",
        }
    }

    /// Whether the operator applies to values of this type.
    pub fn applies_to(self, ty: ValueType) -> bool {
        match ty {
            ValueType::Bool => matches!(self, Op::Eq | Op::Ne),
            ValueType::Number => {
                matches!(self, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge)
            }
            ValueType::String => matches!(
                self,
                Op::Eq | Op::Ne | Op::Contains | Op::BeginsWith | Op::EndsWith
            ),
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `true` / `false` (any case).
    Bool(bool),
    /// A number (`-?digits(.digits)?([eE][+-]?digits)?`).
    Number(f64),
    /// A quoted string, or a bare word tolerated as one (`name = traces`).
    String(String),
}

impl Value {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Bool(_) => ValueType::Bool,
            Value::Number(_) => ValueType::Number,
            Value::String(_) => ValueType::String,
        }
    }
}

/// The type of a keyword or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `true`/`false`.
    Bool,
    /// Numbers.
    Number,
    /// Strings.
    String,
}

impl ValueType {
    /// `a boolean`, `a number`, `a string`: used in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            ValueType::Bool => "true or false",
            ValueType::Number => "a number",
            ValueType::String => "a quoted string",
        }
    }
}

/// The simple keywords (spec §3.1), with the contexts they are valid in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `ok`: no error, fault or throttle.
    Ok,
    /// `error`: a 4XX client error (throttles included).
    Error,
    /// `fault`: a 5XX server error.
    Fault,
    /// `throttle`: 429.
    Throttle,
    /// `partial`: incomplete (in-progress) segments.
    Partial,
    /// `inferred`: an inferred segment or service.
    Inferred,
    /// `first`: first element of a root-cause list.
    First,
    /// `last`: last element of a root-cause list.
    Last,
    /// `remote`: a remote root-cause entity.
    Remote,
    /// `root`: the root segment of the trace.
    Root,
    /// `responsetime` (seconds).
    ResponseTime,
    /// `duration` (seconds).
    Duration,
    /// `http.status`.
    HttpStatus,
    /// `index`: position in a root-cause list (0-based).
    Index,
    /// `coverage`: share of the root's response time (response-time root causes).
    Coverage,
    /// `http.url`.
    HttpUrl,
    /// `http.method`.
    HttpMethod,
    /// `http.useragent`.
    HttpUserAgent,
    /// `http.clientip`.
    HttpClientIp,
    /// `user`.
    User,
    /// `name`: of a service, entity or exception.
    Name,
    /// `type`: of a service.
    Type,
    /// `message`: of an exception.
    Message,
    /// `availabilityzone`.
    AvailabilityZone,
    /// `instance.id`.
    InstanceId,
    /// `resource.arn`.
    ResourceArn,
}

/// Where a sub-expression is evaluated; decides which keywords are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The top level: the trace as a whole.
    Trace,
    /// Inside `service(...) { }` or `edge(...) { }`: one segment or call record.
    Node,
    /// Inside `rootcause.*.* { }`: one root-cause element.
    RootCause,
}

impl Keyword {
    /// Every keyword.
    pub const ALL: [Keyword; 26] = [
        Keyword::Ok,
        Keyword::Error,
        Keyword::Fault,
        Keyword::Throttle,
        Keyword::Partial,
        Keyword::Inferred,
        Keyword::First,
        Keyword::Last,
        Keyword::Remote,
        Keyword::Root,
        Keyword::ResponseTime,
        Keyword::Duration,
        Keyword::HttpStatus,
        Keyword::Index,
        Keyword::Coverage,
        Keyword::HttpUrl,
        Keyword::HttpMethod,
        Keyword::HttpUserAgent,
        Keyword::HttpClientIp,
        Keyword::User,
        Keyword::Name,
        Keyword::Type,
        Keyword::Message,
        Keyword::AvailabilityZone,
        Keyword::InstanceId,
        Keyword::ResourceArn,
    ];

    /// The canonical (lowercase) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Ok => "ok",
            Keyword::Error => "error",
            Keyword::Fault => "fault",
            Keyword::Throttle => "throttle",
            Keyword::Partial => "partial",
            Keyword::Inferred => "inferred",
            Keyword::First => "first",
            Keyword::Last => "last",
            Keyword::Remote => "remote",
            Keyword::Root => "root",
            Keyword::ResponseTime => "responsetime",
            Keyword::Duration => "duration",
            Keyword::HttpStatus => "http.status",
            Keyword::Index => "index",
            Keyword::Coverage => "coverage",
            Keyword::HttpUrl => "http.url",
            Keyword::HttpMethod => "http.method",
            Keyword::HttpUserAgent => "http.useragent",
            Keyword::HttpClientIp => "http.clientip",
            Keyword::User => "user",
            Keyword::Name => "name",
            Keyword::Type => "type",
            Keyword::Message => "message",
            Keyword::AvailabilityZone => "availabilityzone",
            Keyword::InstanceId => "instance.id",
            Keyword::ResourceArn => "resource.arn",
        }
    }

    /// Looks a keyword up by its lowercase spelling.
    pub fn from_lowercase(s: &str) -> Option<Keyword> {
        Keyword::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The type of the keyword's values.
    pub fn value_type(self) -> ValueType {
        use Keyword::*;
        match self {
            Ok | Error | Fault | Throttle | Partial | Inferred | First | Last | Remote | Root => {
                ValueType::Bool
            }
            ResponseTime | Duration | HttpStatus | Index | Coverage => ValueType::Number,
            HttpUrl | HttpMethod | HttpUserAgent | HttpClientIp | User | Name | Type | Message
            | AvailabilityZone | InstanceId | ResourceArn => ValueType::String,
        }
    }

    /// Whether the keyword can be used in this scope.
    pub fn valid_in(self, scope: Scope) -> bool {
        use Keyword::*;
        match scope {
            Scope::Trace => matches!(
                self,
                Ok | Error
                    | Fault
                    | Throttle
                    | Partial
                    | Inferred
                    | ResponseTime
                    | Duration
                    | HttpStatus
                    | HttpUrl
                    | HttpMethod
                    | HttpUserAgent
                    | HttpClientIp
                    | User
                    | AvailabilityZone
                    | InstanceId
                    | ResourceArn
            ),
            Scope::Node => !matches!(self, First | Last | Remote | Index | Coverage | Message),
            Scope::RootCause => matches!(
                self,
                Name | Type | Message | Remote | Inferred | First | Last | Index | Coverage
            ),
        }
    }
}

/// A node reference in `service(...)` and `edge(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeRef {
    /// The node's name (`"name"` or `id(name: ...)`).
    pub name: Option<String>,
    /// The node's type (`id(type: ...)`).
    pub r#type: Option<String>,
    /// The node's account (`id(account.id: ...)`).
    pub account_id: Option<String>,
    /// Written as `id(...)` rather than a bare string.
    pub id_form: bool,
}

/// How `group.*` names a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// `group.name`.
    Name,
    /// `group.arn`.
    Arn,
}

/// Which root causes `rootcause.KIND.*` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootCauseKind {
    /// `FaultRootCauses`.
    Fault,
    /// `ErrorRootCauses`.
    Error,
    /// `ResponseTimeRootCauses`.
    ResponseTime,
}

/// Which elements of a root cause `rootcause.*.LEVEL` iterates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootCauseLevel {
    /// `Services`.
    Service,
    /// The entities of every service's `EntityPath`, in path order.
    Entity,
    /// The exceptions of those entities, in path order (fault and error only).
    Exception,
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => write_string(f, s),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparison::Present => Ok(()),
            Comparison::Is(op, v) => write!(f, " {} {v}", op.as_str()),
        }
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.id_form
            && let (Some(name), None, None) = (&self.name, &self.r#type, &self.account_id)
        {
            return write_string(f, name);
        }
        f.write_str("id(")?;
        let mut first = true;
        for (k, v) in [
            ("name", &self.name),
            ("type", &self.r#type),
            ("account.id", &self.account_id),
        ] {
            if let Some(v) = v {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "{k}: ")?;
                write_string(f, v)?;
            }
        }
        f.write_str(")")
    }
}

fn write_block(f: &mut fmt::Formatter<'_>, block: Option<&Filter>) -> fmt::Result {
    match block {
        Some(b) => write!(f, " {{ {b} }}"),
        None => Ok(()),
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::All => Ok(()),
            Filter::And(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" AND ")?;
                    }
                    match item {
                        Filter::Or(_) | Filter::And(_) => write!(f, "({item})")?,
                        _ => write!(f, "{item}")?,
                    }
                }
                Ok(())
            }
            Filter::Or(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    match item {
                        Filter::Or(_) => write!(f, "({item})")?,
                        _ => write!(f, "{item}")?,
                    }
                }
                Ok(())
            }
            Filter::Not(inner) => match **inner {
                Filter::And(_) | Filter::Or(_) | Filter::Not(_) => write!(f, "!({inner})"),
                _ => write!(f, "!{inner}"),
            },
            Filter::Test(t) => write!(f, "{}{}", t.keyword.as_str(), t.cmp),
            Filter::Annotation { key, cmp } => {
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    write!(f, "annotation.{key}{cmp}")
                } else {
                    f.write_str("annotation[")?;
                    write_string(f, key)?;
                    write!(f, "]{cmp}")
                }
            }
            Filter::Service { node, block } => {
                f.write_str("service(")?;
                if let Some(n) = node {
                    write!(f, "{n}")?;
                }
                f.write_str(")")?;
                write_block(f, block.as_deref())
            }
            Filter::Edge { from, to, block } => {
                write!(f, "edge({from}, {to})")?;
                write_block(f, block.as_deref())
            }
            Filter::Group { by, equal, value } => {
                let key = match by {
                    GroupKey::Name => "group.name",
                    GroupKey::Arn => "group.arn",
                };
                write!(f, "{key} {} ", if *equal { "=" } else { "!=" })?;
                write_string(f, value)
            }
            Filter::RootCause { kind, level, block } => {
                let kind = match kind {
                    RootCauseKind::Fault => "fault",
                    RootCauseKind::Error => "error",
                    RootCauseKind::ResponseTime => "responsetime",
                };
                let level = match level {
                    RootCauseLevel::Service => "service",
                    RootCauseLevel::Entity => "entity",
                    RootCauseLevel::Exception => "exception",
                };
                write!(f, "rootcause.{kind}.{level}")?;
                write_block(f, block.as_deref())
            }
            Filter::RootCauseJson(items) => {
                let array = serde_json::Value::Array(items.clone());
                write!(f, "rootcause.json = #{array}")
            }
        }
    }
}

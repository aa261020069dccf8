//! What X-Ray accepts: document checks mapped onto the codes AWS returns in
//! `UnprocessedTraceSegments`.
//!
//! AWS's observed codes are `MissingId`, `InvalidName` and `MissingEndTime`, with messages like
//! `Invalid subsegment. ErrorCode: InvalidName, Cause: null`. We use the same `Missing<Field>` /
//! `Invalid<Field>` family for every check and put a precise cause (member path and reason) where
//! AWS writes `null`. Checks are strict where AWS is documented to be strict (ids, trace id
//! shape, name length and characters, start time, end time or in-progress) and lenient elsewhere:
//! unknown members, odd value types inside `http`, `aws` and `metadata`, annotation keys with `:`
//! (AWS writes `aws:api_id` itself), and non-scalar annotation values (kept, not indexed) all pass.

use std::fmt;

use crate::head::SegmentHead;
use crate::ids::{ENTITY_ID_LEN, EntityId, TraceId};
use crate::segment::{Segment, Timestamp};

/// Largest document X-Ray accepts: 64 kB.
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024;
/// Longest `name`, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Default trace-id age limit: X-Ray keeps traces 30 days and refuses older trace ids.
pub const DEFAULT_MAX_TRACE_AGE_SECS: u64 = 30 * 24 * 3600;
/// Default limit on trace ids from the future (clock skew) [unverified; OpenTelemetry uses 5 min].
pub const DEFAULT_MAX_TRACE_FUTURE_SECS: u64 = 5 * 60;

/// The `ErrorCode` of an `UnprocessedTraceSegments` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentErrorCode {
    /// Not JSON, or JSON of the wrong shape.
    InvalidJson,
    /// Over [`MAX_DOCUMENT_LEN`] [design: AWS publishes no code for this].
    DocumentTooLarge,
    /// No `id`.
    MissingId,
    /// `id` is not 16 lowercase hex digits.
    InvalidId,
    /// No `name`.
    MissingName,
    /// `name` too long or with characters X-Ray does not allow.
    InvalidName,
    /// No `trace_id` on a segment or independent subsegment.
    MissingTraceId,
    /// `trace_id` malformed, too old or from the future.
    InvalidTraceId,
    /// No `parent_id` on an independent subsegment.
    MissingParentId,
    /// `parent_id` is not 16 hex digits.
    InvalidParentId,
    /// No `start_time`.
    MissingStartTime,
    /// `start_time` not a positive number.
    InvalidStartTime,
    /// Neither `end_time` nor `in_progress: true`.
    MissingEndTime,
    /// `end_time` not a positive number, or present together with `in_progress: true`.
    InvalidEndTime,
    /// `type` other than `subsegment`.
    InvalidType,
}

impl SegmentErrorCode {
    /// The code as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentErrorCode::InvalidJson => "InvalidJSON",
            SegmentErrorCode::DocumentTooLarge => "DocumentTooLarge",
            SegmentErrorCode::MissingId => "MissingId",
            SegmentErrorCode::InvalidId => "InvalidId",
            SegmentErrorCode::MissingName => "MissingName",
            SegmentErrorCode::InvalidName => "InvalidName",
            SegmentErrorCode::MissingTraceId => "MissingTraceId",
            SegmentErrorCode::InvalidTraceId => "InvalidTraceId",
            SegmentErrorCode::MissingParentId => "MissingParentId",
            SegmentErrorCode::InvalidParentId => "InvalidParentId",
            SegmentErrorCode::MissingStartTime => "MissingStartTime",
            SegmentErrorCode::InvalidStartTime => "InvalidStartTime",
            SegmentErrorCode::MissingEndTime => "MissingEndTime",
            SegmentErrorCode::InvalidEndTime => "InvalidEndTime",
            SegmentErrorCode::InvalidType => "InvalidType",
        }
    }
}

impl fmt::Display for SegmentErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the refused document was a segment or a subsegment (AWS's messages say which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// A segment document.
    Segment,
    /// An independent or embedded subsegment.
    Subsegment,
}

/// A refused document: code, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentError {
    /// AWS's error code.
    pub code: SegmentErrorCode,
    /// Segment or subsegment, for the message.
    pub kind: EntityKind,
    /// The top-level document's `id`, when it could be read (for `UnprocessedTraceSegments.Id`).
    pub id: Option<String>,
    /// Member path, e.g. `subsegments[2].name`; empty for the document as a whole.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl SegmentError {
    /// The `Message` of an `UnprocessedTraceSegments` entry, in AWS's format with our cause.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            EntityKind::Segment => "segment",
            EntityKind::Subsegment => "subsegment",
        };
        write!(f, "Invalid {kind}. ErrorCode: {}, Cause: ", self.code)?;
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for SegmentError {}

/// Checks beyond the document itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Current time in epoch seconds; `None` skips the trace-id age check.
    pub now_secs: Option<u64>,
    /// Oldest trace id accepted, in seconds before `now_secs`.
    pub max_trace_age_secs: u64,
    /// Newest trace id accepted, in seconds after `now_secs`.
    pub max_trace_future_secs: u64,
    /// Largest document accepted, in bytes ([`MAX_DOCUMENT_LEN`] as AWS; may be raised).
    pub max_document_bytes: usize,
    /// When set, a trace id whose epoch part is not plausible for the document's `start_time`
    /// (a W3C id with a random first half, see [`TraceId::has_plausible_epoch`]) has its age
    /// judged by that `start_time` instead. AWS has no such rule; Fluoro's OTLP receivers set
    /// it, PutTraceSegments does not.
    pub age_by_start_time: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            now_secs: None,
            max_trace_age_secs: DEFAULT_MAX_TRACE_AGE_SECS,
            max_trace_future_secs: DEFAULT_MAX_TRACE_FUTURE_SECS,
            max_document_bytes: MAX_DOCUMENT_LEN,
            age_by_start_time: false,
        }
    }
}

/// Parses and validates one document as PutTraceSegments receives it.
pub fn check_document(doc: &str, opts: &ValidateOptions) -> Result<Segment, SegmentError> {
    // Only a refused document needs the head parse (for its id and kind in the error); a good
    // one is parsed once.
    let head_info = || {
        let head = SegmentHead::parse(doc).ok();
        let id = head
            .as_ref()
            .and_then(|h| h.id.as_deref().map(str::to_owned));
        let kind = if head.as_ref().is_some_and(SegmentHead::is_subsegment) {
            EntityKind::Subsegment
        } else {
            EntityKind::Segment
        };
        (id, kind)
    };
    if doc.len() > opts.max_document_bytes {
        let (id, kind) = head_info();
        return Err(SegmentError {
            code: SegmentErrorCode::DocumentTooLarge,
            kind,
            id,
            path: String::new(),
            reason: format!(
                "document is {} bytes; the limit is {}",
                doc.len(),
                opts.max_document_bytes
            ),
        });
    }
    let trimmed = doc.trim_start();
    if trimmed.starts_with('[') {
        // AWS answers MissingId to a document that is a JSON array.
        let (id, kind) = head_info();
        return Err(SegmentError {
            code: SegmentErrorCode::MissingId,
            kind,
            id,
            path: String::new(),
            reason: "document is an array, not a segment object".to_owned(),
        });
    }
    let seg = Segment::from_json(doc).map_err(|e| {
        let (id, kind) = head_info();
        let leaf = e.path.rsplit('.').next().unwrap_or("");
        let code = match leaf {
            "id" if !e.path.contains("cause") && !e.path.contains("links") => {
                SegmentErrorCode::InvalidId
            }
            "name" => SegmentErrorCode::InvalidName,
            "trace_id" if !e.path.contains("links") => SegmentErrorCode::InvalidTraceId,
            "parent_id" => SegmentErrorCode::InvalidParentId,
            "start_time" => SegmentErrorCode::InvalidStartTime,
            "end_time" => SegmentErrorCode::InvalidEndTime,
            "type" if !e.path.contains("cause") => SegmentErrorCode::InvalidType,
            _ => SegmentErrorCode::InvalidJson,
        };
        let path = if e.path == "." { String::new() } else { e.path };
        SegmentError {
            code,
            kind,
            id,
            path,
            reason: format!("{} at line {} column {}", e.message, e.line, e.column),
        }
    })?;
    validate(&seg, opts)?;
    Ok(seg)
}

/// Validates a parsed top-level document (a segment or an independent subsegment) and its
/// embedded subsegments.
pub fn validate(seg: &Segment, opts: &ValidateOptions) -> Result<(), SegmentError> {
    let kind = if seg.is_subsegment() {
        EntityKind::Subsegment
    } else {
        EntityKind::Segment
    };
    let fail = |code, path: String, reason: String| SegmentError {
        code,
        kind,
        id: seg.id.clone(),
        path,
        reason,
    };
    match seg.trace_id.as_deref() {
        None => {
            return Err(fail(
                SegmentErrorCode::MissingTraceId,
                "trace_id".into(),
                "required on segments and independent subsegments".into(),
            ));
        }
        Some(t) => {
            let trace = TraceId::parse(t).map_err(|e| {
                fail(
                    SegmentErrorCode::InvalidTraceId,
                    "trace_id".into(),
                    format!("{t:?}: {e}"),
                )
            })?;
            if let Some(now) = opts.now_secs {
                let start = seg.start_time.as_ref().map(Timestamp::as_secs_f64);
                let epoch = match start {
                    Some(st)
                        if opts.age_by_start_time
                            && st.is_finite()
                            && st >= 0.0
                            && !trace.has_plausible_epoch(st) =>
                    {
                        st as u64
                    }
                    _ => u64::from(trace.epoch_secs()),
                };
                if epoch + opts.max_trace_age_secs < now {
                    return Err(fail(
                        SegmentErrorCode::InvalidTraceId,
                        "trace_id".into(),
                        format!(
                            "{t:?} is {} s old; traces older than {} s are not accepted",
                            now - epoch,
                            opts.max_trace_age_secs
                        ),
                    ));
                }
                if epoch > now + opts.max_trace_future_secs {
                    return Err(fail(
                        SegmentErrorCode::InvalidTraceId,
                        "trace_id".into(),
                        format!(
                            "{t:?} is {} s in the future; the limit is {} s",
                            epoch - now,
                            opts.max_trace_future_secs
                        ),
                    ));
                }
            }
        }
    }
    if seg.is_subsegment() && seg.parent_id.is_none() {
        return Err(fail(
            SegmentErrorCode::MissingParentId,
            "parent_id".into(),
            "required on independent subsegments".into(),
        ));
    }
    check_entity(seg, "", true).map_err(|(code, path, reason)| fail(code, path, reason))
}

type Failure = (SegmentErrorCode, String, String);

fn join(prefix: &str, member: &str) -> String {
    if prefix.is_empty() {
        member.to_owned()
    } else {
        format!("{prefix}.{member}")
    }
}

fn check_entity_id(id: &str) -> Result<(), String> {
    if id.len() == ENTITY_ID_LEN {
        EntityId::parse(id)
            .map(|_| ())
            .map_err(|e| format!("{id:?}: {e}"))
    } else {
        Err(format!(
            "{id:?}: expected {ENTITY_ID_LEN} hex digits, got {} characters",
            id.chars().count()
        ))
    }
}

/// True for characters X-Ray allows in names: letters, digits, whitespace and `_.:/%&#=+\-@`.
pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric()
        || c.is_whitespace()
        || matches!(
            c,
            '_' | '.' | ':' | '/' | '%' | '&' | '#' | '=' | '+' | '\\' | '-' | '@'
        )
}

fn check_entity(seg: &Segment, prefix: &str, top: bool) -> Result<(), Failure> {
    match seg.id.as_deref() {
        None => {
            return Err((
                SegmentErrorCode::MissingId,
                join(prefix, "id"),
                "required".into(),
            ));
        }
        Some(id) => {
            check_entity_id(id)
                .map_err(|r| (SegmentErrorCode::InvalidId, join(prefix, "id"), r))?;
        }
    }
    match seg.name.as_deref() {
        None => {
            return Err((
                SegmentErrorCode::MissingName,
                join(prefix, "name"),
                "required".into(),
            ));
        }
        Some(name) => {
            let n = name.chars().count();
            if n == 0 {
                return Err((
                    SegmentErrorCode::InvalidName,
                    join(prefix, "name"),
                    "must not be empty".into(),
                ));
            }
            if n > MAX_NAME_CHARS {
                return Err((
                    SegmentErrorCode::InvalidName,
                    join(prefix, "name"),
                    format!("{n} characters; the limit is {MAX_NAME_CHARS}"),
                ));
            }
            if let Some((i, c)) = name.chars().enumerate().find(|&(_, c)| !is_name_char(c)) {
                return Err((
                    SegmentErrorCode::InvalidName,
                    join(prefix, "name"),
                    format!(
                        "character {c:?} at position {i} is not allowed (letters, digits, whitespace and _.:/%&#=+\\-@ are)"
                    ),
                ));
            }
        }
    }
    if let Some(kind) = seg.kind.as_deref()
        && kind != "subsegment"
    {
        return Err((
            SegmentErrorCode::InvalidType,
            join(prefix, "type"),
            format!("{kind:?}: the only type is \"subsegment\""),
        ));
    }
    if !top && let Some(t) = seg.trace_id.as_deref() {
        TraceId::parse(t).map_err(|e| {
            (
                SegmentErrorCode::InvalidTraceId,
                join(prefix, "trace_id"),
                format!("{t:?}: {e}"),
            )
        })?;
    }
    if let Some(p) = seg.parent_id.as_deref() {
        check_entity_id(p).map_err(|r| {
            (
                SegmentErrorCode::InvalidParentId,
                join(prefix, "parent_id"),
                r,
            )
        })?;
    }
    let start = match &seg.start_time {
        None => {
            return Err((
                SegmentErrorCode::MissingStartTime,
                join(prefix, "start_time"),
                "required".into(),
            ));
        }
        Some(t) => t.as_secs_f64(),
    };
    if !(start.is_finite() && start > 0.0) {
        return Err((
            SegmentErrorCode::InvalidStartTime,
            join(prefix, "start_time"),
            format!("{start} is not a positive epoch-seconds number"),
        ));
    }
    let in_progress = seg.in_progress == Some(true);
    match (&seg.end_time, in_progress) {
        (None, false) => {
            return Err((
                SegmentErrorCode::MissingEndTime,
                join(prefix, "end_time"),
                "required unless in_progress is true".into(),
            ));
        }
        (Some(_), true) => {
            return Err((
                SegmentErrorCode::InvalidEndTime,
                join(prefix, "end_time"),
                "end_time and in_progress: true are mutually exclusive".into(),
            ));
        }
        (Some(t), false) => {
            let end = t.as_secs_f64();
            if !(end.is_finite() && end > 0.0) {
                return Err((
                    SegmentErrorCode::InvalidEndTime,
                    join(prefix, "end_time"),
                    format!("{end} is not a positive epoch-seconds number"),
                ));
            }
        }
        (None, true) => {}
    }
    for (i, sub) in seg.subsegments.iter().flatten().enumerate() {
        check_entity(sub, &join(prefix, &format!("subsegments[{i}]")), false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "1-6b09abae-f47fdd9445ec71a2b334fd41";

    fn doc(extra: &str) -> String {
        format!(
            r#"{{"id":"320163627716d8cf","name":"svc","trace_id":"{T}","start_time":1795795885.1{extra}}}"#
        )
    }

    fn code(d: &str) -> (SegmentErrorCode, String) {
        let e = check_document(d, &ValidateOptions::default()).unwrap_err();
        (e.code, e.path)
    }

    #[test]
    fn accepts_complete_and_in_progress() {
        let o = ValidateOptions::default();
        check_document(&doc(r#","end_time":1795795885.2"#), &o).unwrap();
        check_document(&doc(r#","in_progress":true"#), &o).unwrap();
    }

    #[test]
    fn each_check_has_its_code() {
        use SegmentErrorCode as C;
        assert_eq!(code(&doc("")).0, C::MissingEndTime);
        assert_eq!(
            code(&doc(r#","end_time":2,"in_progress":true"#)).0,
            C::InvalidEndTime
        );
        assert_eq!(
            code(
                r#"{"name":"a","trace_id":"1-6b09abae-f47fdd9445ec71a2b334fd41","start_time":1,"end_time":2}"#
            ),
            (C::MissingId, "id".into())
        );
        assert_eq!(
            code(&doc(r#","end_time":2,"type":"subsegment""#)).0,
            C::MissingParentId
        );
        assert_eq!(
            code(&doc(r#","end_time":2,"type":"segment""#)).0,
            C::InvalidType
        );
        assert_eq!(
            code(&doc(
                r#","end_time":2,"subsegments":[{"id":"1111111111111111","name":"bad<name>","start_time":1,"end_time":2}]"#
            )),
            (C::InvalidName, "subsegments[0].name".into())
        );
        assert_eq!(
            code(&doc(
                r#","end_time":2,"subsegments":[{"id":"1111111111111111","name":"ok","start_time":1}]"#
            )),
            (C::MissingEndTime, "subsegments[0].end_time".into())
        );
        assert_eq!(code("[]").0, C::MissingId);
        assert_eq!(code("{").0, C::InvalidJson);
        assert_eq!(code(&doc(r#","end_time":"soon""#)).0, C::InvalidEndTime);
    }

    #[test]
    fn message_follows_aws_format() {
        let e = check_document(&doc(""), &ValidateOptions::default()).unwrap_err();
        assert_eq!(
            e.message(),
            "Invalid segment. ErrorCode: MissingEndTime, Cause: end_time: required unless in_progress is true"
        );
        assert_eq!(e.id.as_deref(), Some("320163627716d8cf"));
    }

    #[test]
    fn trace_age_is_checked_when_asked() {
        let epoch = u64::from(TraceId::parse(T).unwrap().epoch_secs());
        let mut o = ValidateOptions {
            now_secs: Some(epoch + DEFAULT_MAX_TRACE_AGE_SECS + 1),
            ..ValidateOptions::default()
        };
        let d = doc(r#","end_time":1795795885.2"#);
        assert_eq!(
            check_document(&d, &o).unwrap_err().code,
            SegmentErrorCode::InvalidTraceId
        );
        o.now_secs = Some(epoch);
        check_document(&d, &o).unwrap();
    }

    #[test]
    fn random_first_half_is_aged_by_start_time_when_asked() {
        // Issue 8: a W3C id whose first 32 bits are not an epoch (here 0xfedcba98, year 2105).
        let d = r#"{"id":"320163627716d8cf","name":"svc","trace_id":"1-fedcba98-f47fdd9445ec71a2b334fd41","start_time":1795795885.1,"end_time":1795795885.2}"#;
        let mut o = ValidateOptions {
            now_secs: Some(1_795_795_890),
            ..ValidateOptions::default()
        };
        assert_eq!(
            check_document(d, &o).unwrap_err().code,
            SegmentErrorCode::InvalidTraceId
        );
        o.age_by_start_time = true;
        check_document(d, &o).unwrap();
        // Still refused when the span itself is too old.
        o.now_secs = Some(1_795_795_890 + DEFAULT_MAX_TRACE_AGE_SECS);
        assert_eq!(
            check_document(d, &o).unwrap_err().code,
            SegmentErrorCode::InvalidTraceId
        );
    }
}

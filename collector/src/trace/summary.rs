//! The `TraceSummary` of an assembled trace (xray-api.md §5.1).
//!
//! - Root segment: the earliest segment without `parent_id`; if every segment has one, the
//!   earliest segment (and the trace is partial).
//! - `StartTime`/`Duration`: earliest start and latest end over the top-level documents
//!   (segments, inferred segments, orphans). `ResponseTime`: the root's end − start.
//! - `HasFault`/`HasError`: the root segment only (current API reference), from its flags or
//!   its HTTP status class. `HasThrottle`: any entity, subsegments and orphans included.
//! - `IsPartial`: something in progress; an orphan; a segment whose parent is not in the trace;
//!   a call declaring a traced downstream (`traced: true`) with no segment downstream of it.
//! - `Annotations`, `Users`: every entity, orphans included; each distinct value lists the
//!   services that recorded it (orphans belong to no known service yet).
//! - `ServiceIds`: one per distinct node over all segments, inferred included, in segment
//!   order. `EntryPoint`: the root's node.
//! - Collections are always present (`[]`/`{}` when empty) and flags are `Some(false)` rather
//!   than absent, as in AWS's own output. `Http` is present (possibly empty) whenever there is
//!   a root segment.
//! - `Revision` is left at 0 and `MatchedEventTime` absent: the store owns both.

use std::collections::BTreeMap;

use fluoro_proto::api::{
    self, AvailabilityZoneDetail, EpochSeconds, InstanceIdDetail, ResourceArnDetail, ServiceId,
    TraceSummary, TraceUser, ValueWithServiceIds,
};
use fluoro_proto::segment::{AnnotationValue, Segment};

use super::AssembledTrace;
use super::assemble::is_complete;
use super::inferred::{declares_traced, inferred_node_name, is_call};
use super::rootcause;
use super::view::View;

/// The identity of the service-graph node a segment belongs to: `Name` (the segment's name, or
/// for an inferred segment of a resource type such as `AWS::DynamoDB::Table` the resource's
/// name), `Names` = `[Name]`, `AccountId` from `aws.account_id`, `Type` = `origin` verbatim
/// (absent without one).
pub fn service_id(seg: &Segment) -> ServiceId {
    let name = inferred_node_name(seg)
        .or(seg.name.as_deref())
        .map(str::to_owned);
    ServiceId {
        names: Some(name.iter().cloned().collect()),
        name,
        account_id: seg.aws.as_ref().and_then(|a| a.account_id.clone()),
        r#type: seg.origin.clone(),
    }
}

/// Derives the `TraceSummary` of an assembled trace.
pub fn summarize(trace: &AssembledTrace) -> TraceSummary {
    summarize_with(trace, true)
}

/// The summary without its root causes (`FaultRootCauses`, `ErrorRootCauses`,
/// `ResponseTimeRootCauses` absent): what the filter index needs when a trace settles, without
/// the root-cause analysis, the costliest part of a summary.
pub fn summarize_for_index(trace: &AssembledTrace) -> TraceSummary {
    summarize_with(trace, false)
}

fn summarize_with(trace: &AssembledTrace, root_causes: bool) -> TraceSummary {
    let view = View::new(trace);
    let root = view.root_segment();
    let ids: Vec<ServiceId> = trace.segments.iter().map(service_id).collect();
    let owner_id = |owner: Option<usize>| owner.map(|i| &ids[i]);

    let (start, end) = trace.time_span();
    let response_time = root.filter(|r| is_complete(r)).and_then(|r| {
        Some(r.end_time.as_ref()?.as_secs_f64() - r.start_time.as_ref()?.as_secs_f64())
    });

    let mut annotations: BTreeMap<String, Vec<ValueWithServiceIds>> = BTreeMap::new();
    let mut users: Vec<TraceUser> = Vec::new();
    let mut has_throttle = false;
    let mut partial = !view.root_is_true || !trace.orphans.is_empty();
    for e in &view.entities {
        let seg = e.seg;
        let sid = owner_id(e.owner);
        has_throttle |= is_throttled(seg);
        partial |= !is_complete(seg);
        if !e.is_segment && e.owner.is_some() && is_call(seg) && declares_traced(seg) {
            let served = seg
                .id
                .as_deref()
                .is_some_and(|id| view.downstream.contains_key(id));
            partial |= !served;
        }
        if e.is_segment
            && let Some(p) = seg.parent_id.as_deref()
        {
            partial |= !view.by_id.contains_key(p);
        }
        for (key, value) in seg.annotations.iter().flatten() {
            let Some(value) = api_value(value) else {
                continue;
            };
            let values = annotations.entry(key.clone()).or_default();
            let pos = match values
                .iter()
                .position(|v| v.annotation_value.as_ref() == Some(&value))
            {
                Some(p) => p,
                None => {
                    values.push(ValueWithServiceIds {
                        annotation_value: Some(value),
                        service_ids: Some(Vec::new()),
                    });
                    values.len() - 1
                }
            };
            if let (Some(sid), Some(list)) = (sid, values[pos].service_ids.as_mut()) {
                push_distinct(list, sid.clone());
            }
        }
        if let Some(user) = &seg.user {
            let pos = match users
                .iter()
                .position(|u| u.user_name.as_ref() == Some(user))
            {
                Some(p) => p,
                None => {
                    users.push(TraceUser {
                        user_name: Some(user.clone()),
                        service_ids: Some(Vec::new()),
                    });
                    users.len() - 1
                }
            };
            if let (Some(sid), Some(list)) = (sid, users[pos].service_ids.as_mut()) {
                push_distinct(list, sid.clone());
            }
        }
    }
    partial |= trace.segments.is_empty();

    let mut service_ids = Vec::new();
    let mut arns = Vec::new();
    let mut instances = Vec::new();
    let mut zones = Vec::new();
    for (seg, sid) in trace.segments.iter().zip(&ids) {
        push_distinct(&mut service_ids, sid.clone());
        if let Some(arn) = &seg.resource_arn {
            push_distinct(
                &mut arns,
                ResourceArnDetail {
                    arn: Some(arn.clone()),
                },
            );
        }
        let aws = seg.aws.as_deref();
        let ec2 = aws.and_then(|a| a.ec2.as_deref());
        if let Some(i) = ec2.and_then(|e| e.instance_id.clone()) {
            push_distinct(&mut instances, InstanceIdDetail { id: Some(i) });
        }
        let ecs_zone = aws
            .and_then(|a| a.ecs.as_deref())
            .and_then(|e| e.availability_zone.clone());
        for z in ec2
            .and_then(|e| e.availability_zone.clone())
            .into_iter()
            .chain(ecs_zone)
        {
            push_distinct(&mut zones, AvailabilityZoneDetail { name: Some(z) });
        }
    }

    let causes = root_causes.then(|| rootcause::root_causes(&view));
    let (fault, error, slow) = match causes {
        Some(c) => (Some(c.fault), Some(c.error), Some(c.response_time)),
        None => (None, None, None),
    };
    TraceSummary {
        id: trace.id.to_string(),
        start_time: start.map(EpochSeconds),
        duration: start.zip(end).map(|(s, e)| e - s),
        response_time,
        has_fault: Some(root.is_some_and(is_faulted)),
        has_error: Some(root.is_some_and(is_errored)),
        has_throttle: Some(has_throttle),
        is_partial: Some(partial),
        http: root.map(root_http),
        annotations: Some(annotations),
        users: Some(users),
        service_ids: Some(service_ids),
        resource_arns: Some(arns),
        instance_ids: Some(instances),
        availability_zones: Some(zones),
        entry_point: root.map(service_id),
        fault_root_causes: fault,
        error_root_causes: error,
        response_time_root_causes: slow,
        revision: Some(0),
        matched_event_time: None,
    }
}

fn push_distinct<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn status(seg: &Segment) -> Option<i64> {
    seg.http
        .as_ref()?
        .response
        .as_ref()?
        .status
        .as_ref()?
        .as_i64()
}

/// `fault` flag or a 5xx response.
pub(super) fn is_faulted(seg: &Segment) -> bool {
    seg.fault == Some(true) || status(seg).is_some_and(|s| (500..600).contains(&s))
}

/// `error` or `throttle` flag, or a 4xx response.
pub(super) fn is_errored(seg: &Segment) -> bool {
    seg.error == Some(true)
        || seg.throttle == Some(true)
        || status(seg).is_some_and(|s| (400..500).contains(&s))
}

/// `throttle` flag or a 429 response.
fn is_throttled(seg: &Segment) -> bool {
    seg.throttle == Some(true) || status(seg) == Some(429)
}

/// Only strings, numbers and booleans are indexed.
fn api_value(v: &AnnotationValue) -> Option<api::AnnotationValue> {
    match v {
        AnnotationValue::String(s) => Some(api::AnnotationValue::string(s.clone())),
        AnnotationValue::Number(n) => n.as_f64().map(api::AnnotationValue::number),
        AnnotationValue::Bool(b) => Some(api::AnnotationValue::boolean(*b)),
        AnnotationValue::Other(_) => None,
    }
}

fn root_http(root: &Segment) -> api::Http {
    let http = root.http.as_deref();
    let req = http.and_then(|h| h.request.as_ref());
    api::Http {
        http_url: req.and_then(|r| r.url.clone()),
        http_status: status(root).and_then(|s| i32::try_from(s).ok()),
        http_method: req.and_then(|r| r.method.clone()),
        user_agent: req.and_then(|r| r.user_agent.clone()),
        client_ip: req.and_then(|r| r.client_ip.clone()),
    }
}

//! Operations pages: sampling rules and groups, listed and edited through the X-Ray API
//! (`GetSamplingRules`, `CreateSamplingRule`, `UpdateSamplingRule`, `DeleteSamplingRule`,
//! `GetGroups`, `CreateGroup`, `UpdateGroup`, `DeleteGroup`), and daemon telemetry, read from
//! the collector's own `GET /fluoro/telemetry` (the X-Ray API cannot read it back).
//!
//! Changes are HTML form posts answered with a redirect (303) or, when the API refuses them, the
//! form again with the API's message. Posts from another origin are refused: the console has no
//! login, so a page elsewhere must not be able to change rules through a visitor's browser.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fluoro_proto::api::{
    CreateGroupRequest, CreateGroupResponse, CreateSamplingRuleRequest, CreateSamplingRuleResponse,
    DeleteGroupRequest, DeleteGroupResponse, DeleteSamplingRuleRequest, DeleteSamplingRuleResponse,
    GetGroupsRequest, GetGroupsResponse, GetSamplingRulesRequest, GetSamplingRulesResponse, Group,
    Operation, SamplingRule, SamplingRuleRecord, SamplingRuleUpdate, StoredTelemetryResponse,
    UpdateGroupRequest, UpdateGroupResponse, UpdateSamplingRuleRequest, UpdateSamplingRuleResponse,
};
use serde::Deserialize;

use crate::client::{ApiClient, ClientError};
use crate::pages::{api_error, format_time, html, secure};

/// Most pages of rules or groups read.
const MAX_PAGES: usize = 20;

/// Whether a post comes from the console's own pages: browsers send `Sec-Fetch-Site`
/// (`same-origin`), older ones at least `Origin`, which must then name this host. Clients that
/// send neither (curl, scripts) are not browsers acting for someone else and are let through.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = get(header::ORIGIN.as_str()) else {
        return true;
    };
    let host = get(header::HOST.as_str()).unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority == host)
}

fn forbidden() -> Response {
    secure((StatusCode::FORBIDDEN, "cross-origin form posts are refused").into_response())
}

fn see_other(to: &str) -> Response {
    secure(Redirect::to(to).into_response())
}

// ---------------------------------------------------------------------------------------------
// Sampling rules

/// A rule as listed.
#[derive(Debug, Clone)]
struct RuleRow {
    name: String,
    priority: i32,
    reservoir: i32,
    rate: String,
    service_name: String,
    service_type: String,
    host: String,
    method: String,
    path: String,
    resource_arn: String,
    attributes: String,
    modified: String,
}

fn rule_row(r: &SamplingRuleRecord) -> RuleRow {
    let s = &r.sampling_rule;
    RuleRow {
        name: s.rule_name.clone().unwrap_or_default(),
        priority: s.priority,
        reservoir: s.reservoir_size,
        rate: format!("{}%", (s.fixed_rate * 10_000.0).round() / 100.0),
        service_name: s.service_name.clone(),
        service_type: s.service_type.clone(),
        host: s.host.clone(),
        method: s.http_method.clone(),
        path: s.url_path.clone(),
        resource_arn: s.resource_arn.clone(),
        attributes: s
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        modified: r
            .modified_at
            .or(r.created_at)
            .map(|t| format_time(t.0))
            .unwrap_or_default(),
    }
}

/// The fields of the rule form, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RuleForm {
    /// `create` or `update`.
    #[serde(default)]
    mode: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    reservoir: String,
    #[serde(default)]
    rate: String,
    #[serde(default)]
    service_name: String,
    #[serde(default)]
    service_type: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    resource_arn: String,
    /// `key=value` per line.
    #[serde(default)]
    attributes: String,
}

impl RuleForm {
    fn blank() -> RuleForm {
        RuleForm {
            mode: "create".into(),
            priority: "1000".into(),
            reservoir: "1".into(),
            rate: "5".into(),
            service_name: "*".into(),
            service_type: "*".into(),
            host: "*".into(),
            method: "*".into(),
            path: "*".into(),
            resource_arn: "*".into(),
            ..RuleForm::default()
        }
    }

    fn of(r: &SamplingRule) -> RuleForm {
        RuleForm {
            mode: "update".into(),
            name: r.rule_name.clone().unwrap_or_default(),
            priority: r.priority.to_string(),
            reservoir: r.reservoir_size.to_string(),
            rate: ((r.fixed_rate * 10_000.0).round() / 100.0).to_string(),
            service_name: r.service_name.clone(),
            service_type: r.service_type.clone(),
            host: r.host.clone(),
            method: r.http_method.clone(),
            path: r.url_path.clone(),
            resource_arn: r.resource_arn.clone(),
            attributes: r
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The rule the form describes, or what is wrong with it.
    fn rule(&self) -> Result<SamplingRule, String> {
        let int = |what: &str, v: &str| {
            v.trim()
                .parse::<i32>()
                .map_err(|_| format!("{what}: {v:?} is not a whole number"))
        };
        let rate: f64 = self
            .rate
            .trim()
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("Fixed rate: {:?} is not a number", self.rate))?;
        let mut attributes = BTreeMap::new();
        for line in self.attributes.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("Attributes: {line:?} is not key=value"))?;
            attributes.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        let or_star = |s: &str| {
            if s.trim().is_empty() {
                "*".to_owned()
            } else {
                s.trim().to_owned()
            }
        };
        Ok(SamplingRule {
            rule_name: Some(self.name.trim().to_owned()),
            rule_arn: None,
            resource_arn: or_star(&self.resource_arn),
            priority: int("Priority", &self.priority)?,
            fixed_rate: rate / 100.0,
            reservoir_size: int("Reservoir", &self.reservoir)?,
            service_name: or_star(&self.service_name),
            service_type: or_star(&self.service_type),
            host: or_star(&self.host),
            http_method: or_star(&self.method),
            url_path: or_star(&self.path),
            version: 1,
            attributes,
            sampling_rate_boost: None,
        })
    }
}

#[derive(Template)]
#[template(path = "sampling.html")]
struct SamplingPage {
    nav: &'static str,
    rules: Vec<RuleRow>,
    form: RuleForm,
    error: Option<String>,
}

async fn rules(api: &ApiClient) -> Result<Vec<SamplingRuleRecord>, ClientError> {
    let mut out = Vec::new();
    let mut req = GetSamplingRulesRequest::default();
    for _ in 0..MAX_PAGES {
        let r: GetSamplingRulesResponse = api.call(Operation::GetSamplingRules, &req).await?;
        out.extend(r.sampling_rule_records);
        req.next_token = r.next_token;
        if req.next_token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| {
        (a.sampling_rule.priority, &a.sampling_rule.rule_name)
            .cmp(&(b.sampling_rule.priority, &b.sampling_rule.rule_name))
    });
    Ok(out)
}

#[derive(Debug, Deserialize)]
pub(crate) struct EditQuery {
    edit: Option<String>,
}

async fn sampling_page(
    api: &ApiClient,
    form: Option<RuleForm>,
    error: Option<String>,
    edit: Option<&str>,
) -> Response {
    match rules(api).await {
        Ok(list) => {
            let form = form.unwrap_or_else(|| {
                edit.and_then(|name| {
                    list.iter()
                        .find(|r| r.sampling_rule.rule_name.as_deref() == Some(name))
                })
                .map_or_else(RuleForm::blank, |r| RuleForm::of(&r.sampling_rule))
            });
            let status = if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            html(
                status,
                &SamplingPage {
                    nav: "sampling",
                    rules: list.iter().map(rule_row).collect(),
                    form,
                    error,
                },
            )
        }
        Err(e) => api_error("sampling", api, &e),
    }
}

pub(crate) async fn sampling(State(api): State<ApiClient>, Query(q): Query<EditQuery>) -> Response {
    sampling_page(&api, None, None, q.edit.as_deref()).await
}

pub(crate) async fn sampling_save(
    State(api): State<ApiClient>,
    headers: HeaderMap,
    Form(form): Form<RuleForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let rule = match form.rule() {
        Ok(r) => r,
        Err(e) => return sampling_page(&api, Some(form), Some(e), None).await,
    };
    let result = if form.mode == "update" {
        let update = SamplingRuleUpdate {
            rule_name: rule.rule_name.clone(),
            resource_arn: Some(rule.resource_arn),
            priority: Some(rule.priority),
            fixed_rate: Some(rule.fixed_rate),
            reservoir_size: Some(rule.reservoir_size),
            host: Some(rule.host),
            service_name: Some(rule.service_name),
            service_type: Some(rule.service_type),
            http_method: Some(rule.http_method),
            url_path: Some(rule.url_path),
            attributes: Some(rule.attributes),
            ..SamplingRuleUpdate::default()
        };
        api.call::<_, UpdateSamplingRuleResponse>(
            Operation::UpdateSamplingRule,
            &UpdateSamplingRuleRequest {
                sampling_rule_update: update,
            },
        )
        .await
        .map(|_| ())
    } else {
        api.call::<_, CreateSamplingRuleResponse>(
            Operation::CreateSamplingRule,
            &CreateSamplingRuleRequest {
                sampling_rule: rule,
                tags: None,
            },
        )
        .await
        .map(|_| ())
    };
    match result {
        Ok(()) => see_other("/sampling"),
        Err(e) => sampling_page(&api, Some(form), Some(e.to_string()), None).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NameForm {
    name: String,
}

pub(crate) async fn sampling_delete(
    State(api): State<ApiClient>,
    headers: HeaderMap,
    Form(f): Form<NameForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let req = DeleteSamplingRuleRequest {
        rule_name: Some(f.name),
        rule_arn: None,
    };
    match api
        .call::<_, DeleteSamplingRuleResponse>(Operation::DeleteSamplingRule, &req)
        .await
    {
        Ok(_) => see_other("/sampling"),
        Err(e) => sampling_page(&api, None, Some(e.to_string()), None).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

/// The fields of the group form.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct GroupForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    filter: String,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    nav: &'static str,
    groups: Vec<Group>,
    form: GroupForm,
    error: Option<String>,
}

async fn groups_page(
    api: &ApiClient,
    form: Option<GroupForm>,
    error: Option<String>,
    edit: Option<&str>,
) -> Response {
    let mut groups = Vec::new();
    let mut req = GetGroupsRequest::default();
    for _ in 0..MAX_PAGES {
        match api
            .call::<_, GetGroupsResponse>(Operation::GetGroups, &req)
            .await
        {
            Ok(r) => {
                groups.extend(r.groups);
                req.next_token = r.next_token;
                if req.next_token.is_none() {
                    break;
                }
            }
            Err(e) => return api_error("groups", api, &e),
        }
    }
    groups.sort_by(|a, b| a.group_name.cmp(&b.group_name));
    let form = form.unwrap_or_else(|| {
        edit.and_then(|name| {
            groups
                .iter()
                .find(|g| g.group_name.as_deref() == Some(name))
        })
        .map_or_else(
            || GroupForm {
                mode: "create".into(),
                ..GroupForm::default()
            },
            |g| GroupForm {
                mode: "update".into(),
                name: g.group_name.clone().unwrap_or_default(),
                filter: g.filter_expression.clone().unwrap_or_default(),
            },
        )
    });
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    html(
        status,
        &GroupsPage {
            nav: "groups",
            groups,
            form,
            error,
        },
    )
}

pub(crate) async fn groups(State(api): State<ApiClient>, Query(q): Query<EditQuery>) -> Response {
    groups_page(&api, None, None, q.edit.as_deref()).await
}

pub(crate) async fn groups_save(
    State(api): State<ApiClient>,
    headers: HeaderMap,
    Form(form): Form<GroupForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let name = form.name.trim().to_owned();
    let filter = Some(form.filter.trim().to_owned()).filter(|f| !f.is_empty());
    let result = if form.mode == "update" {
        api.call::<_, UpdateGroupResponse>(
            Operation::UpdateGroup,
            &UpdateGroupRequest {
                group_name: Some(name),
                filter_expression: filter,
                ..UpdateGroupRequest::default()
            },
        )
        .await
        .map(|_| ())
    } else {
        api.call::<_, CreateGroupResponse>(
            Operation::CreateGroup,
            &CreateGroupRequest {
                group_name: name,
                filter_expression: filter,
                ..CreateGroupRequest::default()
            },
        )
        .await
        .map(|_| ())
    };
    match result {
        Ok(()) => see_other("/groups"),
        Err(e) => groups_page(&api, Some(form), Some(e.to_string()), None).await,
    }
}

pub(crate) async fn groups_delete(
    State(api): State<ApiClient>,
    headers: HeaderMap,
    Form(f): Form<NameForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let req = DeleteGroupRequest {
        group_name: Some(f.name),
        group_arn: None,
    };
    match api
        .call::<_, DeleteGroupResponse>(Operation::DeleteGroup, &req)
        .await
    {
        Ok(_) => see_other("/groups"),
        Err(e) => groups_page(&api, None, Some(e.to_string()), None).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Daemon telemetry

/// One telemetry record as listed.
#[derive(Debug, Clone)]
struct TelemetryRow {
    received: String,
    interval_end: String,
    source: String,
    received_count: i32,
    sent: i32,
    spillover: i32,
    rejected: i32,
    timeouts: i32,
    refused: i32,
    http_4xx: i32,
    http_5xx: i32,
    other_errors: i32,
}

#[derive(Template)]
#[template(path = "telemetry.html")]
struct TelemetryPage {
    nav: &'static str,
    minutes: u32,
    choices: Vec<(u32, &'static str)>,
    rows: Vec<TelemetryRow>,
    /// Why nothing can be shown (the endpoint has no telemetry read path).
    unavailable: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TelemetryQuery {
    minutes: Option<String>,
}

pub(crate) async fn telemetry(
    State(api): State<ApiClient>,
    Query(q): Query<TelemetryQuery>,
) -> Response {
    let minutes = q
        .minutes
        .and_then(|m| m.parse::<u32>().ok())
        .filter(|m| (1..=43_200).contains(m))
        .unwrap_or(60);
    let mut page = TelemetryPage {
        nav: "telemetry",
        minutes,
        choices: vec![(15, "15m"), (60, "1h"), (360, "6h"), (1440, "24h")],
        rows: Vec::new(),
        unavailable: None,
    };
    match api
        .get::<StoredTelemetryResponse>(
            &format!("/fluoro/telemetry?minutes={minutes}"),
            "telemetry",
        )
        .await
    {
        Ok(r) => {
            page.rows = r
                .telemetry_records
                .iter()
                .map(|t| {
                    let rec = &t.record;
                    let be = rec.backend_connection_errors.unwrap_or_default();
                    let source = [
                        t.hostname.as_deref(),
                        t.ec2_instance_id.as_deref(),
                        t.resource_arn.as_deref(),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · ");
                    TelemetryRow {
                        received: format_time(t.received_at.0),
                        interval_end: format_time(rec.timestamp.0),
                        source,
                        received_count: rec.segments_received_count.unwrap_or(0),
                        sent: rec.segments_sent_count.unwrap_or(0),
                        spillover: rec.segments_spillover_count.unwrap_or(0),
                        rejected: rec.segments_rejected_count.unwrap_or(0),
                        timeouts: be.timeout_count.unwrap_or(0),
                        refused: be.connection_refused_count.unwrap_or(0),
                        http_4xx: be.http_code_4xx_count.unwrap_or(0),
                        http_5xx: be.http_code_5xx_count.unwrap_or(0),
                        other_errors: be.other_count.unwrap_or(0)
                            + be.unknown_host_count.unwrap_or(0),
                    }
                })
                .collect();
            html(StatusCode::OK, &page)
        }
        Err(ClientError::Api { status: 404, .. }) => {
            page.unavailable = Some(format!(
                "{} does not serve /fluoro/telemetry: the X-Ray API has no operation that reads daemon telemetry back, only fluoro-collector keeps it.",
                api.endpoint()
            ));
            html(StatusCode::OK, &page)
        }
        Err(e) => api_error("telemetry", &api, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_form_reads_percent_and_attributes() {
        let f = RuleForm {
            name: "checkout".into(),
            rate: "12.5%".into(),
            attributes: "tier=gold\n\nregion = eu\n".into(),
            ..RuleForm::blank()
        };
        let r = f.rule().unwrap();
        assert!((r.fixed_rate - 0.125).abs() < 1e-12);
        assert_eq!(r.attributes.len(), 2);
        assert_eq!(r.attributes["region"], "eu");
        assert_eq!(RuleForm::of(&r).rate, "12.5");
        let bad = RuleForm {
            priority: "high".into(),
            ..f
        };
        assert!(bad.rule().unwrap_err().contains("Priority"));
    }

    #[test]
    fn cross_origin_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:2020".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:2020".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
    }
}

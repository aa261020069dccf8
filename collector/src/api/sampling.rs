//! Sampling operations: rules CRUD, targets, statistic summaries.

use std::collections::BTreeMap;

use fluoro_proto::api::limits::{DEFAULT_RULE_NAME, DEFAULT_RULE_PRIORITY};
use fluoro_proto::api::{
    ApiError, CreateSamplingRuleRequest, CreateSamplingRuleResponse, DeleteSamplingRuleRequest,
    DeleteSamplingRuleResponse, EpochSeconds, ErrorCode, GetSamplingRulesRequest,
    GetSamplingRulesResponse, GetSamplingStatisticSummariesRequest,
    GetSamplingStatisticSummariesResponse, GetSamplingTargetsRequest, GetSamplingTargetsResponse,
    SamplingRule, SamplingRuleRecord, SamplingTargetDocument, UnprocessedStatistics,
    UpdateSamplingRuleRequest, UpdateSamplingRuleResponse,
};
use rusqlite::Connection;

use super::AppState;
use crate::sampling::{REPORT_INTERVAL_SECS, timestamp_secs};
use crate::store::StoreError;
use crate::store::groups as tags;
use crate::store::sampling::{self as rules, StatisticsWindow, find_rule, load_rules, save_rule};
use crate::store::traces::now_secs;

/// Most user rules (the built-in `Default` rule does not count) [unverified: AWS's quota is
/// commonly quoted as 25].
pub(crate) const MAX_RULES: usize = 25;

/// The ARN of a sampling rule.
pub(crate) fn rule_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:xray:{region}:{account}:sampling-rule/{name}")
}

/// Inserts the built-in `Default` rule (priority 10000, reservoir 1, rate 5 %) if missing.
pub fn ensure_default_rule(
    conn: &Connection,
    region: &str,
    account: &str,
) -> Result<(), StoreError> {
    let rule = SamplingRule {
        rule_name: Some(DEFAULT_RULE_NAME.to_owned()),
        rule_arn: Some(rule_arn(region, account, DEFAULT_RULE_NAME)),
        resource_arn: "*".into(),
        priority: DEFAULT_RULE_PRIORITY,
        fixed_rate: 0.05,
        reservoir_size: 1,
        service_name: "*".into(),
        service_type: "*".into(),
        host: "*".into(),
        http_method: "*".into(),
        url_path: "*".into(),
        version: 1,
        attributes: BTreeMap::new(),
        sampling_rate_boost: None,
    };
    let record = SamplingRuleRecord {
        sampling_rule: rule,
        created_at: Some(EpochSeconds(0.0)),
        // Must be a truthy number: the Node SDK refuses a zero LastRuleModification.
        modified_at: Some(EpochSeconds(now_secs().floor())),
    };
    rules::insert_rule_if_missing(conn, &record)
}

pub(super) async fn get_rules(
    st: &AppState,
    _req: GetSamplingRulesRequest,
) -> Result<GetSamplingRulesResponse, ApiError> {
    let rules = st.store.read(load_rules).await?;
    Ok(GetSamplingRulesResponse {
        sampling_rule_records: rules,
        next_token: None,
    })
}

fn not_found(name: Option<&str>, arn: Option<&str>) -> ApiError {
    ApiError::invalid_request(format!(
        "sampling rule {} does not exist",
        name.or(arn).unwrap_or("(unnamed)")
    ))
}

pub(super) async fn create_rule(
    st: &AppState,
    req: CreateSamplingRuleRequest,
) -> Result<CreateSamplingRuleResponse, ApiError> {
    req.validate()?;
    let mut rule = req.sampling_rule;
    let name = rule.rule_name.clone().unwrap_or_default();
    if name == DEFAULT_RULE_NAME {
        return Err(ApiError::invalid_request(
            "SamplingRule.RuleName: Default is the built-in rule; update it instead",
        ));
    }
    rule.rule_arn = Some(rule_arn(&st.config.region, &st.config.account_id, &name));
    let now = EpochSeconds(now_secs().floor());
    let record = SamplingRuleRecord {
        sampling_rule: rule,
        created_at: Some(now),
        modified_at: Some(now),
    };
    let new_tags = req.tags.unwrap_or_default();
    let out = record.clone();
    st.store
        .write(move |conn| {
            if find_rule(conn, Some(&name), None)?.is_some() {
                return Ok(Err(ApiError::invalid_request(format!(
                    "a sampling rule named {name} already exists"
                ))));
            }
            let count = load_rules(conn)?.len().saturating_sub(1);
            if count >= MAX_RULES {
                return Ok(Err(ApiError::new(
                    ErrorCode::RuleLimitExceeded,
                    format!("at most {MAX_RULES} sampling rules besides Default"),
                )));
            }
            save_rule(conn, &record)?;
            if let Some(arn) = &record.sampling_rule.rule_arn {
                tags::put_tags(conn, arn, &new_tags)?;
            }
            Ok(Ok(()))
        })
        .await??;
    Ok(CreateSamplingRuleResponse {
        sampling_rule_record: Some(out),
    })
}

pub(super) async fn update_rule(
    st: &AppState,
    req: UpdateSamplingRuleRequest,
) -> Result<UpdateSamplingRuleResponse, ApiError> {
    req.validate()?;
    let u = req.sampling_rule_update;
    let record = st
        .store
        .write(move |conn| {
            let Some(mut rec) = find_rule(conn, u.rule_name.as_deref(), u.rule_arn.as_deref())?
            else {
                return Ok(Err(not_found(
                    u.rule_name.as_deref(),
                    u.rule_arn.as_deref(),
                )));
            };
            let r = &mut rec.sampling_rule;
            if r.rule_name.as_deref() == Some(DEFAULT_RULE_NAME) {
                let others = u.resource_arn.is_some()
                    || u.priority.is_some()
                    || u.host.is_some()
                    || u.service_name.is_some()
                    || u.service_type.is_some()
                    || u.http_method.is_some()
                    || u.url_path.is_some()
                    || u.attributes.is_some();
                if others {
                    return Ok(Err(ApiError::invalid_request(
                        "only FixedRate and ReservoirSize of the Default rule can be changed",
                    )));
                }
            }
            if let Some(v) = u.resource_arn {
                r.resource_arn = v;
            }
            if let Some(v) = u.priority {
                r.priority = v;
            }
            if let Some(v) = u.fixed_rate {
                r.fixed_rate = v;
            }
            if let Some(v) = u.reservoir_size {
                r.reservoir_size = v;
            }
            if let Some(v) = u.host {
                r.host = v;
            }
            if let Some(v) = u.service_name {
                r.service_name = v;
            }
            if let Some(v) = u.service_type {
                r.service_type = v;
            }
            if let Some(v) = u.http_method {
                r.http_method = v;
            }
            if let Some(v) = u.url_path {
                r.url_path = v;
            }
            if let Some(v) = u.attributes {
                r.attributes = v;
            }
            if u.sampling_rate_boost.is_some() {
                r.sampling_rate_boost = u.sampling_rate_boost;
            }
            rec.modified_at = Some(EpochSeconds(now_secs().floor()));
            save_rule(conn, &rec)?;
            Ok(Ok(rec))
        })
        .await??;
    Ok(UpdateSamplingRuleResponse {
        sampling_rule_record: Some(record),
    })
}

pub(super) async fn delete_rule(
    st: &AppState,
    req: DeleteSamplingRuleRequest,
) -> Result<DeleteSamplingRuleResponse, ApiError> {
    req.validate()?;
    let record = st
        .store
        .write(move |conn| {
            let Some(rec) = find_rule(conn, req.rule_name.as_deref(), req.rule_arn.as_deref())?
            else {
                return Ok(Err(not_found(
                    req.rule_name.as_deref(),
                    req.rule_arn.as_deref(),
                )));
            };
            let name = rec.sampling_rule.rule_name.clone().unwrap_or_default();
            if name == DEFAULT_RULE_NAME {
                return Ok(Err(ApiError::invalid_request(
                    "the Default sampling rule cannot be deleted",
                )));
            }
            rules::delete_rule(conn, &name)?;
            if let Some(arn) = &rec.sampling_rule.rule_arn {
                tags::delete_all_tags(conn, arn)?;
            }
            Ok(Ok(rec))
        })
        .await??;
    if let Some(name) = &record.sampling_rule.rule_name {
        st.sampling.forget(name);
    }
    Ok(DeleteSamplingRuleResponse {
        sampling_rule_record: Some(record),
    })
}

pub(super) async fn get_targets(
    st: &AppState,
    req: GetSamplingTargetsRequest,
) -> Result<GetSamplingTargetsResponse, ApiError> {
    req.validate()?;
    let rules = st.store.read(load_rules).await?;
    let last_modification = rules
        .iter()
        .filter_map(|r| r.modified_at.map(|t| t.0))
        .fold(1.0_f64, f64::max);
    let by_name: BTreeMap<&str, &SamplingRule> = rules
        .iter()
        .filter_map(|r| Some((r.sampling_rule.rule_name.as_deref()?, &r.sampling_rule)))
        .collect();
    let now = now_secs();
    let mut targets = Vec::new();
    let mut unprocessed = Vec::new();
    let mut windows: Vec<StatisticsWindow> = Vec::new();
    for doc in &req.sampling_statistics_documents {
        let Some(rule) = by_name.get(doc.rule_name.as_str()) else {
            unprocessed.push(UnprocessedStatistics {
                rule_name: Some(doc.rule_name.clone()),
                error_code: Some("400".into()),
                message: Some(format!("unknown sampling rule {}", doc.rule_name)),
            });
            continue;
        };
        let quota = st.sampling.report(
            &doc.rule_name,
            &doc.client_id,
            u64::try_from(doc.request_count).unwrap_or(0),
            rule.reservoir_size,
            now,
        );
        targets.push(SamplingTargetDocument {
            rule_name: doc.rule_name.clone(),
            fixed_rate: rule.fixed_rate,
            reservoir_quota: Some(quota.per_second),
            reservoir_quota_ttl: Some(EpochSeconds(quota.ttl.floor())),
            interval: Some(REPORT_INTERVAL_SECS),
            sampling_boost: None,
        });
        let at = timestamp_secs(doc.timestamp.0);
        let window = (at / 10.0).floor() as i64 * 10;
        windows.push(StatisticsWindow {
            rule: doc.rule_name.clone(),
            window,
            requests: i64::from(doc.request_count),
            sampled: i64::from(doc.sampled_count),
            borrowed: i64::from(doc.borrow_count.unwrap_or(0)),
        });
    }
    if !windows.is_empty() {
        st.store
            .write(move |conn| rules::record_statistics(conn, &windows))
            .await?;
    }
    Ok(GetSamplingTargetsResponse {
        sampling_target_documents: targets,
        last_rule_modification: EpochSeconds(last_modification),
        unprocessed_statistics: unprocessed,
        unprocessed_boost_statistics: None,
    })
}

pub(super) async fn get_statistic_summaries(
    st: &AppState,
    _req: GetSamplingStatisticSummariesRequest,
) -> Result<GetSamplingStatisticSummariesResponse, ApiError> {
    let summaries = st.store.read(rules::latest_statistics).await?;
    Ok(GetSamplingStatisticSummariesResponse {
        sampling_statistic_summaries: summaries,
        next_token: None,
    })
}

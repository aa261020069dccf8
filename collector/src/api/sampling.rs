//! Sampling operations: rules CRUD, targets, statistic summaries.

use std::collections::BTreeMap;

use fluoro_proto::api::limits::{DEFAULT_RULE_NAME, DEFAULT_RULE_PRIORITY};
use fluoro_proto::api::{
    ApiError, CreateSamplingRuleRequest, CreateSamplingRuleResponse, DeleteSamplingRuleRequest,
    DeleteSamplingRuleResponse, EpochSeconds, ErrorCode, GetSamplingRulesRequest,
    GetSamplingRulesResponse, GetSamplingStatisticSummariesRequest,
    GetSamplingStatisticSummariesResponse, GetSamplingTargetsRequest, GetSamplingTargetsResponse,
    SamplingRule, SamplingRuleRecord, SamplingStatisticSummary, SamplingTargetDocument,
    UnprocessedStatistics, UpdateSamplingRuleRequest, UpdateSamplingRuleResponse,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::AppState;
use crate::sampling::{REPORT_INTERVAL_SECS, timestamp_secs};
use crate::store::StoreError;
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
    conn.execute(
        "INSERT INTO sampling_rules (name, record) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![DEFAULT_RULE_NAME, encode(&record)?],
    )?;
    Ok(())
}

fn encode(r: &SamplingRuleRecord) -> Result<String, StoreError> {
    serde_json::to_string(r).map_err(|e| StoreError::Internal(e.to_string()))
}

fn decode(s: &str) -> Result<SamplingRuleRecord, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("sampling rule: {e}")))
}

/// Every rule, in evaluation order: ascending priority, then name.
pub(crate) fn load_rules(conn: &Connection) -> Result<Vec<SamplingRuleRecord>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT record FROM sampling_rules")?;
    let mut out = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .map(|r| decode(&r?))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| {
        a.sampling_rule
            .priority
            .cmp(&b.sampling_rule.priority)
            .then_with(|| a.sampling_rule.rule_name.cmp(&b.sampling_rule.rule_name))
    });
    Ok(out)
}

fn find_rule(
    conn: &Connection,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Option<SamplingRuleRecord>, StoreError> {
    if let Some(name) = name {
        return conn
            .prepare_cached("SELECT record FROM sampling_rules WHERE name = ?1")?
            .query_row([name], |r| r.get::<_, String>(0))
            .optional()?
            .map(|s| decode(&s))
            .transpose();
    }
    Ok(load_rules(conn)?
        .into_iter()
        .find(|r| r.sampling_rule.rule_arn.as_deref() == arn))
}

fn save_rule(conn: &Connection, r: &SamplingRuleRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sampling_rules (name, record) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET record = excluded.record",
        params![
            r.sampling_rule.rule_name.as_deref().unwrap_or_default(),
            encode(r)?
        ],
    )?;
    Ok(())
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
    let tags = req.tags.unwrap_or_default();
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
                super::groups::put_tags(conn, arn, &tags)?;
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
            conn.execute("DELETE FROM sampling_rules WHERE name = ?1", [&name])?;
            if let Some(arn) = &rec.sampling_rule.rule_arn {
                conn.execute("DELETE FROM tags WHERE resource_arn = ?1", [arn])?;
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
    let mut windows: Vec<(String, i64, i64, i64, i64)> = Vec::new();
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
        windows.push((
            doc.rule_name.clone(),
            window,
            i64::from(doc.request_count),
            i64::from(doc.sampled_count),
            i64::from(doc.borrow_count.unwrap_or(0)),
        ));
    }
    if !windows.is_empty() {
        st.store
            .write(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "INSERT INTO sampling_statistics
                         (rule_name, window_start, request_count, sampled_count, borrow_count)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (rule_name, window_start) DO UPDATE SET
                         request_count = request_count + excluded.request_count,
                         sampled_count = sampled_count + excluded.sampled_count,
                         borrow_count = borrow_count + excluded.borrow_count",
                )?;
                for (rule, window, req, sampled, borrowed) in &windows {
                    stmt.execute(params![rule, window, req, sampled, borrowed])?;
                }
                Ok(())
            })
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
    let summaries = st
        .store
        .read(|conn| {
            // The latest 10-second window of each rule.
            let mut stmt = conn.prepare_cached(
                "SELECT s.rule_name, s.window_start, s.request_count, s.borrow_count, s.sampled_count
                 FROM sampling_statistics s
                 JOIN (SELECT rule_name, max(window_start) AS w FROM sampling_statistics GROUP BY rule_name) m
                   ON s.rule_name = m.rule_name AND s.window_start = m.w
                 ORDER BY s.rule_name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(SamplingStatisticSummary {
                    rule_name: Some(r.get(0)?),
                    timestamp: Some(EpochSeconds(r.get::<_, i64>(1)? as f64)),
                    request_count: Some(clamp(r.get(2)?)),
                    borrow_count: Some(clamp(r.get(3)?)),
                    sampled_count: Some(clamp(r.get(4)?)),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(GetSamplingStatisticSummariesResponse {
        sampling_statistic_summaries: summaries,
        next_token: None,
    })
}

fn clamp(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

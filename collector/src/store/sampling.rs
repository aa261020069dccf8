//! Sampling rules and reported sampling statistics.

use fluoro_proto::api::{EpochSeconds, SamplingRuleRecord, SamplingStatisticSummary};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

fn encode(r: &SamplingRuleRecord) -> Result<String, StoreError> {
    serde_json::to_string(r).map_err(|e| StoreError::Internal(e.to_string()))
}

fn decode(s: &str) -> Result<SamplingRuleRecord, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("sampling rule: {e}")))
}

/// Inserts `record` unless a rule with its name exists.
pub fn insert_rule_if_missing(
    conn: &Connection,
    record: &SamplingRuleRecord,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sampling_rules (name, record) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![
            record
                .sampling_rule
                .rule_name
                .as_deref()
                .unwrap_or_default(),
            encode(record)?
        ],
    )?;
    Ok(())
}

/// Every rule, in evaluation order: ascending priority, then name.
pub fn load_rules(conn: &Connection) -> Result<Vec<SamplingRuleRecord>, StoreError> {
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

/// The rule with this name, or else this ARN.
pub fn find_rule(
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

/// Inserts or replaces a rule (keyed by its name).
pub fn save_rule(conn: &Connection, r: &SamplingRuleRecord) -> Result<(), StoreError> {
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

/// Deletes a rule by name.
pub fn delete_rule(conn: &Connection, name: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM sampling_rules WHERE name = ?1", [name])?;
    Ok(())
}

/// One client report, added into its rule's 10-second window.
#[derive(Debug, Clone)]
pub struct StatisticsWindow {
    /// Rule name.
    pub rule: String,
    /// Window start, epoch seconds, a multiple of 10.
    pub window: i64,
    /// Requests matched.
    pub requests: i64,
    /// Requests sampled.
    pub sampled: i64,
    /// Requests borrowed from the reservoir.
    pub borrowed: i64,
}

/// Adds reports into their windows.
pub fn record_statistics(
    conn: &Connection,
    windows: &[StatisticsWindow],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO sampling_statistics
             (rule_name, window_start, request_count, sampled_count, borrow_count)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (rule_name, window_start) DO UPDATE SET
             request_count = request_count + excluded.request_count,
             sampled_count = sampled_count + excluded.sampled_count,
             borrow_count = borrow_count + excluded.borrow_count",
    )?;
    for w in windows {
        stmt.execute(params![w.rule, w.window, w.requests, w.sampled, w.borrowed])?;
    }
    Ok(())
}

fn clamp(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The latest 10-second window of each rule.
pub fn latest_statistics(conn: &Connection) -> Result<Vec<SamplingStatisticSummary>, StoreError> {
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
}

//! Centralized sampling: rules (`GetSamplingRules`, `Create/Update/DeleteSamplingRule`),
//! targets (`GetSamplingTargets`) and `GetSamplingStatisticSummaries`.
//!
//! What the SDKs need from our responses: every rule carries `"Attributes": {}` (the Node SDK
//! drops rules without it), `Version` 1, `ResourceARN` `*`; a targets response always carries
//! `SamplingTargetDocuments`, `UnprocessedStatistics` and a non-zero `LastRuleModification`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EpochSeconds;
use super::de::null_as_default;
use super::groups::{Tag, validate_tags};
use super::limits::{
    CLIENT_ID_LEN, MAX_PRIORITY, MAX_RULE_ATTRIBUTE_LEN, MAX_RULE_ATTRIBUTES,
    MAX_RULE_HTTP_METHOD_LEN, MAX_RULE_MATCHER_LEN, MAX_RULE_NAME_LEN, MAX_RULE_RESOURCE_ARN_LEN,
    MAX_RULE_URL_PATH_LEN, MAX_SAMPLING_BOOST_STATISTICS_DOCUMENTS,
    MAX_SAMPLING_STATISTICS_DOCUMENTS, MIN_PRIORITY, SAMPLING_RULE_VERSION,
};
use super::validation::{
    Checked, ValidationError, at_least, exact_len, int_range, len_range, max_items, max_len,
    opt_len_range, opt_max_len, unit_interval,
};

/// A sampling rule, as created and as listed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingRule {
    /// Rule name (1..32 chars); rules are addressed by name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// Rule ARN, assigned by the server.
    #[serde(rename = "RuleARN", default, skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    /// Matches the resource ARN (SDKs only use rules with `*`).
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// Evaluation order, ascending; 1..9999 for user rules, 10000 for `Default`.
    pub priority: i32,
    /// Fraction of requests sampled beyond the reservoir, 0..1.
    pub fixed_rate: f64,
    /// Requests per second sampled before `FixedRate` applies, across all clients.
    pub reservoir_size: i32,
    /// Matches the service name (wildcards `*`, `?`).
    pub service_name: String,
    /// Matches the service type (the segment `origin`).
    pub service_type: String,
    /// Matches the request host.
    pub host: String,
    /// Matches the request method.
    #[serde(rename = "HTTPMethod")]
    pub http_method: String,
    /// Matches the request path.
    #[serde(rename = "URLPath")]
    pub url_path: String,
    /// Rule format version; only 1 exists.
    pub version: i32,
    /// Segment attributes to match. Always written, `{}` when empty (the Node SDK requires it).
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: BTreeMap<String, String>,
    /// Adaptive sampling boost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_rate_boost: Option<SamplingRateBoost>,
}

impl SamplingRule {
    /// Checks every constraint of the model on the members that are set, with member paths
    /// under `SamplingRule.`.
    pub fn validate(&self) -> Checked {
        const P: &str = "SamplingRule";
        opt_len_range(
            &format!("{P}.RuleName"),
            self.rule_name.as_ref(),
            1,
            MAX_RULE_NAME_LEN,
        )?;
        max_len(
            &format!("{P}.ResourceARN"),
            &self.resource_arn,
            MAX_RULE_RESOURCE_ARN_LEN,
        )?;
        int_range(
            &format!("{P}.Priority"),
            self.priority,
            MIN_PRIORITY,
            MAX_PRIORITY,
        )?;
        unit_interval(&format!("{P}.FixedRate"), self.fixed_rate)?;
        at_least(&format!("{P}.ReservoirSize"), self.reservoir_size, 0)?;
        max_len(
            &format!("{P}.ServiceName"),
            &self.service_name,
            MAX_RULE_MATCHER_LEN,
        )?;
        max_len(
            &format!("{P}.ServiceType"),
            &self.service_type,
            MAX_RULE_MATCHER_LEN,
        )?;
        max_len(&format!("{P}.Host"), &self.host, MAX_RULE_MATCHER_LEN)?;
        max_len(
            &format!("{P}.HTTPMethod"),
            &self.http_method,
            MAX_RULE_HTTP_METHOD_LEN,
        )?;
        max_len(
            &format!("{P}.URLPath"),
            &self.url_path,
            MAX_RULE_URL_PATH_LEN,
        )?;
        at_least(&format!("{P}.Version"), self.version, SAMPLING_RULE_VERSION)?;
        validate_attributes(P, &self.attributes)?;
        if let Some(boost) = &self.sampling_rate_boost {
            boost.validate(P)?;
        }
        Ok(())
    }
}

fn validate_attributes(prefix: &str, attributes: &BTreeMap<String, String>) -> Checked {
    let member = format!("{prefix}.Attributes");
    if attributes.len() > MAX_RULE_ATTRIBUTES {
        return Err(ValidationError::new(
            member,
            format_args!(
                "must contain at most {MAX_RULE_ATTRIBUTES} entries, got {}",
                attributes.len()
            ),
        ));
    }
    for (key, value) in attributes {
        let n = key.chars().count();
        if !(1..=MAX_RULE_ATTRIBUTE_LEN).contains(&n) {
            return Err(ValidationError::new(
                &member,
                format_args!(
                    "key length must be between 1 and {MAX_RULE_ATTRIBUTE_LEN}, got {n} for key {key:?}"
                ),
            ));
        }
        len_range(&format!("{member}.{key}"), value, 1, MAX_RULE_ATTRIBUTE_LEN)?;
    }
    Ok(())
}

/// Lets a rule's sampling rate rise temporarily when anomalies are seen.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingRateBoost {
    /// Highest boosted rate, 0..1.
    pub max_rate: f64,
    /// Minutes between boosts, at least 0.
    pub cooldown_window_minutes: i32,
}

impl SamplingRateBoost {
    fn validate(&self, prefix: &str) -> Checked {
        unit_interval(
            &format!("{prefix}.SamplingRateBoost.MaxRate"),
            self.max_rate,
        )?;
        at_least(
            &format!("{prefix}.SamplingRateBoost.CooldownWindowMinutes"),
            self.cooldown_window_minutes,
            0,
        )
    }
}

/// A rule with its creation and modification times.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingRuleRecord {
    /// The rule.
    pub sampling_rule: SamplingRule,
    /// When it was created (`0.0` for the built-in `Default` rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<EpochSeconds>,
    /// When it was last modified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<EpochSeconds>,
}

/// Changes to a sampling rule: members left out keep their value. Identifies the rule by
/// exactly one of `RuleName` and `RuleARN`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingRuleUpdate {
    /// Name of the rule to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// ARN of the rule to change.
    #[serde(rename = "RuleARN", default, skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    /// New resource ARN matcher.
    #[serde(
        rename = "ResourceARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_arn: Option<String>,
    /// New priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// New fixed rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_rate: Option<f64>,
    /// New reservoir size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservoir_size: Option<i32>,
    /// New host matcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// New service name matcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// New service type matcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// New method matcher.
    #[serde(
        rename = "HTTPMethod",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_method: Option<String>,
    /// New path matcher.
    #[serde(rename = "URLPath", default, skip_serializing_if = "Option::is_none")]
    pub url_path: Option<String>,
    /// New attributes (`{}` clears them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// New boost settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_rate_boost: Option<SamplingRateBoost>,
}

impl SamplingRuleUpdate {
    /// Checks that exactly one of `RuleName`/`RuleARN` is set, and the constraints of
    /// [`SamplingRule`] on every member that is set (the model leaves `Priority`, `FixedRate` and
    /// `ReservoirSize` unbounded here; we apply the rule's bounds so an update cannot produce a
    /// rule that `CreateSamplingRule` would refuse). Member paths start `SamplingRuleUpdate.`.
    pub fn validate(&self) -> Checked {
        const P: &str = "SamplingRuleUpdate";
        exactly_one_rule_ref(P, self.rule_name.as_ref(), self.rule_arn.as_ref())?;
        opt_len_range(
            &format!("{P}.RuleName"),
            self.rule_name.as_ref(),
            1,
            MAX_RULE_NAME_LEN,
        )?;
        opt_max_len(
            &format!("{P}.ResourceARN"),
            self.resource_arn.as_ref(),
            MAX_RULE_RESOURCE_ARN_LEN,
        )?;
        if let Some(priority) = self.priority {
            int_range(
                &format!("{P}.Priority"),
                priority,
                MIN_PRIORITY,
                MAX_PRIORITY,
            )?;
        }
        if let Some(rate) = self.fixed_rate {
            unit_interval(&format!("{P}.FixedRate"), rate)?;
        }
        if let Some(size) = self.reservoir_size {
            at_least(&format!("{P}.ReservoirSize"), size, 0)?;
        }
        opt_max_len(
            &format!("{P}.Host"),
            self.host.as_ref(),
            MAX_RULE_MATCHER_LEN,
        )?;
        opt_max_len(
            &format!("{P}.ServiceName"),
            self.service_name.as_ref(),
            MAX_RULE_MATCHER_LEN,
        )?;
        opt_max_len(
            &format!("{P}.ServiceType"),
            self.service_type.as_ref(),
            MAX_RULE_MATCHER_LEN,
        )?;
        opt_max_len(
            &format!("{P}.HTTPMethod"),
            self.http_method.as_ref(),
            MAX_RULE_HTTP_METHOD_LEN,
        )?;
        opt_max_len(
            &format!("{P}.URLPath"),
            self.url_path.as_ref(),
            MAX_RULE_URL_PATH_LEN,
        )?;
        if let Some(attributes) = &self.attributes {
            validate_attributes(P, attributes)?;
        }
        if let Some(boost) = &self.sampling_rate_boost {
            boost.validate(P)?;
        }
        Ok(())
    }
}

/// A rule is addressed by name or by ARN, never both.
fn exactly_one_rule_ref(prefix: &str, name: Option<&String>, arn: Option<&String>) -> Checked {
    let member = if prefix.is_empty() {
        "RuleName".to_owned()
    } else {
        format!("{prefix}.RuleName")
    };
    match (name, arn) {
        (Some(_), Some(_)) => Err(ValidationError::new(
            member,
            "specify either RuleName or RuleARN, not both",
        )),
        (None, None) => Err(ValidationError::new(
            member,
            "one of RuleName or RuleARN is required",
        )),
        _ => Ok(()),
    }
}

/// `GetSamplingRules` input (`POST /GetSamplingRules`); every member optional, `{}` is valid.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSamplingRulesRequest {
    /// Pagination token (SDKs never send one; the Go SDK sends `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `GetSamplingRules` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSamplingRulesResponse {
    /// The rules (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub sampling_rule_records: Vec<SamplingRuleRecord>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `CreateSamplingRule` input (`POST /CreateSamplingRule`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSamplingRuleRequest {
    /// The rule to create.
    pub sampling_rule: SamplingRule,
    /// Tags for the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

impl CreateSamplingRuleRequest {
    /// Checks the rule (which must have a `RuleName`) and the tags.
    pub fn validate(&self) -> Checked {
        if self.sampling_rule.rule_name.is_none() {
            return Err(ValidationError::new("SamplingRule.RuleName", "is required"));
        }
        self.sampling_rule.validate()?;
        validate_tags(self.tags.as_deref())
    }
}

/// `CreateSamplingRule` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSamplingRuleResponse {
    /// The created rule, with ARN and times filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_rule_record: Option<SamplingRuleRecord>,
}

/// `UpdateSamplingRule` input (`POST /UpdateSamplingRule`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSamplingRuleRequest {
    /// The changes.
    pub sampling_rule_update: SamplingRuleUpdate,
}

impl UpdateSamplingRuleRequest {
    /// Checks the update (see [`SamplingRuleUpdate::validate`]).
    pub fn validate(&self) -> Checked {
        self.sampling_rule_update.validate()
    }
}

/// `UpdateSamplingRule` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSamplingRuleResponse {
    /// The rule after the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_rule_record: Option<SamplingRuleRecord>,
}

/// `DeleteSamplingRule` input (`POST /DeleteSamplingRule`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSamplingRuleRequest {
    /// Name of the rule to delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// ARN of the rule to delete.
    #[serde(rename = "RuleARN", default, skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
}

impl DeleteSamplingRuleRequest {
    /// Checks that exactly one of `RuleName`/`RuleARN` is set.
    pub fn validate(&self) -> Checked {
        exactly_one_rule_ref("", self.rule_name.as_ref(), self.rule_arn.as_ref())
    }
}

/// `DeleteSamplingRule` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSamplingRuleResponse {
    /// The deleted rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_rule_record: Option<SamplingRuleRecord>,
}

/// `GetSamplingTargets` input (`POST /SamplingTargets`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSamplingTargetsRequest {
    /// Per-rule counters of one client (at most 25).
    pub sampling_statistics_documents: Vec<SamplingStatisticsDocument>,
    /// Per-rule anomaly counters for rate boosting (at most 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_boost_statistics_documents: Option<Vec<SamplingBoostStatisticsDocument>>,
}

impl GetSamplingTargetsRequest {
    /// Checks the document counts and every document's members.
    pub fn validate(&self) -> Checked {
        const D: &str = "SamplingStatisticsDocuments";
        max_items(
            D,
            self.sampling_statistics_documents.len(),
            MAX_SAMPLING_STATISTICS_DOCUMENTS,
        )?;
        for (i, doc) in self.sampling_statistics_documents.iter().enumerate() {
            let p = format!("{D}[{i}]");
            len_range(
                &format!("{p}.RuleName"),
                &doc.rule_name,
                1,
                MAX_RULE_NAME_LEN,
            )?;
            exact_len(&format!("{p}.ClientID"), &doc.client_id, CLIENT_ID_LEN)?;
            at_least(&format!("{p}.RequestCount"), doc.request_count, 0)?;
            at_least(&format!("{p}.SampledCount"), doc.sampled_count, 0)?;
            if let Some(borrow) = doc.borrow_count {
                at_least(&format!("{p}.BorrowCount"), borrow, 0)?;
            }
        }
        const B: &str = "SamplingBoostStatisticsDocuments";
        let boosts = self
            .sampling_boost_statistics_documents
            .as_deref()
            .unwrap_or_default();
        max_items(B, boosts.len(), MAX_SAMPLING_BOOST_STATISTICS_DOCUMENTS)?;
        for (i, doc) in boosts.iter().enumerate() {
            let p = format!("{B}[{i}]");
            len_range(
                &format!("{p}.RuleName"),
                &doc.rule_name,
                1,
                MAX_RULE_NAME_LEN,
            )?;
            max_len(
                &format!("{p}.ServiceName"),
                &doc.service_name,
                MAX_RULE_MATCHER_LEN,
            )?;
            at_least(&format!("{p}.AnomalyCount"), doc.anomaly_count, 0)?;
            at_least(&format!("{p}.TotalCount"), doc.total_count, 0)?;
            at_least(
                &format!("{p}.SampledAnomalyCount"),
                doc.sampled_anomaly_count,
                0,
            )?;
        }
        Ok(())
    }
}

/// One client's counters for one rule over the last reporting interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingStatisticsDocument {
    /// The rule.
    pub rule_name: String,
    /// The reporting client: 24 hex chars, constant per process.
    #[serde(rename = "ClientID")]
    pub client_id: String,
    /// When the counters were taken.
    pub timestamp: EpochSeconds,
    /// Requests that matched the rule.
    pub request_count: i32,
    /// Requests sampled by reservoir quota or fixed rate.
    pub sampled_count: i32,
    /// Requests sampled by borrowing from the reservoir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrow_count: Option<i32>,
}

/// One client's anomaly counters for one rule, for sampling-rate boosts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingBoostStatisticsDocument {
    /// The rule.
    pub rule_name: String,
    /// The service.
    pub service_name: String,
    /// When the counters were taken.
    pub timestamp: EpochSeconds,
    /// Anomalies seen.
    pub anomaly_count: i32,
    /// Requests seen.
    pub total_count: i32,
    /// Anomalies that were sampled.
    pub sampled_anomaly_count: i32,
}

/// `GetSamplingTargets` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSamplingTargetsResponse {
    /// New targets per rule (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub sampling_target_documents: Vec<SamplingTargetDocument>,
    /// Latest rule change; clients refetch rules when it is newer than their copy. Always
    /// written; must not be 0 (the Node SDK treats a falsy value as an invalid response).
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_rule_modification: EpochSeconds,
    /// Statistics that could not be applied (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub unprocessed_statistics: Vec<UnprocessedStatistics>,
    /// Boost statistics that could not be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprocessed_boost_statistics: Option<Vec<UnprocessedStatistics>>,
}

/// The sampling target of one rule for the calling client.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingTargetDocument {
    /// The rule.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rule_name: String,
    /// Fixed rate to apply beyond the quota.
    #[serde(default, deserialize_with = "null_as_default")]
    pub fixed_rate: f64,
    /// Requests per second this client may sample from the reservoir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservoir_quota: Option<i32>,
    /// When the quota expires (absolute epoch seconds).
    #[serde(
        rename = "ReservoirQuotaTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reservoir_quota_ttl: Option<EpochSeconds>,
    /// Seconds until the client should report again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
    /// A temporary rate boost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_boost: Option<SamplingBoost>,
}

/// A temporary boost of a rule's rate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingBoost {
    /// The boosted rate.
    pub boost_rate: f64,
    /// When the boost ends.
    #[serde(rename = "BoostRateTTL")]
    pub boost_rate_ttl: EpochSeconds,
}

/// A statistics document that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnprocessedStatistics {
    /// The rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// Machine-readable reason (the Go SDK refetches rules on codes starting with `4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Human-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GetSamplingStatisticSummaries` input (`POST /SamplingStatisticSummaries`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSamplingStatisticSummariesRequest {
    /// Pagination token from a previous response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `GetSamplingStatisticSummaries` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSamplingStatisticSummariesResponse {
    /// One summary per rule (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub sampling_statistic_summaries: Vec<SamplingStatisticSummary>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// A rule's counters over one 10-second window, aggregated across clients.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingStatisticSummary {
    /// The rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// Start of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<EpochSeconds>,
    /// Requests that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_count: Option<i32>,
    /// Requests sampled by borrowing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrow_count: Option<i32>,
    /// Requests sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_count: Option<i32>,
}

//! Limits of the X-Ray API model (botocore `service-2.json`) and of observed AWS behaviour, as
//! the request `validate()` methods enforce them. Lengths count Unicode scalar values.

/// Most trace ids per `BatchGetTraces` call (widely relied upon; AWS's exact behaviour above it is
/// unverified, we answer `InvalidRequestException`).
pub const MAX_BATCH_GET_TRACES_IDS: usize = 5;
/// Most trace ids per `GetTraceGraph` call (undocumented; treated like `BatchGetTraces`).
pub const MAX_TRACE_GRAPH_IDS: usize = 5;
/// Longest trace id the model accepts (`1-<8 hex>-<24 hex>` is exactly this long).
pub const MAX_TRACE_ID_LEN: usize = 35;
/// Most documents per `PutTraceSegments` call ("Exceeding maximum segment count: 50").
pub const MAX_TRACE_SEGMENT_DOCUMENTS: usize = 50;
/// Most `SamplingStatisticsDocuments` per `GetSamplingTargets` call.
pub const MAX_SAMPLING_STATISTICS_DOCUMENTS: usize = 25;
/// Most `SamplingBoostStatisticsDocuments` per `GetSamplingTargets` call.
pub const MAX_SAMPLING_BOOST_STATISTICS_DOCUMENTS: usize = 25;
/// Exact length of a sampling `ClientID` (12 random bytes in hex).
pub const CLIENT_ID_LEN: usize = 24;

/// Longest sampling `RuleName` (shortest is 1).
pub const MAX_RULE_NAME_LEN: usize = 32;
/// Lowest user sampling-rule `Priority`.
pub const MIN_PRIORITY: i32 = 1;
/// Highest user sampling-rule `Priority`.
pub const MAX_PRIORITY: i32 = 9999;
/// Name of the built-in catch-all sampling rule.
pub const DEFAULT_RULE_NAME: &str = "Default";
/// Priority of the built-in `Default` rule, outside the user range on purpose.
pub const DEFAULT_RULE_PRIORITY: i32 = 10_000;
/// The only sampling-rule `Version` that exists (SDKs drop rules with any other).
pub const SAMPLING_RULE_VERSION: i32 = 1;
/// Longest sampling-rule `ResourceARN`.
pub const MAX_RULE_RESOURCE_ARN_LEN: usize = 500;
/// Longest sampling-rule `ServiceName`, `ServiceType` and `Host`.
pub const MAX_RULE_MATCHER_LEN: usize = 64;
/// Longest sampling-rule `HTTPMethod`.
pub const MAX_RULE_HTTP_METHOD_LEN: usize = 10;
/// Longest sampling-rule `URLPath`.
pub const MAX_RULE_URL_PATH_LEN: usize = 128;
/// Most sampling-rule `Attributes` entries.
pub const MAX_RULE_ATTRIBUTES: usize = 5;
/// Longest sampling-rule attribute key and value (shortest is 1).
pub const MAX_RULE_ATTRIBUTE_LEN: usize = 32;

/// Longest `GroupName` (shortest is 1).
pub const MAX_GROUP_NAME_LEN: usize = 32;
/// Longest `GroupARN` (shortest is 1).
pub const MAX_GROUP_ARN_LEN: usize = 400;
/// Name of the built-in group, reserved for `CreateGroup`.
pub const DEFAULT_GROUP_NAME: &str = "Default";
/// Longest `GetGroups` `NextToken` (shortest is 1).
pub const MAX_GROUPS_NEXT_TOKEN_LEN: usize = 100;
/// Longest `EntitySelectorExpression` (shortest is 1).
pub const MAX_ENTITY_SELECTOR_LEN: usize = 500;

/// Most tags in one `Tags` list.
pub const MAX_TAGS: usize = 200;
/// Longest tag key (shortest is 1).
pub const MAX_TAG_KEY_LEN: usize = 128;
/// Longest tag value (may be empty).
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// Longest taggable `ResourceARN` (shortest is 1).
pub const MAX_TAGGABLE_ARN_LEN: usize = 1011;

/// Longest `PutTelemetryRecords` `EC2InstanceId`.
pub const MAX_EC2_INSTANCE_ID_LEN: usize = 20;
/// Longest `PutTelemetryRecords` `Hostname`.
pub const MAX_HOSTNAME_LEN: usize = 255;
/// Longest `PutTelemetryRecords` `ResourceARN`.
pub const MAX_TELEMETRY_RESOURCE_ARN_LEN: usize = 500;

/// Longest `PutEncryptionConfig` `KeyId` (shortest is 1).
pub const MAX_KEY_ID_LEN: usize = 3000;

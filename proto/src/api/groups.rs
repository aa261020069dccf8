//! Groups (`CreateGroup`, `GetGroup`, `GetGroups`, `UpdateGroup`, `DeleteGroup`) and tags
//! (`TagResource`, `UntagResource`, `ListTagsForResource`).

use serde::{Deserialize, Serialize};

use super::de::null_as_default;
use super::limits::{
    DEFAULT_GROUP_NAME, MAX_GROUP_NAME_LEN, MAX_GROUPS_NEXT_TOKEN_LEN, MAX_TAG_KEY_LEN,
    MAX_TAG_VALUE_LEN, MAX_TAGGABLE_ARN_LEN, MAX_TAGS,
};
use super::validation::{
    Checked, ValidationError, group_ref, len_range, max_items, max_len, opt_len_range,
};

/// A group: a named filter expression over traces.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    /// Group name (case-sensitive, 1..32 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Group ARN, `arn:aws:xray:<region>:<account>:group/<name>/<id>`.
    #[serde(rename = "GroupARN", default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
    /// The filter expression; omitted for the `Default` group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    /// Insights settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_configuration: Option<InsightsConfiguration>,
}

/// A group as listed by `GetGroups` (same members as [`Group`]).
pub type GroupSummary = Group;

/// Insights settings of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InsightsConfiguration {
    /// Whether insights are enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_enabled: Option<bool>,
    /// Whether insight notifications are enabled (only with insights enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_enabled: Option<bool>,
}

impl InsightsConfiguration {
    fn validate(&self) -> Checked {
        if self.notifications_enabled == Some(true) && self.insights_enabled != Some(true) {
            return Err(ValidationError::new(
                "InsightsConfiguration.NotificationsEnabled",
                "requires InsightsEnabled to be true",
            ));
        }
        Ok(())
    }
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Key, 1..128 chars.
    pub key: String,
    /// Value, 0..256 chars.
    pub value: String,
}

/// At most 200 tags, keys 1..128 chars, values up to 256.
pub(super) fn validate_tags(tags: Option<&[Tag]>) -> Checked {
    let tags = tags.unwrap_or_default();
    max_items("Tags", tags.len(), MAX_TAGS)?;
    for (i, tag) in tags.iter().enumerate() {
        len_range(&format!("Tags[{i}].Key"), &tag.key, 1, MAX_TAG_KEY_LEN)?;
        max_len(&format!("Tags[{i}].Value"), &tag.value, MAX_TAG_VALUE_LEN)?;
    }
    Ok(())
}

fn require_group_ref(name: Option<&String>, arn: Option<&String>) -> Checked {
    if name.is_none() && arn.is_none() {
        return Err(ValidationError::new(
            "GroupName",
            "one of GroupName or GroupARN is required",
        ));
    }
    group_ref(name, arn)
}

/// `CreateGroup` input (`POST /CreateGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGroupRequest {
    /// Name of the new group, 1..32 chars; `Default` is reserved.
    pub group_name: String,
    /// Filter expression selecting the group's traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    /// Insights settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_configuration: Option<InsightsConfiguration>,
    /// Tags for the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

impl CreateGroupRequest {
    /// Checks the name (1..32 chars, not `Default`), insights settings and tags.
    pub fn validate(&self) -> Checked {
        len_range("GroupName", &self.group_name, 1, MAX_GROUP_NAME_LEN)?;
        if self.group_name == DEFAULT_GROUP_NAME {
            return Err(ValidationError::new(
                "GroupName",
                "\"Default\" is reserved for the built-in group",
            ));
        }
        if let Some(insights) = &self.insights_configuration {
            insights.validate()?;
        }
        validate_tags(self.tags.as_deref())
    }
}

/// `CreateGroup` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGroupResponse {
    /// The created group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

/// `GetGroup` input (`POST /GetGroup`); one of name or ARN is needed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetGroupRequest {
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Group ARN.
    #[serde(rename = "GroupARN", default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
}

impl GetGroupRequest {
    /// Checks that a name or ARN is given and their lengths.
    pub fn validate(&self) -> Checked {
        require_group_ref(self.group_name.as_ref(), self.group_arn.as_ref())
    }
}

/// `GetGroup` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetGroupResponse {
    /// The group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

/// `GetGroups` input (`POST /Groups`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetGroupsRequest {
    /// Pagination token, 1..100 chars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl GetGroupsRequest {
    /// Checks the token length.
    pub fn validate(&self) -> Checked {
        opt_len_range(
            "NextToken",
            self.next_token.as_ref(),
            1,
            MAX_GROUPS_NEXT_TOKEN_LEN,
        )
    }
}

/// `GetGroups` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetGroupsResponse {
    /// The groups, including `Default` (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<GroupSummary>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `UpdateGroup` input (`POST /UpdateGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateGroupRequest {
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Group ARN.
    #[serde(rename = "GroupARN", default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
    /// New filter expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    /// New insights settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_configuration: Option<InsightsConfiguration>,
}

impl UpdateGroupRequest {
    /// Checks that a name or ARN is given, their lengths and the insights settings.
    pub fn validate(&self) -> Checked {
        require_group_ref(self.group_name.as_ref(), self.group_arn.as_ref())?;
        if let Some(insights) = &self.insights_configuration {
            insights.validate()?;
        }
        Ok(())
    }
}

/// `UpdateGroup` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateGroupResponse {
    /// The group after the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

/// `DeleteGroup` input (`POST /DeleteGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteGroupRequest {
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Group ARN.
    #[serde(rename = "GroupARN", default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
}

impl DeleteGroupRequest {
    /// Checks that a name or ARN is given and their lengths.
    pub fn validate(&self) -> Checked {
        require_group_ref(self.group_name.as_ref(), self.group_arn.as_ref())
    }
}

/// `DeleteGroup` output: `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteGroupResponse {}

/// `TagResource` input (`POST /TagResource`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    /// ARN of a group or sampling rule.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// Tags to add or overwrite.
    pub tags: Vec<Tag>,
}

impl TagResourceRequest {
    /// Checks the ARN length and the tags.
    pub fn validate(&self) -> Checked {
        len_range("ResourceARN", &self.resource_arn, 1, MAX_TAGGABLE_ARN_LEN)?;
        validate_tags(Some(&self.tags))
    }
}

/// `TagResource` output: `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TagResourceResponse {}

/// `UntagResource` input (`POST /UntagResource`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    /// ARN of a group or sampling rule.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// Keys of the tags to remove.
    pub tag_keys: Vec<String>,
}

impl UntagResourceRequest {
    /// Checks the ARN length, the key count and each key's length.
    pub fn validate(&self) -> Checked {
        len_range("ResourceARN", &self.resource_arn, 1, MAX_TAGGABLE_ARN_LEN)?;
        max_items("TagKeys", self.tag_keys.len(), MAX_TAGS)?;
        for (i, key) in self.tag_keys.iter().enumerate() {
            len_range(&format!("TagKeys[{i}]"), key, 1, MAX_TAG_KEY_LEN)?;
        }
        Ok(())
    }
}

/// `UntagResource` output: `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UntagResourceResponse {}

/// `ListTagsForResource` input (`POST /ListTagsForResource`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceRequest {
    /// ARN of a group or sampling rule.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// Pagination token from a previous response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl ListTagsForResourceRequest {
    /// Checks the ARN length.
    pub fn validate(&self) -> Checked {
        len_range("ResourceARN", &self.resource_arn, 1, MAX_TAGGABLE_ARN_LEN)
    }
}

/// `ListTagsForResource` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceResponse {
    /// The tags (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<Tag>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

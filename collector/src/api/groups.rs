//! Groups (with the built-in `Default` group) and resource tags.

use fluoro_proto::api::limits::DEFAULT_GROUP_NAME;
use fluoro_proto::api::{
    ApiError, CreateGroupRequest, CreateGroupResponse, DeleteGroupRequest, DeleteGroupResponse,
    GetGroupRequest, GetGroupResponse, GetGroupsRequest, GetGroupsResponse, Group,
    InsightsConfiguration, ListTagsForResourceRequest, ListTagsForResourceResponse,
    TagResourceRequest, TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
    UpdateGroupRequest, UpdateGroupResponse,
};
use fluoro_proto::ids::EntityId;

use super::AppState;
use crate::filter::GroupFilter;
use crate::store::groups::{
    count_groups, delete_group, delete_tags, list_tags as stored_tags, load_group, load_groups,
    put_tags, resource_exists, save_group,
};

/// Most groups besides `Default` [unverified: AWS's quota is commonly quoted as 25].
pub(crate) const MAX_GROUPS: usize = 25;

fn default_group(region: &str, account: &str) -> Group {
    Group {
        group_name: Some(DEFAULT_GROUP_NAME.to_owned()),
        group_arn: Some(format!("arn:aws:xray:{region}:{account}:group/Default")),
        filter_expression: None,
        insights_configuration: Some(InsightsConfiguration {
            insights_enabled: Some(false),
            notifications_enabled: Some(false),
        }),
    }
}

fn is_default(st: &AppState, name: Option<&str>, arn: Option<&str>) -> bool {
    let d = default_group(&st.config.region, &st.config.account_id);
    name == Some(DEFAULT_GROUP_NAME) || (name.is_none() && arn == d.group_arn.as_deref())
}

fn missing(name: Option<&str>, arn: Option<&str>) -> ApiError {
    ApiError::invalid_request(format!(
        "group {} does not exist",
        name.or(arn).unwrap_or("(unnamed)")
    ))
}

/// The group a request names (by name or ARN), `Default` included.
pub(super) async fn find(
    st: &AppState,
    name: Option<String>,
    arn: Option<String>,
) -> Result<Group, ApiError> {
    if is_default(st, name.as_deref(), arn.as_deref()) {
        return Ok(default_group(&st.config.region, &st.config.account_id));
    }
    let (n, a) = (name.clone(), arn.clone());
    st.store
        .read(move |conn| load_group(conn, n.as_deref(), a.as_deref()))
        .await?
        .ok_or_else(|| missing(name.as_deref(), arn.as_deref()))
}

/// A group's filter expression must parse; the error points into it.
fn check_filter(expr: Option<&str>) -> Result<(), ApiError> {
    if let Some(f) = expr.filter(|f| !f.trim().is_empty()) {
        crate::filter::parse(f)
            .map_err(|e| ApiError::invalid_request(format!("FilterExpression: {e}")))?;
    }
    Ok(())
}

/// Every group that has a filter expression, parsed: what `group.name` / `group.arn` in a
/// filter refer to, and what scopes a group's service graph.
pub(super) async fn group_filters(st: &AppState) -> Result<Vec<GroupFilter>, ApiError> {
    let groups = st.store.read(load_groups).await?;
    Ok(groups
        .into_iter()
        .filter_map(|g| {
            let text = g.filter_expression.filter(|f| !f.trim().is_empty())?;
            match crate::filter::parse(&text) {
                Ok(filter) => Some(GroupFilter {
                    name: g.group_name.unwrap_or_default(),
                    arn: g.group_arn.unwrap_or_default(),
                    filter,
                }),
                Err(e) => {
                    // Validated when written; a stored one that no longer parses is skipped
                    // (as X-Ray stops processing a group whose filter errors).
                    tracing::warn!(error = %e, "group filter expression does not parse; group skipped");
                    None
                }
            }
        })
        .collect())
}

pub(super) async fn create(
    st: &AppState,
    req: CreateGroupRequest,
) -> Result<CreateGroupResponse, ApiError> {
    req.validate()?;
    check_filter(req.filter_expression.as_deref())?;
    let name = req.group_name.clone();
    // Created groups carry a unique id in their ARN, as AWS's do.
    let arn = format!(
        "arn:aws:xray:{}:{}:group/{}/{}",
        st.config.region,
        st.config.account_id,
        name,
        EntityId::generate()
    );
    let group = Group {
        group_name: Some(name.clone()),
        group_arn: Some(arn.clone()),
        filter_expression: req.filter_expression.filter(|f| !f.trim().is_empty()),
        insights_configuration: Some(req.insights_configuration.unwrap_or(InsightsConfiguration {
            insights_enabled: Some(false),
            notifications_enabled: Some(false),
        })),
    };
    let tags = req.tags.unwrap_or_default();
    let out = group.clone();
    st.store
        .write(move |conn| {
            if load_group(conn, Some(&name), None)?.is_some() {
                return Ok(Err(ApiError::invalid_request(format!(
                    "a group named {name} already exists"
                ))));
            }
            if count_groups(conn)? >= MAX_GROUPS {
                return Ok(Err(ApiError::invalid_request(format!(
                    "at most {MAX_GROUPS} groups besides Default"
                ))));
            }
            save_group(conn, &group)?;
            put_tags(conn, &arn, &tags)?;
            Ok(Ok(()))
        })
        .await??;
    Ok(CreateGroupResponse { group: Some(out) })
}

pub(super) async fn get(st: &AppState, req: GetGroupRequest) -> Result<GetGroupResponse, ApiError> {
    req.validate()?;
    let group = find(st, req.group_name, req.group_arn).await?;
    Ok(GetGroupResponse { group: Some(group) })
}

pub(super) async fn list(
    st: &AppState,
    req: GetGroupsRequest,
) -> Result<GetGroupsResponse, ApiError> {
    req.validate()?;
    if let Some(t) = &req.next_token {
        return Err(ApiError::invalid_request(format!(
            "NextToken {t:?} is not one this collector issued"
        )));
    }
    let mut groups = vec![default_group(&st.config.region, &st.config.account_id)];
    groups.extend(st.store.read(load_groups).await?);
    Ok(GetGroupsResponse {
        groups,
        next_token: None,
    })
}

pub(super) async fn update(
    st: &AppState,
    req: UpdateGroupRequest,
) -> Result<UpdateGroupResponse, ApiError> {
    req.validate()?;
    if is_default(st, req.group_name.as_deref(), req.group_arn.as_deref()) {
        return Err(ApiError::invalid_request(
            "the Default group cannot be changed",
        ));
    }
    check_filter(req.filter_expression.as_deref())?;
    let group = st
        .store
        .write(move |conn| {
            let Some(mut g) =
                load_group(conn, req.group_name.as_deref(), req.group_arn.as_deref())?
            else {
                return Ok(Err(missing(
                    req.group_name.as_deref(),
                    req.group_arn.as_deref(),
                )));
            };
            if let Some(f) = req.filter_expression {
                g.filter_expression = Some(f).filter(|f| !f.trim().is_empty());
            }
            if let Some(i) = req.insights_configuration {
                g.insights_configuration = Some(i);
            }
            save_group(conn, &g)?;
            Ok(Ok(g))
        })
        .await??;
    Ok(UpdateGroupResponse { group: Some(group) })
}

pub(super) async fn delete(
    st: &AppState,
    req: DeleteGroupRequest,
) -> Result<DeleteGroupResponse, ApiError> {
    req.validate()?;
    if is_default(st, req.group_name.as_deref(), req.group_arn.as_deref()) {
        return Err(ApiError::invalid_request(
            "the Default group cannot be deleted",
        ));
    }
    st.store
        .write(move |conn| {
            let Some(g) = load_group(conn, req.group_name.as_deref(), req.group_arn.as_deref())?
            else {
                return Ok(Err(missing(
                    req.group_name.as_deref(),
                    req.group_arn.as_deref(),
                )));
            };
            delete_group(conn, &g)?;
            Ok(Ok(()))
        })
        .await??;
    Ok(DeleteGroupResponse {})
}

fn no_such_resource(arn: &str) -> ApiError {
    ApiError::resource_not_found(format!("resource {arn} does not exist"), arn)
}

pub(super) async fn tag(
    st: &AppState,
    req: TagResourceRequest,
) -> Result<TagResourceResponse, ApiError> {
    req.validate()?;
    st.store
        .write(move |conn| {
            if !resource_exists(conn, &req.resource_arn)? {
                return Ok(Err(no_such_resource(&req.resource_arn)));
            }
            put_tags(conn, &req.resource_arn, &req.tags)?;
            Ok(Ok(()))
        })
        .await??;
    Ok(TagResourceResponse {})
}

pub(super) async fn untag(
    st: &AppState,
    req: UntagResourceRequest,
) -> Result<UntagResourceResponse, ApiError> {
    req.validate()?;
    st.store
        .write(move |conn| {
            if !resource_exists(conn, &req.resource_arn)? {
                return Ok(Err(no_such_resource(&req.resource_arn)));
            }
            delete_tags(conn, &req.resource_arn, &req.tag_keys)?;
            Ok(Ok(()))
        })
        .await??;
    Ok(UntagResourceResponse {})
}

pub(super) async fn list_tags(
    st: &AppState,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    req.validate()?;
    let tags = st
        .store
        .read(move |conn| {
            if !resource_exists(conn, &req.resource_arn)? {
                return Ok(Err(no_such_resource(&req.resource_arn)));
            }
            let tags = stored_tags(conn, &req.resource_arn)?;
            Ok(Ok(tags))
        })
        .await??;
    Ok(ListTagsForResourceResponse {
        tags,
        next_token: None,
    })
}

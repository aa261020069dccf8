//! Groups (with the built-in `Default` group) and resource tags.

use fluoro_proto::api::limits::DEFAULT_GROUP_NAME;
use fluoro_proto::api::{
    ApiError, CreateGroupRequest, CreateGroupResponse, DeleteGroupRequest, DeleteGroupResponse,
    GetGroupRequest, GetGroupResponse, GetGroupsRequest, GetGroupsResponse, Group,
    InsightsConfiguration, ListTagsForResourceRequest, ListTagsForResourceResponse, Tag,
    TagResourceRequest, TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
    UpdateGroupRequest, UpdateGroupResponse,
};
use fluoro_proto::ids::EntityId;
use rusqlite::{Connection, OptionalExtension, params};

use super::AppState;
use crate::store::StoreError;

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

fn decode(s: &str) -> Result<Group, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("group: {e}")))
}

fn encode(g: &Group) -> Result<String, StoreError> {
    serde_json::to_string(g).map_err(|e| StoreError::Internal(e.to_string()))
}

fn load_groups(conn: &Connection) -> Result<Vec<Group>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT record FROM groups ORDER BY name")?;
    stmt.query_map([], |r| r.get::<_, String>(0))?
        .map(|r| decode(&r?))
        .collect()
}

fn load_group(
    conn: &Connection,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Option<Group>, StoreError> {
    let row: Option<String> = match (name, arn) {
        (Some(n), _) => conn
            .prepare_cached("SELECT record FROM groups WHERE name = ?1")?
            .query_row([n], |r| r.get(0))
            .optional()?,
        (None, Some(a)) => conn
            .prepare_cached("SELECT record FROM groups WHERE arn = ?1")?
            .query_row([a], |r| r.get(0))
            .optional()?,
        (None, None) => None,
    };
    row.map(|s| decode(&s)).transpose()
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

/// Stores tags for a resource (replacing values of existing keys).
pub(super) fn put_tags(conn: &Connection, arn: &str, tags: &[Tag]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO tags (resource_arn, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
    )?;
    for t in tags {
        stmt.execute(params![arn, t.key, t.value])?;
    }
    Ok(())
}

fn check_filter(expr: Option<&str>) -> Result<(), ApiError> {
    if expr.is_some_and(|f| !f.trim().is_empty()) {
        return Err(ApiError::invalid_request(
            "FilterExpression: filter expressions are not supported by this collector yet; create the group without one",
        ));
    }
    Ok(())
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
            let count: i64 = conn.query_row("SELECT count(*) FROM groups", [], |r| r.get(0))?;
            if count as usize >= MAX_GROUPS {
                return Ok(Err(ApiError::invalid_request(format!(
                    "at most {MAX_GROUPS} groups besides Default"
                ))));
            }
            conn.execute(
                "INSERT INTO groups (name, arn, record) VALUES (?1, ?2, ?3)",
                params![name, arn, encode(&group)?],
            )?;
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
            conn.execute(
                "UPDATE groups SET record = ?2 WHERE name = ?1",
                params![g.group_name.as_deref().unwrap_or_default(), encode(&g)?],
            )?;
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
            let name = g.group_name.unwrap_or_default();
            conn.execute("DELETE FROM groups WHERE name = ?1", [&name])?;
            if let Some(arn) = g.group_arn {
                conn.execute("DELETE FROM tags WHERE resource_arn = ?1", [arn])?;
            }
            Ok(Ok(()))
        })
        .await??;
    Ok(DeleteGroupResponse {})
}

/// Whether a taggable resource (a group or a sampling rule) exists.
fn resource_exists(conn: &Connection, arn: &str) -> Result<bool, StoreError> {
    let group: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM groups WHERE arn = ?1")?
        .query_row([arn], |r| r.get(0))
        .optional()?;
    if group.is_some() {
        return Ok(true);
    }
    Ok(super::sampling::load_rules(conn)?
        .iter()
        .any(|r| r.sampling_rule.rule_arn.as_deref() == Some(arn)))
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
            let mut stmt =
                conn.prepare_cached("DELETE FROM tags WHERE resource_arn = ?1 AND key = ?2")?;
            for k in &req.tag_keys {
                stmt.execute(params![req.resource_arn, k])?;
            }
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
            let mut stmt = conn.prepare_cached(
                "SELECT key, value FROM tags WHERE resource_arn = ?1 ORDER BY key",
            )?;
            let tags = stmt
                .query_map([&req.resource_arn], |r| {
                    Ok(Tag {
                        key: r.get(0)?,
                        value: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Ok(tags))
        })
        .await??;
    Ok(ListTagsForResourceResponse {
        tags,
        next_token: None,
    })
}

//! Groups, resource tags and daemon telemetry.

use fluoro_proto::api::{Group, Tag};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

fn decode(s: &str) -> Result<Group, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("group: {e}")))
}

fn encode(g: &Group) -> Result<String, StoreError> {
    serde_json::to_string(g).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Every stored group, by name (the built-in `Default` group is not stored).
pub fn load_groups(conn: &Connection) -> Result<Vec<Group>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT record FROM groups ORDER BY name")?;
    stmt.query_map([], |r| r.get::<_, String>(0))?
        .map(|r| decode(&r?))
        .collect()
}

/// The group with this name, or else this ARN.
pub fn load_group(
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

/// How many groups are stored.
pub fn count_groups(conn: &Connection) -> Result<usize, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM groups", [], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Inserts or replaces a group (keyed by name).
pub fn save_group(conn: &Connection, g: &Group) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO groups (name, arn, record) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET arn = excluded.arn, record = excluded.record",
        params![
            g.group_name.as_deref().unwrap_or_default(),
            g.group_arn.as_deref().unwrap_or_default(),
            encode(g)?
        ],
    )?;
    Ok(())
}

/// Deletes a group and its tags.
pub fn delete_group(conn: &Connection, g: &Group) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM groups WHERE name = ?1",
        [g.group_name.as_deref().unwrap_or_default()],
    )?;
    if let Some(arn) = &g.group_arn {
        delete_all_tags(conn, arn)?;
    }
    Ok(())
}

/// Stores tags for a resource (replacing values of existing keys).
pub fn put_tags(conn: &Connection, arn: &str, tags: &[Tag]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO tags (resource_arn, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
    )?;
    for t in tags {
        stmt.execute(params![arn, t.key, t.value])?;
    }
    Ok(())
}

/// Removes some tags of a resource.
pub fn delete_tags(conn: &Connection, arn: &str, keys: &[String]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM tags WHERE resource_arn = ?1 AND key = ?2")?;
    for k in keys {
        stmt.execute(params![arn, k])?;
    }
    Ok(())
}

/// Removes every tag of a resource.
pub fn delete_all_tags(conn: &Connection, arn: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM tags WHERE resource_arn = ?1", [arn])?;
    Ok(())
}

/// The tags of a resource, by key.
pub fn list_tags(conn: &Connection, arn: &str) -> Result<Vec<Tag>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT key, value FROM tags WHERE resource_arn = ?1 ORDER BY key")?;
    let tags = stmt
        .query_map([arn], |r| {
            Ok(Tag {
                key: r.get(0)?,
                value: r.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tags)
}

/// Whether a taggable resource (a group or a sampling rule) exists.
pub fn resource_exists(conn: &Connection, arn: &str) -> Result<bool, StoreError> {
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

/// Who sent a batch of telemetry records.
#[derive(Debug, Clone, Default)]
pub struct TelemetrySource {
    /// `Hostname`.
    pub hostname: Option<String>,
    /// `EC2InstanceId`.
    pub instance_id: Option<String>,
    /// `ResourceARN`.
    pub resource_arn: Option<String>,
}

/// Stores daemon telemetry records (JSON each) received at `now`.
pub fn insert_telemetry(
    conn: &Connection,
    now: f64,
    source: &TelemetrySource,
    records: &[String],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO telemetry (received_at, hostname, instance_id, resource_arn, record)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in records {
        stmt.execute(params![
            now,
            source.hostname,
            source.instance_id,
            source.resource_arn,
            r
        ])?;
    }
    Ok(())
}

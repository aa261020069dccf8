//! Serde helpers shared by the shape modules.

use serde::{Deserialize, Deserializer};

/// Reads `null` as the type's default, for members we always write (lists, maps, counts) but
/// that another server may send as `null`.
pub(super) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

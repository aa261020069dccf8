//! [`ValidationError`] and the small checks the request `validate()` methods are built from.
//!
//! Messages name the member path as AWS spells it and the constraint, e.g.
//! `SamplingRule.Priority: must be between 1 and 9999, got 0`.

use std::fmt::Display;

use super::error::{ApiError, ErrorCode};

/// A request member broke a constraint of the API model; maps to `InvalidRequestException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// Path of the offending member, e.g. `SamplingStatisticsDocuments[3].ClientID`.
    pub member: String,
    /// The full message for the caller (normally starts with the member path).
    pub message: String,
}

impl ValidationError {
    /// An error whose message is `<member>: <constraint>`.
    pub fn new(member: impl Into<String>, constraint: impl Display) -> Self {
        let member = member.into();
        let message = format!("{member}: {constraint}");
        ValidationError { member, message }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, e.message)
    }
}

/// Shorthand for the result of a `validate()` method.
pub(super) type Checked = Result<(), ValidationError>;

pub(super) fn int_range<T: PartialOrd + Display + Copy>(
    member: &str,
    v: T,
    min: T,
    max: T,
) -> Checked {
    if v < min || v > max {
        return Err(ValidationError::new(
            member,
            format_args!("must be between {min} and {max}, got {v}"),
        ));
    }
    Ok(())
}

pub(super) fn at_least<T: PartialOrd + Display + Copy>(member: &str, v: T, min: T) -> Checked {
    if v < min {
        return Err(ValidationError::new(
            member,
            format_args!("must be at least {min}, got {v}"),
        ));
    }
    Ok(())
}

pub(super) fn unit_interval(member: &str, v: f64) -> Checked {
    if !(0.0..=1.0).contains(&v) {
        return Err(ValidationError::new(
            member,
            format_args!("must be between 0 and 1, got {v}"),
        ));
    }
    Ok(())
}

pub(super) fn len_range(member: &str, s: &str, min: usize, max: usize) -> Checked {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(ValidationError::new(
            member,
            format_args!("length must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(())
}

pub(super) fn max_len(member: &str, s: &str, max: usize) -> Checked {
    let n = s.chars().count();
    if n > max {
        return Err(ValidationError::new(
            member,
            format_args!("length must be at most {max}, got {n}"),
        ));
    }
    Ok(())
}

pub(super) fn exact_len(member: &str, s: &str, len: usize) -> Checked {
    let n = s.chars().count();
    if n != len {
        return Err(ValidationError::new(
            member,
            format_args!("length must be exactly {len}, got {n}"),
        ));
    }
    Ok(())
}

pub(super) fn max_items(member: &str, n: usize, max: usize) -> Checked {
    if n > max {
        return Err(ValidationError::new(
            member,
            format_args!("must contain at most {max} items, got {n}"),
        ));
    }
    Ok(())
}

pub(super) fn opt_len_range(member: &str, s: Option<&String>, min: usize, max: usize) -> Checked {
    s.map_or(Ok(()), |s| len_range(member, s, min, max))
}

pub(super) fn opt_max_len(member: &str, s: Option<&String>, max: usize) -> Checked {
    s.map_or(Ok(()), |s| max_len(member, s, max))
}

/// `StartTime` must not be later than `EndTime`.
pub(super) fn time_window(start: super::EpochSeconds, end: super::EpochSeconds) -> Checked {
    if start.0 > end.0 {
        return Err(ValidationError::new(
            "StartTime",
            format_args!(
                "must not be after EndTime, got StartTime {} > EndTime {}",
                start.0, end.0
            ),
        ));
    }
    Ok(())
}

/// `GroupName` 1..32 and `GroupARN` 1..400 when present.
pub(super) fn group_ref(name: Option<&String>, arn: Option<&String>) -> Checked {
    use super::limits::{MAX_GROUP_ARN_LEN, MAX_GROUP_NAME_LEN};
    opt_len_range("GroupName", name, 1, MAX_GROUP_NAME_LEN)?;
    opt_len_range("GroupARN", arn, 1, MAX_GROUP_ARN_LEN)
}

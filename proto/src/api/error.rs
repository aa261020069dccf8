//! API errors: one [`ErrorCode`] enum that knows its HTTP status, AWS error type and gRPC code,
//! the [`ApiError`] value handlers return, and the [`ErrorBody`] JSON that goes on the wire.
//!
//! On the wire an error is the status code, the header `x-amzn-ErrorType: <aws_type>` and the body
//! `{"__type":"<aws_type>","message":"...","Message":"..."}`: botocore, aws-sdk-rust and JS v3 read
//! the header first, then `code`, then `__type`, and the message from `message` or `Message`, so
//! sending both spellings suits every client.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of the response header that carries [`ErrorCode::aws_type`].
pub const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";

/// Every error the Fluoro X-Ray API can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `InvalidRequestException` (400): a malformed body or a member outside its constraints.
    InvalidRequest,
    /// `ThrottledException` (429): the caller should back off and retry.
    Throttled,
    /// `ResourceNotFoundException` (404): an unknown ARN, group, rule or retrieval token.
    ResourceNotFound,
    /// `RuleLimitExceededException` (400): too many sampling rules.
    RuleLimitExceeded,
    /// `TooManyTagsException` (400): too many tags on a resource.
    TooManyTags,
    /// `InvalidPolicyRevisionIdException` (400): resource-policy revision mismatch.
    InvalidPolicyRevisionId,
    /// `MalformedPolicyDocumentException` (400): the resource-policy document is invalid.
    MalformedPolicyDocument,
    /// `LockoutPreventionException` (400): the policy would lock the caller out.
    LockoutPrevention,
    /// `PolicySizeLimitExceededException` (400): the policy document is too large.
    PolicySizeLimitExceeded,
    /// `PolicyCountLimitExceededException` (400): too many resource policies.
    PolicyCountLimitExceeded,
    /// `UnknownOperationException` (404): no operation at this path (our design; not modeled).
    UnknownOperation,
    /// `AccessDeniedException` (403): the caller is not allowed to do this.
    AccessDenied,
    /// `InvalidSignatureException` (403): a SigV4 signature did not verify, or has expired.
    InvalidSignature,
    /// `MissingAuthenticationTokenException` (403): the request is not signed but must be.
    MissingAuthenticationToken,
    /// `UnrecognizedClientException` (403): the access key id is not known.
    UnrecognizedClient,
    /// `PayloadTooLargeException` (413): the request body is over the limit [our design].
    PayloadTooLarge,
    /// `NotImplementedException` (501): an X-Ray operation Fluoro does not provide yet.
    NotImplemented,
    /// `InternalFailure` (500): a bug or an unexpected failure on our side; clients retry.
    InternalFailure,
    /// `ServiceUnavailable` (503): temporarily unable to serve (e.g. shutting down); clients retry.
    ServiceUnavailable,
}

impl ErrorCode {
    /// Every error code, in declaration order.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Throttled,
        ErrorCode::ResourceNotFound,
        ErrorCode::RuleLimitExceeded,
        ErrorCode::TooManyTags,
        ErrorCode::InvalidPolicyRevisionId,
        ErrorCode::MalformedPolicyDocument,
        ErrorCode::LockoutPrevention,
        ErrorCode::PolicySizeLimitExceeded,
        ErrorCode::PolicyCountLimitExceeded,
        ErrorCode::UnknownOperation,
        ErrorCode::AccessDenied,
        ErrorCode::InvalidSignature,
        ErrorCode::MissingAuthenticationToken,
        ErrorCode::UnrecognizedClient,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotImplemented,
        ErrorCode::InternalFailure,
        ErrorCode::ServiceUnavailable,
    ];

    /// The HTTP status code to answer with.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::RuleLimitExceeded
            | ErrorCode::TooManyTags
            | ErrorCode::InvalidPolicyRevisionId
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::LockoutPrevention
            | ErrorCode::PolicySizeLimitExceeded
            | ErrorCode::PolicyCountLimitExceeded => 400,
            ErrorCode::AccessDenied
            | ErrorCode::InvalidSignature
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::UnrecognizedClient => 403,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotImplemented => 501,
            ErrorCode::ResourceNotFound | ErrorCode::UnknownOperation => 404,
            ErrorCode::Throttled => 429,
            ErrorCode::InternalFailure => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }

    /// AWS's error type: the value of the `x-amzn-ErrorType` header and of `__type`.
    pub const fn aws_type(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "InvalidRequestException",
            ErrorCode::Throttled => "ThrottledException",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::RuleLimitExceeded => "RuleLimitExceededException",
            ErrorCode::TooManyTags => "TooManyTagsException",
            ErrorCode::InvalidPolicyRevisionId => "InvalidPolicyRevisionIdException",
            ErrorCode::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            ErrorCode::LockoutPrevention => "LockoutPreventionException",
            ErrorCode::PolicySizeLimitExceeded => "PolicySizeLimitExceededException",
            ErrorCode::PolicyCountLimitExceeded => "PolicyCountLimitExceededException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::InvalidSignature => "InvalidSignatureException",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorCode::UnrecognizedClient => "UnrecognizedClientException",
            ErrorCode::PayloadTooLarge => "PayloadTooLargeException",
            ErrorCode::NotImplemented => "NotImplementedException",
            ErrorCode::InternalFailure => "InternalFailure",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The numeric gRPC status code for the same failure (as `tonic::Code` numbers it).
    pub const fn grpc_code(self) -> i32 {
        match self {
            // INVALID_ARGUMENT
            ErrorCode::InvalidRequest
            | ErrorCode::PayloadTooLarge
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PolicySizeLimitExceeded => 3,
            // NOT_FOUND
            ErrorCode::ResourceNotFound => 5,
            // PERMISSION_DENIED
            ErrorCode::AccessDenied => 7,
            // RESOURCE_EXHAUSTED: rate limits and quotas.
            ErrorCode::Throttled
            | ErrorCode::RuleLimitExceeded
            | ErrorCode::TooManyTags
            | ErrorCode::PolicyCountLimitExceeded => 8,
            // FAILED_PRECONDITION
            ErrorCode::LockoutPrevention => 9,
            // ABORTED: an optimistic-concurrency check failed; retry at a higher level.
            ErrorCode::InvalidPolicyRevisionId => 10,
            // UNIMPLEMENTED
            ErrorCode::UnknownOperation | ErrorCode::NotImplemented => 12,
            // INTERNAL
            ErrorCode::InternalFailure => 13,
            // UNAVAILABLE
            ErrorCode::ServiceUnavailable => 14,
            // UNAUTHENTICATED
            ErrorCode::InvalidSignature
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::UnrecognizedClient => 16,
        }
    }

    /// Whether AWS clients retry this error on their own (HTTP 429 and 5xx; botocore also lists
    /// `ThrottledException` by name).
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Throttled | ErrorCode::InternalFailure | ErrorCode::ServiceUnavailable
        )
    }

    /// Reads an error type as a client finds it in `x-amzn-ErrorType`, `code` or `__type`,
    /// cleaned the way botocore and aws-sdk-rust do: text after `:` and before `#` is dropped
    /// (`com.amazonaws.xray#ThrottledException:http://...` gives `ThrottledException`).
    pub fn from_aws_type(raw: &str) -> Option<ErrorCode> {
        let code = raw.split(':').next().unwrap_or(raw);
        let code = code.rsplit('#').next().unwrap_or(code).trim();
        ErrorCode::ALL.into_iter().find(|c| c.aws_type() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.aws_type())
    }
}

/// An API failure: the code, a human message, and for some codes the resource concerned.
///
/// Handlers return `Result<_, ApiError>`; the HTTP layer turns it into
/// [`ErrorCode::http_status`], the [`ERROR_TYPE_HEADER`] header and [`ApiError::body`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// The message for the caller.
    pub message: String,
    /// The resource concerned (`ResourceNotFoundException`, `TooManyTagsException`).
    pub resource_name: Option<String>,
}

impl ApiError {
    /// An error with a code and message and no resource name.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            resource_name: None,
        }
    }

    /// An `InvalidRequestException`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// A `ThrottledException`.
    pub fn throttled(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Throttled, message)
    }

    /// A `ResourceNotFoundException` naming the missing resource.
    pub fn resource_not_found(
        message: impl Into<String>,
        resource_name: impl Into<String>,
    ) -> Self {
        ApiError::new(ErrorCode::ResourceNotFound, message).with_resource_name(resource_name)
    }

    /// An `UnknownOperationException` for a request path that routes nowhere.
    pub fn unknown_operation(path: &str) -> Self {
        ApiError::new(
            ErrorCode::UnknownOperation,
            format!("no X-Ray operation at POST {path}"),
        )
    }

    /// An `InternalFailure`.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InternalFailure, message)
    }

    /// Sets the `ResourceName` member.
    #[must_use]
    pub fn with_resource_name(mut self, resource_name: impl Into<String>) -> Self {
        self.resource_name = Some(resource_name.into());
        self
    }

    /// The HTTP status code (shortcut for `self.code.http_status()`).
    pub const fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The JSON body to send.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_type: self.code.aws_type().to_owned(),
            message: self.message.clone(),
            resource_name: self.resource_name.clone(),
        }
    }
}

impl From<ErrorBody> for ApiError {
    /// Reads an error body received from an X-Ray endpoint; unknown types become
    /// `InternalFailure` with the original type kept in the message.
    fn from(body: ErrorBody) -> Self {
        match ErrorCode::from_aws_type(&body.error_type) {
            Some(code) => ApiError {
                code,
                message: body.message,
                resource_name: body.resource_name,
            },
            None => ApiError {
                code: ErrorCode::InternalFailure,
                message: format!("{}: {}", body.error_type, body.message),
                resource_name: body.resource_name,
            },
        }
    }
}

/// The JSON body of an error response.
///
/// Serializes as `{"__type":"InvalidRequestException","message":"...","Message":"..."}` plus
/// `"ResourceName"` when set. Deserializes leniently from what AWS and other servers send:
/// the type from `__type` or `code`/`Code`, the message from `message`, `Message` or
/// `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorBody {
    /// The AWS error type (`__type`), e.g. `InvalidRequestException`.
    pub error_type: String,
    /// The human-readable message.
    pub message: String,
    /// The resource concerned, when the error has one.
    pub resource_name: Option<String>,
}

#[derive(Serialize)]
struct ErrorBodyOut<'a> {
    #[serde(rename = "__type")]
    error_type: &'a str,
    message: &'a str,
    #[serde(rename = "Message")]
    message_upper: &'a str,
    #[serde(rename = "ResourceName", skip_serializing_if = "Option::is_none")]
    resource_name: Option<&'a str>,
}

#[derive(Deserialize)]
struct ErrorBodyIn {
    #[serde(rename = "__type", default)]
    error_type: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(rename = "Code", default)]
    code_upper: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "Message", default)]
    message_upper: Option<String>,
    #[serde(rename = "errorMessage", default)]
    error_message: Option<String>,
    #[serde(rename = "ResourceName", default)]
    resource_name: Option<String>,
}

impl Serialize for ErrorBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ErrorBodyOut {
            error_type: &self.error_type,
            message: &self.message,
            message_upper: &self.message,
            resource_name: self.resource_name.as_deref(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = ErrorBodyIn::deserialize(deserializer)?;
        Ok(ErrorBody {
            error_type: raw
                .code
                .or(raw.code_upper)
                .or(raw.error_type)
                .unwrap_or_default(),
            message: raw
                .message
                .or(raw.message_upper)
                .or(raw.error_message)
                .unwrap_or_default(),
            resource_name: raw.resource_name,
        })
    }
}

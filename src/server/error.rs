//! SCIM error responses (RFC 7644 §3.12), made in one place.

use crate::scim::ScimType;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::store::StoreError;
use crate::scim::{FilterError, PatchError};

pub const SCIM_JSON: &str = "application/scim+json";

/// Seconds a client should wait before sending again a request the database could
/// not serve.
const RETRY_AFTER: &str = "2";

/// An error the server answers with: its status, `scimType` and an actionable `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// The kind of store error it comes from, counted in the metrics.
    store: Option<&'static str>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<ScimType>,
        detail: impl Into<String>,
    ) -> ScimError {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            store: None,
        }
    }

    /// A 400 with a `scimType`.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(what: &str) -> ScimError {
        ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            format!("{what} does not exist"),
        )
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> ScimError {
        ScimError::bad(ScimType::InvalidFilter, e.0)
    }
}

impl From<PatchError> for ScimError {
    fn from(e: PatchError) -> ScimError {
        if e.over_limit {
            return ScimError::new(StatusCode::PAYLOAD_TOO_LARGE, None, e.detail);
        }
        ScimError::bad(e.scim_type, e.detail)
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> ScimError {
        let kind = match &e {
            StoreError::Conflict { .. }
            | StoreError::NotFound
            | StoreError::Stale(_)
            | StoreError::Unsupported(_) => None,
            StoreError::Unavailable(_) | StoreError::Indeterminate(_) => Some("unavailable"),
            StoreError::Corrupt(_) => Some("corrupt"),
            StoreError::Schema { .. } | StoreError::Newer { .. } => Some("schema"),
            _ => Some("database"),
        };
        ScimError {
            store: kind,
            ..ScimError::from_store(e)
        }
    }
}

impl ScimError {
    fn from_store(e: StoreError) -> ScimError {
        match e {
            StoreError::Conflict { .. } => ScimError::new(
                StatusCode::CONFLICT,
                Some(ScimType::Uniqueness),
                format!("{e}; choose another value or update the existing resource"),
            ),
            StoreError::NotFound => ScimError::not_found("the resource"),
            StoreError::Stale(current) => ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                format!("the resource has changed (its version is now W/\"{current}\"); read it again and retry"),
            ),
            StoreError::Database(e) => ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, e.to_string()),
            #[cfg(feature = "postgres")]
            StoreError::Postgres(e) => ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, e.to_string()),
            StoreError::Unavailable(why) => ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                format!("the database is unavailable ({why}); send the request again shortly"),
            ),
            // Not 503, which tells a client that nothing was done and it may resend.
            StoreError::Indeterminate(why) => ScimError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                format!("the database connection was lost while the change was committed ({why}): it may or may not have been made; read the resource before sending the request again"),
            ),
            StoreError::Corrupt(message) => ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, message),
            StoreError::Unsupported(what) => ScimError::new(StatusCode::NOT_IMPLEMENTED, None, what),
            e @ StoreError::Schema { .. } => ScimError::new(StatusCode::SERVICE_UNAVAILABLE, None, e.to_string()),
            e @ StoreError::Newer { .. } => ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, e.to_string()),
        }
    }
}

impl ScimError {
    /// The error as a SCIM Error message.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = &self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        body
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if let Some(kind) = self.store {
            response
                .extensions_mut()
                .insert(super::metrics::StoreFailure(kind));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimap\""),
            );
        }
        response
    }
}

//! Ids taken from the path, answering 404 in the error shape for anything that is not an id.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::error::ApiError;

/// The route's one path parameter. A parameter that cannot be read (invalid UTF-8 once
/// percent-decoded, say) is no id at all, so it answers 404 like a missing resource.
#[derive(Debug)]
pub(crate) struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| ApiError::NotFound)
    }
}

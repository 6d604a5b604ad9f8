//! The caller's instances (workspaces): list, create, rename (owners), delete (owners).
//!
//! `GET /instances`, `POST /instances {"name"}` (201), `PATCH /instances/{id} {"name"}`,
//! `DELETE /instances/{id}`. An instance the caller is not a member of, or an id that is
//! not a UUID, is `NOT_FOUND`; a member without the right is `FORBIDDEN`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use crate::domain::InstanceName;
use crate::error::ApiError;
use crate::extract::{CurrentUser, Fields, InstancePath, JsonBody, RequestBody};
use crate::startup::AppState;

/// `{"name"}` of create and rename.
pub struct NameBody {
    pub name: InstanceName,
}

impl RequestBody for NameBody {
    fn from_fields(fields: &mut Fields) -> Result<Self, ApiError> {
        Ok(Self {
            name: InstanceName::parse(&fields.string("name")?)?,
        })
    }
}

pub async fn list_instances(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let instances = state.store.list_instances(&caller.user_id).await?;
    Ok(Json(json!({ "success": true, "instances": instances })))
}

pub async fn create_instance(
    State(state): State<AppState>,
    caller: CurrentUser,
    JsonBody(body): JsonBody<NameBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let instance = state
        .store
        .create_instance(&caller.user_id, body.name.as_str(), Utc::now())
        .await?;
    tracing::info!(instance_id = %instance.id, "instance created");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "success": true, "instance": instance })),
    ))
}

pub async fn rename_instance(
    State(state): State<AppState>,
    caller: CurrentUser,
    InstancePath(instance_id): InstancePath,
    JsonBody(body): JsonBody<NameBody>,
) -> Result<Json<Value>, ApiError> {
    let instance = state
        .store
        .rename_instance(&caller.user_id, &instance_id, body.name.as_str())
        .await?;
    Ok(Json(json!({ "success": true, "instance": instance })))
}

pub async fn delete_instance(
    State(state): State<AppState>,
    caller: CurrentUser,
    InstancePath(instance_id): InstancePath,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .delete_instance(&caller.user_id, &instance_id, Utc::now())
        .await?;
    tracing::info!(%instance_id, "instance deleted");
    Ok(Json(json!({ "success": true })))
}

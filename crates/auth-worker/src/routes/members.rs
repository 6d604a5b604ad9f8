//! Members of an instance: list (any member), invite (owners), change a role (owners),
//! remove (owners, or a member removing itself).
//!
//! `GET /instances/{id}/members`, `POST /instances/{id}/members {"email","role"}`,
//! `PATCH /instances/{id}/members/{userId} {"role"}`,
//! `DELETE /instances/{id}/members/{userId}`. Every success is `{"success":true}` (the
//! list aside); an invite answers the same bytes whether or not the email has an account.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};
use shared::Role;

use crate::domain::{parse_role, Email};
use crate::error::ApiError;
use crate::extract::{CurrentUser, Fields, InstancePath, JsonBody, MemberPath, RequestBody};
use crate::startup::AppState;

/// `{"email","role"}` of an invite.
pub struct InviteBody {
    pub email: Email,
    pub role: Role,
}

impl RequestBody for InviteBody {
    fn from_fields(fields: &mut Fields) -> Result<Self, ApiError> {
        Ok(Self {
            email: Email::parse(&fields.string("email")?)?,
            role: parse_role(&fields.string("role")?)?,
        })
    }
}

/// `{"role"}` of a role change.
pub struct RoleBody {
    pub role: Role,
}

impl RequestBody for RoleBody {
    fn from_fields(fields: &mut Fields) -> Result<Self, ApiError> {
        Ok(Self {
            role: parse_role(&fields.string("role")?)?,
        })
    }
}

fn success() -> Json<Value> {
    Json(json!({ "success": true }))
}

pub async fn list_members(
    State(state): State<AppState>,
    caller: CurrentUser,
    InstancePath(instance_id): InstancePath,
) -> Result<Json<Value>, ApiError> {
    let members = state
        .store
        .list_members(&caller.user_id, &instance_id)
        .await?;
    Ok(Json(json!({ "success": true, "members": members })))
}

pub async fn add_member(
    State(state): State<AppState>,
    caller: CurrentUser,
    InstancePath(instance_id): InstancePath,
    JsonBody(body): JsonBody<InviteBody>,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .invite_member(
            &caller.user_id,
            &instance_id,
            &body.email,
            body.role,
            Utc::now(),
        )
        .await?;
    // Never log the outcome (member or pending): that is what the answer hides.
    tracing::info!(%instance_id, role = %body.role, "member invited");
    Ok(success())
}

pub async fn set_member_role(
    State(state): State<AppState>,
    caller: CurrentUser,
    path: MemberPath,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .set_member_role(
            &caller.user_id,
            &path.instance_id,
            &path.user_id,
            body.role,
            Utc::now(),
        )
        .await?;
    tracing::info!(instance_id = %path.instance_id, member = %path.user_id, role = %body.role, "member role set");
    Ok(success())
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: CurrentUser,
    path: MemberPath,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .remove_member(
            &caller.user_id,
            &path.instance_id,
            &path.user_id,
            Utc::now(),
        )
        .await?;
    tracing::info!(instance_id = %path.instance_id, member = %path.user_id, "member removed");
    Ok(success())
}

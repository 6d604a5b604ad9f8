//! HTTP routes: `GET /` (a one-line description, or the static app's `index.html`),
//! `GET /health`, `/ready` and `/config.json` ([`crate::health`]), `GET /metrics`
//! (Prometheus, [`crate::metrics`]; on `METRICS_ADDR` instead when that is set),
//! the WebSocket upgrade on any path ending in `/websocket` (LiveStore 0.3.1) or on any
//! path whose query has `storeId` and `transport=ws` (LiveStore 0.4), `GET
//! /stores/{storeId}/events` ([`crate::events_api`]), optional static files, and CORS
//! (preflight answered by the CORS layer).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use shared::config::CorsOrigins;
use tower::ServiceExt;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::services::ServeDir;

use crate::connect::WireProtocol;
use crate::AppState;

/// The text `GET /` answers when no static app is configured.
pub const DESCRIPTION: &str =
    "sync-worker: LiveStore sync-cf sync backend: 0.3.1 at /websocket, 0.4 on any path with ?transport=ws or ?transport=http.";

/// The service's router.
pub fn router(state: AppState) -> Router {
    // `GET /` is answered by the fallback: a 0.4 client connects on `/` itself.
    let router = Router::new();
    // Built once: the static folder does not change while the server runs.
    // Files are read per request, so a folder built after start is served from then on.
    let static_files = state.config.static_dir.as_ref().map(|dir| StaticFiles {
        service: ServeDir::new(dir).append_index_html_on_directories(true),
        index: dir.join("index.html"),
    });
    // With METRICS_ADDR set, metrics live on their own listener only.
    let router = if state.config.common.metrics_addr.is_none() {
        router.route(
            shared::metrics::METRICS_PATH,
            get(shared::metrics::endpoint),
        )
    } else {
        router
    };
    router
        .route("/stores/{store_id}/events", get(crate::events_api::list))
        .route("/health", get(crate::health::health))
        .route("/ready", get(crate::health::ready))
        .route("/config.json", get(crate::health::client_config))
        .fallback(move |state: State<AppState>, request: Request| {
            fallback(state, static_files.clone(), request)
        })
        .layer(cors(&state.config.common.cors_allowed_origins))
        .with_state(state)
}

/// The static app: its files, and where its `index.html` is expected.
#[derive(Clone)]
struct StaticFiles {
    service: ServeDir,
    index: std::path::PathBuf,
}

async fn fallback(
    State(state): State<AppState>,
    static_files: Option<StaticFiles>,
    request: Request,
) -> Response {
    let protocol = match crate::connect::transport_of(request.uri()).as_deref() {
        Some("ws") => Some(WireProtocol::V0_4),
        Some("http") => {
            if request.method() != Method::POST {
                return error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    "Use POST with one JSON Request body",
                );
            }
            return crate::protocol::v0_4::http::handle(state, request).await;
        }
        _ if request.uri().path().ends_with("/websocket") => Some(WireProtocol::V0_3),
        _ => None,
    };
    if let Some(protocol) = protocol {
        if request.method() != Method::GET {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Use GET with a WebSocket upgrade",
            );
        }
        return crate::connect::websocket(state, request, protocol).await;
    }
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    // Without a built app (`STATIC_DIR` unset, or not built yet), `/` describes the service.
    let built = static_files
        .as_ref()
        .is_some_and(|files| files.index.is_file());
    match static_files {
        _ if read && request.uri().path() == "/" && !built => DESCRIPTION.into_response(),
        Some(files) if read => match files.service.oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        },
        _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found"),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "code": code, "message": message })),
    )
        .into_response()
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-livestore-store-id"),
        ]);
    match origins {
        CorsOrigins::Any => layer.allow_origin(Any),
        CorsOrigins::List(list) => layer.allow_origin(AllowOrigin::list(
            list.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        )),
    }
}

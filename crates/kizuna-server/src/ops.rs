//! The operations listener, apart from both APIs and on loopback unless told
//! otherwise: `/healthz` (the process answers), `/readyz` (it can serve:
//! its store answers and, in a cluster, its link to NATS is up) and
//! `/metrics` (Prometheus text format) for the operator's monitoring.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use kizuna_node::Node;

pub(crate) fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(node)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(node): State<Arc<Node>>) -> Response {
    // The cheapest question the store answers from the database itself.
    if let Err(e) = node.store.account_by_id("").await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the node store does not answer: {e}\n"),
        )
            .into_response();
    }
    if let Some(link) = node.hub.cluster() {
        if !link.is_connected() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the link to the cluster's NATS is down\n",
            )
                .into_response();
        }
    }
    "ready\n".into_response()
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let gauges = kizuna_node::metrics::Gauges {
        connections: node.hub.connected() as u64,
        ledger_entries: node.vault.ledger().map(|l| l.size()).unwrap_or(0),
        store: node.store.write_stats(),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.metrics.render(&gauges),
    )
        .into_response()
}

//! The runner's HTTP/1.1 server: `axum::serve`, but with hyper's head limits raised above the shell's.
//!
//! hyper refuses a head over its buffer (~400 KiB) or over 100 header fields with a bare 431 and no body,
//! before any middleware runs. Here it reads heads up to [`MAX_HEADER_BYTES_CEILING`] and
//! [`MAX_HEADER_COUNT_CEILING`], so that the shell's own limits (`MAX_HEADER_BYTES`, `MAX_HEADER_COUNT`,
//! checked by `platform::app::finish` in both runtimes) answer a JSON 431 in the request's error shape.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use platform::config::{MAX_HEADER_BYTES_CEILING, MAX_HEADER_COUNT_CEILING};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// A client that sends no complete head within this time is disconnected (hyper's slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `stop` turns true, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, app: axum::Router, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let mut stop = stop.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .max_buf_size(MAX_HEADER_BYTES_CEILING * 2)
                .max_headers(MAX_HEADER_COUNT_CEILING)
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut connection = std::pin::pin!(connection);
            let stopping = tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    false
                }
                stopped = stop.wait_for(|s| *s) => stopped.is_ok(),
            };
            if stopping {
                connection.as_mut().graceful_shutdown();
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error during shutdown");
                }
            }
        });
        // Reap finished connections so the set stays as large as the open ones.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

//! Accepting connections, bounded: at most `max_connections` open at once,
//! each given `header_timeout` to deliver a whole request head (from
//! opening, or from the end of its previous answer, so idle keep-alive
//! connections are closed too), and a graceful close when the server stops.
//! The request body's deadline is kept by the handlers ([`super::routes`]).
//!
//! Without these a client that sends a request head byte by byte, or opens
//! connections and sends nothing, holds a connection (a task and a file
//! descriptor) forever, and enough of them exhaust the process's files.

use super::bare_errors::JsonErrorBodies;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Limits on what one client may hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Time to send a whole request head, counted from the connection's
    /// opening or from the end of its previous answer (the keep-alive idle
    /// limit). Past it the connection is closed without an answer.
    pub header_timeout: Duration,
    /// Time to send a whole request body once its head is in; past it the
    /// answer is 408 `request_timeout` and the connection is closed.
    pub body_timeout: Duration,
    /// Connections open at once; further ones wait in the listen backlog
    /// until one closes.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

impl ConnLimits {
    /// Refuses limits that would make the server unusable.
    pub fn check(&self) -> crate::Result<()> {
        if self.max_connections == 0 || self.max_connections > 65_536 {
            return Err(crate::Error::Input(format!(
                "--max-connections {}: use 1 to 65536",
                self.max_connections
            )));
        }
        for (flag, d) in [
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
        ] {
            if d < Duration::from_millis(100) {
                return Err(crate::Error::Input(format!(
                    "{flag} {} s: give at least 0.1 s",
                    d.as_secs_f64()
                )));
            }
        }
        Ok(())
    }
}

/// The most bytes the HTTP parser buffers for one request head.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` until `stop` resolves, then stops accepting,
/// asks every connection to close after its answer in progress, and
/// returns once all are closed.
pub async fn serve_bounded(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (close_tx, close_rx) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let tcp = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    eprintln!("serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut close = close_rx.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_HEAD_BYTES);
            let io = TokioIo::new(JsonErrorBodies::new(tcp));
            let conn = http.serve_connection(io, service);
            tokio::pin!(conn);
            let closing = tokio::select! {
                _ = conn.as_mut() => false,
                _ = close.wait_for(|c| *c) => true,
            };
            if closing {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = close_tx.send(true);
    // Every connection task holds a permit until it ends.
    let _ = permits
        .acquire_many(limits.max_connections as u32)
        .await
        .expect("the semaphore is never closed");
}

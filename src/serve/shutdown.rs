//! When the server stops: on [`super::Server::stop`], or on SIGINT (Ctrl-C)
//! and SIGTERM (what `kill`, systemd, Docker and Kubernetes send). Either
//! signal stops accepting and lets the requests in flight finish, for at
//! most the grace period; a second signal quits at once.

use super::engine::Stats;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

/// How the server reacts to signals.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    /// Stop on SIGINT and SIGTERM. Off for servers embedded in tests and
    /// load tests, which stop through [`super::Server::stop`].
    pub enabled: bool,
    /// After a stop is asked for, how long requests in flight may take to
    /// finish before the server quits without them.
    pub grace: Duration,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            enabled: true,
            grace: DEFAULT_GRACE,
        }
    }
}

/// Thirty seconds: what Kubernetes and Docker wait between SIGTERM and
/// SIGKILL by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Resolves when the server should stop accepting: `stop` fires (or its
/// sender is dropped), or a signal arrives when they are enabled. Then
/// `stopping` is told, so the caller can start the grace period.
pub async fn stop_requested(
    stop: oneshot::Receiver<()>,
    signals: Signals,
    stats: Arc<Stats>,
    stopping: oneshot::Sender<()>,
) {
    if signals.enabled {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            eprintln!("serve: cannot install signal handlers; stop with Ctrl-C only");
            let _ = stop.await;
            let _ = stopping.send(());
            return;
        };
        let name = tokio::select! {
            _ = stop => None,
            _ = int.recv() => Some("SIGINT (Ctrl-C)"),
            _ = term.recv() => Some("SIGTERM"),
        };
        if let Some(name) = name {
            let busy = stats.busy.load(Ordering::Relaxed);
            eprintln!(
                "serve: {name}: no new requests; finishing {busy} in flight within {} s \
                 (a second signal quits now)",
                signals.grace.as_secs_f64()
            );
            tokio::spawn(async move {
                let code = tokio::select! {
                    _ = int.recv() => 130,
                    _ = term.recv() => 143,
                };
                eprintln!("serve: second signal: quitting without finishing");
                std::process::exit(code);
            });
        }
    } else {
        let _ = stop.await;
    }
    let _ = stopping.send(());
}

/// Resolves `grace` after `stopping` fires (never if it is dropped
/// unfired), saying how many requests it leaves unfinished.
pub async fn grace_over(stopping: oneshot::Receiver<()>, grace: Duration, stats: Arc<Stats>) {
    if stopping.await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(grace).await;
    eprintln!(
        "serve: grace period of {} s over: quitting with {} request(s) unfinished",
        grace.as_secs_f64(),
        stats.busy.load(Ordering::Relaxed)
    );
}

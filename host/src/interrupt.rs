//! Ctrl-C and SIGTERM: long stages watch for them and stop cleanly, so the teardown
//! still runs.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Set once SIGINT or SIGTERM arrives; holds the signal's number.
#[derive(Debug, Clone)]
pub(crate) struct Interrupt(watch::Receiver<Option<i32>>);

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM.
    pub(crate) fn listen() -> std::io::Result<Self> {
        let (sender, receiver) = watch::channel(None);
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let number = tokio::select! {
                _ = interrupt.recv() => nix::libc::SIGINT,
                _ = terminate.recv() => nix::libc::SIGTERM,
            };
            eprintln!("jobwrap: interrupted; cleaning up");
            let _ = sender.send(Some(number));
        });
        Ok(Interrupt(receiver))
    }

    /// Resolves with the signal's number once one has arrived.
    pub(crate) async fn wait(&self) -> i32 {
        let mut receiver = self.0.clone();
        loop {
            if let Some(number) = *receiver.borrow_and_update() {
                return number;
            }
            if receiver.changed().await.is_err() {
                // The listener is gone: no signal will come.
                std::future::pending::<()>().await;
            }
        }
    }
}

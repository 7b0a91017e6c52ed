//! The push bus: every `invalidate` reaches every `GET /v1/events` subscriber.
//!
//! A `tokio::sync::broadcast` channel carries each push, serialised once, to all subscribers.
//! The channel is bounded, so a subscriber that stops reading cannot make the daemon grow without
//! limit; instead it *lags*. A lagging subscriber has lost pushes it can never get back, and a lost
//! `invalidate` would leave stale credentials in the browser, so it is sent
//! `{"type":"invalidate","all":true,"reason":"events_lost"}` first and then the pushes still held.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event;
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use super::rpc::{InvalidateReason, Push};

/// How many pushes a slow subscriber may fall behind before it gets `invalidate all`.
pub(crate) const BUS_CAPACITY: usize = 1024;

/// Fan-out of pushes to every subscriber.
#[derive(Debug, Clone)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Arc<str>>,
}

impl EventBus {
    /// A bus holding at most `capacity` unread pushes per subscriber.
    pub(crate) fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self { tx }
    }

    /// Sends `push` to every current subscriber (none is fine).
    pub(crate) fn publish(&self, push: &Push) {
        let json: Arc<str> = push.to_json().to_string().into();
        // An error only means nobody is subscribed right now.
        let _ = self.tx.send(json);
    }

    /// A new subscription; it receives every push published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }

    /// Number of live subscribers.
    pub(crate) fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// What a subscriber receives next, in wire form (the JSON of one push).
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Push(Arc<str>),
    End,
}

async fn next_push(
    rx: &mut broadcast::Receiver<Arc<str>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Next {
    tokio::select! {
        biased;
        // Also ends when the sender is gone: the daemon is stopping either way.
        _ = shutdown.wait_for(|stop| *stop) => Next::End,
        msg = rx.recv() => match msg {
            Ok(json) => Next::Push(json),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "an event subscriber fell behind; telling it to drop all credentials");
                let push = Push::InvalidateAll { reason: InvalidateReason::EventsLost };
                Next::Push(push.to_json().to_string().into())
            }
            Err(broadcast::error::RecvError::Closed) => Next::End,
        },
    }
}

/// The SSE stream of one subscriber: one `data: <push>` event per push, ending at shutdown.
pub(crate) fn sse_stream(
    rx: broadcast::Receiver<Arc<str>>,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    futures_util::stream::unfold((rx, shutdown), |(mut rx, mut shutdown)| async move {
        match next_push(&mut rx, &mut shutdown).await {
            Next::Push(json) => Some((Ok(Event::default().data(&*json)), (rx, shutdown))),
            Next::End => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(s: &str) -> Push {
        Push::InvalidateSites {
            sites: vec![s.into()],
            reason: InvalidateReason::NewCircuit,
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_push() {
        let bus = EventBus::new(8);
        let (_stop_tx, stop) = watch::channel(false);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(&sites("a.example"));
        let want = sites("a.example").to_json().to_string();
        for rx in [&mut a, &mut b] {
            let mut stop = stop.clone();
            assert_eq!(
                next_push(rx, &mut stop).await,
                Next::Push(want.clone().into())
            );
        }
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_to_drop_everything() {
        let bus = EventBus::new(2);
        let (_stop_tx, mut stop) = watch::channel(false);
        let mut rx = bus.subscribe();
        for s in ["a", "b", "c", "d", "e"] {
            bus.publish(&sites(s));
        }
        let lost = Push::InvalidateAll {
            reason: InvalidateReason::EventsLost,
        }
        .to_json()
        .to_string();
        assert_eq!(next_push(&mut rx, &mut stop).await, Next::Push(lost.into()));
        // Then the pushes still held, in order.
        for s in ["d", "e"] {
            let want = sites(s).to_json().to_string();
            assert_eq!(next_push(&mut rx, &mut stop).await, Next::Push(want.into()));
        }
    }

    #[tokio::test]
    async fn shutdown_ends_the_stream() {
        let bus = EventBus::new(2);
        let (stop_tx, mut stop) = watch::channel(false);
        let mut rx = bus.subscribe();
        stop_tx.send_replace(true);
        assert_eq!(next_push(&mut rx, &mut stop).await, Next::End);
    }
}

//! The host's main loop: frames from the browser to the daemon and replies and pushes back.
//!
//! One task reads and decodes stdin; each request becomes its own task (at most
//! [`MAX_IN_FLIGHT`] at once, after which reading pauses), so pipelined requests are relayed
//! concurrently and replies go out as they complete, matched by `id`. One writer task owns stdout
//! and writes whatever is ready in one `write` call. Unreadable frames are answered on the spot
//! and reading goes on; at end of input the host lets in-flight requests finish (bounded), then
//! returns.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::codec::FramedRead;

use crate::broker_client::{BrokerClient, BrokerConfig, CallError};
use crate::codec::{FrameDecoder, Inbound, MAX_FRAME_LEN, encode_frame};
use crate::message::{self, ErrorCode};

/// Requests relayed at the same time before the host stops reading stdin.
pub const MAX_IN_FLIGHT: usize = 512;

/// Outbound messages queued for the writer before producers wait.
const OUTBOUND_QUEUE: usize = 1024;

/// How long in-flight requests may still run after stdin closed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the host until `input` ends (or `output` fails); returns once everything is written.
pub async fn run<R, W>(input: R, output: W, config: BrokerConfig) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(OUTBOUND_QUEUE);
    let (stop_writer, stop) = oneshot::channel();
    let mut writer = tokio::spawn(write_frames(rx, output, stop));
    let broker = BrokerClient::new(config, tx.clone());
    {
        let broker = broker.clone();
        tokio::spawn(async move { broker.connect().await });
    }
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut frames = FramedRead::new(input, FrameDecoder::new());
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("never closed"),
            done = &mut writer => return writer_result(done),
        };
        let event = tokio::select! {
            event = frames.next() => event,
            done = &mut writer => return writer_result(done),
        };
        let reply = match event {
            None => break,
            Some(Err(e)) => {
                tracing::warn!("cannot read from the browser: {e}");
                break;
            }
            Some(Ok(Inbound::Frame(frame))) => match message::parse_request(frame) {
                Ok(request) => {
                    let (broker, tx) = (broker.clone(), tx.clone());
                    tokio::spawn(async move {
                        let reply = relay_one(&broker, request.id, request.body).await;
                        let _ = tx.send(reply).await;
                        drop(permit);
                    });
                    continue;
                }
                Err(reply) => {
                    tracing::warn!("answered an unreadable message");
                    reply
                }
            },
            Some(Ok(Inbound::Oversized { declared_len })) => {
                tracing::warn!(declared_len, "skipped an oversized message");
                message::error_reply(
                    &Value::Null,
                    ErrorCode::FrameTooLarge,
                    &format!(
                        "the message declared {declared_len} bytes; the limit is {MAX_FRAME_LEN}"
                    ),
                )
            }
            Some(Ok(Inbound::Truncated {
                declared_len,
                received,
            })) => {
                tracing::warn!("input ended inside a message");
                let declared = declared_len.map_or("a 4-byte length".to_owned(), |n| {
                    format!("{} bytes", n as usize + 4)
                });
                message::error_reply(
                    &Value::Null,
                    ErrorCode::InvalidJson,
                    &format!(
                        "input ended inside a message: {received} bytes of {declared} arrived"
                    ),
                )
            }
        };
        if tx.send(reply).await.is_err() {
            break;
        }
    }
    // End of input: let in-flight requests finish, then write what is queued and return
    // (the event relay would keep the queue open forever).
    let all = u32::try_from(MAX_IN_FLIGHT).expect("small");
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, permits.acquire_many(all)).await;
    drop(broker);
    drop(tx);
    let _ = stop_writer.send(());
    match tokio::time::timeout(DRAIN_TIMEOUT, &mut writer).await {
        Ok(done) => writer_result(done),
        Err(_) => {
            writer.abort();
            Ok(())
        }
    }
}

fn writer_result(done: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    done.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Relays one request and turns every failure into the reply the protocol prescribes.
async fn relay_one(broker: &BrokerClient, id: Value, body: Bytes) -> Bytes {
    match broker.call(body).await {
        // Checked before it reaches stdout: a frame Firefox cannot parse closes the port and
        // fails every other request in flight on it.
        Ok(reply) => match message::check_reply(&reply, &id) {
            Ok(()) => reply,
            Err(problem) => {
                tracing::warn!(?problem, "answered a daemon reply that cannot be relayed");
                message::error_reply(&id, ErrorCode::Internal, problem.message())
            }
        },
        Err(CallError::Unavailable(why)) => message::error_reply(
            &id,
            ErrorCode::BrokerUnavailable,
            &format!(
                "cannot reach the Persite broker daemon ({why}); it is restarted on the next request"
            ),
        ),
        Err(CallError::ReplyTooLarge) => message::error_reply(
            &id,
            ErrorCode::ReplyTooLarge,
            "the broker's reply exceeds the 1 MiB native-messaging limit",
        ),
        Err(CallError::Internal(why)) => message::error_reply(&id, ErrorCode::Internal, &why),
    }
}

/// Writes every queued message as a frame until all senders are gone or `stop` fires (then it
/// writes what is already queued and refuses the rest).
async fn write_frames<W>(
    mut rx: mpsc::Receiver<Bytes>,
    mut output: W,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut stopping = false;
    loop {
        let first = tokio::select! {
            message = rx.recv() => match message {
                Some(message) => message,
                None => break,
            },
            _ = &mut stop, if !stopping => {
                stopping = true;
                rx.close();
                continue;
            }
        };
        let mut next = Some(first);
        // Batch whatever is already queued into one write.
        while let Some(body) = next {
            if let Err(e) = encode_frame(&body, &mut buf) {
                // Replies are size-checked before they get here; pushes too. Never write it.
                tracing::error!("dropped an outbound message: {e}");
            }
            next = if buf.len() < 256 * 1024 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        output.write_all(&buf).await?;
        output.flush().await?;
        buf.clear();
    }
    output.flush().await
}

//! One client connection: requests are read and answered one at a time,
//! so responses go out in request order while other connections run
//! concurrently.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use sidecar_protocol::frame::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_PAYLOAD_BYTES};
use sidecar_protocol::payload::encode_f32s_bytes;
use sidecar_protocol::{ErrorCode, Frame, FrameCodec, FrameError, Request, Response};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tracing::{debug, error, info, instrument, warn};

use crate::bind::IMPLEMENTATION;
use crate::cli::EXIT_FATAL;
use crate::error::ServeError;
use crate::faults::Action;
use crate::predict::{self, PredictRequest};
use crate::server::State;
use crate::shutdown::Shutdown;

/// Next step of the connection after sending a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Read the next request.
    Continue,
    /// Close this connection.
    Close,
    /// Close this connection and stop the sidecar.
    StopServer,
}

/// A response header, its payload and what follows it.
type Outcome = (Response, Bytes, After);

/// A client connection and its handles on the server.
pub struct Connection {
    /// Number of the connection since start, for logs.
    number: u64,
    /// The socket, framed by the protocol codec.
    framed: Framed<UnixStream, FrameCodec>,
    /// State shared with the other connections.
    state: Arc<State>,
    /// Fires when the server shuts down.
    shutdown: Shutdown,
    /// Dropped when the connection ends; the server waits for every clone.
    _done: mpsc::Sender<()>,
}

impl Connection {
    /// Wraps an accepted stream.
    pub fn new(
        number: u64,
        stream: UnixStream,
        state: Arc<State>,
        shutdown: Shutdown,
        done: mpsc::Sender<()>,
    ) -> Connection {
        Connection {
            number,
            framed: Framed::new(stream, FrameCodec::default()),
            state,
            shutdown,
            _done: done,
        }
    }

    /// Serves requests until the peer closes, the stream breaks or the
    /// server shuts down.
    #[instrument(name = "connection", skip(self), fields(number = self.number))]
    pub async fn run(mut self) {
        debug!("connection opened");
        loop {
            // Step 1: the next frame, unless the server stops first.
            let next = tokio::select! {
                next = self.framed.next() => next,
                _ = self.shutdown.recv() => {
                    debug!("closing for shutdown");
                    return;
                }
            };
            let frame = match next {
                Some(Ok(frame)) => frame,
                Some(Err(err)) => {
                    self.reject_stream(err).await;
                    return;
                }
                None => {
                    debug!("peer closed the connection");
                    return;
                }
            };

            // Step 2: the fault script may act before any answer exists.
            // Parsing the op is skipped when no rule could use it.
            let index = self.state.next_request_index();
            let action = if self.state.faults.rules.is_empty() {
                None
            } else {
                self.state.faults.action_for(index, header_op(&frame.header).as_deref())
            };
            if let Some(action) = action {
                info!(request = index, ?action, "fault: applying");
            }
            match action {
                Some(Action::Hang) => {
                    self.shutdown.recv().await;
                    return;
                }
                Some(Action::Close) => return,
                Some(Action::Exit(status)) => std::process::exit(i32::from(status)),
                Some(Action::Delay(delay)) => {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.shutdown.recv() => return,
                    }
                }
                _ => {}
            }

            // Step 3: the responses, from a replayed transcript or computed.
            // A hanging or delayed model still yields to shutdown here.
            let (responses, after) = if self.state.replay.is_some() {
                self.replay(&frame)
            } else {
                let (response, payload, after) = tokio::select! {
                    outcome = handle(&self.state, frame) => outcome,
                    _ = self.shutdown.recv() => {
                        debug!("closing for shutdown with a request in progress");
                        return;
                    }
                };
                (vec![Frame::new(response.to_header(), payload)], after)
            };

            // Step 4: send them, as the fault script bends them, then
            // continue, close or stop the server.
            for response in responses {
                let sent = tokio::select! {
                    sent = send_frame(&mut self.framed, response, action) => sent,
                    _ = self.shutdown.recv() => return,
                };
                match sent {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(err) => {
                        warn!(cause = %err, "failed to send a response");
                        return;
                    }
                }
            }
            match after {
                After::Continue => {}
                After::Close => return,
                After::StopServer => {
                    self.state.request_shutdown();
                    return;
                }
            }
        }
    }

    /// Answers from the transcript. A request that differs from the
    /// recording gets an INTERNAL error naming the frame, and the server
    /// stops with status 1.
    fn replay(&self, frame: &Frame) -> (Vec<Frame>, After) {
        let Some(replay) = &self.state.replay else {
            return (Vec::new(), After::Close);
        };
        let answer = replay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .answer(frame);
        match answer {
            Ok(responses) => {
                let after = if header_op(&frame.header).as_deref() == Some("shutdown") {
                    After::StopServer
                } else {
                    After::Continue
                };
                (responses, after)
            }
            Err(message) => {
                error!(%message, "the client deviated from the transcript");
                let id = Request::from_header(&frame.header)
                    .map(|request| request.id())
                    .unwrap_or_else(|err| err.id);
                let response = Response::error(id, ErrorCode::Internal, message);
                self.state.stop_with_status(EXIT_FATAL);
                (vec![Frame::new(response.to_header(), Bytes::new())], After::Close)
            }
        }
    }

    /// Sends an id-0 error for a broken frame. The caller then closes the
    /// connection, because the frame boundary is lost.
    async fn reject_stream(&mut self, err: FrameError) {
        let Some(code) = err.code() else {
            warn!(cause = %err, "connection failed");
            return;
        };
        warn!(cause = %err, %code, "invalid frame, closing the connection");
        let response = Response::error(0, code, err.to_string());
        let frame = Frame::new(response.to_header(), Bytes::new());
        tokio::select! {
            sent = self.framed.send(frame) => {
                if let Err(err) = sent {
                    debug!(cause = %err, "failed to send the frame error");
                }
            }
            _ = self.shutdown.recv() => {}
        }
    }
}

/// Sends one response, bent by a framing fault when `action` is one.
/// Returns false when the connection must close afterwards.
async fn send_frame(
framed: &mut Framed<UnixStream, FrameCodec>,
response: Frame,
action: Option<Action>,
) -> Result<bool, FrameError> {
    let Some(bytes) = faulty_bytes(&response, action)? else {
        framed.send(response).await?;
        return Ok(true);
    };
    let stream = framed.get_mut();
    stream.write_all(&bytes).await?;
    stream.flush().await?;
    if matches!(action, Some(Action::Duplicate)) {
        framed.send(response).await?;
    }
    Ok(!matches!(
        action,
        Some(Action::PreambleOnly | Action::Truncate { .. })
    ))
}

/// Decodes one request and runs it.
async fn handle(state: &State, frame: Frame) -> Outcome {
    let request = match Request::from_header(&frame.header) {
        Ok(request) => request,
        Err(err) => {
            info!(id = err.id, message = %err.message, "invalid request header");
            return failure(
                err.id,
                ServeError::bad_request(err.message),
                After::Continue,
            );
        }
    };
    let id = request.id();
    debug!(id, op = request.op(), "request");

    if state.is_shutting_down() {
        let err = ServeError::new(ErrorCode::ShuttingDown, "the sidecar is shutting down");
        return failure(id, err, After::Close);
    }

    let result = match &request {
        Request::Ping { .. } => expect_empty(&request, &frame.payload).map(|()| ping(state, id)),
        Request::Load { model_path, .. } => {
            expect_empty(&request, &frame.payload).and_then(|()| load(state, id, model_path))
        }
        Request::Predict {
            model_path,
            input_names,
            output_names,
            batch_size,
            ..
        } => {
            let request = PredictRequest {
                model_path,
                input_names,
                output_names: output_names.as_deref(),
                batch_size: *batch_size,
                payload: &frame.payload,
            };
            predict::predict(state, request).await.map(|prediction| {
                let response = Response::predicted(id, prediction.output_names, *batch_size);
                (
                    response,
                    encode_f32s_bytes(&prediction.values),
                    After::Continue,
                )
            })
        }
        Request::Shutdown { .. } => expect_empty(&request, &frame.payload)
            .map(|()| (Response::ok(id), Bytes::new(), After::StopServer)),
    };

    result.unwrap_or_else(|err| {
        info!(id, code = %err.code, message = %err.message, "request failed");
        failure(id, err, After::Continue)
    })
}

fn failure(id: u64, err: ServeError, after: After) -> Outcome {
    (err.into_response(id), Bytes::new(), after)
}

/// Requests other than `predict` carry no payload.
fn expect_empty(request: &Request, payload: &[u8]) -> Result<(), ServeError> {
    if payload.is_empty() {
        return Ok(());
    }
    Err(ServeError::bad_request(format!(
        "payload has {} bytes, expected 0 for a {} request",
        payload.len(),
        request.op()
    )))
}

fn ping(state: &State, id: u64) -> Outcome {
    let response = Response {
        protocol: Some(u32::from(sidecar_protocol::VERSION)),
        implementation: Some(IMPLEMENTATION.to_owned()),
        pid: Some(std::process::id()),
        cache: Some(state.cache_stats()),
        ..Response::ok(id)
    };
    (response, Bytes::new(), After::Continue)
}

fn load(state: &State, id: u64, model_path: &str) -> Result<Outcome, ServeError> {
    let (model, cached) = state.model(model_path)?;
    let response = Response {
        cached: Some(cached),
        inputs: Some(model.input_specs()),
        outputs: Some(model.output_specs()),
        ..Response::ok(id)
    };
    Ok((response, Bytes::new(), After::Continue))
}

/// The op of a request header, when the header is a JSON object with a
/// string `op`.
fn header_op(header: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(header).ok()?;
    value.get("op")?.as_str().map(str::to_owned)
}

/// The bytes a framing fault sends in place of `response`, or `None` to
/// send it unchanged. `Duplicate` returns the frame itself; the caller
/// sends it a second time.
fn faulty_bytes(response: &Frame, action: Option<Action>) -> Result<Option<Vec<u8>>, FrameError> {
    let Some(action) = action else {
        return Ok(None);
    };
    let mut bytes = response.to_bytes()?;
    match action {
        Action::Delay(_) | Action::Hang | Action::Close | Action::Exit(_) => return Ok(None),
        Action::PreambleOnly => bytes.truncate(sidecar_protocol::PREAMBLE_LEN),
        Action::Truncate { cut_bytes } => {
            let cut = cut_bytes.map_or(bytes.len() / 2, |cut| cut as usize).clamp(1, bytes.len());
            bytes.truncate(bytes.len() - cut);
        }
        Action::BadMagic => bytes[..4].copy_from_slice(b"TMSQ"),
        Action::BadVersion(version) => bytes[4..6].copy_from_slice(&version.to_le_bytes()),
        Action::HeaderTooLarge => {
            bytes[8..12].copy_from_slice(&(DEFAULT_MAX_HEADER_BYTES + 1).to_le_bytes());
            bytes.truncate(sidecar_protocol::PREAMBLE_LEN);
        }
        Action::PayloadTooLarge => {
            bytes[12..16].copy_from_slice(&(DEFAULT_MAX_PAYLOAD_BYTES + 4).to_le_bytes());
            bytes.truncate(sidecar_protocol::PREAMBLE_LEN);
        }
        Action::WrongId(id) => {
            let mut header: serde_json::Value = serde_json::from_slice(&response.header)
                .map_err(|err| FrameError::Io(std::io::Error::other(err)))?;
            let recorded = header.get("id").and_then(serde_json::Value::as_u64).unwrap_or(0);
            header["id"] = serde_json::Value::from(id.unwrap_or(recorded + 1));
            let header = serde_json::to_vec(&header).map_err(|err| FrameError::Io(std::io::Error::other(err)))?;
            bytes = Frame::new(header, response.payload.clone()).to_bytes()?;
        }
        Action::Duplicate => {}
    }
    Ok(Some(bytes))
}

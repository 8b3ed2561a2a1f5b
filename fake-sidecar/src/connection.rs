//! One client connection: requests are read and answered one at a time,
//! so responses go out in request order while other connections run
//! concurrently.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use sidecar_protocol::payload::encode_f32s_bytes;
use sidecar_protocol::{ErrorCode, Frame, FrameCodec, FrameError, Request, Response};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tracing::{debug, info, instrument, warn};

use crate::bind::IMPLEMENTATION;
use crate::error::ServeError;
use crate::predict::{self, PredictRequest};
use crate::server::State;
use crate::shutdown::Shutdown;

/// What the connection does after sending a response.
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

            // Step 2: the response. A hanging or delayed model still yields
            // to shutdown here.
            let (response, payload, after) = tokio::select! {
                outcome = handle(&self.state, frame) => outcome,
                _ = self.shutdown.recv() => {
                    debug!("closing for shutdown with a request in progress");
                    return;
                }
            };

            // Step 3: send it, then continue, close or stop the server.
            let header = response.to_header();
            let sent = tokio::select! {
                sent = self.framed.send(Frame::new(header, payload)) => sent,
                _ = self.shutdown.recv() => return,
            };
            if let Err(err) = sent {
                warn!(cause = %err, id = response.id, "failed to send a response");
                return;
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

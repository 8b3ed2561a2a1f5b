//! One client connection on its own thread, with blocking I/O: requests
//! are read and responded to one at a time, so responses go out in
//! request order while other connections run concurrently.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use sidecar_protocol::blocking::{write_frame, FrameReader};
use sidecar_protocol::frame::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_PAYLOAD_BYTES};
use sidecar_protocol::payload::encode_f32s_into;
use sidecar_protocol::{ErrorCode, Frame, FrameError, Limits, Request, Response};
use tracing::{debug, error, info, info_span, warn};

use crate::bind::IMPLEMENTATION;
use crate::cli::EXIT_FATAL;
use crate::error::ServeError;
use crate::faults::Action;
use crate::predict::{self, PredictRequest};
use crate::server::State;

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

/// A response header, whether it has the predicted values as payload (the
/// connection's output buffer), and what follows it.
type Outcome = (Response, bool, After);

/// A client connection and its handle on the server.
pub struct Connection {
    /// Number of the connection since start, for logs and the register of
    /// open connections.
    number: u64,
    /// The socket, in blocking mode.
    stream: UnixStream,
    /// State shared with the other connections.
    state: Arc<State>,
    /// Reads requests into one buffer kept for the whole connection.
    reader: FrameReader,
    /// The preamble and header of the response being written.
    scratch: Vec<u8>,
    /// The payload of a predict response, kept between requests.
    output: Vec<u8>,
    limits: Limits,
}

impl Connection {
    /// Wraps an accepted stream; the caller has registered it under
    /// `number` with the server's [`crate::shutdown::Stop`].
    pub fn new(number: u64, stream: UnixStream, state: Arc<State>) -> Connection {
        Connection {
            number,
            stream,
            state,
            reader: FrameReader::new(),
            scratch: Vec::new(),
            output: Vec::new(),
            limits: Limits::default(),
        }
    }

    /// Serves requests until the peer closes, the stream breaks or the
    /// server shuts down, then removes the connection from the register.
    pub fn run(mut self) {
        let span = info_span!("connection", number = self.number);
        let _entered = span.enter();
        debug!("connection opened");
        self.serve();
        self.state.stop.unregister(self.number);
    }

    fn serve(&mut self) {
        loop {
            // Step 1: the next frame. Stopping the server shuts the socket
            // down, which ends this read as if the peer had closed.
            match self.reader.read_frame(&mut self.stream, &self.limits) {
                Ok(true) => {}
                Ok(false) => {
                    debug!("peer closed the connection");
                    return;
                }
                Err(err) => {
                    if !self.state.stop.is_stopped() {
                        self.reject_stream(err);
                    }
                    return;
                }
            }
            if self.state.stop.is_stopped() {
                debug!("closing for shutdown");
                return;
            }

            // Step 2: the fault script may act before any answer exists.
            // Parsing the op is skipped when no rule could use it.
            let index = self.state.next_request_index();
            let action = if self.state.faults.rules.is_empty() {
                None
            } else {
                let op = header_op(self.reader.header());
                self.state.faults.action_for(index, op.as_deref())
            };
            if let Some(action) = action {
                info!(request = index, ?action, "fault: applying");
            }
            match action {
                Some(Action::Hang) => {
                    self.state.stop.wait();
                    return;
                }
                Some(Action::Close) => return,
                Some(Action::Exit(status)) => std::process::exit(i32::from(status)),
                Some(Action::Delay(delay)) => {
                    if self.state.stop.sleep(delay) {
                        return;
                    }
                }
                _ => {}
            }

            // Step 3: the responses, from a replayed transcript or computed.
            // A hanging or delayed model wakes when the server stops, and
            // its response is then dropped.
            let (responses, after) = if self.state.replay.is_some() {
                let request = Frame::new(
                    self.reader.header().to_vec(),
                    self.reader.payload().to_vec(),
                );
                self.replay(&request)
            } else {
                let (response, has_output, after) = handle(
                    &self.state,
                    self.reader.header(),
                    self.reader.payload(),
                    &mut self.output,
                );
                if self.state.stop.is_stopped() {
                    debug!("closing for shutdown with a request in progress");
                    return;
                }
                let payload = if has_output {
                    std::mem::take(&mut self.output)
                } else {
                    Vec::new()
                };
                (vec![(response.to_header(), payload)], after)
            };

            // Step 4: send them, as the fault script bends them, then
            // continue, close or stop the server.
            for (header, payload) in responses {
                let sent = self.send(&header, &payload, action);
                if payload.capacity() > self.output.capacity() {
                    self.output = payload;
                }
                let stop_server = matches!(after, After::StopServer);
                match sent {
                    Ok(true) => {}
                    Ok(false) => {
                        if stop_server {
                            self.state.request_shutdown();
                        }
                        return;
                    }
                    Err(err) => {
                        warn!(cause = %err, "failed to send a response");
                        if stop_server {
                            self.state.request_shutdown();
                        }
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
    fn replay(&self, frame: &Frame) -> (Vec<(Vec<u8>, Vec<u8>)>, After) {
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
                let responses = responses
                    .into_iter()
                    .map(|response| (response.header.to_vec(), response.payload.to_vec()))
                    .collect();
                (responses, after)
            }
            Err(message) => {
                error!(%message, "the client deviated from the transcript");
                let id = Request::from_header(&frame.header)
                    .map(|request| request.id())
                    .unwrap_or_else(|err| err.id);
                let response = Response::error(id, ErrorCode::Internal, message);
                // The server stops only after this error is sent: stopping
                // shuts every socket down, which would drop the response.
                self.state.set_exit_status(EXIT_FATAL);
                (vec![(response.to_header(), Vec::new())], After::StopServer)
            }
        }
    }

    /// Sends an id-0 error for a broken frame. The caller then closes the
    /// connection, because the frame boundary is lost.
    fn reject_stream(&mut self, err: FrameError) {
        let Some(code) = err.code() else {
            warn!(cause = %err, "connection failed");
            return;
        };
        warn!(cause = %err, %code, "invalid frame, closing the connection");
        let header = Response::error(0, code, err.to_string()).to_header();
        if let Err(err) = write_frame(
            &mut self.stream,
            &header,
            &[],
            &self.limits,
            &mut self.scratch,
        ) {
            debug!(cause = %err, "failed to send the frame error");
        }
    }

    /// Writes one well-formed frame with one vectored write.
    fn write_plain(&mut self, header: &[u8], payload: &[u8]) -> Result<(), FrameError> {
        write_frame(&mut self.stream, header, payload, &self.limits, &mut self.scratch)
    }

    /// Sends one response with one vectored write, or bent by a framing
    /// fault when `action` is one. Returns false when the connection must
    /// close afterwards.
    fn send(
        &mut self,
        header: &[u8],
        payload: &[u8],
        action: Option<Action>,
    ) -> Result<bool, FrameError> {
        let Some(bytes) = faulty_bytes(header, payload, action)? else {
            self.write_plain(header, payload)?;
            return Ok(true);
        };
        self.stream.write_all(&bytes)?;
        self.stream.flush()?;
        if matches!(action, Some(Action::Duplicate)) {
            self.write_plain(header, payload)?;
        }
        Ok(!matches!(
            action,
            Some(Action::PreambleOnly | Action::Truncate { .. })
        ))
    }
}

/// Decodes one request and runs it. A predict writes its values into
/// `output`.
fn handle(state: &State, header: &[u8], payload: &[u8], output: &mut Vec<u8>) -> Outcome {
    let request = match Request::from_header(header) {
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
        Request::Ping { .. } => expect_empty(&request, payload).map(|()| ping(state, id)),
        Request::Load { model_path, .. } => {
            expect_empty(&request, payload).and_then(|()| load(state, id, model_path))
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
                payload,
            };
            predict::predict(state, request).map(|prediction| {
                let response = Response::predicted(id, prediction.output_names, *batch_size);
                encode_f32s_into(&prediction.values, output);
                (response, true, After::Continue)
            })
        }
        Request::Shutdown { .. } => {
            expect_empty(&request, payload).map(|()| (Response::ok(id), false, After::StopServer))
        }
    };

    result.unwrap_or_else(|err| {
        info!(id, code = %err.code, message = %err.message, "request failed");
        failure(id, err, After::Continue)
    })
}

fn failure(id: u64, err: ServeError, after: After) -> Outcome {
    (err.into_response(id), false, after)
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
    (response, false, After::Continue)
}

fn load(state: &State, id: u64, model_path: &str) -> Result<Outcome, ServeError> {
    let (model, cached) = state.model(model_path)?;
    let response = Response {
        cached: Some(cached),
        inputs: Some(model.input_specs()),
        outputs: Some(model.output_specs()),
        ..Response::ok(id)
    };
    Ok((response, false, After::Continue))
}

/// The op of a request header, when the header is a JSON object with a
/// string `op`.
fn header_op(header: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(header).ok()?;
    value.get("op")?.as_str().map(str::to_owned)
}

/// Builds the bytes a framing fault sends in place of the response
/// `header` and `payload`, or returns `None` to send it unchanged. `Duplicate` returns the
/// frame itself; the caller sends it a second time.
fn faulty_bytes(
    header: &[u8],
    payload: &[u8],
    action: Option<Action>,
) -> Result<Option<Vec<u8>>, FrameError> {
    let Some(action) = action else {
        return Ok(None);
    };
    if matches!(
        action,
        Action::Delay(_) | Action::Hang | Action::Close | Action::Exit(_)
    ) {
        return Ok(None);
    }
    let response = Frame::new(header.to_vec(), payload.to_vec());
    let mut bytes = response.to_bytes()?;
    match action {
        Action::Delay(_) | Action::Hang | Action::Close | Action::Exit(_) => return Ok(None),
        Action::PreambleOnly => bytes.truncate(sidecar_protocol::PREAMBLE_LEN),
        Action::Truncate { cut_bytes } => {
            let cut = cut_bytes
                .map_or(bytes.len() / 2, |cut| cut as usize)
                .clamp(1, bytes.len());
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
            let recorded = header
                .get("id")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            header["id"] = serde_json::Value::from(id.unwrap_or(recorded + 1));
            let header = serde_json::to_vec(&header)
                .map_err(|err| FrameError::Io(std::io::Error::other(err)))?;
            bytes = Frame::new(header, response.payload.clone()).to_bytes()?;
        }
        Action::Duplicate => {}
    }
    Ok(Some(bytes))
}

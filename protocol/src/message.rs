//! Typed request and response headers, with the canonical key order of
//! docs/protocol.md section 2.2 (serde writes struct fields in declaration
//! order, so the field order below is the wire order).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ErrorCode;

/// Largest id a client may use: 2^53 - 1, exact in every JSON library.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// Largest `batch_size` of a predict request.
pub const MAX_BATCH_SIZE: u32 = 1 << 24;

/// A request header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Liveness check; the response carries cache counters.
    Ping { id: u64 },
    /// Load a model into the cache.
    Load { id: u64, model_path: String },
    /// Run a batch; the payload carries `batch_size × input_names.len()` values.
    Predict {
        id: u64,
        model_path: String,
        input_names: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output_names: Option<Vec<String>>,
        batch_size: u32,
    },
    /// Answer, then stop the sidecar.
    Shutdown { id: u64 },
}

/// A request header that could not be decoded, with the id to answer with
/// (0 when the header had no usable id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// The id to echo in the error response.
    pub id: u64,
    /// What is wrong, naming the key.
    pub message: String,
}

impl Request {
    /// The request id.
    pub fn id(&self) -> u64 {
        match self {
            Request::Ping { id }
            | Request::Load { id, .. }
            | Request::Predict { id, .. }
            | Request::Shutdown { id } => *id,
        }
    }

    /// The op name as written on the wire.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Ping { .. } => "ping",
            Request::Load { .. } => "load",
            Request::Predict { .. } => "predict",
            Request::Shutdown { .. } => "shutdown",
        }
    }

    /// Encodes the header as canonical compact JSON.
    pub fn to_header(&self) -> Vec<u8> {
        // Serializing these plain structs cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and validates a request header.
    ///
    /// Keys may come in any order and unknown keys are ignored, as the
    /// protocol requires of receivers.
    pub fn from_header(header: &[u8]) -> Result<Request, RequestError> {
        if std::str::from_utf8(header).is_err() {
            return Err(RequestError {
                id: 0,
                message: "header is not valid UTF-8".into(),
            });
        }
        match plain_request(header) {
            Some(request) => Ok(request),
            None => decode_tree(header),
        }
    }
}

/// Decodes a request header through a JSON tree, so that every error can
/// name the key and the value at fault.
fn decode_tree(header: &[u8]) -> Result<Request, RequestError> {
    let value: Value = serde_json::from_slice(header).map_err(|err| RequestError {
        id: 0,
        message: format!("header is not valid JSON: {err}"),
    })?;
    let Value::Object(map) = value else {
        return Err(RequestError {
            id: 0,
            message: "header is not a JSON object".into(),
        });
    };

    let id = match map.get("id") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(id) if (1..=MAX_ID).contains(&id) => id,
            _ => {
                return Err(RequestError {
                    id: 0,
                    message: format!("key `id` is {n}, expected an integer from 1 to {MAX_ID}"),
                })
            }
        },
        Some(other) => {
            return Err(RequestError {
                id: 0,
                message: format!("key `id` is {other}, expected an integer"),
            })
        }
        None => {
            return Err(RequestError {
                id: 0,
                message: "missing key `id`".into(),
            })
        }
    };
    let fields = Fields { id, map: &map };

    let op = fields.string("op")?;
    match op.as_str() {
        "ping" => Ok(Request::Ping { id }),
        "shutdown" => Ok(Request::Shutdown { id }),
        "load" => Ok(Request::Load {
            id,
            model_path: fields.string("model_path")?,
        }),
        "predict" => {
            let input_names = fields.names("input_names")?;
            let output_names = if map.contains_key("output_names") {
                Some(fields.names("output_names")?)
            } else {
                None
            };
            let batch_size = fields.u64("batch_size")?;
            if batch_size == 0 || batch_size > u64::from(MAX_BATCH_SIZE) {
                return Err(fields.error(format!(
                    "key `batch_size` is {batch_size}, expected 1 to {MAX_BATCH_SIZE}"
                )));
            }
            Ok(Request::Predict {
                id,
                model_path: fields.string("model_path")?,
                input_names,
                output_names,
                batch_size: batch_size as u32,
            })
        }
        other => Err(fields.error(format!(
            "unknown op `{other}`, expected ping, load, predict or shutdown"
        ))),
    }
}

/// The keys of a request header when each has its expected type. Strings
/// borrow from the header unless they hold escapes.
#[derive(Deserialize)]
struct PlainHeader<'a> {
    id: u64,
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    model_path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input_names: Option<Vec<Cow<'a, str>>>,
    /// `Some(None)` is an explicit `null`, which the full decoder rejects.
    #[serde(borrow, default, deserialize_with = "present")]
    output_names: Option<Option<Vec<Cow<'a, str>>>>,
    #[serde(default)]
    batch_size: Option<u64>,
}

/// Marks a key that is present, so that `null` differs from a missing key.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Decodes a well-formed request header in one typed pass. Returns `None`
/// for anything unusual (a wrong type, a duplicate key, an id, name list
/// or batch size out of range, an unknown op), which [`decode_tree`] then
/// decodes to name the problem. Both paths accept the same headers and build the same request.
fn plain_request(header: &[u8]) -> Option<Request> {
    let plain: PlainHeader<'_> = serde_json::from_slice(header).ok()?;
    let id = plain.id;
    if !(1..=MAX_ID).contains(&id) {
        return None;
    }
    match plain.op.as_ref() {
        "ping" => Some(Request::Ping { id }),
        "shutdown" => Some(Request::Shutdown { id }),
        "load" => Some(Request::Load {
            id,
            model_path: plain.model_path?.into_owned(),
        }),
        "predict" => {
            let output_names = match plain.output_names {
                None => None,
                Some(names) => Some(plain_names(names?)?),
            };
            let batch_size = plain.batch_size?;
            if batch_size == 0 || batch_size > u64::from(MAX_BATCH_SIZE) {
                return None;
            }
            Some(Request::Predict {
                id,
                model_path: plain.model_path?.into_owned(),
                input_names: plain_names(plain.input_names?)?,
                output_names,
                batch_size: batch_size as u32,
            })
        }
        _ => None,
    }
}

/// Owned names, or `None` when the list is empty or names one twice.
fn plain_names(names: Vec<Cow<'_, str>>) -> Option<Vec<String>> {
    if names.is_empty() || first_duplicate(&names).is_some() {
        return None;
    }
    Some(names.into_iter().map(Cow::into_owned).collect())
}

/// Finds the first name that occurs twice. Short lists, the usual case,
/// are compared pairwise without allocating; long ones go through a set.
fn first_duplicate<S: AsRef<str>>(names: &[S]) -> Option<&str> {
    if names.len() <= 16 {
        return names.iter().enumerate().find_map(|(index, name)| {
            let name = name.as_ref();
            names[..index].iter().any(|seen| seen.as_ref() == name).then_some(name)
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    names
        .iter()
        .map(AsRef::as_ref)
        .find(|name| !seen.insert(*name))
}

/// Typed access to the keys of a header object, with errors naming the key.
struct Fields<'a> {
    id: u64,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn error(&self, message: String) -> RequestError {
        RequestError {
            id: self.id,
            message,
        }
    }

    fn get(&self, key: &str) -> Result<&Value, RequestError> {
        self.map
            .get(key)
            .ok_or_else(|| self.error(format!("missing key `{key}`")))
    }

    fn string(&self, key: &str) -> Result<String, RequestError> {
        match self.get(key)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.error(format!("key `{key}` is {other}, expected a string"))),
        }
    }

    fn u64(&self, key: &str) -> Result<u64, RequestError> {
        match self.get(key)? {
            Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0)),
            other => Err(self.error(format!(
                "key `{key}` is {other}, expected a non-negative integer"
            ))),
        }
    }

    /// A non-empty array of distinct strings.
    fn names(&self, key: &str) -> Result<Vec<String>, RequestError> {
        let Value::Array(items) = self.get(key)? else {
            return Err(self.error(format!("key `{key}` must be an array of strings")));
        };
        if items.is_empty() {
            return Err(self.error(format!("key `{key}` is empty, expected at least one name")));
        }
        let mut names = Vec::with_capacity(items.len());
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for item in items {
            let Value::String(name) = item else {
                return Err(self.error(format!("key `{key}` holds {item}, expected strings only")));
            };
            if !seen.insert(name.as_str()) {
                return Err(self.error(format!("key `{key}` names `{name}` twice")));
            }
            names.push(name.clone());
        }
        Ok(names)
    }
}

/// Cache counters returned by `ping`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Models loaded now.
    pub entries: u64,
    /// The `--cache-entries` value.
    pub capacity: u64,
    /// Models loaded since start.
    pub loads: u64,
    /// Requests served from a model already loaded.
    pub hits: u64,
    /// Models dropped to make room.
    pub evictions: u64,
}

/// A signature column as reported by `load`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// MLflow type name (`double`, `float`, `long`, ...) or numpy dtype.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The `error` object of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable error code.
    pub code: ErrorCode,
    /// Human-readable cause.
    pub message: String,
    /// Python exception type, when one was raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

/// A response header. Only the keys of one response kind are present; the
/// field order is the canonical wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The id of the request answered, or 0.
    pub id: u64,
    /// Whether the request succeeded.
    pub ok: bool,

    /// `ping`: protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
    /// `ping`: implementation name and version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// `ping`: process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// `ping`: cache counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheStats>,

    /// `load`: whether the model was already loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
    /// `load`: signature inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<ColumnSpec>>,
    /// `load`: signature outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<ColumnSpec>>,

    /// `predict`: output names in payload column order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_names: Option<Vec<String>>,
    /// `predict`: number of rows in the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,

    /// Failed requests: the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Response {
    /// A success response with no further keys (`shutdown`).
    pub fn ok(id: u64) -> Response {
        Response {
            id,
            ok: true,
            ..Response::default()
        }
    }

    /// An error response.
    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> Response {
        Response {
            id,
            ok: false,
            error: Some(ErrorBody {
                code,
                message: message.into(),
                exception: None,
            }),
            ..Response::default()
        }
    }

    /// A successful `predict` response header.
    pub fn predicted(id: u64, output_names: Vec<String>, batch_size: u32) -> Response {
        Response {
            id,
            ok: true,
            output_names: Some(output_names),
            batch_size: Some(batch_size),
            ..Response::default()
        }
    }

    /// Encodes the header as canonical compact JSON.
    pub fn to_header(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a response header.
    pub fn from_header(header: &[u8]) -> Result<Response, serde_json::Error> {
        serde_json::from_slice(header)
    }
}

/// The readiness line a sidecar prints on stdout once it can serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyLine {
    /// Always true.
    pub ready: bool,
    /// Protocol version, 1.
    pub protocol: u32,
    /// Sidecar process id.
    pub pid: u32,
    /// Name and version, for logs.
    pub implementation: String,
    /// Largest header accepted.
    pub max_header_bytes: u32,
    /// Largest payload accepted.
    pub max_payload_bytes: u32,
}

impl ReadyLine {
    /// Encodes the line, without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values a header key may take: the right type, a wrong one or null.
    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("1.0".to_string()),
            Just("-1".to_string()),
            Just("{}".to_string()),
            Just("\"m\\u0061del\"".to_string()),
            (0u64..=4).prop_map(|n| n.to_string()),
            Just(((1u64 << 53) - 1).to_string()),
            Just((1u64 << 53).to_string()),
            Just((1u64 << 24).to_string()),
            Just(((1u64 << 24) + 1).to_string()),
            prop_oneof![Just("ping"), Just("load"), Just("predict"), Just("shutdown"), Just("stop")]
                .prop_map(|op| format!("\"{op}\"")),
            proptest::collection::vec(prop_oneof![Just("\"a\""), Just("\"b\""), Just("1"), Just("null")], 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
        ]
    }

    /// Objects whose keys are the protocol's or one unknown key, some repeated.
    fn any_header() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("id"),
            Just("op"),
            Just("model_path"),
            Just("input_names"),
            Just("output_names"),
            Just("batch_size"),
            Just("extra"),
        ];
        proptest::collection::vec((key, any_value()), 0..9).prop_map(|pairs| {
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        })
    }

    proptest! {
        #[test]
        fn typed_path_agrees_with_tree(header in any_header()) {
            if let Some(fast) = plain_request(header.as_bytes()) {
                prop_assert_eq!(Ok(fast), decode_tree(header.as_bytes()), "{}", header);
            }
        }

        #[test]
        fn well_formed_requests_take_typed_path(
            id in 1..=MAX_ID,
            rows in 1..=MAX_BATCH_SIZE,
            with_outputs in any::<bool>(),
        ) {
            let request = Request::Predict {
                id,
                model_path: "/models/churn".into(),
                input_names: vec!["tenure".into(), "spend".into()],
                output_names: with_outputs.then(|| vec!["score".into()]),
                batch_size: rows,
            };
            prop_assert_eq!(plain_request(&request.to_header()), Some(request));
        }
    }

    #[test]
    fn unusual_headers_fall_back_to_tree() {
        let cases = [
            r#"{"id":1,"op":"predict","model_path":"/m","input_names":["a"],"output_names":null,"batch_size":1}"#,
            r#"{"id":1,"op":"predict","model_path":"/m","input_names":["a","a"],"batch_size":1}"#,
            r#"{"id":1,"op":"predict","model_path":"/m","input_names":[],"batch_size":1}"#,
            r#"{"id":1,"op":"predict","model_path":"/m","input_names":["a"],"batch_size":0}"#,
            r#"{"id":0,"op":"ping"}"#,
            r#"{"id":9007199254740992,"op":"ping"}"#,
            r#"{"id":1,"op":"stop"}"#,
            r#"{"id":1,"id":2,"op":"ping"}"#,
            r#"{"id":1,"op":"load","model_path":null}"#,
        ];
        for header in cases {
            assert_eq!(plain_request(header.as_bytes()), None, "{header}");
        }
        let duplicate = Request::from_header(cases[1].as_bytes()).expect_err("duplicate name");
        assert_eq!(duplicate.message, "key `input_names` names `a` twice");
        let null_outputs = Request::from_header(cases[0].as_bytes()).expect_err("null outputs");
        assert_eq!(null_outputs.message, "key `output_names` must be an array of strings");
        let last_id = Request::from_header(cases[7].as_bytes()).expect("last id wins");
        assert_eq!(last_id, Request::Ping { id: 2 });
    }

    #[test]
    fn first_duplicate_short_and_long() {
        assert_eq!(first_duplicate(&["a", "b", "a"]), Some("a"));
        assert_eq!(first_duplicate(&["a", "b", "c"]), None);
        let mut long: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        assert_eq!(first_duplicate(&long), None);
        long.push("n7".into());
        assert_eq!(first_duplicate(&long), Some("n7"));
    }

    #[test]
    fn escaped_strings_decode_on_typed_path() {
        let header = br#"{"op":"load","id":3,"model_path":"/m\u00e9\"x"}"#;
        let expected = Request::Load { id: 3, model_path: "/m\u{e9}\"x".into() };
        assert_eq!(plain_request(header), Some(expected.clone()));
        assert_eq!(Request::from_header(header), Ok(expected));
    }
}

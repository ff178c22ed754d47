//! Reading input files for the command line.

use std::io::Read;

use crate::json::kind as json_kind;
use crate::{Batch, Context, ExistingSet, RecordError};

/// Input files larger than this are refused before parsing.
const MAX_INPUT_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {name}: {source}")]
    Io {
        name: String,
        source: std::io::Error,
    },
    #[error("{name} is larger than {} MiB", MAX_INPUT_BYTES >> 20)]
    TooLarge { name: String },
    #[error("{name}: not valid UTF-8 (byte {offset})")]
    Utf8 { name: String, offset: usize },
    #[error("{name}:{line}:{column}: invalid JSON: {message}")]
    Json {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{name}: {message}")]
    NotRecord { name: String, message: String },
    #[error("{name}: {error}")]
    Record { name: String, error: RecordError },
    #[error("--now {value:?} is not an RFC 3339 time such as 2026-01-31T08:00:00Z: {message}")]
    Now { value: String, message: String },
}

impl InputError {
    /// `file:line:column` or `file: $.json.path`, for machine-readable output.
    pub fn location(&self) -> Option<String> {
        match self {
            InputError::Json {
                name, line, column, ..
            } => Some(format!("{name}:{line}:{column}")),
            InputError::Record { name, error } => Some(format!("{name}: {}", error.path)),
            InputError::Utf8 { name, offset } => Some(format!("{name}: byte {offset}")),
            _ => None,
        }
    }
}

/// Reads the record for `eval`: a file, `-` for standard input, or nothing (an empty
/// record). The record must be one JSON object.
pub fn read_record(path: Option<&str>) -> Result<Batch, InputError> {
    let Some(path) = path else {
        return Ok(Batch::from_json(&[serde_json::json!({})]).expect("{} is a record"));
    };
    let (name, value) = read_json(path)?;
    if !value.is_object() {
        let message = format!("a record must be a JSON object, not {}", json_kind(&value));
        return Err(InputError::NotRecord { name, message });
    }
    Batch::from_json(std::slice::from_ref(&value)).map_err(|error| InputError::Record {
        name,
        error: RecordError {
            path: format!("${}", &error.path[4..]),
            ..error
        },
    })
}

/// A text file (or standard input): its name for messages and its text.
pub fn read_text(path: &str) -> Result<(String, String), InputError> {
    let (name, bytes) = read_bytes(path)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok((name, text)),
        Err(e) => Err(InputError::Utf8 {
            name,
            offset: e.utf8_error().valid_up_to(),
        }),
    }
}

/// A JSON file (or standard input): its name for messages and its value.
pub fn read_json(path: &str) -> Result<(String, serde_json::Value), InputError> {
    let (name, bytes) = read_bytes(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| InputError::Utf8 {
        name: name.clone(),
        offset: e.valid_up_to(),
    })?;
    let value = serde_json::from_str(text).map_err(|e| InputError::Json {
        name: name.clone(),
        line: e.line(),
        column: e.column(),
        message: crate::json::message(&e),
    })?;
    Ok((name, value))
}

fn read_bytes(path: &str) -> Result<(String, Vec<u8>), InputError> {
    let mut bytes = Vec::new();
    let (name, result) = if path == "-" {
        (
            "<stdin>".to_string(),
            std::io::stdin()
                .lock()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes),
        )
    } else {
        let name = path.to_string();
        match std::fs::File::open(path) {
            Ok(file) => (name, file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)),
            Err(source) => return Err(InputError::Io { name, source }),
        }
    };
    result.map_err(|source| InputError::Io {
        name: name.clone(),
        source,
    })?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge { name });
    }
    Ok((name, bytes))
}

/// The evaluation context from the command line's flags.
pub fn context(
    now: Option<&str>,
    seed: Option<u64>,
    existing: Option<&str>,
    tenant_domain: &Option<String>,
) -> Result<Context, InputError> {
    let mut ctx = Context::default();
    if let Some(now) = now {
        let parsed = now.parse::<jiff::Timestamp>();
        ctx.now = Some(parsed.map_err(|e| InputError::Now {
            value: now.to_string(),
            message: e.to_string(),
        })?);
    }
    ctx.seed = seed;
    ctx.tenant_domain.clone_from(tenant_domain);
    if let Some(path) = existing {
        ctx.existing = Some(std::sync::Arc::new(read_existing(path)?));
    }
    Ok(ctx)
}

/// A JSON array of strings: the values already taken in the target.
fn read_existing(path: &str) -> Result<ExistingSet, InputError> {
    let (name, value) = read_json(path)?;
    let not_strings = |message: String| InputError::NotRecord {
        name: name.clone(),
        message,
    };
    let items = value.as_array().ok_or_else(|| {
        not_strings(format!(
            "expected a JSON array of strings, not {}",
            json_kind(&value)
        ))
    })?;
    let values = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .ok_or_else(|| not_strings(format!("$[{i}] is {}, not a string", json_kind(item))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ExistingSet::new(values))
}

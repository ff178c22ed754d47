//! `/Bulk`: operations run in dependency order, `bulkId` references substituted, each
//! operation answered apart.

use crate::scim::ScimType;
use std::collections::{HashMap, HashSet};

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::server::error::ScimError;

use crate::server::store::{Finish, Store};

use super::{failure_entry, internal_error, scim_json, App, Call, Ctx, Reply, MAX_BULK_OPERATIONS};

impl App {
    /// Bulk (RFC 7644 §3.7): operations run in the order given, except that one
    /// referring to `bulkId:x` waits until the POST with `bulkId` x has run. A
    /// reference to a bulkId nobody declares, to a POST that failed, or in a cycle is
    /// answered 409 for that operation. Results keep the request's order.
    ///
    /// With `failOnErrors` N, the request is one transaction: it stops at the Nth
    /// error and then keeps nothing, each operation that had succeeded answered 424;
    /// with fewer errors, the operations that succeeded are kept together. Without it,
    /// each operation is kept or not on its own.
    pub(super) fn bulk(&self, store: &dyn Store, ctx: &Ctx, call: &Call) -> Reply {
        let request = call.json()?;
        let operations = request
            .get("Operations")
            .and_then(Json::as_array)
            .ok_or_else(|| {
                ScimError::bad(
                    ScimType::InvalidSyntax,
                    "a bulk request has an \"Operations\" array",
                )
            })?;
        if operations.len() > MAX_BULK_OPERATIONS {
            return Err(ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                format!("a bulk request holds at most {MAX_BULK_OPERATIONS} operations"),
            ));
        }
        let results = match fail_on_errors(&request)? {
            None => self.run_bulk(store, ctx, operations, u64::MAX).results,
            Some(limit) => self.bulk_atomically(store, ctx, operations, limit)?,
        };
        Ok(scim_json(
            StatusCode::OK,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
                    "Operations": results.into_iter().flatten().map(|r| r.json).collect::<Vec<_>>()}),
        ))
    }

    /// The operations in one transaction, rolled back when they reach `limit` errors.
    fn bulk_atomically(
        &self,
        store: &dyn Store,
        ctx: &Ctx,
        operations: &[Json],
        limit: u64,
    ) -> Result<Vec<Option<BulkResult>>, ScimError> {
        let mut run = None;
        store.atomically(&mut |transaction| {
            let done = self.run_bulk(transaction, ctx, operations, limit);
            let finish = if done.errors >= limit {
                Finish::Rollback
            } else {
                Finish::Commit
            };
            run = Some(done);
            finish
        })?;
        let Some(mut run) = run else {
            return Err(internal_error());
        };
        if run.errors < limit {
            return Ok(run.results);
        }
        for (result, operation) in run.results.iter_mut().zip(operations) {
            let Some(BulkResult {
                call: Some(call), ..
            }) = result
            else {
                continue;
            };
            let error = ScimError::new(
                StatusCode::FAILED_DEPENDENCY,
                None,
                format!("not kept: the request reached failOnErrors ({limit} errors), so none of its changes were kept"),
            );
            if let Some(entry) = failure_entry(ctx, call, error.status) {
                if let Err(e) = store.audit(&entry) {
                    tracing::error!(request = %ctx.request, "the audit log cannot be written: {e}");
                }
            }
            *result = Some(BulkResult::failed(operation, error));
        }
        Ok(run.results)
    }

    /// Runs the operations until `fail_on` of them have failed.
    fn run_bulk(&self, store: &dyn Store, ctx: &Ctx, operations: &[Json], fail_on: u64) -> Run {
        let declared: HashSet<&str> = operations
            .iter()
            .filter_map(|o| o.get("bulkId").and_then(Json::as_str))
            .collect();
        // Read once: an operation may wait through many passes.
        let references: Vec<Vec<&str>> = operations.iter().map(referenced).collect();
        // bulkId → the id made for it, or `None` when its operation failed.
        let mut made: HashMap<String, Option<String>> = HashMap::new();
        let mut results: Vec<Option<BulkResult>> = Vec::new();
        results.resize_with(operations.len(), || None);
        let mut waiting: Vec<usize> = (0..operations.len()).collect();
        let mut errors = 0;
        loop {
            let before = waiting.len();
            let mut still = Vec::new();
            for index in waiting {
                let operation = &operations[index];
                if errors >= fail_on {
                    break;
                }
                let result = match bulk_references(&references[index], &declared, &made) {
                    References::Ready => self.bulk_operation(store, ctx, operation, &made),
                    References::Waiting => {
                        still.push(index);
                        continue;
                    }
                    References::Broken(detail) => BulkResult::failed(
                        operation,
                        ScimError::new(StatusCode::CONFLICT, None, detail),
                    ),
                };
                if let Some(bulk_id) = operation.get("bulkId").and_then(Json::as_str) {
                    made.insert(bulk_id.to_string(), result.id.clone());
                }
                errors += u64::from(result.call.is_none());
                results[index] = Some(result);
            }
            waiting = still;
            if waiting.is_empty() || waiting.len() == before || errors >= fail_on {
                break;
            }
        }
        if errors < fail_on {
            for index in waiting {
                let error = ScimError::new(
                    StatusCode::CONFLICT,
                    None,
                    "the operation's bulkId references form a cycle, so none of them can run first",
                );
                results[index] = Some(BulkResult::failed(&operations[index], error));
                errors += 1;
            }
        }
        Run { results, errors }
    }

    fn bulk_operation(
        &self,
        store: &dyn Store,
        ctx: &Ctx,
        operation: &Json,
        made: &HashMap<String, Option<String>>,
    ) -> BulkResult {
        let method = bulk_method(operation);
        let data = operation
            .get("data")
            .map(|d| substitute(d, made))
            .unwrap_or(Json::Null);
        let path = substitute(operation.get("path").unwrap_or(&Json::Null), made)
            .as_str()
            .unwrap_or_default()
            .to_string();
        // Only Users and Groups: a bulk request cannot nest another (or recurse).
        let resource_path = ["/Users", "/Groups"].iter().any(|p| {
            path.get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        });
        let inner = Call {
            method: method.parse().unwrap_or(Method::GET),
            path: path.clone(),
            query: String::new(),
            headers: version_headers(operation.get("version")),
            body: data.to_string().into_bytes(),
        };
        let outcome = match method.as_str() {
            _ if !resource_path => Err(ScimError::bad(
                ScimType::InvalidPath,
                format!("bulk operations address /Users or /Groups, not `{path}`"),
            )),
            "POST" | "PUT" | "PATCH" | "DELETE" => {
                // A panic in one operation fails that operation alone: the ones before
                // it are committed and must be reported.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.write(store, ctx, &inner)
                }))
                .unwrap_or_else(|_| {
                    tracing::error!(request = %ctx.request, path = %path, "a bulk operation panicked");
                    Err(internal_error())
                })
            }
            _ => Err(ScimError::bad(
                ScimType::InvalidSyntax,
                format!("bulk method `{method}` is not POST, PUT, PATCH or DELETE"),
            )),
        };
        let response = match outcome {
            Ok(response) => response,
            Err(e) => return BulkResult::failed(operation, e),
        };
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string)
        };
        let location = header(header::LOCATION);
        let mut result =
            json!({"method": method, "status": response.status().as_u16().to_string()});
        if let Some(bulk_id) = operation.get("bulkId").and_then(Json::as_str) {
            result["bulkId"] = json!(bulk_id);
        }
        if let Some(location) = &location {
            result["location"] = json!(location);
        }
        if let Some(version) = header(header::ETAG) {
            result["version"] = json!(version);
        }
        BulkResult {
            json: result,
            id: location
                .as_deref()
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_string),
            call: Some(inner),
        }
    }
}

/// What the operations of a bulk request came to, and how many failed.
struct Run {
    results: Vec<Option<BulkResult>>,
    errors: u64,
}

struct BulkResult {
    json: Json,
    /// The id of the resource a POST made.
    id: Option<String>,
    /// The request the operation made, when it succeeded.
    call: Option<Call>,
}

impl BulkResult {
    fn failed(operation: &Json, error: ScimError) -> BulkResult {
        let mut json = json!({"method": bulk_method(operation), "status": error.status.as_u16().to_string(), "response": error.body()});
        if let Some(bulk_id) = operation.get("bulkId").and_then(Json::as_str) {
            json["bulkId"] = json!(bulk_id);
        }
        BulkResult {
            json,
            id: None,
            call: None,
        }
    }
}

/// `failOnErrors`, when given: a count of errors, at least one.
fn fail_on_errors(request: &Json) -> Result<Option<u64>, ScimError> {
    match request.get("failOnErrors") {
        None | Some(Json::Null) => Ok(None),
        Some(given) => given.as_u64().filter(|&n| n >= 1).map(Some).ok_or_else(|| {
            ScimError::bad(
                ScimType::InvalidValue,
                format!("failOnErrors is a number of errors, 1 or more, not {given}"),
            )
        }),
    }
}

fn bulk_method(operation: &Json) -> String {
    operation
        .get("method")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase()
}

enum References {
    Ready,
    Waiting,
    Broken(String),
}

/// Whether every bulkId an operation names has its resource.
fn bulk_references(
    names: &[&str],
    declared: &HashSet<&str>,
    made: &HashMap<String, Option<String>>,
) -> References {
    let mut state = References::Ready;
    for &name in names {
        match made.get(name) {
            Some(Some(_)) => {}
            Some(None) => {
                return References::Broken(format!(
                    "bulkId `{name}` names an operation that failed, so this one cannot refer to it"
                ))
            }
            None if declared.contains(name) => state = References::Waiting,
            None => {
                return References::Broken(format!(
                    "bulkId `{name}` is not declared by any operation of this request"
                ))
            }
        }
    }
    state
}

/// The bulkIds an operation's `path` and `data` refer to, each once: `bulkId:x` as a
/// whole string or a path segment. Walks without recursion (the body's depth is
/// bounded, but its width is not).
fn referenced(operation: &Json) -> Vec<&str> {
    let mut names = Vec::new();
    let mut stack: Vec<&Json> = [operation.get("path"), operation.get("data")]
        .into_iter()
        .flatten()
        .collect();
    while let Some(value) = stack.pop() {
        match value {
            Json::String(s) => names.extend(
                s.split('/')
                    .filter_map(|segment| segment.strip_prefix("bulkId:")),
            ),
            Json::Array(items) => stack.extend(items),
            Json::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

fn version_headers(version: Option<&Json>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = version
        .and_then(Json::as_str)
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::IF_MATCH, value);
    }
    headers
}

/// `bulkId:x` (a whole string or a path segment) replaced by the id made for x.
fn substitute(value: &Json, made: &HashMap<String, Option<String>>) -> Json {
    match value {
        Json::String(s) if s.contains("bulkId:") => Json::String(
            s.split('/')
                .map(|segment| {
                    segment
                        .strip_prefix("bulkId:")
                        .and_then(|name| made.get(name)?.as_deref())
                        .unwrap_or(segment)
                })
                .collect::<Vec<_>>()
                .join("/"),
        ),
        Json::Array(items) => Json::Array(items.iter().map(|i| substitute(i, made)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, made)))
                .collect(),
        ),
        other => other.clone(),
    }
}

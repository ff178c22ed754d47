//! The HTTP side: one dispatcher under `/scim/v2`, so that every answer, 404 and 405
//! included, is a SCIM response with `application/scim+json`.

use crate::scim::ScimType;
use std::sync::{Arc, OnceLock};

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value as Json;

mod bulk;
mod lanes;
mod query;

use query::{list_response, ListQuery};

use super::discovery;
use super::error::{ScimError, SCIM_JSON};
use super::limits::TenantLimits;
use super::metrics::{self, Metrics, StoreFailure};
use super::resources::{etag, normalize, represent, resource_type, Projection, Shown};
use super::store::{ObjectKind, Store, StoreError, Stored};
use super::tenants::{random_hex, Audit, AuditEntry, Principal, Tenant, TokenHash};
use crate::scim::apply_patch;

/// How the server behaves: `Config::default()`, or `Config::with_tokens` for a
/// single tenant, then the fields to change.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Bearer tokens accepted for the tenant named `default` (made when missing): the
    /// single-tenant shortcut. Tenants made with `scimap tenant add` have their own
    /// tokens, kept as hashes in the database.
    pub tokens: Vec<String>,
    /// The largest request body, in bytes (larger ones get 413).
    pub max_body: usize,
    /// The most resources one list response holds.
    pub max_results: usize,
    /// The URL path the API lives under.
    pub base_path: String,
    /// Requests one tenant may have in progress at once; past it, 429.
    pub tenant_concurrency: usize,
    /// Requests per second one tenant may send, on average (bursts of as many); past
    /// it, 429 with `Retry-After`. `None`: no rate limit.
    pub tenant_rate: Option<f64>,
    /// Where clients reach the server (`https://scim.example.com`, perhaps with a
    /// path): URLs in `Location` and `meta.location` start with it. Never taken from a
    /// request's `Host`, which the client chooses.
    pub public_url: String,
    /// How long a request body may take to arrive; past it, 408.
    pub body_timeout: std::time::Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tokens: Vec::new(),
            max_body: 1 << 20,
            max_results: 1000,
            base_path: "/scim/v2".into(),
            tenant_concurrency: 32,
            tenant_rate: None,
            public_url: "http://localhost".into(),
            body_timeout: std::time::Duration::from_secs(30),
        }
    }
}

impl Config {
    /// The defaults, accepting these tokens for the `default` tenant.
    pub fn with_tokens<T: Into<String>>(tokens: impl IntoIterator<Item = T>) -> Config {
        Config {
            tokens: tokens.into_iter().map(Into::into).collect(),
            ..Config::default()
        }
    }
}

/// The audit entry of a write to a resource that ended in `status` without being
/// made; `None` for a request that writes nothing.
fn failure_entry(ctx: &Ctx, call: &Call, status: StatusCode) -> Option<AuditEntry> {
    let segments: Vec<&str> = call.path.split('/').filter(|s| !s.is_empty()).collect();
    let writes = matches!(
        call.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && matches!(segments.first(), Some(s) if kind_of(s).is_some())
        && segments.get(1) != Some(&".search");
    writes.then(|| {
        ctx.audit(call, status).entry(
            &ctx.principal.tenant.id,
            segments.get(1).map(|s| s.to_string()),
            &super::store::now(),
        )
    })
}

/// The tenant of the `--token` shortcut.
pub const DEFAULT_TENANT: &str = "default";

struct App {
    store: Arc<dyn Store>,
    config: Config,
    /// Hashes of the shortcut tokens.
    shortcut: Vec<TokenHash>,
    /// The shortcut tokens' tenant, looked up (or made) on first use.
    default_tenant: OnceLock<Tenant>,
    limits: TenantLimits,
    metrics: Metrics,
    lanes: lanes::Lanes,
}

/// The SCIM service as an axum router.
pub fn router(store: Arc<dyn Store>, config: Config) -> Router {
    let shortcut = config.tokens.iter().map(|t| TokenHash::of(t)).collect();
    let limits = TenantLimits::new(config.tenant_concurrency, config.tenant_rate);
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
        .fallback(dispatch)
        .with_state(Arc::new(App {
            store,
            config,
            shortcut,
            default_tenant: OnceLock::new(),
            limits,
            metrics: Metrics::new(),
            lanes: lanes::Lanes::new(),
        }))
}

type Reply = Result<Response, ScimError>;

/// Who asks, and how URLs are written back to them.
struct Ctx {
    principal: Principal,
    /// `http://host[/tenants/{name}]/scim/v2`.
    base: String,
    /// Names the request in logs, the audit log and the `X-Request-Id` header.
    request: String,
    /// The API's path (`/scim/v2`), for the audit log.
    base_path: String,
}

impl Ctx {
    /// The audit record of `call`, should it end with `status`.
    fn audit(&self, call: &Call, status: StatusCode) -> Audit {
        Audit {
            tenant_name: self.principal.tenant.name.clone(),
            token: self.principal.token.clone(),
            method: call.method.to_string(),
            path: format!("{}{}", self.base_path, call.path),
            status: status.as_u16(),
            request: self.request.clone(),
        }
    }
}

/// The process is up (for a load balancer's liveness check): no token, no database.
async fn healthz() -> Response {
    health(StatusCode::OK, "up", None)
}

/// The replica can serve: its database answers and holds this binary's schema. No
/// token; the answer says nothing about any tenant.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    match tokio::task::spawn_blocking(move || app.store.ready()).await {
        Ok(Ok(())) => health(StatusCode::OK, "ready", None),
        Ok(Err(e)) => health(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready",
            Some(e.to_string()),
        ),
        Err(_) => health(StatusCode::SERVICE_UNAVAILABLE, "not ready", None),
    }
}

fn health(status: StatusCode, word: &str, why: Option<String>) -> Response {
    let mut body = serde_json::json!({ "status": word });
    if let Some(why) = why {
        body["reason"] = why.into();
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Prometheus's text format; no token, and nothing in it names a tenant or a resource.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.render(app.store.pool_use());
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn dispatch(State(app): State<Arc<App>>, request: Request<Body>) -> Response {
    let request_id = random_hex(8);
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = metrics::route(split_tenant(request.uri().path(), &app.config.base_path).1);
    let mut response = app.clone().serve(request, &request_id).await;
    let failure = response.extensions().get::<StoreFailure>().copied();
    app.metrics.observe(
        route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
        failure,
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

impl App {
    async fn serve(self: Arc<App>, request: Request<Body>, request_id: &str) -> Response {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        // A tenant named in the URL must be the token's: anything else is refused
        // exactly as a wrong token is, so that no tenant's existence shows.
        let (url_tenant, rest) = split_tenant(&path, &self.config.base_path);
        let principal = match self.clone().authorize(&parts.headers).await {
            Ok(principal) if url_tenant.is_none_or(|name| name == principal.tenant.name) => {
                principal
            }
            Ok(_) => return unauthorized(INVALID_TOKEN).into_response(),
            Err(e) => return e.into_response(),
        };
        let Some(rest) = rest else {
            return ScimError::not_found(&path).into_response();
        };
        let _permit = match self.limits.acquire(&principal.tenant.id) {
            Ok(permit) => permit,
            Err(retry_after) => return too_many(retry_after),
        };
        let bytes = match tokio::time::timeout(
            self.config.body_timeout,
            to_bytes(body, self.config.max_body),
        )
        .await
        {
            Ok(Ok(bytes)) => bytes,
            Err(_) => {
                return ScimError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    None,
                    format!(
                        "the request body did not arrive within {} s",
                        self.config.body_timeout.as_secs_f64()
                    ),
                )
                .into_response()
            }
            Ok(Err(_)) => {
                return ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    format!(
                        "the request body is larger than {} bytes",
                        self.config.max_body
                    ),
                )
                .into_response()
            }
        };
        if !bytes.is_empty() {
            if let Err(e) = media_type(&parts.headers) {
                return e.into_response();
            }
        }
        let prefix = url_tenant.map_or(String::new(), |t| format!("/tenants/{t}"));
        let ctx = Ctx {
            base: format!(
                "{}{prefix}{}",
                self.config.public_url.trim_end_matches('/'),
                self.config.base_path
            ),
            principal,
            request: request_id.to_string(),
            base_path: self.config.base_path.clone(),
        };
        let call = Call {
            method: parts.method,
            path: rest.to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            headers: parts.headers,
            body: bytes.to_vec(),
        };
        // SQLite and PATCH on a large resource block: they run off the async workers
        // (reads on a lane when one is free, the rest on the blocking pool), so that a
        // slow request never holds up the others (health checks, small GETs). A panic
        // there is answered with a 500, never a dropped connection.
        let app = self.clone();
        let read = call.method == Method::GET;
        let work = move || {
            let response = app.write(&*app.store, &ctx, &call);
            (ctx, call, response)
        };
        let on_lane = if read {
            self.lanes.run(work)
        } else {
            Err(work)
        };
        let done = match on_lane {
            Ok(answer) => match answer.await {
                Ok(Ok(done)) => Ok(done),
                Ok(Err(_)) => Err("the request panicked".to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(work) => tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| e.to_string()),
        };
        let (ctx, call, response) = match done {
            Ok((ctx, call, Ok(response))) => (ctx, call, response),
            Ok((ctx, call, Err(e))) => (ctx, call, e.into_response()),
            Err(e) => {
                tracing::error!(request = %request_id, path = %path, "the request failed: {e}");
                return internal_error().into_response();
            }
        };
        tracing::info!(
            request = %ctx.request, tenant = %ctx.principal.tenant.name, method = %call.method,
            path = %path, status = response.status().as_u16()
        );
        response
    }

    /// Handles a request. A write that succeeds is audited by the store in its own
    /// transaction; one that fails is audited here.
    fn write(&self, store: &dyn Store, ctx: &Ctx, call: &Call) -> Reply {
        let result = self.handle(store, ctx, call);
        if let Some(entry) = result
            .as_ref()
            .err()
            .and_then(|e| failure_entry(ctx, call, e.status))
        {
            if let Err(e) = store.audit(&entry) {
                tracing::error!(request = %ctx.request, "the audit log cannot be written: {e}");
            }
        }
        result
    }

    /// The tenant and token of a request's bearer token. The scheme is matched without
    /// case (RFC 7235); a token is compared by its SHA-256 only.
    async fn authorize(self: Arc<App>, headers: &HeaderMap) -> Result<Principal, ScimError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            });
        let Some(given) = given else {
            return Err(unauthorized(
                "send a bearer token in the Authorization header",
            ));
        };
        let hash = TokenHash::of(given);
        if self.shortcut.contains(&hash) {
            if let Some(tenant) = self.default_tenant.get() {
                return Ok(Principal {
                    tenant: tenant.clone(),
                    token: None,
                });
            }
        }
        // The database is asked on the blocking pool, as for the request itself.
        match tokio::task::spawn_blocking(move || self.principal(hash)).await {
            Ok(found) => found,
            Err(_) => Err(internal_error()),
        }
    }

    fn principal(&self, hash: TokenHash) -> Result<Principal, ScimError> {
        if self.shortcut.contains(&hash) {
            return Ok(Principal {
                tenant: self.default_tenant()?,
                token: None,
            });
        }
        match self.store.authenticate(&hash, &super::store::now())? {
            Some(principal) => Ok(principal),
            None => Err(unauthorized(INVALID_TOKEN)),
        }
    }

    fn default_tenant(&self) -> Result<Tenant, ScimError> {
        if let Some(tenant) = self.default_tenant.get() {
            return Ok(tenant.clone());
        }
        let tenant = self.store.ensure_tenant(DEFAULT_TENANT)?;
        Ok(self.default_tenant.get_or_init(|| tenant).clone())
    }
}

const INVALID_TOKEN: &str = "the bearer token is not valid";

/// A body is JSON: `application/scim+json` or `application/json`, parameters such as
/// `charset` allowed. A body without `Content-Type` is taken as JSON too: Entra
/// always sends one, and scripts often do not.
fn media_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(SCIM_JSON) || essence.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ScimError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        format!("a body is sent as {SCIM_JSON} or application/json, not `{text}`"),
    ))
}

fn internal_error() -> ScimError {
    ScimError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "the server failed on this request; it is logged with the X-Request-Id of this response",
    )
}

fn unauthorized(detail: &str) -> ScimError {
    ScimError::new(StatusCode::UNAUTHORIZED, None, detail)
}

fn too_many(retry_after: std::time::Duration) -> Response {
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = ScimError::new(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        format!("too many requests for this tenant: retry after {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `/tenants/{name}/scim/v2/rest` → (`Some(name)`, `Some("/rest")`); `/scim/v2/rest`
/// → (`None`, `Some("/rest")`); another path → its tenant if any, and `None`.
fn split_tenant<'p>(path: &'p str, base: &str) -> (Option<&'p str>, Option<&'p str>) {
    let (tenant, below) = match path.strip_prefix("/tenants/") {
        Some(after) => {
            let (name, below) = after.split_at(after.find('/').unwrap_or(after.len()));
            (Some(name), below)
        }
        None => (None, path),
    };
    (tenant, strip_prefix_ignore_case(below, base))
}

/// A request, read whole.
struct Call {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Call {
    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            key.eq_ignore_ascii_case(name).then(|| decode(value))
        })
    }

    fn json(&self) -> Result<Json, ScimError> {
        let value: Json = serde_json::from_slice(&self.body).map_err(|e| {
            ScimError::bad(
                ScimType::InvalidSyntax,
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        match crate::bounds::too_deep(&value) {
            None => Ok(value),
            Some(at) => Err(ScimError::bad(
                ScimType::InvalidSyntax,
                format!(
                    "the body nests more than {} arrays and objects deep (the limit), at {at}",
                    crate::bounds::MAX_NESTING
                ),
            )),
        }
    }

    fn if_match(&self) -> Result<Option<u64>, ScimError> {
        version_header(&self.headers, header::IF_MATCH)
    }
}

/// `application/x-www-form-urlencoded` decoding of a query value.
fn decode(value: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `W/"3"`, `"3"` or `*` (any version).
fn version_header(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<u64>, ScimError> {
    let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let value = value.trim();
    if value == "*" {
        return Ok(None);
    }
    let digits = value.trim_start_matches("W/").trim_matches('"');
    digits.parse().map(Some).map_err(|_| {
        ScimError::bad(
            ScimType::InvalidValue,
            format!("`{value}` is not a version this server gave (W/\"N\")"),
        )
    })
}

fn scim_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    // Serializing what the server built cannot fail: its maps have string keys.
    let text = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

fn method_not_allowed(method: &Method, path: &str) -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!("{method} is not supported on {path}"),
    )
}

fn projection(attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection, ScimError> {
    Projection::new(attributes, excluded).map_err(|e| ScimError::bad(ScimType::InvalidPath, e))
}

impl Call {
    /// The projection the query string asks for, checked before anything is written.
    fn projection(&self) -> Result<Projection, ScimError> {
        projection(
            self.param("attributes").as_deref(),
            self.param("excludedAttributes").as_deref(),
        )
    }
}

fn kind_of(segment: &str) -> Option<ObjectKind> {
    if segment.eq_ignore_ascii_case("Users") {
        Some(ObjectKind::User)
    } else if segment.eq_ignore_ascii_case("Groups") {
        Some(ObjectKind::Group)
    } else {
        None
    }
}

impl App {
    /// Answers a request of `ctx`'s tenant; `call.path` is below the API's base path.
    fn handle(&self, store: &dyn Store, ctx: &Ctx, call: &Call) -> Reply {
        let segments: Vec<&str> = call.path.split('/').filter(|s| !s.is_empty()).collect();
        let base = ctx.base.as_str();
        let m = &call.method;
        match (segments.as_slice(), m) {
            ([kind], _) if kind_of(kind).is_some() => {
                let kind = kind_of(kind).expect("checked");
                match *m {
                    Method::GET => self.list(store, ctx, kind, &ListQuery::from_params(call)?),
                    Method::POST => self.create(store, ctx, kind, call),
                    _ => Err(method_not_allowed(m, &call.path)),
                }
            }
            ([kind, search], &Method::POST) if kind_of(kind).is_some() && *search == ".search" => {
                self.list(
                    store,
                    ctx,
                    kind_of(kind).expect("checked"),
                    &ListQuery::from_body(&call.json()?)?,
                )
            }
            ([kind, id], _) if kind_of(kind).is_some() => {
                let kind = kind_of(kind).expect("checked");
                match *m {
                    Method::GET => self.get(store, ctx, kind, id, call),
                    Method::PUT => self.replace(store, ctx, kind, id, call),
                    Method::PATCH => self.patch(store, ctx, kind, id, call),
                    Method::DELETE => {
                        let audit = ctx.audit(call, StatusCode::NO_CONTENT);
                        store.delete(
                            &ctx.principal.tenant.id,
                            kind,
                            id,
                            call.if_match()?,
                            Some(&audit),
                        )?;
                        Ok(StatusCode::NO_CONTENT.into_response())
                    }
                    _ => Err(method_not_allowed(m, &call.path)),
                }
            }
            ([".search"], &Method::POST) => {
                let query = ListQuery::from_body(&call.json()?)?;
                self.search_all(store, ctx, &query)
            }
            (["Bulk"], &Method::POST) => self.bulk(store, ctx, call),
            (["Schemas"], &Method::GET) => Ok(list_response(discovery::schemas(base), 1)),
            (["Schemas", id], &Method::GET) => discovery::schemas(base)
                .into_iter()
                .find(|s| s["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
                .map(|s| scim_json(StatusCode::OK, &s))
                .ok_or_else(|| ScimError::not_found(&format!("schema {id}"))),
            (["ResourceTypes"], &Method::GET) => {
                Ok(list_response(discovery::resource_types(base), 1))
            }
            (["ResourceTypes", id], &Method::GET) => discovery::resource_types(base)
                .into_iter()
                .find(|t| t["id"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(id)))
                .map(|t| scim_json(StatusCode::OK, &t))
                .ok_or_else(|| ScimError::not_found(&format!("resource type {id}"))),
            (["ServiceProviderConfig"], &Method::GET) => Ok(scim_json(
                StatusCode::OK,
                &discovery::service_provider_config(
                    base,
                    self.config.max_results,
                    self.config.max_body,
                ),
            )),
            (["Schemas" | "ResourceTypes" | "ServiceProviderConfig", ..], _)
            | (["Bulk" | ".search"], _) => Err(method_not_allowed(m, &call.path)),
            _ => Err(ScimError::not_found(&format!(
                "{}{}",
                self.config.base_path, call.path
            ))),
        }
    }

    fn respond(
        &self,
        status: StatusCode,
        stored: &Stored,
        kind: ObjectKind,
        projection: &Projection,
        base: &str,
    ) -> Response {
        let mut response = if projection.is_whole() {
            scim_json(status, &Shown { stored, kind, base })
        } else {
            scim_json(status, &projection.apply(represent(stored, kind, base)))
        };
        if let Ok(value) = HeaderValue::from_str(&etag(stored.version)) {
            response.headers_mut().insert(header::ETAG, value);
        }
        if status == StatusCode::CREATED {
            if let Ok(value) =
                HeaderValue::from_str(&format!("{base}/{}s/{}", kind.as_str(), stored.id))
            {
                response.headers_mut().insert(header::LOCATION, value);
            }
        }
        response
    }

    fn create(&self, store: &dyn Store, ctx: &Ctx, kind: ObjectKind, call: &Call) -> Reply {
        let projection = call.projection()?;
        let base = ctx.base.as_str();
        let body = normalize(&call.json()?, kind)?;
        let audit = ctx.audit(call, StatusCode::CREATED);
        let stored = store.create(&ctx.principal.tenant.id, kind, body, Some(&audit))?;
        Ok(self.respond(StatusCode::CREATED, &stored, kind, &projection, base))
    }

    fn get(&self, store: &dyn Store, ctx: &Ctx, kind: ObjectKind, id: &str, call: &Call) -> Reply {
        let projection = call.projection()?;
        let base = ctx.base.as_str();
        let stored = store
            .get(&ctx.principal.tenant.id, kind, id)?
            .ok_or_else(|| ScimError::not_found(&format!("{} {id}", kind.as_str())))?;
        if version_header(&call.headers, header::IF_NONE_MATCH)? == Some(stored.version) {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
        Ok(self.respond(StatusCode::OK, &stored, kind, &projection, base))
    }

    fn replace(
        &self,
        store: &dyn Store,
        ctx: &Ctx,
        kind: ObjectKind,
        id: &str,
        call: &Call,
    ) -> Reply {
        let projection = call.projection()?;
        let base = ctx.base.as_str();
        let body = normalize(&call.json()?, kind)?;
        let audit = ctx.audit(call, StatusCode::OK);
        let stored = store
            .replace(
                &ctx.principal.tenant.id,
                kind,
                id,
                body,
                call.if_match()?,
                Some(&audit),
            )
            .map_err(|e| match e {
                StoreError::NotFound => ScimError::not_found(&format!("{} {id}", kind.as_str())),
                other => other.into(),
            })?;
        Ok(self.respond(StatusCode::OK, &stored, kind, &projection, base))
    }

    fn patch(
        &self,
        store: &dyn Store,
        ctx: &Ctx,
        kind: ObjectKind,
        id: &str,
        call: &Call,
    ) -> Reply {
        let projection = call.projection()?;
        let base = ctx.base.as_str();
        let request = call.json()?;
        let wanted = call.if_match()?;
        // Written against the version read, so that a concurrent change is never
        // overwritten; without If-Match, a change that slipped in between is simply
        // read again and the request applied to it.
        let group_reply = kind == ObjectKind::Group && call.param("attributes").is_none();
        let audit = ctx.audit(
            call,
            if group_reply {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            },
        );
        let mut attempts = 0;
        let stored = loop {
            attempts += 1;
            let current = store
                .get(&ctx.principal.tenant.id, kind, id)?
                .ok_or_else(|| ScimError::not_found(&format!("{} {id}", kind.as_str())))?;
            if wanted.is_some_and(|v| v != current.version) {
                return Err(StoreError::Stale(current.version.to_string()).into());
            }
            let mut body = current.body.clone();
            apply_patch(&mut body, &request, resource_type(kind))?;
            let body = normalize(&body, kind)?;
            match store.replace(
                &ctx.principal.tenant.id,
                kind,
                id,
                body,
                Some(current.version),
                Some(&audit),
            ) {
                Err(StoreError::Stale(_)) if wanted.is_none() && attempts < 5 => continue,
                other => break other?,
            }
        };
        if group_reply {
            // Microsoft asks for 204 on group PATCH: no member list sent back.
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        Ok(self.respond(StatusCode::OK, &stored, kind, &projection, base))
    }
}

/// The most operations one Bulk request may hold (advertised in
/// `/ServiceProviderConfig`).
pub const MAX_BULK_OPERATIONS: usize = 1000;

fn strip_prefix_ignore_case<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let head = path.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &path[prefix.len()..])
}

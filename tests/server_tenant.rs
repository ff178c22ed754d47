//! The Entra-shaped tests of `tests/server.rs`, run again for a tenant made as an
//! operator makes one (`scimap tenant add`): through its own URL
//! (`/tenants/contoso/scim/v2`) and its own token, on a server where another tenant
//! already holds users and groups with the names the tests use. Any leak between
//! the two shows as a conflict, an extra result or a changed count.

#[path = "server.rs"]
mod suite;

use std::sync::Arc;

use axum::http::{header, HeaderValue, Request};
use scimap::server::{router, Config, Sqlite, Store};
use serde_json::json;

const BASE: &str = "http://scim.test/tenants/contoso/scim/v2";

/// The suite's requests, carrying its fixed tokens to `/scim/v2`, are sent with
/// tenant contoso's token to its URL; other tokens (the suite's wrong ones) pass as
/// they are.
fn scoped(config: Config) -> axum::Router {
    let store = Arc::new(Sqlite::in_memory().unwrap());
    let (_, token) = store.add_tenant("contoso").unwrap();
    let (fabrikam, _) = store.add_tenant("fabrikam").unwrap();
    for name in [
        "a",
        "eve@contoso.com",
        "ANN@contoso.com",
        "Test_User@contoso.com",
        "a@contoso.com",
        "bulk@contoso.com",
    ] {
        let user = json!({"userName": name, "externalId": format!("ext-{name}"), "emails": [{"type": "work", "value": name}]});
        store
            .create(
                &fabrikam.id,
                scimap::server::store::ObjectKind::User,
                user,
                None,
            )
            .unwrap();
    }
    for name in ["Zoë F", "Eng", "Bulk"] {
        store
            .create(
                &fabrikam.id,
                scimap::server::store::ObjectKind::Group,
                json!({"displayName": name}),
                None,
            )
            .unwrap();
    }
    let bearer = HeaderValue::from_str(&format!("Bearer {}", token.secret)).unwrap();
    let mut config = config;
    config.tokens.clear();
    let inner = router(store as Arc<dyn Store>, config);
    inner.layer(axum::middleware::map_request(
        move |mut request: Request<axum::body::Body>| {
            let bearer = bearer.clone();
            async move {
                let ours = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| {
                        v.eq_ignore_ascii_case("bearer s3cret")
                            || v.eq_ignore_ascii_case("bearer old-token")
                    });
                if ours {
                    request.headers_mut().insert(header::AUTHORIZATION, bearer);
                    let uri = request.uri().to_string();
                    if let Some(rest) = uri.strip_prefix("/scim/v2") {
                        *request.uri_mut() =
                            format!("/tenants/contoso/scim/v2{rest}").parse().unwrap();
                    }
                }
                request
            }
        },
    ))
}

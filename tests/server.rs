//! `scimap serve`'s SCIM API, called in process with requests shaped as Entra sends
//! them (legacy and `aadOptscim062020`), and what scim2-tester does not check: filters,
//! paging, sort, ETags, Bulk, 409, error shapes.

// `scimap serve` as its own process, started as the benchmarks start it.
#[path = "../benches/serve/mod.rs"]
pub(crate) mod serve;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use scimap::server::{router, Config, Sqlite};
use serde_json::{json, Value as Json};
use tower::ServiceExt;

const TOKEN: &str = "s3cret";

fn app() -> axum::Router {
    let mut config = Config::with_tokens(["old-token", TOKEN]);
    config.max_body = 64 << 10;
    config.public_url = "http://scim.test".into();
    crate::scoped(config)
}

/// The suite as it stands: the `--token` shortcut's tenant, under `/scim/v2`, on
/// SQLite. `tests/server_tenant.rs` runs the same tests for a tenant of its own,
/// `tests/server_postgres.rs` on PostgreSQL.
#[allow(dead_code)]
fn scoped(config: Config) -> axum::Router {
    router(Arc::new(Sqlite::in_memory().unwrap()), config)
}

/// Where the API is, as the server writes it into `Location` and `meta.location`.
#[allow(dead_code)]
const BASE: &str = "http://scim.test/scim/v2";

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Json,
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Json>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("/scim/v2{uri}"))
        // URLs come from the configured public URL, never from Host.
        .header(header::HOST, "attacker.example")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/scim+json");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    if !bytes.is_empty() {
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/scim+json",
            "{method} {uri}"
        );
    }
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(app: &axum::Router, uri: &str) -> Reply {
    send(app, "GET", uri, None, &[]).await
}

fn entra_user(user_name: &str) -> Json {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": format!("ext-{user_name}"),
        "userName": user_name,
        "active": "True",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Given Family", "familyName": "Family", "givenName": "Given"},
        "roles": [],
        "title": null,
    })
}

async fn create_user(app: &axum::Router, user_name: &str) -> String {
    let reply = send(app, "POST", "/Users", Some(entra_user(user_name)), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

fn patch(ops: Json) -> Option<Json> {
    Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
}

#[tokio::test]
async fn tokens_are_required_and_rotate() {
    let app = app();
    let request = |token: Option<&str>| {
        let mut r = Request::get("/scim/v2/Users");
        if let Some(token) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        r.body(Body::empty()).unwrap()
    };
    for token in [None, Some("wrong")] {
        let response = app.clone().oneshot(request(token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"scimap\""
        );
    }
    for token in ["old-token", TOKEN] {
        assert_eq!(
            app.clone()
                .oneshot(request(Some(token)))
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    // The scheme is matched without regard to case (RFC 7235 §2.1).
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let request = Request::get("/scim/v2/Users")
            .header(header::AUTHORIZATION, format!("{scheme} {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn entra_test_connection_gets_an_empty_list() {
    let app = app();
    let reply = get(
        &app,
        "/Users?filter=userName+eq+%22b7b9cd3e-1d8e-4a3e-9b0c-6a4b2d0f9e11%22",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0, "itemsPerPage": 0, "startIndex": 1, "Resources": []})
    );
}

#[tokio::test]
async fn entra_creates_matches_updates_and_disables_a_user() {
    let app = app();
    let created = send(
        &app,
        "POST",
        "/Users",
        Some(entra_user("Test_User@contoso.com")),
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.headers[header::LOCATION],
        format!("{}/Users/{id}", crate::BASE)
    );
    assert_eq!(created.headers[header::ETAG], "W/\"1\"");
    assert_eq!(created.body["active"], true, "the string True is a boolean");
    assert!(created.body.get("roles").is_none() && created.body.get("title").is_none());
    assert_eq!(created.body["meta"]["resourceType"], "User");

    for filter in [
        "userName%20eq%20%22test_user%40CONTOSO.com%22".to_string(),
        "externalId%20eq%20%22ext-Test_User%40contoso.com%22".to_string(),
        "emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22test_user%40contoso.com%22".to_string(),
        "emails.value%20eq%20%22test_user%40contoso.com%22".to_string(),
        format!("id%20eq%20%22{id}%22"),
    ] {
        let reply = get(&app, &format!("/Users?filter={filter}")).await;
        assert_eq!(reply.body["totalResults"], 1, "{filter}: {}", reply.body);
        assert_eq!(reply.body["Resources"][0]["id"], id.as_str());
    }

    let reply = send(&app, "PATCH", &format!("/Users/{id}"), patch(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updated@contoso.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Retail"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
        {"op": "Replace", "path": "active", "value": "False"},
    ])), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let user = get(&app, &format!("/Users/{id}")).await.body;
    assert_eq!(user["active"], false);
    assert_eq!(user["emails"][0]["value"], "updated@contoso.com");
    assert_eq!(user["name"]["familyName"], "updatedFamilyName");
    assert_eq!(
        user["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    let enterprise = &user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        enterprise,
        &json!({"department": "Retail", "manager": {"value": "m-1"}})
    );
    assert_eq!(user["meta"]["version"], "W/\"2\"");

    // aadOptscim062020: one path-less replace whose keys are paths.
    let reply = send(
        &app,
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "value": {
            "active": true, "name.givenName": "Zoë", "displayName": "Zoë F",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "1000417",
        }}])),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"]["givenName"], "Zoë");
    assert_eq!(
        reply.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "1000417"
    );

    // Inactive users are still found.
    send(
        &app,
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "path": "active", "value": false}])),
        &[],
    )
    .await;
    assert_eq!(
        get(&app, "/Users?filter=active%20eq%20false").await.body["totalResults"],
        1
    );
    assert_eq!(
        send(&app, "DELETE", &format!("/Users/{id}"), None, &[])
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&app, &format!("/Users/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn entra_groups_and_memberships() {
    let app = app();
    let members: Vec<String> = futures_users(&app, 3).await;
    let group = send(&app, "POST", "/Groups", Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0", "displayName": "Eng", "meta": {"resourceType": "Group"},
    })), &[]).await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_string();
    let add = json!([{"op": "Add", "path": "members", "value": members.iter().map(|m| json!({"$ref": null, "value": m})).collect::<Vec<_>>()}]);
    assert_eq!(
        send(&app, "PATCH", &format!("/Groups/{gid}"), patch(add), &[])
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let legacy_remove =
        json!([{"op": "Remove", "path": "members", "value": [{"value": members[0]}]}]);
    assert_eq!(
        send(
            &app,
            "PATCH",
            &format!("/Groups/{gid}"),
            patch(legacy_remove),
            &[]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let rfc_remove =
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", members[1])}]);
    send(
        &app,
        "PATCH",
        &format!("/Groups/{gid}"),
        patch(rfc_remove),
        &[],
    )
    .await;
    let read = get(&app, &format!("/Groups/{gid}")).await.body;
    assert_eq!(
        read["members"],
        json!([{"value": members[2]}]),
        "exactly the listed members left"
    );
    let lean = get(&app, &format!("/Groups/{gid}?excludedAttributes=members"))
        .await
        .body;
    assert!(lean.get("members").is_none() && lean["displayName"] == "Eng");
    let query = get(
        &app,
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22eng%22",
    )
    .await
    .body;
    assert_eq!(query["totalResults"], 1);
    assert!(query["Resources"][0].get("members").is_none());
    let rename = json!([{"op": "Replace", "path": "displayName", "value": "Eng-renamed"}]);
    send(&app, "PATCH", &format!("/Groups/{gid}"), patch(rename), &[]).await;
    assert_eq!(
        get(&app, &format!("/Groups/{gid}")).await.body["displayName"],
        "Eng-renamed"
    );
}

async fn futures_users(app: &axum::Router, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(create_user(app, &format!("member{i}@contoso.com")).await);
    }
    ids
}

#[tokio::test]
async fn uniqueness_is_409_and_nothing_half_written() {
    let app = app();
    create_user(&app, "ann@contoso.com").await;
    let bob = create_user(&app, "bob@contoso.com").await;
    let again = send(
        &app,
        "POST",
        "/Users",
        Some(entra_user("ANN@contoso.com")),
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["scimType"], "uniqueness");
    assert_eq!(again.body["status"], "409");
    let clash = json!([{"op": "replace", "path": "displayName", "value": "Bob"},
                       {"op": "replace", "path": "userName", "value": "ann@contoso.com"}]);
    assert_eq!(
        send(&app, "PATCH", &format!("/Users/{bob}"), patch(clash), &[])
            .await
            .status,
        StatusCode::CONFLICT
    );
    let read = get(&app, &format!("/Users/{bob}")).await.body;
    assert_eq!(
        (read["userName"].as_str(), read.get("displayName")),
        (Some("bob@contoso.com"), None)
    );
}

#[tokio::test]
async fn etags() {
    let app = app();
    let id = create_user(&app, "a@contoso.com").await;
    let uri = format!("/Users/{id}");
    assert_eq!(
        send(&app, "GET", &uri, None, &[("if-none-match", "W/\"1\"")])
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );
    let change = patch(json!([{"op": "replace", "path": "title", "value": "x"}]));
    assert_eq!(
        send(
            &app,
            "PATCH",
            &uri,
            change.clone(),
            &[("if-match", "W/\"1\"")]
        )
        .await
        .status,
        StatusCode::OK
    );
    let stale = send(&app, "PATCH", &uri, change, &[("if-match", "W/\"1\"")]).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(stale.body["detail"].as_str().unwrap().contains("W/\"2\""));
    assert_eq!(
        send(&app, "DELETE", &uri, None, &[("if-match", "W/\"1\"")])
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        send(
            &app,
            "PUT",
            &uri,
            Some(entra_user("a@contoso.com")),
            &[("if-match", "W/\"2\"")]
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn paging_sorting_and_filters() {
    let app = app();
    for name in ["carol", "alice", "eve", "bob", "dave"] {
        create_user(&app, &format!("{name}@contoso.com")).await;
    }
    let page = get(&app, "/Users?startIndex=2&count=2&sortBy=userName")
        .await
        .body;
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["itemsPerPage"].as_u64(),
            page["startIndex"].as_u64()
        ),
        (Some(5), Some(2), Some(2))
    );
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob@contoso.com", "carol@contoso.com"]);
    let last = get(
        &app,
        "/Users?sortBy=userName&sortOrder=descending&count=1&attributes=userName",
    )
    .await
    .body;
    // `schemas` lists the extensions the resource has values in: none here.
    assert_eq!(
        last["Resources"][0],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": last["Resources"][0]["id"], "userName": "eve@contoso.com"})
    );
    // The last page, shorter than its window: the total is still every user.
    let tail = get(&app, "/Users?startIndex=4&count=3").await.body;
    assert_eq!(
        (tail["totalResults"].as_u64(), tail["itemsPerPage"].as_u64()),
        (Some(5), Some(2))
    );
    let beyond = get(&app, "/Users?startIndex=9&count=2").await.body;
    assert_eq!(
        (
            beyond["totalResults"].as_u64(),
            beyond["itemsPerPage"].as_u64()
        ),
        (Some(5), Some(0))
    );
    let none = get(&app, "/Users?count=0").await.body;
    assert_eq!(
        (none["totalResults"].as_u64(), none["itemsPerPage"].as_u64()),
        (Some(5), Some(0))
    );
    let filtered = get(
        &app,
        "/Users?filter=userName%20sw%20%22b%22%20or%20userName%20co%20%22ve%22",
    )
    .await
    .body;
    assert_eq!(filtered["totalResults"], 3);
    let search = send(&app, "POST", "/Users/.search", Some(json!({"filter": "userName ew \"e@contoso.com\"", "sortBy": "userName", "attributes": ["userName"]})), &[]).await.body;
    assert_eq!(search["totalResults"], 3, "alice, dave, eve");
    let everything = send(
        &app,
        "POST",
        "/.search",
        Some(json!({"filter": "userName pr"})),
        &[],
    )
    .await
    .body;
    assert_eq!(everything["totalResults"], 5);
    for bad in [
        "userName%20xx%20%22a%22",
        "nickname2%20eq%20%22a%22",
        "active%20gt%20true",
        "userName%20eq",
    ] {
        let reply = get(&app, &format!("/Users?filter={bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.body["scimType"], "invalidFilter", "{bad}");
    }
}

#[tokio::test]
async fn bad_requests_get_scim_errors() {
    let app = app();
    let raw = |body: &str| {
        Request::post("/scim/v2/Users")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let response = app.clone().oneshot(raw("{\"userName\": ")).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .clone()
        .oneshot(raw(&"x".repeat(70 << 10)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let no_schema = send(&app, "POST", "/Users", Some(json!({"userName": "a"})), &[]).await;
    assert_eq!(
        (no_schema.status, no_schema.body["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidSyntax"))
    );
    let unknown = send(&app, "POST", "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "shoeSize": 9})), &[]).await;
    assert!(unknown.body["detail"]
        .as_str()
        .unwrap()
        .contains("shoeSize"));
    assert_eq!(get(&app, "/Users/nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/Nothing").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&app, "POST", "/Schemas", Some(json!({})), &[])
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let id = create_user(&app, "a@contoso.com").await;
    let bad_patch = send(
        &app,
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "path": "name[", "value": 1}])),
        &[],
    )
    .await;
    assert_eq!(bad_patch.body["scimType"], "invalidPath");
    let no_target = send(
        &app,
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([{"op": "remove"}])),
        &[],
    )
    .await;
    assert_eq!(no_target.body["scimType"], "noTarget");
}

#[tokio::test]
async fn discovery() {
    let app = app();
    let schemas = get(&app, "/Schemas").await.body;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group"
        ]
    );
    let user = get(&app, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await
        .body;
    let user_name = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(
        (
            user_name["required"].as_bool(),
            user_name["uniqueness"].as_str()
        ),
        (Some(true), Some("server"))
    );
    assert_eq!(
        get(&app, "/ResourceTypes/Group").await.body["endpoint"],
        "/Groups"
    );
    let config = get(&app, "/ServiceProviderConfig").await.body;
    assert_eq!(
        (
            config["patch"]["supported"].as_bool(),
            config["etag"]["supported"].as_bool()
        ),
        (Some(true), Some(true))
    );
}

#[tokio::test]
async fn bulk_with_bulk_ids() {
    let app = app();
    let reply = send(&app, "POST", "/Bulk", Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": entra_user("bulk@contoso.com")},
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Bulk", "members": [{"value": "bulkId:u1"}]}},
            {"method": "POST", "path": "/Users", "data": entra_user("bulk@contoso.com")},
            {"method": "POST", "path": "/Bulk", "data": {"Operations": []}},
            // Paths whose first bytes end inside a character: refused, never a panic.
            {"method": "POST", "path": "/abcdé", "data": {}},
            {"method": "POST", "path": "/Useré", "data": {}},
        ],
    })), &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let ops = reply.body["Operations"].as_array().unwrap();
    assert_eq!(
        ops.iter()
            .map(|o| o["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["201", "201", "409", "400", "400", "400"]
    );
    assert_eq!(
        ops[3]["response"]["scimType"], "invalidPath",
        "no bulk inside a bulk"
    );
    let user_id = ops[0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let group = get(
        &app,
        &format!(
            "/Groups/{}",
            ops[1]["location"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
        ),
    )
    .await
    .body;
    assert_eq!(group["members"][0]["value"], user_id);
    assert_eq!(ops[2]["response"]["scimType"], "uniqueness");
}

#[tokio::test]
async fn projections_name_sub_attributes_on_every_endpoint() {
    let app = app();
    let id = create_user(&app, "proj@contoso.com").await;
    let only = get(
        &app,
        &format!("/Users/{id}?attributes=emails.value,name.givenName"),
    )
    .await;
    assert_eq!(only.body["emails"], json!([{"value": "proj@contoso.com"}]));
    assert_eq!(only.body["name"], json!({"givenName": "Given"}));
    assert!(only.body.get("userName").is_none() && only.body.get("meta").is_none());
    let without = get(
        &app,
        &format!("/Users/{id}?excludedAttributes=name.givenName"),
    )
    .await;
    assert_eq!(
        without.body["name"],
        json!({"formatted": "Given Family", "familyName": "Family"})
    );
    assert_eq!(without.body["userName"], "proj@contoso.com");
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": "userName eq \"proj@contoso.com\"", "attributes": ["emails.value"]});
    let found = send(&app, "POST", "/Users/.search", Some(search), &[]).await;
    assert_eq!(
        found.body["Resources"][0]["emails"],
        json!([{"value": "proj@contoso.com"}])
    );
    let patched = send(
        &app,
        "PATCH",
        &format!("/Users/{id}?attributes=name.familyName"),
        patch(json!([{"op": "replace", "path": "name", "value": {"givenName": "Only"}}])),
        &[],
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(
        patched.body["name"],
        json!({"familyName": "Family"}),
        "a replace of name keeps familyName"
    );
    let refused = get(&app, "/Users?attributes=emails%5Btype%20eq%20%22work%22%5D").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["scimType"], "invalidPath");
    let refused = send(
        &app,
        "POST",
        "/Users?attributes=emails[",
        Some(entra_user("never@contoso.com")),
        &[],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "checked before anything is written"
    );
    let none = get(
        &app,
        "/Users?filter=userName%20eq%20%22never%40contoso.com%22",
    )
    .await;
    assert_eq!(none.body["totalResults"], 0);
}

#[tokio::test]
async fn bulk_ids_resolve_in_dependency_order() {
    let app = app();
    let group = |name: &str, members: &[&str]| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
               "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()})
    };
    let reply = send(&app, "POST", "/Bulk", Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            // Forward: the group names a user made later in the request.
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": group("Forward", &["bulkId:u"])},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": entra_user("forward@contoso.com")},
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": group("A", &["bulkId:b"])},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": group("B", &["bulkId:a"])},
            {"method": "POST", "path": "/Groups", "data": group("Unknown", &["bulkId:nobody"])},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": entra_user("forward@contoso.com")},
            {"method": "POST", "path": "/Groups", "data": group("OnFailed", &["bulkId:dup"])},
            {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]}},
        ],
    })), &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let ops = reply.body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["201", "201", "409", "409", "409", "409", "409", "204"],
        "{}",
        reply.body
    );
    for (i, words) in [
        (2, "cycle"),
        (3, "cycle"),
        (4, "not declared"),
        (6, "failed"),
    ] {
        let detail = ops[i]["response"]["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{i}: {detail}");
    }
    let id = |i: usize| {
        ops[i]["location"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    };
    let made = get(&app, &format!("/Groups/{}", id(0))).await.body;
    assert_eq!(made["members"][0]["value"], id(1));
    assert_eq!(made["displayName"], "Renamed");
    let all = get(&app, "/Groups").await.body;
    assert_eq!(
        all["totalResults"], 1,
        "nothing stored with a literal bulkId: {all}"
    );
}

/// A bulk request's statuses, in order.
fn statuses(reply: &Reply) -> Vec<&str> {
    reply.body["Operations"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.body))
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect()
}

/// A bulk request with `failOnErrors`, answered.
async fn bulk(app: &axum::Router, fail_on_errors: Json, operations: Json) -> Reply {
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "failOnErrors": fail_on_errors,
        "Operations": operations,
    });
    send(app, "POST", "/Bulk", Some(request), &[]).await
}

async fn users_named(app: &axum::Router, user_name: &str) -> u64 {
    let filter = format!("/Users?filter=userName%20eq%20%22{user_name}%22");
    get(app, &filter).await.body["totalResults"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn bulk_with_fail_on_errors_keeps_all_or_nothing() {
    let app = app();
    let kept = create_user(&app, "kept@contoso.com").await;
    let doomed = create_user(&app, "doomed@contoso.com").await;
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]});
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Atomic", "members": [{"value": "bulkId:u"}]});
    // The fifth operation fails: with failOnErrors 1, the four before it are undone.
    let reply = bulk(&app, json!(1), json!([
        {"method": "POST", "path": "/Users", "bulkId": "u", "data": entra_user("atomic@contoso.com")},
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": group},
        {"method": "PATCH", "path": format!("/Users/{kept}"), "data": rename},
        {"method": "DELETE", "path": format!("/Users/{doomed}")},
        {"method": "POST", "path": "/Users", "data": entra_user("kept@contoso.com")},
        {"method": "POST", "path": "/Users", "data": entra_user("never@contoso.com")},
    ])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        statuses(&reply),
        ["424", "424", "424", "424", "409"],
        "{}",
        reply.body
    );
    let ops = reply.body["Operations"].as_array().unwrap();
    let detail = ops[0]["response"]["detail"].as_str().unwrap();
    assert!(detail.contains("failOnErrors (1 errors)"), "{detail}");
    assert_eq!(ops[1]["bulkId"], "g");
    assert!(
        ops.iter().all(|o| o.get("location").is_none()),
        "nothing made: {}",
        reply.body
    );
    assert_eq!(users_named(&app, "atomic@contoso.com").await, 0);
    assert_eq!(
        users_named(&app, "never@contoso.com").await,
        0,
        "not run after the limit"
    );
    assert_eq!(get(&app, "/Groups").await.body["totalResults"], 0);
    let still = get(&app, &format!("/Users/{kept}")).await;
    assert_eq!(
        still.headers[header::ETAG],
        "W/\"1\"",
        "the PATCH was undone"
    );
    assert_eq!(
        get(&app, &format!("/Users/{doomed}")).await.status,
        StatusCode::OK
    );

    // Under the limit, what succeeded is kept, together.
    let reply = bulk(
        &app,
        json!(2),
        json!([
                {"method": "POST", "path": "/Users", "data": entra_user("second@contoso.com")},
                {"method": "POST", "path": "/Users", "data": entra_user("kept@contoso.com")},
                {"method": "DELETE", "path": format!("/Users/{doomed}")},
        ]),
    )
    .await;
    assert_eq!(statuses(&reply), ["201", "409", "204"], "{}", reply.body);
    assert_eq!(users_named(&app, "second@contoso.com").await, 1);
    assert_eq!(
        get(&app, &format!("/Users/{doomed}")).await.status,
        StatusCode::NOT_FOUND
    );

    // A reference cycle counts as errors too.
    let cyclic = |name: &str, other: &str| {
        json!({"method": "POST", "path": "/Groups", "bulkId": name,
        "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
                 "members": [{"value": format!("bulkId:{other}")}]}})
    };
    let reply = bulk(
        &app,
        json!(2),
        json!([
                {"method": "POST", "path": "/Users", "data": entra_user("third@contoso.com")},
                cyclic("a", "b"),
                cyclic("b", "a"),
        ]),
    )
    .await;
    assert_eq!(statuses(&reply), ["424", "409", "409"], "{}", reply.body);
    assert_eq!(users_named(&app, "third@contoso.com").await, 0);
}

#[tokio::test]
async fn fail_on_errors_is_a_count_of_one_or_more() {
    let app = app();
    for given in [json!(0), json!(-1), json!("1"), json!(1.5)] {
        let reply = bulk(
            &app,
            given.clone(),
            json!([{"method": "POST", "path": "/Users", "data": entra_user("counted@contoso.com")}]),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{given}: {}",
            reply.body
        );
        assert_eq!(reply.body["scimType"], "invalidValue");
        assert!(reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("failOnErrors"));
    }
    assert_eq!(users_named(&app, "counted@contoso.com").await, 0);
}

/// A request over a fresh loopback connection: the status and the body.
fn http(address: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "{method} /scim/v2{path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[test]
fn kill_9_mid_load_loses_nothing_acknowledged() {
    let dir = std::env::temp_dir().join(format!("scimap-kill9-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("scim.db");
    let (mut server, address) = serve::start(&database, TOKEN);
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (address, acknowledged) = (address.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let name = format!("w{w}-{i}@contoso.com");
                    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
                    match http(&address, "POST", "/Users", &body.to_string()) {
                        Ok((201, _)) => acknowledged.lock().unwrap().push(name),
                        _ => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    writers.into_iter().for_each(|w| w.join().unwrap());
    let acknowledged = acknowledged.lock().unwrap().clone();

    let (mut server, address) = serve::start(&database, TOKEN);
    let mut stored = std::collections::HashSet::new();
    for start in (1..).step_by(1000) {
        let (status, body) = http(
            &address,
            "GET",
            &format!("/Users?startIndex={start}&attributes=userName"),
            "",
        )
        .unwrap();
        assert_eq!(status, 200);
        let page: Json = serde_json::from_str(&body).unwrap();
        let resources = page["Resources"].as_array().unwrap();
        stored.extend(resources.iter().map(|r| {
            r["userName"]
                .as_str()
                .expect("every stored user is whole")
                .to_string()
        }));
        if resources.len() < 1000 {
            break;
        }
    }
    for name in &acknowledged {
        assert!(stored.contains(name), "{name} was acknowledged and is lost");
    }
    assert!(
        stored.len() <= acknowledged.len() + 4,
        "at most one unacknowledged write per writer"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn health_checks_need_no_token() {
    let app = app();
    for (path, word) in [("/healthz", "up"), ("/readyz", "ready")] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: Json = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body, json!({"status": word}), "{path}");
    }
}

/// SIGTERM, as an orchestrator stops a replica: the server stops accepting, finishes
/// what is in flight and exits 0.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = std::env::temp_dir().join(format!("scimap-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut server, address) = serve::start(&dir.join("scim.db"), TOKEN);
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "term@contoso.com"});
    assert_eq!(
        http(&address, "POST", "/Users", &body.to_string())
            .unwrap()
            .0,
        201
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn metrics_count_requests_by_route_without_ids() {
    let app = app();
    let id = create_user(&app, "metrics@contoso.com").await;
    assert_eq!(get(&app, &format!("/Users/{id}")).await.status, 200);
    assert_eq!(get(&app, "/Users").await.status, 200);
    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in [
        r#"scimap_http_requests_total{route="/Users",method="POST",status="201"} 1"#,
        r#"scimap_http_requests_total{route="/Users/{id}",method="GET",status="200"} 1"#,
        r#"scimap_http_requests_total{route="/Users",method="GET",status="200"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(!text.contains(&id), "no resource id in the metrics");
    assert!(!text.contains("contoso"), "no tenant in the metrics");
}

/// `--log-format json`: one JSON object per request on standard error, with the
/// request's method, path, status, tenant and id, for a log pipeline.
#[cfg(unix)]
#[test]
fn requests_are_logged_as_json_lines() {
    use std::io::{BufRead, BufReader};
    let dir = std::env::temp_dir().join(format!("scimap-jsonlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--log-format",
            "json",
        ])
        .arg("--database")
        .arg(dir.join("scim.db"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut server, address) = serve::listening(server);
    assert_eq!(http(&address, "GET", "/Users", "").unwrap().0, 200);
    let mut logged = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut logged)
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let entry: Json = serde_json::from_str(&logged).expect(&logged);
    assert_eq!(entry["method"], "GET", "{entry}");
    assert_eq!(entry["path"], "/scim/v2/Users", "{entry}");
    assert_eq!(entry["status"], 200, "{entry}");
    assert_eq!(entry["tenant"], "default", "{entry}");
    assert_eq!(entry["level"], "INFO", "{entry}");
    assert!(
        entry["request"].is_string() && entry["timestamp"].is_string(),
        "{entry}"
    );
}

/// Every list the database answers (filters narrowed to indexed columns, sorted and
/// paged in SQL) gives what the filter itself gives over every user, sorted as
/// RFC 7644 asks: the same ids in the same order, on each backend.
#[tokio::test]
async fn lists_the_database_answers_agree_with_the_filter() {
    let app = app();
    let names = [
        "Ann@contoso.com",
        "ann.b@contoso.com",
        "ANNA@contoso.com",
        "bob@contoso.com",
        "Émile@contoso.com",
        "émilie@contoso.com",
        "straße@contoso.com",
        "zz\u{10FFFF}@contoso.com",
        "an_x@contoso.com",
        "an%y@contoso.com",
        "carol@contoso.com",
        "dave@contoso.com",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut user = entra_user(name);
        user["externalId"] = json!(if i % 2 == 0 {
            format!("Ext-{i}")
        } else {
            format!("ext-{i}")
        });
        if i % 3 == 0 {
            user.as_object_mut().unwrap().remove("displayName");
        } else {
            user["displayName"] = json!(format!(
                "{} {}",
                ["Zed", "amy", "Amy", "émile"][i % 4],
                i % 5
            ));
        }
        let reply = send(&app, "POST", "/Users", Some(user), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let everyone = get(&app, "/Users?count=100").await.body["Resources"].clone();
    let everyone = everyone.as_array().unwrap();
    let rt = &scimap::scim::schema::USER_TYPE;
    let filters = [
        "userName eq \"ann@contoso.com\"",
        "userName sw \"an\"",
        "userName sw \"AN_\"",
        "userName sw \"an%\"",
        "userName sw \"émil\"",
        "userName sw \"zz\u{10FFFF}\"",
        "userName gt \"bob@contoso.com\"",
        "userName le \"bob@contoso.com\"",
        "externalId sw \"Ext\"",
        "externalId eq \"ext-3\"",
        "displayName pr",
        "displayName sw \"amy\" or userName eq \"dave@contoso.com\"",
        "userName sw \"an\" and externalId sw \"ext\"",
        "userName sw \"an\" and title pr",
        "not (userName sw \"an\")",
    ];
    let orders = [
        None,
        Some(("userName", false)),
        Some(("displayName", true)),
        Some(("displayName", false)),
    ];
    for filter in filters {
        let parsed = scimap::scim::Filter::parse(filter).unwrap();
        for order in orders {
            let mut expected: Vec<&Json> =
                everyone.iter().filter(|u| parsed.matches(u, rt)).collect();
            let mut uri = format!("/Users?filter={}", encode(filter));
            if let Some((attribute, descending)) = order {
                expected.sort_by_cached_key(|u| match u[attribute].as_str() {
                    Some(v) => (false, v.to_lowercase()),
                    None => (true, String::new()),
                });
                if descending {
                    expected.reverse();
                }
                uri.push_str(&format!(
                    "&sortBy={attribute}&sortOrder={}",
                    if descending {
                        "descending"
                    } else {
                        "ascending"
                    }
                ));
            }
            let got = get(&app, &format!("{uri}&count=100")).await.body;
            let ids = |list: &[&Json]| {
                list.iter()
                    .map(|u| u["id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            };
            let listed: Vec<&Json> = got["Resources"]
                .as_array()
                .map(|r| r.iter().collect())
                .unwrap_or_default();
            assert_eq!(ids(&listed), ids(&expected), "{uri}");
            assert_eq!(got["totalResults"], expected.len(), "{uri}");
            // A window of the same list.
            let window = get(&app, &format!("{uri}&startIndex=2&count=3")).await.body;
            let listed: Vec<&Json> = window["Resources"]
                .as_array()
                .map(|r| r.iter().collect())
                .unwrap_or_default();
            let expected_window: Vec<&Json> = expected.iter().skip(1).take(3).copied().collect();
            assert_eq!(
                ids(&listed),
                ids(&expected_window),
                "{uri} from 2, 3 of them"
            );
            assert_eq!(window["totalResults"], expected.len(), "{uri}");
        }
    }
}

/// Percent-encoding of a query parameter.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

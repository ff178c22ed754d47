//! Lists and queries: filters (with the indexed ones looked up, not scanned), sorting,
//! paging, projection, and `/.search`.

use crate::scim::ScimType;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};

use super::{projection, scim_json, App, Call, Ctx, Reply};
use crate::scim::filter::values;
use crate::scim::{AttrPath, CompValue, CompareOp, Filter};
use crate::server::error::ScimError;
use crate::server::resources::{represent, resource_type, Projection};
use crate::server::store::{Indexed, ObjectKind, Stored};

impl App {
    /// Resources matching a query, sorted; all of them, before paging.
    fn matching(
        &self,
        ctx: &Ctx,
        kind: ObjectKind,
        query: &ListQuery,
    ) -> Result<Vec<Stored>, ScimError> {
        let rt = resource_type(kind);
        let filter = match &query.filter {
            Some(text) => {
                let filter = Filter::parse(text).map_err(|e| {
                    ScimError::bad(ScimType::InvalidFilter, format!("`{text}`: {e}"))
                })?;
                filter.check(rt)?;
                Some(filter)
            }
            None => None,
        };
        let mut found = Vec::new();
        match filter.as_ref().and_then(|f| indexed(f, kind)) {
            Some((Lookup::Id, id)) => {
                found.extend(self.store.get(&ctx.principal.tenant.id, kind, &id)?)
            }
            Some((Lookup::Column(column), value)) => {
                found = self
                    .store
                    .find(&ctx.principal.tenant.id, kind, column, &value)?
            }
            None => self
                .store
                .scan(&ctx.principal.tenant.id, kind, &mut |s| found.push(s))?,
        }
        if let Some(filter) = &filter {
            // Filters see the resource as it is shown: with its `id` and `meta`.
            found.retain(|s| filter.matches(&represent(s, kind, ""), rt));
        }
        if let Some(sort_by) = &query.sort_by {
            let path = crate::scim::Path::parse(sort_by).map_err(|e| {
                ScimError::bad(ScimType::InvalidPath, format!("sortBy `{sort_by}`: {e}"))
            })?;
            crate::scim::filter::resolve(&path.attr, rt)
                .map_err(|e| ScimError::bad(ScimType::InvalidPath, e.0))?;
            // Resources without the attribute come last, as RFC 7644 §3.4.2.3 asks.
            let key = |s: &Stored| -> (bool, String) {
                let shown = represent(s, kind, "");
                match values(&shown, &path.attr).first() {
                    Some(Json::String(t)) => (false, t.to_lowercase()),
                    Some(other) => (false, other.to_string()),
                    None => (true, String::new()),
                }
            };
            found.sort_by_cached_key(key);
            if query.descending {
                found.reverse();
            }
        }
        Ok(found)
    }

    pub(super) fn list(&self, ctx: &Ctx, kind: ObjectKind, query: &ListQuery) -> Reply {
        let base = ctx.base.as_str();
        if query.filter.is_none() && query.sort_by.is_none() {
            // Unfiltered and unsorted: the page alone is read.
            let count = self.count(query);
            let (total, stored) = self.store.page(
                &ctx.principal.tenant.id,
                kind,
                query.start_index() - 1,
                count,
            )?;
            let projection = &query.projection;
            let page = stored
                .iter()
                .map(|s| projection.apply(represent(s, kind, base)))
                .collect();
            return Ok(list_response_paged(page, total, query.start_index()));
        }
        let found = self.matching(ctx, kind, query)?;
        let total = found.len();
        let page = self.page(found.into_iter().map(|s| (kind, s)).collect(), query, base);
        Ok(list_response_paged(page, total, query.start_index()))
    }

    /// `POST /.search`: users and groups together.
    pub(super) fn search_all(&self, ctx: &Ctx, query: &ListQuery) -> Reply {
        let base = ctx.base.as_str();
        let mut all = Vec::new();
        for kind in [ObjectKind::User, ObjectKind::Group] {
            match self.matching(ctx, kind, query) {
                Ok(found) => all.extend(found.into_iter().map(|s| (kind, s))),
                // A filter naming an attribute one type lacks still searches the other.
                Err(e)
                    if e.scim_type == Some(ScimType::InvalidFilter) && query.filter.is_some() =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
        let total = all.len();
        let page = self.page(all, query, base);
        Ok(list_response_paged(page, total, query.start_index()))
    }

    /// `count`, within 0 and the largest page.
    fn count(&self, query: &ListQuery) -> usize {
        query.count.map_or(self.config.max_results, |c| {
            c.clamp(0, self.config.max_results as i64) as usize
        })
    }

    fn page(&self, found: Vec<(ObjectKind, Stored)>, query: &ListQuery, base: &str) -> Vec<Json> {
        let count = self.count(query);
        let projection = &query.projection;
        found
            .into_iter()
            .skip(query.start_index() - 1)
            .take(count)
            .map(|(kind, s)| projection.apply(represent(&s, kind, base)))
            .collect()
    }
}

/// How an `eq` filter is answered without a scan.
enum Lookup {
    Id,
    Column(Indexed),
}

/// An `eq` on `id` or an indexed attribute: answered from the index, not a scan.
fn indexed(filter: &Filter, kind: ObjectKind) -> Option<(Lookup, String)> {
    let eq = |attr: &AttrPath, value: &CompValue| match value {
        CompValue::Str(s) if attr.urn.is_none() && attr.sub.is_none() => {
            let lookup = match (kind, attr.name.to_ascii_lowercase().as_str()) {
                (_, "id") => Lookup::Id,
                (ObjectKind::User, "username") => Lookup::Column(Indexed::UserName),
                (_, "externalid") => Lookup::Column(Indexed::ExternalId),
                (_, "displayname") => Lookup::Column(Indexed::DisplayName),
                _ => return None,
            };
            Some((lookup, s.clone()))
        }
        _ => None,
    };
    match filter {
        Filter::Compare(attr, CompareOp::Eq, value) => eq(attr, value),
        Filter::And(all) => all.iter().find_map(|f| indexed(f, kind)),
        Filter::ValuePath {
            attr,
            filter,
            then: Some((CompareOp::Eq, CompValue::Str(value))),
        } if kind == ObjectKind::User
            && attr.name.eq_ignore_ascii_case("emails")
            && attr
                .sub
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("value"))
            && matches!(&**filter, Filter::Compare(t, CompareOp::Eq, CompValue::Str(w))
                    if t.name.eq_ignore_ascii_case("type") && w.eq_ignore_ascii_case("work")) =>
        {
            Some((Lookup::Column(Indexed::WorkEmail), value.clone()))
        }
        _ => None,
    }
}

/// The paging and shaping of a list, from a query string or a `.search` body.
#[derive(Debug, Default)]
pub(super) struct ListQuery {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    sort_by: Option<String>,
    descending: bool,
    projection: Projection,
}

impl ListQuery {
    pub(super) fn from_params(call: &Call) -> Result<ListQuery, ScimError> {
        let number = |name: &str| call.param(name).and_then(|v| v.trim().parse::<i64>().ok());
        Ok(ListQuery {
            filter: call.param("filter").filter(|f| !f.trim().is_empty()),
            start_index: number("startIndex"),
            count: number("count"),
            sort_by: call.param("sortBy"),
            descending: call
                .param("sortOrder")
                .is_some_and(|o| o.eq_ignore_ascii_case("descending")),
            projection: call.projection()?,
        })
    }

    pub(super) fn from_body(body: &Json) -> Result<ListQuery, ScimError> {
        let text = |name: &str| body.get(name).and_then(Json::as_str).map(str::to_string);
        let list = |name: &str| match body.get(name) {
            Some(Json::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Some(Json::String(s)) => Some(s.clone()),
            _ => None,
        };
        Ok(ListQuery {
            filter: text("filter"),
            start_index: body.get("startIndex").and_then(Json::as_i64),
            count: body.get("count").and_then(Json::as_i64),
            sort_by: text("sortBy"),
            descending: text("sortOrder").is_some_and(|o| o.eq_ignore_ascii_case("descending")),
            projection: projection(
                list("attributes").as_deref(),
                list("excludedAttributes").as_deref(),
            )?,
        })
    }

    /// 1-based; anything below 1 is 1 (RFC 7644 §3.4.2.4).
    fn start_index(&self) -> usize {
        self.start_index.map_or(1, |i| i.max(1) as usize)
    }
}

pub(super) fn list_response(resources: Vec<Json>, start_index: usize) -> Response {
    let total = resources.len();
    list_response_paged(resources, total, start_index)
}

fn list_response_paged(resources: Vec<Json>, total: usize, start_index: usize) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": total,
            "itemsPerPage": resources.len(),
            "startIndex": start_index,
            "Resources": resources,
        }),
    )
}

//! Lists and queries: filters (with the indexed ones looked up, not scanned), sorting,
//! paging, projection, and `/.search`.

use crate::scim::ScimType;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value as Json;

use super::{projection, scim_json, App, Call, Ctx, Reply};
use crate::scim::filter::values;
use crate::scim::{AttrPath, CompValue, CompareOp, Filter};
use crate::server::error::ScimError;
use crate::server::resources::{represent, resource_type, Projection, Shown};
use crate::server::store::{Bound, Indexed, Narrow, ObjectKind, Order, Store, Stored};

/// The most comparisons a filter hands the database; a longer one (a client may send
/// a thousand) is decided by the filter alone, since SQLite refuses expressions deeper
/// than 1,000 and planning grows with each term.
const MAX_NARROW_TERMS: usize = 64;

/// A list's query checked: its filter parsed and narrowed to the indexed columns, and
/// its sort order.
struct Plan {
    filter: Option<Filter>,
    /// What the database can select by; `exact` when it is the whole filter.
    narrow: Option<Narrow>,
    exact: bool,
    sort: Option<Sort>,
}

struct Sort {
    path: crate::scim::Path,
    /// The same order by an indexed column, when there is one.
    column: Option<Indexed>,
}

impl Plan {
    fn new(kind: ObjectKind, query: &ListQuery) -> Result<Plan, ScimError> {
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
        let (narrow, exact) = match &filter {
            Some(filter) => match narrow(filter, kind) {
                Some((narrow, exact)) if narrow.terms() <= MAX_NARROW_TERMS => {
                    (Some(narrow), exact)
                }
                _ => (None, false),
            },
            None => (None, true),
        };
        let sort = match &query.sort_by {
            Some(sort_by) => {
                let path = crate::scim::Path::parse(sort_by).map_err(|e| {
                    ScimError::bad(ScimType::InvalidPath, format!("sortBy `{sort_by}`: {e}"))
                })?;
                crate::scim::filter::resolve(&path.attr, rt)
                    .map_err(|e| ScimError::bad(ScimType::InvalidPath, e.0))?;
                // The columns that hold the value lower-cased, as the sort compares.
                let column = match column(&path.attr, kind) {
                    Some(c @ (Indexed::UserName | Indexed::DisplayName)) => Some(c),
                    _ => None,
                };
                Some(Sort { path, column })
            }
            None => None,
        };
        Ok(Plan {
            filter,
            narrow,
            exact,
            sort,
        })
    }

    /// The database's order, when the database can sort as the query asks.
    fn order(&self, query: &ListQuery) -> Option<Order> {
        match &self.sort {
            None => Some(Order::Created),
            Some(Sort {
                column: Some(column),
                ..
            }) => Some(Order::By(*column, query.descending)),
            Some(_) => None,
        }
    }
}

impl App {
    /// Resources matching a query, sorted; all of them, before paging. The database
    /// selects by what it can, and the filter decides.
    fn matching(
        &self,
        store: &dyn Store,
        ctx: &Ctx,
        kind: ObjectKind,
        plan: &Plan,
        query: &ListQuery,
    ) -> Result<Vec<Stored>, ScimError> {
        let rt = resource_type(kind);
        let tenant = &ctx.principal.tenant.id;
        let mut found = Vec::new();
        let order = plan.order(query);
        let read = order.unwrap_or(Order::Created);
        store.select(tenant, kind, plan.narrow.as_ref(), read, None, &mut |s| {
            // Filters see the resource as it is shown: with its `id` and `meta`.
            let keep = plan.exact
                || plan
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&represent(&s, kind, ""), rt));
            if keep {
                found.push(s);
            }
        })?;
        match &plan.sort {
            Some(sort) if order.is_none() => {
                // Resources without the attribute come last, as RFC 7644 §3.4.2.3 asks.
                let key = |s: &Stored| -> (bool, String) {
                    let shown = represent(s, kind, "");
                    match values(&shown, &sort.path.attr).first() {
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
            _ => {}
        }
        Ok(found)
    }

    pub(super) fn list(
        &self,
        store: &dyn Store,
        ctx: &Ctx,
        kind: ObjectKind,
        query: &ListQuery,
    ) -> Reply {
        let base = ctx.base.as_str();
        let plan = Plan::new(kind, query)?;
        if let (true, Some(order)) = (plan.exact, plan.order(query)) {
            // The database answers the whole query: it counts, sorts and pages.
            let tenant = &ctx.principal.tenant.id;
            let (skip, count) = (query.start_index() - 1, self.count(query));
            let mut page = Vec::new();
            store.select(
                tenant,
                kind,
                plan.narrow.as_ref(),
                order,
                Some((skip, count)),
                &mut |s| page.push(s),
            )?;
            // A page that ends before its window does ends the list: the total is known
            // without counting (Entra's matching query finds one user or none).
            let total = if page.len() < count && (skip == 0 || !page.is_empty()) {
                skip + page.len()
            } else {
                store.count(tenant, kind, plan.narrow.as_ref())?
            };
            let start = query.start_index();
            let projection = &query.projection;
            return Ok(if projection.is_whole() {
                let shown = |stored| Shown { stored, kind, base };
                list_response_paged(page.iter().map(shown).collect(), total, start)
            } else {
                let shown = |s| projection.apply(represent(&s, kind, base));
                list_response_paged(page.into_iter().map(shown).collect(), total, start)
            });
        }
        let found = self.matching(store, ctx, kind, &plan, query)?;
        let total = found.len();
        let page = self.page(found.into_iter().map(|s| (kind, s)).collect(), query, base);
        Ok(list_response_paged(page, total, query.start_index()))
    }

    /// `POST /.search`: users and groups together.
    pub(super) fn search_all(&self, store: &dyn Store, ctx: &Ctx, query: &ListQuery) -> Reply {
        let base = ctx.base.as_str();
        let mut all = Vec::new();
        for kind in [ObjectKind::User, ObjectKind::Group] {
            let found = Plan::new(kind, query)
                .and_then(|plan| self.matching(store, ctx, kind, &plan, query));
            match found {
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

/// The indexed column a simple attribute path is kept in, for a resource type.
fn column(attr: &AttrPath, kind: ObjectKind) -> Option<Indexed> {
    if attr.urn.is_some() || attr.sub.is_some() {
        return None;
    }
    match (kind, attr.name.to_ascii_lowercase().as_str()) {
        (_, "id") => Some(Indexed::Id),
        (ObjectKind::User, "username") => Some(Indexed::UserName),
        (_, "externalid") => Some(Indexed::ExternalId),
        (_, "displayname") => Some(Indexed::DisplayName),
        _ => None,
    }
}

/// A filter narrowed to the indexed columns: a condition every resource it matches
/// meets, and whether the condition is the whole filter (then the filter need not run).
/// Comparisons of strings on indexed attributes narrow exactly, since the columns hold
/// the values as the filter compares them (lower-cased where case is ignored); `and`
/// narrows by the parts that narrow, `or` only when every part does.
fn narrow(filter: &Filter, kind: ObjectKind) -> Option<(Narrow, bool)> {
    match filter {
        Filter::Compare(attr, op, CompValue::Str(value)) => {
            let bound = match op {
                CompareOp::Eq => Bound::Eq,
                CompareOp::Sw => Bound::Prefix,
                CompareOp::Gt => Bound::Gt,
                CompareOp::Ge => Bound::Ge,
                CompareOp::Lt => Bound::Lt,
                CompareOp::Le => Bound::Le,
                _ => return None,
            };
            let column = column(attr, kind)?;
            if column == Indexed::Id && bound != Bound::Eq {
                return None;
            }
            Some((Narrow::Compare(column, bound, value.clone()), true))
        }
        Filter::Present(attr) => {
            let column = column(attr, kind).filter(|c| *c != Indexed::Id)?;
            Some((Narrow::Present(column), true))
        }
        Filter::And(all) => {
            let parts: Vec<Option<(Narrow, bool)>> = all.iter().map(|f| narrow(f, kind)).collect();
            let exact = parts.iter().all(|p| p.as_ref().is_some_and(|(_, e)| *e));
            let narrowed: Vec<Narrow> = parts.into_iter().flatten().map(|(n, _)| n).collect();
            (!narrowed.is_empty()).then_some((Narrow::And(narrowed), exact))
        }
        Filter::Or(all) => {
            let parts: Option<Vec<(Narrow, bool)>> = all.iter().map(|f| narrow(f, kind)).collect();
            let parts = parts?;
            let exact = parts.iter().all(|(_, e)| *e);
            Some((
                Narrow::Or(parts.into_iter().map(|(n, _)| n).collect()),
                exact,
            ))
        }
        // The column holds a user's first work email, so the filter still decides among
        // the users it finds (a user found only by a second work email is not found,
        // as before: Entra sends one).
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
            Some((
                Narrow::Compare(Indexed::WorkEmail, Bound::Eq, value.clone()),
                false,
            ))
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

fn list_response_paged<R: serde::Serialize>(
    resources: Vec<R>,
    total: usize,
    start_index: usize,
) -> Response {
    scim_json(
        StatusCode::OK,
        &ListResponse {
            schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            total_results: total,
            items_per_page: resources.len(),
            start_index,
            resources,
        },
    )
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse<R> {
    schemas: [&'static str; 1],
    total_results: usize,
    items_per_page: usize,
    start_index: usize,
    #[serde(rename = "Resources")]
    resources: Vec<R>,
}

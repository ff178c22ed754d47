//! What a list asks the database for: a filter narrowed to the indexed columns, an
//! order, and a window. Both stores render the same condition to SQL, so that a filter
//! Entra sends (`userName eq`, `externalId eq`, `displayName eq`, a work email) or a
//! prefix, range or `or` of them reads an index, and a list the database can answer
//! whole is counted, sorted and paged by the database.

use super::store::Indexed;

/// A comparison an index can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
    Prefix,
}

/// A condition on the indexed columns that every resource a filter matches meets.
#[derive(Debug, Clone, PartialEq)]
pub enum Narrow {
    /// The column compared with a value as the filter wrote it (lower-cased here where
    /// the column is).
    Compare(Indexed, Bound, String),
    /// The column holds a non-empty value.
    Present(Indexed),
    And(Vec<Narrow>),
    Or(Vec<Narrow>),
}

impl Narrow {
    /// How many comparisons it holds.
    pub fn terms(&self) -> usize {
        match self {
            Narrow::Compare(..) | Narrow::Present(_) => 1,
            Narrow::And(all) | Narrow::Or(all) => all.iter().map(Narrow::terms).sum(),
        }
    }
}

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Creation order.
    Created,
    /// By an indexed column's value, resources without one last (first when
    /// descending, the whole order reversed), ties in creation order.
    By(Indexed, bool),
}

/// How a store writes SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// A column compared in code point order (UTF-8 byte order), as Rust compares
    /// strings: SQLite's default; PostgreSQL's "C" collation, which its indexes on
    /// these columns use (`id` is only ever looked up whole, through its own index).
    fn ordered(self, column: Indexed) -> String {
        let name = column.lookup("").0;
        match (self, column) {
            (Dialect::Postgres, column) if column != Indexed::Id => {
                format!("{name} COLLATE \"C\"")
            }
            _ => name.to_string(),
        }
    }
}

/// SQL under construction: its text and parameters, numbered after the tenant (1)
/// and the kind (2).
pub(crate) struct Sql {
    pub dialect: Dialect,
    pub params: Vec<String>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Sql {
        Sql {
            dialect,
            params: Vec::new(),
        }
    }

    fn param(&mut self, value: String) -> String {
        self.params.push(value);
        self.dialect.placeholder(self.params.len() + 2)
    }

    /// `WHERE tenant = … AND kind = …` and the condition.
    pub(crate) fn filter(&mut self, narrow: Option<&Narrow>) -> String {
        let (tenant, kind) = (self.dialect.placeholder(1), self.dialect.placeholder(2));
        match narrow {
            Some(narrow) => format!(
                "WHERE tenant = {tenant} AND kind = {kind} AND {}",
                self.condition(narrow)
            ),
            None => format!("WHERE tenant = {tenant} AND kind = {kind}"),
        }
    }

    fn condition(&mut self, narrow: &Narrow) -> String {
        match narrow {
            Narrow::Compare(column, bound, value) => {
                let value = column.lookup(value).1;
                let ordered = self.dialect.ordered(*column);
                let op = match bound {
                    Bound::Eq => "=",
                    Bound::Gt => ">",
                    Bound::Ge => ">=",
                    Bound::Lt => "<",
                    Bound::Le => "<=",
                    Bound::Prefix => return self.prefix(&ordered, value),
                };
                format!("{ordered} {op} {}", self.param(value))
            }
            Narrow::Present(column) => {
                let name = column.lookup("").0;
                format!("({name} IS NOT NULL AND {name} <> '')")
            }
            Narrow::And(all) => self.joined(all, " AND "),
            Narrow::Or(all) => self.joined(all, " OR "),
        }
    }

    fn joined(&mut self, all: &[Narrow], with: &str) -> String {
        let parts: Vec<String> = all.iter().map(|n| self.condition(n)).collect();
        format!("({})", parts.join(with))
    }

    /// Values starting with `prefix` are those from `prefix` up to the first string
    /// past every such value: a range an index answers, where `LIKE` would depend on
    /// collation and on case.
    fn prefix(&mut self, column: &str, prefix: String) -> String {
        let upper = past_prefix(&prefix);
        let low = self.param(prefix);
        match upper {
            Some(upper) => format!("({column} >= {low} AND {column} < {})", self.param(upper)),
            None => format!("{column} >= {low}"),
        }
    }

    /// `ORDER BY …`.
    pub(crate) fn order(&self, order: Order) -> String {
        match order {
            Order::Created => "ORDER BY seq".into(),
            Order::By(column, descending) => {
                let ordered = self.dialect.ordered(column);
                if descending {
                    format!("ORDER BY {ordered} DESC NULLS FIRST, seq DESC")
                } else {
                    format!("ORDER BY {ordered} ASC NULLS LAST, seq ASC")
                }
            }
        }
    }
}

/// The least string greater than every string that starts with `prefix` (in code point
/// order): the prefix with its last character raised by one, characters that cannot be
/// raised dropped first; `None` when there is no such string (no prefix, or only
/// U+10FFFF).
pub(crate) fn past_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_past_a_prefix() {
        assert_eq!(past_prefix("ab").as_deref(), Some("ac"));
        assert_eq!(past_prefix("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(past_prefix("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(past_prefix("\u{10FFFF}"), None);
        assert_eq!(past_prefix(""), None);
        for s in ["ab", "abz", "ab\u{10FFFF}\u{10FFFF}", "ab\u{0}"] {
            assert!(("ab".."ac").contains(&s), "{s:?}");
        }
    }

    #[test]
    fn conditions_render_for_both_databases() {
        let narrow = Narrow::Or(vec![
            Narrow::Compare(Indexed::UserName, Bound::Prefix, "ANN".into()),
            Narrow::And(vec![
                Narrow::Compare(Indexed::ExternalId, Bound::Eq, "X1".into()),
                Narrow::Present(Indexed::DisplayName),
            ]),
        ]);
        let mut sql = Sql::new(Dialect::Postgres);
        assert_eq!(
            sql.filter(Some(&narrow)),
            "WHERE tenant = $1 AND kind = $2 AND ((user_name COLLATE \"C\" >= $3 AND user_name COLLATE \"C\" < $4) OR (external_id COLLATE \"C\" = $5 AND (display_name IS NOT NULL AND display_name <> '')))"
        );
        assert_eq!(sql.params, ["ann", "ano", "X1"]);
        let mut sql = Sql::new(Dialect::Sqlite);
        assert_eq!(
            sql.filter(Some(&Narrow::Compare(Indexed::Id, Bound::Eq, "x".into()))),
            "WHERE tenant = ?1 AND kind = ?2 AND id = ?3"
        );
        assert_eq!(
            sql.order(Order::By(Indexed::UserName, true)),
            "ORDER BY user_name DESC NULLS FIRST, seq DESC"
        );
    }
}

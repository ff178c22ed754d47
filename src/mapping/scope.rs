//! Scoping filters: which source objects a mapping provisions.

use crate::functions::netregex::Pattern;

use crate::value::Value;

/// Filter groups OR-ed together, each a list of clauses AND-ed together. No groups:
/// every object is in scope.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub(crate) groups: Vec<Vec<Clause>>,
}

#[derive(Debug, Clone)]
pub struct Clause {
    pub(crate) attribute: Box<str>,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Equals(String),
    NotEquals(String),
    EndsWith(String),
    Includes(String),
    IsTrue,
    IsFalse,
    IsNull,
    IsNotNull,
    Regex(Pattern),
    NotRegex(Pattern),
    GreaterThan(i64),
    GreaterThanOrEquals(i64),
    BitAnd(i64),
    NotBitAnd(i64),
}

/// The operators, by canonical name, with the spellings accepted for each (compared
/// without case, spaces or underscores): the portal's names and Graph's.
pub const OPERATORS: &[(&str, &[&str], Arity)] = &[
    ("EQUALS", &["EQUALS"], Arity::Binary),
    ("NOT_EQUALS", &["NOTEQUALS"], Arity::Binary),
    ("ENDS_WITH", &["ENDSWITH"], Arity::Binary),
    ("INCLUDES", &["INCLUDES"], Arity::Binary),
    ("IS_TRUE", &["ISTRUE"], Arity::Unary),
    ("IS_FALSE", &["ISFALSE"], Arity::Unary),
    ("IS_NULL", &["ISNULL"], Arity::Unary),
    ("IS_NOT_NULL", &["ISNOTNULL"], Arity::Unary),
    ("REGEX_MATCH", &["REGEXMATCH"], Arity::Binary),
    ("NOT_REGEX_MATCH", &["NOTREGEXMATCH"], Arity::Binary),
    ("GREATER_THAN", &["GREATERTHAN"], Arity::Binary),
    (
        "GREATER_THAN_OR_EQUALS",
        &["GREATERTHANOREQUALS", "GREATERTHANOREQUAL"],
        Arity::Binary,
    ),
    ("&", &["&", "BITAND"], Arity::Binary),
    ("!&", &["!&", "NOTBITAND"], Arity::Binary),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Unary,
    Binary,
}

/// Why a clause cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClauseError {
    /// The operator is unknown; the message may suggest a known one.
    Operator(String),
    /// The value is missing, superfluous or of the wrong kind.
    Value(String),
    /// The value is a pattern that cannot be used: why, and the byte range of the
    /// value where the problem is, when it is known.
    Pattern(String, Option<std::ops::Range<usize>>),
}

/// An operator's canonical name, if it is known under any spelling.
pub fn canonical_operator(name: &str) -> Option<(&'static str, Arity)> {
    let key: String = name
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_uppercase)
        .collect();
    OPERATORS
        .iter()
        .find(|(_, spellings, _)| spellings.contains(&key.as_str()))
        .map(|(canonical, _, arity)| (*canonical, *arity))
}

impl Clause {
    pub fn new(
        attribute: &str,
        operator: &str,
        value: Option<&str>,
    ) -> Result<Clause, ClauseError> {
        let Some((canonical, arity)) = canonical_operator(operator) else {
            let names: Vec<&str> = OPERATORS.iter().map(|(n, _, _)| *n).collect();
            let near = names
                .iter()
                .min_by_key(|n| strsim::levenshtein(&n.to_lowercase(), &operator.to_lowercase()))
                .filter(|n| strsim::levenshtein(&n.to_lowercase(), &operator.to_lowercase()) <= 3);
            let mut message = format!("unknown scoping operator `{operator}`");
            match near {
                Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
                None => message.push_str(&format!("; the operators are {}", names.join(", "))),
            }
            return Err(ClauseError::Operator(message));
        };
        let value = match (arity, value) {
            (Arity::Unary, None) => "",
            (Arity::Unary, Some(_)) => {
                return Err(ClauseError::Value(format!("`{canonical}` takes no value")))
            }
            (Arity::Binary, Some(v)) => v,
            (Arity::Binary, None) => {
                return Err(ClauseError::Value(format!("`{canonical}` needs a value")))
            }
        };
        let integer = || {
            value.trim().parse::<i64>().map_err(|_| {
                ClauseError::Value(format!(
                    "`{canonical}` compares integers, and {value:?} is not one"
                ))
            })
        };
        let regex = || {
            crate::functions::netregex::compile(value).map_err(|e| {
                let range = e.offset.map(|o| {
                    let len = value[o..].chars().next().map_or(0, char::len_utf8);
                    o..o + len
                });
                ClauseError::Pattern(format!("invalid regular expression: {}", e.message), range)
            })
        };
        let test = match canonical {
            "EQUALS" => Test::Equals(value.to_string()),
            "NOT_EQUALS" => Test::NotEquals(value.to_string()),
            "ENDS_WITH" => Test::EndsWith(value.to_string()),
            "INCLUDES" => Test::Includes(value.to_string()),
            "IS_TRUE" => Test::IsTrue,
            "IS_FALSE" => Test::IsFalse,
            "IS_NULL" => Test::IsNull,
            "IS_NOT_NULL" => Test::IsNotNull,
            "REGEX_MATCH" => Test::Regex(regex()?),
            "NOT_REGEX_MATCH" => Test::NotRegex(regex()?),
            "GREATER_THAN" => Test::GreaterThan(integer()?),
            "GREATER_THAN_OR_EQUALS" => Test::GreaterThanOrEquals(integer()?),
            "&" => Test::BitAnd(integer()?),
            _ => Test::NotBitAnd(integer()?),
        };
        Ok(Clause {
            attribute: attribute.into(),
            test,
        })
    }

    /// Whether the clause holds for an attribute's value. A null or empty value makes
    /// every clause false except `IS_NULL`; a multi-valued or complex value cannot be
    /// filtered on and makes every clause false except `IS_NOT_NULL`.
    pub fn holds(&self, value: &Value<'_>) -> bool {
        if value.is_null_or_empty() {
            return matches!(self.test, Test::IsNull);
        }
        let Some(text) = value.as_text() else {
            return matches!(self.test, Test::IsNotNull);
        };
        let text = &*text;
        let integer = || text.trim().parse::<i64>().ok();
        match &self.test {
            Test::Equals(v) => text == v,
            Test::NotEquals(v) => text != v,
            Test::EndsWith(v) => text.ends_with(v.as_str()),
            Test::Includes(v) => text.contains(v.as_str()),
            Test::IsTrue => text.eq_ignore_ascii_case("true"),
            Test::IsFalse => text.eq_ignore_ascii_case("false"),
            Test::IsNull => false,
            Test::IsNotNull => true,
            // A pattern that gives up on a value (too much backtracking) leaves the
            // object out of scope either way: nothing is provisioned on a guess.
            Test::Regex(r) => r.is_match(text).unwrap_or(false),
            Test::NotRegex(r) => r.is_match(text).is_ok_and(|m| !m),
            Test::GreaterThan(v) => integer().is_some_and(|n| n > *v),
            Test::GreaterThanOrEquals(v) => integer().is_some_and(|n| n >= *v),
            Test::BitAnd(v) => integer().is_some_and(|n| n & v == *v),
            Test::NotBitAnd(v) => integer().is_some_and(|n| n & v != *v),
        }
    }
}

impl Scope {
    /// Whether an object is in scope, reading attributes through `get`.
    pub fn admits<'v>(&self, mut get: impl FnMut(&str) -> Value<'v>) -> bool {
        self.groups.is_empty()
            || self.groups.iter().any(|group| {
                group
                    .iter()
                    .all(|clause| clause.holds(&get(&clause.attribute)))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(op: &str, value: Option<&str>, attribute: Value<'_>) -> bool {
        Clause::new("a", op, value).unwrap().holds(&attribute)
    }

    #[test]
    fn every_operator() {
        let s = Value::str;
        assert!(holds("EQUALS", Some("Sales"), s("Sales")));
        assert!(
            !holds("EQUALS", Some("Sales"), s("sales")),
            "case-sensitive"
        );
        assert!(holds("NOT EQUALS", Some("Sales"), s("sales")));
        assert!(
            !holds("NOT EQUALS", Some("Sales"), Value::Null),
            "null is false"
        );
        assert!(holds("ENDS_WITH", Some("@contoso.com"), s("a@contoso.com")));
        assert!(holds("Includes", Some("ont"), s("contoso")));
        assert!(!holds("Includes", Some("ONT"), s("contoso")));
        assert!(holds("IS TRUE", None, s("True")));
        assert!(holds("IS TRUE", None, Value::Bool(true)));
        assert!(holds("IS FALSE", None, s("false")));
        assert!(!holds("IS FALSE", None, Value::Null));
        assert!(holds("IS NULL", None, Value::Null));
        assert!(holds("IS NULL", None, s("")));
        assert!(holds("IS NOT NULL", None, s("x")));
        assert!(holds(
            "REGEX MATCH",
            Some(r".*\@domain.com"),
            s("a@domain.com")
        ));
        assert!(holds("REGEX MATCH", Some("(1[0-9]{6})"), s("1234567")));
        assert!(holds("NOT REGEX MATCH", Some("^x"), s("y")));
        assert!(!holds("NOT REGEX MATCH", Some("^x"), Value::Null));
        assert!(holds("Greater_Than", Some("10"), s("11")));
        assert!(!holds("Greater_Than", Some("10"), s("10")));
        assert!(!holds("Greater_Than", Some("10"), s("eleven")));
        assert!(holds("Greater_Than_OR_EQUALS", Some("10"), s("10")));
        assert!(holds("&", Some("2"), s("514")));
        assert!(!holds("&", Some("2"), s("512")));
        assert!(holds("!&", Some("2"), s("512")));
        let list = Value::list(vec![s("x")]);
        assert!(!holds("EQUALS", Some("x"), list.clone()), "multi-valued");
        assert!(holds("IS NOT NULL", None, list));
    }

    #[test]
    fn bad_clauses() {
        assert!(matches!(
            Clause::new("a", "EQUAL", Some("x")),
            Err(ClauseError::Operator(m)) if m.contains("did you mean `EQUALS`")
        ));
        assert!(matches!(
            Clause::new("a", "EQUALS", None),
            Err(ClauseError::Value(_))
        ));
        assert!(matches!(
            Clause::new("a", "IS_NULL", Some("x")),
            Err(ClauseError::Value(_))
        ));
        assert!(matches!(
            Clause::new("a", "REGEX_MATCH", Some("x(")),
            Err(ClauseError::Pattern(m, Some(r))) if m.contains("invalid regular expression") && r == (1..2)
        ));
        assert!(matches!(
            Clause::new("a", "GREATER_THAN", Some("ten")),
            Err(ClauseError::Value(_))
        ));
    }

    #[test]
    fn groups_are_or_clauses_are_and() {
        let clause = |attr: &str, v: &str| Clause::new(attr, "EQUALS", Some(v)).unwrap();
        let scope = Scope {
            groups: vec![
                vec![clause("dept", "Sales"), clause("country", "US")],
                vec![clause("dept", "Eng")],
            ],
        };
        let record = |dept: &'static str, country: &'static str| {
            move |name: &str| match name {
                "dept" => Value::str(dept),
                _ => Value::str(country),
            }
        };
        assert!(scope.admits(record("Sales", "US")));
        assert!(!scope.admits(record("Sales", "FR")));
        assert!(scope.admits(record("Eng", "FR")));
        assert!(Scope::default().admits(|_| Value::Null));
    }
}

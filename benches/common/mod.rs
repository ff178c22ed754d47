//! What both benchmarks share: the synthetic users, the four expressions and the
//! hand-written closures they are measured against.

#![allow(dead_code)]

pub mod twin;

use serde_json::{json, Map, Value as Json};

pub const RECORDS: usize = 10_000;

pub const JOIN: &str = r#"Join(" ", [givenName], [surname])"#;
pub const REPLACE: &str = r#"ToLower(Replace([mail], "@contoso.com", , , "@fabrikam.com", , ))"#;
pub const SWITCH: &str = r#"Switch([country], "Unknown", "US", "United States", "DE", "Germany", "FR", "France", "IN", "India", "JP", "Japan")"#;
pub const DATE: &str =
    r#"FormatDateTime(DateAdd("d", 7, CDate([hireDate])), , , "yyyy-MM-ddTHH:mm:ssZ")"#;
pub const IIF: &str = r#"IIF(IsPresent([department]), [department], "none")"#;

/// Deterministic synthetic users: a small linear congruential generator picks values,
/// with some attributes empty or absent as in a real directory.
pub fn users() -> Vec<Json> {
    users_n(RECORDS)
}

/// `count` synthetic users.
pub fn users_n(count: usize) -> Vec<Json> {
    const GIVEN: &[&str] = &[
        "John", "Zoë", "Ana", "Bjørn", "Mei", "Olu", "Priya", "Sam", "Émile", "Kai",
    ];
    const SURNAMES: &[&str] = &[
        "Doe", "Müller", "Okafor", "Smith", "Tanaka", "García", "Singh", "Lee",
    ];
    const COUNTRIES: &[&str] = &["US", "DE", "FR", "IN", "JP", "GB", "BR", "US", "US", "DE"];
    const DEPARTMENTS: &[&str] = &["Sales", "Engineering", "Finance", "", "Support", "Legal"];
    const DOMAINS: &[&str] = &["contoso.com", "Contoso.com", "fabrikam.com", "contoso.com"];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    (0..count)
        .map(|i| {
            let given = GIVEN[next(GIVEN.len())];
            let surname = SURNAMES[next(SURNAMES.len())];
            let mut user = Map::new();
            user.insert(
                "objectId".into(),
                json!(format!("00aa00aa-bb11-cc22-dd33-{i:012}")),
            );
            user.insert(
                "userPrincipalName".into(),
                json!(format!("{given}.{surname}{i}@contoso.com")),
            );
            user.insert("givenName".into(), json!(given));
            user.insert("surname".into(), json!(surname));
            user.insert("displayName".into(), json!(format!("{given} {surname}")));
            user.insert(
                "mail".into(),
                json!(format!(
                    "{given}.{surname}@{}",
                    DOMAINS[next(DOMAINS.len())]
                )),
            );
            user.insert("country".into(), json!(COUNTRIES[next(COUNTRIES.len())]));
            if next(5) > 0 {
                user.insert(
                    "department".into(),
                    json!(DEPARTMENTS[next(DEPARTMENTS.len())]),
                );
            }
            user.insert("jobTitle".into(), json!("Engineer"));
            user.insert("mailNickname".into(), json!(format!("{given}{i}")));
            user.insert(
                "proxyAddresses".into(),
                json!([
                    format!("SMTP:{given}@contoso.com"),
                    format!("smtp:{i}@contoso.com")
                ]),
            );
            user.insert("accountEnabled".into(), json!(next(20) > 0));
            user.insert("employeeId".into(), json!(format!("{}", 1_000_000 + i)));
            user.insert(
                "preferredLanguage".into(),
                json!(["en-US", "de-DE", "fr-FR"][next(3)]),
            );
            user.insert(
                "city".into(),
                json!(["Redmond", "Berlin", "Paris", "Lagos"][next(4)]),
            );
            user.insert(
                "streetAddress".into(),
                json!(format!("{} Main Street", 1 + next(500))),
            );
            user.insert("postalCode".into(), json!(format!("{:05}", next(99_999))));
            if next(2) == 0 {
                user.insert(
                    "telephoneNumber".into(),
                    json!(format!("+1 425 555 {:04}", next(10_000))),
                );
            }
            if next(3) == 0 {
                user.insert(
                    "mobile".into(),
                    json!(format!("+1 206 555 {:04}", next(10_000))),
                );
            }
            if i > 0 {
                user.insert(
                    "manager".into(),
                    json!(format!("00aa00aa-bb11-cc22-dd33-{:012}", next(i))),
                );
            }
            let (year, month, day, hour) = (2000 + next(25), 1 + next(12), 1 + next(28), next(24));
            let offset = ["Z", "-07:00", "+01:00", "+05:30"][next(4)];
            user.insert(
                "hireDate".into(),
                json!(format!(
                    "{year}-{month:02}-{day:02}T{hour:02}:30:00{offset}"
                )),
            );
            Json::Object(user)
        })
        .collect()
}

/// The users as JSON, as the closures' maps, and as a batch.
pub fn inputs() -> (Vec<Json>, Vec<Map<String, Json>>, scimap::Batch) {
    let users = users();
    let maps = users
        .iter()
        .map(|u| u.as_object().expect("users are objects").clone())
        .collect();
    let batch = scimap::Batch::from_json(&users).expect("users are records");
    (users, maps, batch)
}

pub fn field<'r>(record: &'r Map<String, Json>, name: &str) -> Option<&'r str> {
    record.get(name).and_then(Json::as_str)
}

pub fn join_closure(r: &Map<String, Json>) -> Option<String> {
    let given = field(r, "givenName").filter(|s| !s.is_empty());
    let surname = field(r, "surname").filter(|s| !s.is_empty());
    match (given, surname) {
        (Some(g), Some(s)) => {
            let mut out = String::with_capacity(g.len() + 1 + s.len());
            out.push_str(g);
            out.push(' ');
            out.push_str(s);
            Some(out)
        }
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    }
}

pub fn replace_closure(r: &Map<String, Json>) -> Option<String> {
    field(r, "mail").map(|m| m.replace("@contoso.com", "@fabrikam.com").to_lowercase())
}

pub fn switch_closure(r: &Map<String, Json>) -> &'static str {
    match field(r, "country").unwrap_or("") {
        "US" => "United States",
        "DE" => "Germany",
        "FR" => "France",
        "IN" => "India",
        "JP" => "Japan",
        _ => "Unknown",
    }
}

pub fn iif_closure(r: &Map<String, Json>) -> &str {
    match field(r, "department") {
        Some(d) if !d.is_empty() => d,
        _ => "none",
    }
}

/// Parses the RFC 3339 hire date, adds a week and writes it in UTC, as jiff makes easy.
pub fn date_closure(r: &Map<String, Json>) -> Option<String> {
    let hired: jiff::Timestamp = field(r, "hireDate")?.parse().ok()?;
    let later = hired
        .checked_add(jiff::SignedDuration::from_hours(7 * 24))
        .ok()?;
    Some(later.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// A user as a typed Rust struct, its fields read once from the JSON: the closures over
/// it are the physical limit of each expression's work, with no lookup by name.
pub struct User {
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub country: Option<String>,
    pub department: Option<String>,
    pub hire_date: Option<String>,
}

impl User {
    pub fn from_map(r: &Map<String, Json>) -> User {
        let text = |name| field(r, name).map(str::to_string);
        User {
            given_name: text("givenName"),
            surname: text("surname"),
            mail: text("mail"),
            country: text("country"),
            department: text("department"),
            hire_date: text("hireDate"),
        }
    }
}

pub fn typed_users(maps: &[Map<String, Json>]) -> Vec<User> {
    maps.iter().map(User::from_map).collect()
}

pub fn join_typed(u: &User) -> Option<String> {
    let given = u.given_name.as_deref().filter(|s| !s.is_empty());
    let surname = u.surname.as_deref().filter(|s| !s.is_empty());
    match (given, surname) {
        (Some(g), Some(s)) => {
            let mut out = String::with_capacity(g.len() + 1 + s.len());
            out.push_str(g);
            out.push(' ');
            out.push_str(s);
            Some(out)
        }
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    }
}

pub fn replace_typed(u: &User) -> Option<String> {
    u.mail
        .as_deref()
        .map(|m| m.replace("@contoso.com", "@fabrikam.com").to_lowercase())
}

pub fn switch_typed(u: &User) -> &'static str {
    match u.country.as_deref().unwrap_or("") {
        "US" => "United States",
        "DE" => "Germany",
        "FR" => "France",
        "IN" => "India",
        "JP" => "Japan",
        _ => "Unknown",
    }
}

pub fn iif_typed(u: &User) -> &str {
    match u.department.as_deref() {
        Some(d) if !d.is_empty() => d,
        _ => "none",
    }
}

pub fn date_typed(u: &User) -> Option<String> {
    let hired: jiff::Timestamp = u.hire_date.as_deref()?.parse().ok()?;
    let later = hired
        .checked_add(jiff::SignedDuration::from_hours(7 * 24))
        .ok()?;
    Some(later.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

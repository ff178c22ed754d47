//! Entra's default user mapping written by hand: serde structs borrowing from the
//! input, a function filling a `#[derive(Serialize)]` SCIM user, `serde_json` writing
//! it. The yardstick `scimap apply` is measured against (`benches/mappings.rs`, and
//! `benches/instructions.rs mapping serde`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// NDJSON of `count` synthetic users, as `scimap apply` reads them.
pub fn ndjson(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for user in super::users_n(count) {
        serde_json::to_writer(&mut out, &user).unwrap();
        out.push(b'\n');
    }
    out
}

/// The default user mapping, by hand: the source fields it reads…
#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Source<'a> {
    #[serde(borrow)]
    userPrincipalName: Option<Cow<'a, str>>,
    #[serde(borrow)]
    displayName: Option<Cow<'a, str>>,
    #[serde(borrow)]
    jobTitle: Option<Cow<'a, str>>,
    #[serde(borrow)]
    mail: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    proxyAddresses: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    preferredLanguage: Option<Cow<'a, str>>,
    #[serde(borrow)]
    givenName: Option<Cow<'a, str>>,
    #[serde(borrow)]
    surname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    physicalDeliveryOfficeName: Option<Cow<'a, str>>,
    #[serde(borrow)]
    streetAddress: Option<Cow<'a, str>>,
    #[serde(borrow)]
    city: Option<Cow<'a, str>>,
    #[serde(borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    postalCode: Option<Cow<'a, str>>,
    #[serde(borrow)]
    country: Option<Cow<'a, str>>,
    #[serde(borrow)]
    telephoneNumber: Option<Cow<'a, str>>,
    #[serde(borrow)]
    mobile: Option<Cow<'a, str>>,
    #[serde(borrow)]
    facsimileTelephoneNumber: Option<Cow<'a, str>>,
    #[serde(borrow)]
    mailNickname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    employeeId: Option<Cow<'a, str>>,
    #[serde(borrow)]
    department: Option<Cow<'a, str>>,
    accountEnabled: Option<bool>,
}

/// …and the SCIM user it writes (manager is a reference, left out without ids).
#[derive(Serialize)]
#[allow(non_snake_case)]
struct User<'a> {
    schemas: [&'static str; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    userName: Option<Cow<'a, str>>,
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    displayName: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    emails: Vec<Typed<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferredLanguage: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Name::is_empty")]
    name: Name<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<Address<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    phoneNumbers: Vec<Typed<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    externalId: Option<Cow<'a, str>>,
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        skip_serializing_if = "Enterprise::is_empty"
    )]
    enterprise: Enterprise<'a>,
}

#[derive(Serialize)]
struct Typed<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    primary: Option<bool>,
    #[serde(rename = "type")]
    kind: &'static str,
    value: Cow<'a, str>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Name<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    givenName: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    familyName: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    formatted: Option<String>,
}

impl Name<'_> {
    fn is_empty(&self) -> bool {
        self.givenName.is_none() && self.familyName.is_none() && self.formatted.is_none()
    }
}

#[derive(Serialize, Default)]
#[allow(non_snake_case)]
struct Address<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    primary: Option<bool>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    streetAddress: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locality: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postalCode: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    formatted: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Enterprise<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    employeeNumber: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<Cow<'a, str>>,
}

impl Enterprise<'_> {
    fn is_empty(&self) -> bool {
        self.employeeNumber.is_none() && self.department.is_none()
    }
}

fn typed<'a>(kind: &'static str, value: Option<Cow<'a, str>>, primary: bool) -> Option<Typed<'a>> {
    value.map(|value| Typed {
        primary: primary.then_some(true),
        kind,
        value,
    })
}

pub fn by_hand(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let source: Source = serde_json::from_slice(line).unwrap();
        serde_json::to_writer(&mut *out, &map_user(source)).unwrap();
        out.push(b'\n');
    }
}

fn map_user(s: Source<'_>) -> User<'_> {
    let mut emails: Vec<Typed> = typed("work", s.mail, true).into_iter().collect();
    emails.extend(s.proxyAddresses.into_iter().map(|value| Typed {
        primary: None,
        kind: "other",
        value,
    }));
    let formatted = match (s.givenName.as_deref(), s.surname.as_deref()) {
        (Some(g), Some(f)) if !g.is_empty() && !f.is_empty() => Some(format!("{g} {f}")),
        (Some(one), _) | (_, Some(one)) if !one.is_empty() => Some(one.to_string()),
        _ => None,
    };
    let work = Address {
        primary: Some(true),
        kind: "work",
        streetAddress: s.streetAddress,
        locality: s.city,
        region: s.state,
        postalCode: s.postalCode,
        country: s.country,
        formatted: None,
    };
    let mut addresses = Vec::new();
    if work.streetAddress.is_some()
        || work.locality.is_some()
        || work.region.is_some()
        || work.postalCode.is_some()
        || work.country.is_some()
    {
        addresses.push(work);
    }
    if let Some(office) = s.physicalDeliveryOfficeName {
        addresses.push(Address {
            kind: "other",
            formatted: Some(office),
            ..Address::default()
        });
    }
    let phones = [
        typed("work", s.telephoneNumber, true),
        typed("mobile", s.mobile, false),
        typed("fax", s.facsimileTelephoneNumber, false),
    ];
    User {
        schemas: [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        userName: s.userPrincipalName,
        active: s.accountEnabled != Some(false),
        displayName: s.displayName,
        title: s.jobTitle,
        emails,
        preferredLanguage: s.preferredLanguage,
        name: Name {
            givenName: s.givenName,
            familyName: s.surname,
            formatted,
        },
        addresses,
        phoneNumbers: phones.into_iter().flatten().collect(),
        externalId: s.mailNickname,
        enterprise: Enterprise {
            employeeNumber: s.employeeId,
            department: s.department,
        },
    }
}

//! Entra's default user mapping end to end: NDJSON bytes of 100,000 synthetic users in,
//! NDJSON SCIM resources out. scimap on one thread and on every core, beside the same
//! mapping written by hand with serde structs.
//!
//! Then `scimap diff` over the same users: two mappings applied and compared.
//!
//! `cargo bench --bench mappings`; results are in docs/performance.md.

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scimap::mapping::{population_diff, Mapping, ObjectMapping, StreamOptions};
use scimap::records::Format;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

mod common;

#[cfg(not(feature = "bench-system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 100_000;

fn ndjson() -> Vec<u8> {
    let mut out = Vec::new();
    for user in common::users_n(USERS) {
        serde_json::to_writer(&mut out, &user).unwrap();
        out.push(b'\n');
    }
    out
}

/// Output goes to a buffer kept from one iteration to the next, so that the harness's
/// page faults are not measured.
fn scimap_apply(users: &ObjectMapping, input: &[u8], parallel: bool, out: &mut Vec<u8>) {
    let mut options = StreamOptions::default();
    options.parallel = parallel;
    out.clear();
    let summary = users
        .apply_stream(input, Format::Ndjson, &options, out, &mut |_| {})
        .unwrap();
    assert_eq!(summary.resources, USERS);
}

fn apply(c: &mut Criterion) {
    let input = ndjson();
    let mapping = Mapping::embedded_default();
    let users = mapping.object("User").unwrap();
    let mut ours = Vec::with_capacity(2 * input.len());
    let mut theirs = Vec::with_capacity(2 * input.len());
    scimap_apply(users, &input, false, &mut ours);
    by_hand(&input, &mut theirs);
    assert_same(&ours, &theirs);
    let mut parallel = Vec::new();
    scimap_apply(users, &input, true, &mut parallel);
    assert_eq!(ours, parallel);

    let mut group = c.benchmark_group("apply/default-user-mapping");
    group.throughput(Throughput::Elements(USERS as u64));
    group.sample_size(10);
    group.bench_function("scimap-1-thread", |b| {
        b.iter(|| scimap_apply(users, black_box(&input), false, &mut ours))
    });
    group.bench_function("scimap-all-cores", |b| {
        b.iter(|| scimap_apply(users, black_box(&input), true, &mut ours))
    });
    group.bench_function("serde-by-hand", |b| {
        b.iter(|| by_hand(black_box(&input), &mut theirs))
    });
    group.finish();
}

/// Both outputs hold the same resources (compared as JSON, so key order aside).
fn assert_same(ours: &[u8], theirs: &[u8]) {
    let parse = |bytes: &[u8]| -> Vec<Json> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    };
    let (ours, theirs) = (parse(ours), parse(theirs));
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
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

fn by_hand(input: &[u8], out: &mut Vec<u8>) {
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

/// `scimap diff`: the default mapping against itself (nothing changes) and against a
/// copy whose `displayName` changes for every user, beside applying one mapping.
fn population(c: &mut Criterion) {
    let input = ndjson();
    let old = Mapping::embedded_default();
    let changed = Mapping::from_json(&scimap::mapping::DEFAULT_MAPPING.replacen(
        r#""source": "[displayName]""#,
        r#""source": "ToUpper([displayName])""#,
        1,
    ))
    .unwrap();
    let users = old.object("User").unwrap();
    let diff = |new: &ObjectMapping, parallel: bool| {
        let mut options = StreamOptions::default();
        options.parallel = parallel;
        options.chunk_size = 1024;
        population_diff(
            users,
            new,
            black_box(&input[..]),
            Format::Ndjson,
            &options,
            3,
        )
        .unwrap()
    };
    assert_eq!(diff(users, false).unchanged, USERS);
    assert_eq!(diff(changed.object("User").unwrap(), false).changed, USERS);
    let mut out = Vec::with_capacity(2 * input.len());
    let mut group = c.benchmark_group("diff/default-user-mapping");
    group.throughput(Throughput::Elements(USERS as u64));
    group.sample_size(10);
    group.bench_function("apply-one-mapping-1-thread", |b| {
        b.iter(|| scimap_apply(users, black_box(&input), false, &mut out))
    });
    group.bench_function("unchanged-1-thread", |b| b.iter(|| diff(users, false)));
    group.bench_function("all-changed-1-thread", |b| {
        b.iter(|| diff(changed.object("User").unwrap(), false))
    });
    group.bench_function("all-changed-all-cores", |b| {
        b.iter(|| diff(changed.object("User").unwrap(), true))
    });
    group.finish();
}

criterion_group!(benches, apply, population);
criterion_main!(benches);

//! The attributes Entra ID's user and group objects offer as mapping sources, for
//! linting mapping files. A file extends them with `sourceAttributes`; a Graph schema
//! export brings its own list.

use crate::diagnostic::{Code, Diagnostic};
use crate::Program;

pub const USER_ATTRIBUTES: &[&str] = &[
    "accountEnabled",
    "ageGroup",
    "appRoleAssignments",
    "city",
    "companyName",
    "consentProvidedForMinor",
    "country",
    "createdDateTime",
    "creationType",
    "department",
    "dirSyncEnabled",
    "displayName",
    "employeeHireDate",
    "employeeId",
    "employeeLeaveDateTime",
    "employeeOrgData.costCenter",
    "employeeOrgData.division",
    "employeeType",
    "extensionAttribute1",
    "extensionAttribute2",
    "extensionAttribute3",
    "extensionAttribute4",
    "extensionAttribute5",
    "extensionAttribute6",
    "extensionAttribute7",
    "extensionAttribute8",
    "extensionAttribute9",
    "extensionAttribute10",
    "extensionAttribute11",
    "extensionAttribute12",
    "extensionAttribute13",
    "extensionAttribute14",
    "extensionAttribute15",
    "facsimileTelephoneNumber",
    "givenName",
    "immutableId",
    "IsSoftDeleted",
    "isResourceAccount",
    "jobTitle",
    "lastDirSyncTime",
    "legalAgeGroupClassification",
    "mail",
    "mailNickname",
    "manager",
    "mobile",
    "netId",
    "objectId",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesUserPrincipalName",
    "originalUserPrincipalName",
    "otherMails",
    "passwordPolicies",
    "physicalDeliveryOfficeName",
    "postalCode",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "refreshTokensValidFromDateTime",
    "showInAddressList",
    "signInSessionsValidFromDateTime",
    "sipProxyAddress",
    "state",
    "streetAddress",
    "surname",
    "telephoneNumber",
    "thumbnailPhoto",
    "usageLocation",
    "userPrincipalName",
    "userType",
];

pub const GROUP_ATTRIBUTES: &[&str] = &[
    "appRoleAssignments",
    "description",
    "displayName",
    "IsSoftDeleted",
    "mail",
    "mailEnabled",
    "mailNickname",
    "members",
    "objectId",
    "onPremisesSecurityIdentifier",
    "proxyAddresses",
    "securityEnabled",
];

/// Entra's multi-valued source attributes, which scoping filters cannot test.
pub const MULTI_VALUED: &[&str] = &[
    "appRoleAssignments",
    "members",
    "otherMails",
    "proxyAddresses",
];

/// A warning for an attribute read that is not among `known` (the object's attributes,
/// those the mapping declares, the record's): with the name it differs from only in
/// case (Entra's names are case-sensitive, and it reports `SchemaInvalid`), or the
/// closest known name. Directory extensions (`extension_…`) are never questioned.
pub fn attribute_problem(name: &str, known: &[&str]) -> Option<Diagnostic> {
    if known.is_empty() || known.contains(&name) || name.starts_with("extension_") {
        return None;
    }
    if let Some(near) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(
            Diagnostic::warning(
                Code::UnknownAttribute,
                format!("`{name}` is not an attribute; `{near}` is"),
            )
            .help(format!(
                "attribute names are case-sensitive (Entra reports SchemaInvalid): write [{near}]"
            )),
        );
    }
    let near = known
        .iter()
        .filter(|k| strsim::damerau_levenshtein(&k.to_lowercase(), &name.to_lowercase()) <= 2)
        .min_by_key(|k| strsim::damerau_levenshtein(k, name));
    let help = match near {
        Some(near) => format!("did you mean [{near}]? If `{name}` is a directory extension, list it in `sourceAttributes`"),
        None => format!("if `{name}` is a directory extension, list it in `sourceAttributes`"),
    };
    Some(
        Diagnostic::warning(
            Code::UnknownAttribute,
            format!("`{name}` is not a known source attribute"),
        )
        .help(help),
    )
}

/// Warnings for the attributes an expression reads that are nowhere: not built into
/// Entra's users or groups and not in the record (`record` may be empty), each at its
/// first read.
pub fn expression_attribute_problems<'r>(
    program: &Program,
    record: impl IntoIterator<Item = &'r str>,
) -> Vec<Diagnostic> {
    let mut known: Vec<&str> = USER_ATTRIBUTES
        .iter()
        .chain(GROUP_ATTRIBUTES)
        .copied()
        .collect();
    known.extend(record);
    program
        .attribute_uses()
        .filter_map(|(name, span)| Some(attribute_problem(name, &known)?.at(span, "read here")))
        .collect()
}

/// The built-in attributes of a source object type (`User`, `Group`); none for others.
pub fn attributes(object: &str) -> &'static [&'static str] {
    if object.eq_ignore_ascii_case("user") {
        USER_ATTRIBUTES
    } else if object.eq_ignore_ascii_case("group") {
        GROUP_ATTRIBUTES
    } else {
        &[]
    }
}

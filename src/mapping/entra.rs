//! The attributes Entra ID's user and group objects offer as mapping sources, for
//! linting mapping files. A file extends them with `sourceAttributes`; a Graph schema
//! export brings its own list.

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

// Common Entra mappings, each with a user it makes sense for. Loading one keeps what
// was there before one "Undo" away.

const zoe = {
  objectId: "7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01", userPrincipalName: "zoe.muller@contoso.com",
  mailNickname: "zoe.muller", displayName: "Zoë Müller", givenName: "Zoë", surname: "Müller",
  department: "Engineering", country: "DE", accountEnabled: true, userType: "Member",
};

export const recipes = [
  {
    name: "UPN to mail in another domain",
    about: "The part of the user principal name before @, in the app's own domain.",
    expr: 'Join("@", Item(Split([userPrincipalName], "@"), 1), "fabrikam.com")',
    record: zoe,
  },
  {
    name: "Switch on country",
    about: "A country code to the app's country name; anything else falls to the default.",
    expr: 'Switch([country], "Other", "DE", "Germany", "ES", "Spain", "US", "United States")',
    record: { ...zoe, country: "BR" },
  },
  {
    name: "Workday-style dates",
    about: "An HR date stamp (yyyyMMddHHmmss.fZ) rewritten as the app's date.",
    expr: 'FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")',
    record: { ...zoe, extensionAttribute1: "20210401080000.0Z" },
  },
  {
    name: "Unique email with fallbacks",
    about: "first.last@, then f.last@: the first one the app does not hold yet (see Settings: values already taken).",
    expr: 'SelectUniqueValue(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [givenName], [surname]))), "contoso.com"), Join("@", NormalizeDiacritics(StripSpaces(Join(".", Mid([givenName], 1, 1), [surname]))), "contoso.com"))',
    record: zoe,
    settings: { taken: ["zoe.muller@contoso.com"] },
  },
  {
    name: "Leave an attribute alone when empty",
    about: "IgnoreFlowIfNullOrEmpty: with no department, the app's value is kept, not cleared.",
    expr: "IgnoreFlowIfNullOrEmpty([department])",
    record: { ...zoe, department: "" },
  },
  {
    name: "App roles",
    about: "The user's app role assignments as SCIM roles.",
    expr: "AppRoleAssignmentsComplex([appRoleAssignments])",
    record: {
      ...zoe,
      appRoleAssignments: [
        { id: "b3e1c2a4-0000-4000-8000-000000000001", value: "Admin", displayName: "Administrator" },
        { id: "b3e1c2a4-0000-4000-8000-000000000002", value: "Reader", displayName: "Reader" },
      ],
    },
  },
  {
    name: "Scoping filter (mapping)",
    about: "Only members of Engineering are provisioned; try another department.",
    mode: "mapping",
    mapping: JSON.stringify({
      objects: [{
        name: "Engineers", source: "User", target: "User",
        scope: [{ name: "Engineering members", clauses: [
          { attribute: "department", operator: "EQUALS", value: "Engineering" },
          { attribute: "userType", operator: "EQUALS", value: "Member" },
        ] }],
        attributes: [
          { target: "userName", source: "[userPrincipalName]", matching: 1 },
          { target: "displayName", source: "[displayName]" },
          { target: "active", source: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
          { target: "name.givenName", source: "[givenName]" },
          { target: "name.familyName", source: "[surname]" },
        ],
      }],
    }, null, 2),
    record: zoe,
  },
];

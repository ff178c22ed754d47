// Sample source users for the record editor.
export const samples = {
  "Zoë Müller (employee)": {
    objectId: "7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01", userPrincipalName: "zoe.muller@contoso.com",
    mailNickname: "zoe.muller", displayName: "Zoë Müller", givenName: "Zoë", surname: "Müller",
    jobTitle: "Site Reliability Engineer", mail: "Zoe.Muller@contoso.com", department: "Engineering",
    employeeId: "1000417", telephoneNumber: "+49 30 901820", mobile: "+49 151 2345678",
    city: "Berlin", country: "DE", preferredLanguage: "de-DE", accountEnabled: true,
    proxyAddresses: ["SMTP:zoe.muller@contoso.com", "smtp:zm@contoso.com"],
  },
  "Li Wei (B2B guest)": {
    objectId: "5e8b2d7f-3a61-4c09-b3f4-9d0a6e2c1b03",
    userPrincipalName: "li.wei_fabrikam.com#EXT#@contoso.onmicrosoft.com",
    mailNickname: "li.wei_fabrikam.com#EXT#", displayName: "Li Wei (Fabrikam)", givenName: "Li",
    surname: "Wei", mail: "li.wei@fabrikam.com", userType: "Guest", accountEnabled: true,
  },
  "José García (disabled)": {
    objectId: "9f4a1b3c-6d2e-4f80-8a7b-c5d6e7f80904", userPrincipalName: "jose.garcia@contoso.com",
    mailNickname: "jose.garcia", displayName: "José García", givenName: "José", surname: "García",
    jobTitle: "Account Executive", mail: "jose.garcia@contoso.com", department: "Sales",
    country: "ES", accountEnabled: false,
  },
  "Sam Taylor (sparse)": {
    objectId: "2b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d05", userPrincipalName: "sam.taylor@contoso.com",
    displayName: "Sam Taylor", jobTitle: "Contractor",
  },
};

// One person, Ada Lovelace, as each IdP provisions her, written from the IdPs' published
// SCIM documentation (request bodies of their user-create calls, with their quirks).
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE = "urn:ietf:params:scim:schemas:core:2.0:User";

/** Okta (developer.okta.com, "SCIM 2.0 protocol: create the user"): placeholder password, primary email, empty groups. */
export const OKTA = {
  schemas: [CORE, ENTERPRISE],
  userName: "ada.lovelace@example.com",
  name: { givenName: "Ada", familyName: "Lovelace" },
  emails: [
    { primary: true, value: "ada.lovelace@example.com", type: "work" },
    { primary: false, value: "ada@home.example", type: "home" },
  ],
  displayName: "Ada Lovelace",
  locale: "en-US",
  externalId: "00ujl29u0le5T6Aj10h7",
  groups: [],
  password: "1mz050nq",
  active: true,
  title: "Principal Engineer",
  [ENTERPRISE]: { employeeNumber: "1815", department: "Analytical Engines", manager: { value: "mgr-42", displayName: "Charles Babbage" } },
};

/**
 * Entra ID (learn.microsoft.com, "Tutorial: Develop a sample SCIM endpoint", user create):
 * string booleans, userPrincipalName with capitals, `mail` as emails[type eq "work"] without
 * primary (after an otherMails entry here), manager as a bare id as Entra PATCHes it.
 */
export const ENTRA = {
  schemas: [CORE, ENTERPRISE],
  externalId: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
  userName: "Ada.Lovelace@example.com",
  active: "True",
  addresses: [{ primary: false, type: "work", streetAddress: "12 St James's Square", locality: "London", country: "GB" }],
  displayName: "Ada Lovelace",
  emails: [
    { primary: false, type: "other", value: "ada@home.example" },
    { primary: false, type: "work", value: "Ada.Lovelace@example.com" },
  ],
  meta: { resourceType: "User" },
  name: { formatted: "Ada Lovelace", familyName: "Lovelace", givenName: "Ada" },
  title: "Principal Engineer ",
  preferredLanguage: "en-GB",
  [ENTERPRISE]: { employeeNumber: "1815", department: "Analytical Engines", manager: "mgr-42" },
};

/** Google Workspace (Cloud Identity auto-provisioning): numeric user id as externalId, organisation fields in the enterprise extension. */
const GOOGLE = {
  schemas: [CORE, ENTERPRISE],
  externalId: "103582791432176945210",
  userName: "ada.lovelace@example.com",
  name: { givenName: "Ada", familyName: "Lovelace", formatted: "Ada Lovelace" },
  displayName: "Ada Lovelace",
  emails: [
    { value: "ada@home.example", type: "home" },
    { value: "ada.lovelace@example.com", type: "work", primary: true },
  ],
  active: true,
  title: "Principal Engineer",
  [ENTERPRISE]: { employeeNumber: "1815", department: "Analytical Engines", organization: "Example Ltd", costCenter: "R&D", manager: { value: "mgr-42" } },
};

/**
 * OneLogin (onelogin.service-now.com, "SCIM provisioning" default JSON template): the
 * template's `{$user.*}` macros filled in; no displayName but name.formatted; unset macros
 * sent as "".
 */
const ONELOGIN = {
  schemas: [CORE, ENTERPRISE],
  userName: "ada.lovelace@example.com",
  externalId: "140282931",
  name: { familyName: "Lovelace", givenName: "Ada", formatted: "Ada Lovelace" },
  emails: [
    { value: "ada.lovelace@example.com", type: "work", primary: true },
    { value: "ada@home.example", type: "home", primary: false },
  ],
  title: "Principal Engineer",
  nickName: "",
  [ENTERPRISE]: { department: "Analytical Engines", employeeNumber: "1815", manager: { value: "mgr-42" }, division: "" },
};

/** JumpCloud (jumpcloud.com support, "SCIM integration attributes"): core and enterprise attributes, phone numbers and addresses. */
const JUMPCLOUD = {
  schemas: [CORE, ENTERPRISE],
  externalId: "5f3a8c2e9b1d4a0012345678",
  userName: "ada.lovelace@example.com",
  displayName: "Ada Lovelace",
  name: { givenName: "Ada", familyName: "Lovelace", middleName: "" },
  emails: [
    { value: "ada.lovelace@example.com", type: "work", primary: true },
    { value: "ada@home.example", type: "home", primary: false },
  ],
  phoneNumbers: [{ value: "+44 20 7946 0018", type: "work" }],
  title: "Principal Engineer",
  active: true,
  userType: "Employee",
  [ENTERPRISE]: { employeeNumber: "1815", costCenter: "R&D", department: "Analytical Engines", manager: { value: "mgr-42" } },
};

/** The canonical form every one of them yields (externalId aside: each IdP has its own ids). */
export const ADA = {
  username: "ada.lovelace@example.com",
  emails: ["ada.lovelace@example.com", "ada@home.example"],
  givenName: "Ada",
  familyName: "Lovelace",
  displayName: "Ada Lovelace",
  state: "active",
  jobTitle: "Principal Engineer",
  department: "Analytical Engines",
  employeeNumber: "1815",
  managerId: "mgr-42",
  groupIds: [],
  roles: [],
  customAttributes: {},
};

export const PAYLOADS = { okta: OKTA, entra: ENTRA, google: GOOGLE, onelogin: ONELOGIN, jumpcloud: JUMPCLOUD } as const;

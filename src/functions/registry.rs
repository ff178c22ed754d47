//! The table of every function, in alphabetical order.

use super::ArgKind::{self, Any, Boolean, Culture, Multi, Number, Text};
use super::Implementation::{Contextual, Native, Special as Sp};
use super::{
    case, context, date, diacritics, logic, multi, replace, roles, text, Example, Function, Param,
    Presence, Special,
};

const fn p(name: &'static str, kind: ArgKind, docs: &'static str) -> Param {
    Param {
        name,
        graph_key: name,
        kind,
        optional: false,
        docs,
    }
}

const fn opt(name: &'static str, kind: ArgKind, docs: &'static str) -> Param {
    Param {
        name,
        graph_key: name,
        kind,
        optional: true,
        docs,
    }
}

/// A parameter whose Graph key differs from the name the documentation gives it.
const fn keyed(
    name: &'static str,
    graph_key: &'static str,
    kind: ArgKind,
    optional: bool,
    docs: &'static str,
) -> Param {
    Param {
        name,
        graph_key,
        kind,
        optional,
        docs,
    }
}

const fn ex(expression: &'static str, record: &'static str, result: &'static str) -> Example {
    Example {
        expression,
        record,
        result,
    }
}

const SOURCE: Param = p("source", Any, "The value to work on, usually an attribute.");
const SOURCE_TEXT: Param = p(
    "source",
    Text,
    "The string to work on, usually an attribute.",
);
const APP_ROLES: Param = p("source", Multi, "The `[appRoleAssignments]` attribute.");
const COMPARE: ArgKind = ArgKind::Enum(&["vbBinaryCompare", "vbTextCompare"]);

/// A function that also takes a shorter form (see `Function::forms`).
const fn with_forms(function: Function, forms: &'static [&'static [usize]]) -> Function {
    Function { forms, ..function }
}

const fn fixed(
    name: &'static str,
    params: &'static [Param],
    summary: &'static str,
    docs: &'static str,
    examples: &'static [Example],
    implementation: super::Implementation,
) -> Function {
    Function {
        name,
        params,
        repeat: 0,
        min_repeats: 0,
        forms: &[],
        summary,
        docs,
        examples,
        implementation,
        ..PLAIN
    }
}

/// What a function's entry says when it says nothing more: no preparation, no
/// presence test, no question to the target, nothing to redact.
const PLAIN: Function = Function {
    name: "",
    params: &[],
    repeat: 0,
    min_repeats: 0,
    forms: &[],
    summary: "",
    docs: "",
    examples: &[],
    implementation: Sp(Special::Coalesce),
    prepare: None,
    presence: None,
    asks_target: false,
    redacts: false,
    update: None,
};

/// A function that prepares each call site once, from its constant arguments.
const fn prepared(function: Function, prepare: super::Prepare) -> Function {
    Function {
        prepare: Some(prepare),
        ..function
    }
}

/// A function whose value Entra sends on update in an operation of its own.
const fn updated_by(function: Function, update: super::UpdateForm) -> Function {
    Function {
        update: Some(update),
        ..function
    }
}

/// A presence test, which IIF compiles into its branch.
const fn presence(function: Function, test: Presence) -> Function {
    Function {
        presence: Some(test),
        ..function
    }
}

pub static FUNCTIONS: &[Function] = &[
    fixed(
        "Append",
        &[SOURCE_TEXT, p("suffix", Text, "The string to add at the end.")],
        "Adds a suffix to the end of a string.",
        "Returns `source` followed by `suffix`. A null side counts as empty; the result is null only when both are null.",
        &[ex(r#"Append([userPrincipalName], ".test")"#, r#"{"userPrincipalName": "John.Doe@contoso.com"}"#, r#""John.Doe@contoso.com.test""#)],
        Native(text::append),
    ),
    fixed(
        "AppRoleAssignments",
        &[APP_ROLES],
        "Legacy app-role function listed by Graph's function catalog.",
        "Not described by Microsoft beyond Graph's function catalog. scimap returns the role values of all assigned roles, as a multi-valued value.",
        &[],
        Native(roles::values),
    ),
    updated_by(fixed(
        "AppRoleAssignmentsComplex",
        &[APP_ROLES],
        "All of a user's app roles as SCIM `roles` values.",
        "Turns every app role assigned to the user into a SCIM role object `{\"primary\": false, \"type\": \"WindowsAzureActiveDirectoryRole\", \"displayName\", \"value\"}`. An assignment is an object with `value` and `displayName` (either alone stands for both) or a role name. Entra sends these roles as additions on update and never removes roles from the target; `functions::app_role_update` gives that update form (each role as a JSON string with its `id`, `value` and `displayName`, under an `Add` of `roles`).",
        &[ex("AppRoleAssignmentsComplex([appRoleAssignments])", r#"{"appRoleAssignments": [{"id": "06b07648-ecfe-589f-9d2f-6325724a46ee", "value": "Admin", "displayName": "Admin"}]}"#, r#"[{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Admin", "value": "Admin"}]"#)],
        Native(roles::complex),
    ), roles::added),
    updated_by(fixed(
        "AssertiveAppRoleAssignmentsComplex",
        &[APP_ROLES],
        "All of a user's app roles, replacing the target's roles on update.",
        "Like `AppRoleAssignmentsComplex`, with the role's name under `display` as Entra's documented request shows it. On update Entra replaces the target's whole `roles` attribute with these, so roles no longer assigned are removed; `functions::app_role_update` gives that `replace` operation.",
        &[],
        Native(roles::assertive),
    ), roles::replaced),
    fixed(
        "BitAnd",
        &[p("value1", Number, "A whole number (`&H` hex allowed)."), p("value2", Number, "A whole number (`&H` hex allowed).")],
        "Bitwise AND of two whole numbers.",
        "Combines two 64-bit integers bit by bit. Text arguments are read as decimal or `&H` hex numbers. Null if either side is null.",
        &[ex("BitAnd(&HF, &HF7)", "{}", "7")],
        Native(logic::bit_and),
    ),
    fixed(
        "CBool",
        &[p("expression", Any, "A comparison, a number or a boolean-like string.")],
        "Converts a value to a boolean.",
        "True for a true value, the text `True` (any case) or a non-zero number; false for false, `False`, zero, null and the empty string. Other text is an error.",
        &[ex("CBool([attribute1] = [attribute2])", r#"{"attribute1": "x", "attribute2": "x"}"#, "true")],
        Native(logic::cbool),
    ),
    fixed(
        "CDate",
        &[p("expression", Text, "A string holding a date and time.")],
        "Parses a date-time string.",
        "Reads a date and time and returns it as a date-time (an instant, shown in UTC as `M/d/yyyy h:mm:ss tt`). Accepted: ISO 8601 with or without an offset (`2009-06-15T01:45:30-07:00`, `2021-12-31 23:59:59-08:00`, `2021-08-24`), a date followed by an offset (`2020-03-16-07:00`, midnight at that offset), and `M/d/yyyy h:mm:ss tt`. Without an offset the time is UTC. Null stays null; other text is an error.",
        &[ex("CDate([StatusHireDate])", r#"{"StatusHireDate": "2020-03-16-07:00"}"#, r#""3/16/2020 7:00:00 AM""#)],
        Native(date::cdate),
    ),
    Function {
        name: "Coalesce",
        params: &[p("source", Any, "A value to try; the last one may be a constant default.")],
        repeat: 1,
        min_repeats: 1,
        forms: &[],
        summary: "The first argument that is not null.",
        docs: "Evaluates the arguments in order and returns the first that is not null; later arguments are not evaluated. An empty string is not null, so it is returned. Null when every argument is null. A trailing default value is simply the last argument.",
        examples: &[ex("Coalesce([mail], [userPrincipalName])", r#"{"userPrincipalName": "John.Doe@contoso.com"}"#, r#""John.Doe@contoso.com""#)],
        implementation: Sp(Special::Coalesce),
        ..PLAIN
    },
    fixed(
        "ConvertToBase64",
        &[SOURCE_TEXT],
        "Base64 of the string's UTF-16 bytes.",
        "Encodes the string as UTF-16 little-endian (what .NET calls Unicode) and returns the Base64 text of those bytes.",
        &[ex(r#"ConvertToBase64("Hello world!")"#, "{}", r#""SABlAGwAbABvACAAdwBvAHIAbABkACEA""#)],
        Native(text::to_base64),
    ),
    fixed(
        "ConvertToUTF8Hex",
        &[SOURCE_TEXT],
        "Hexadecimal of the string's UTF-8 bytes.",
        "Returns two upper-case hex digits for every UTF-8 byte of the string, with no separators.",
        &[ex(r#"ConvertToUTF8Hex("Hello world!")"#, "{}", r#""48656C6C6F20776F726C6421""#)],
        Native(text::to_utf8_hex),
    ),
    fixed(
        "Count",
        &[p("attribute", Multi, "A multi-valued attribute.")],
        "Number of values of a multi-valued attribute.",
        "Counts the values: 0 for null, 1 for a single value.",
        &[ex("Count([proxyAddresses])", r#"{"proxyAddresses": ["SMTP:a@contoso.com", "smtp:b@contoso.com"]}"#, "2")],
        Native(multi::count),
    ),
    fixed(
        "CStr",
        &[p("value", Any, "A number, boolean, date-time or string.")],
        "Converts a value to a string.",
        "Returns the text of a single value: booleans as `True`/`False`, date-times as `M/d/yyyy h:mm:ss tt`. Null stays null.",
        &[ex("CStr([dn])", r#"{"dn": "cn=Joe,dc=contoso,dc=com"}"#, r#""cn=Joe,dc=contoso,dc=com""#)],
        Native(text::cstr),
    ),
    fixed(
        "DateAdd",
        &[
            p("interval", Text, "`yyyy`, `m`, `d`, `ww`, `h`, `n` or `s`."),
            p("value", Number, "How many intervals to add (may be negative)."),
            p("dateTime", Any, "A date-time, from `CDate` or `Now`."),
        ],
        "Adds a number of intervals to a date-time.",
        "Adds `value` intervals (negative to subtract) to the date-time: `yyyy` years, `q` quarters, `m` months, `y` or `d` days, `w` days, `ww` weeks, `h` hours, `n` minutes, `s` seconds. Months and years follow the calendar and keep the day where it exists (Jan 31 + 1 month is the last day of February). A text date is read as `CDate` reads it.",
        &[ex(r#"DateAdd("m", 10, CDate([StatusHireDate]))"#, r#"{"StatusHireDate": "2012-03-16-07:00"}"#, r#""1/16/2013 7:00:00 AM""#)],
        Native(date::date_add),
    ),
    fixed(
        "DateDiff",
        &[
            p("interval", Text, "`yyyy`, `m`, `d`, `ww`, `h`, `n` or `s`."),
            p("date1", Any, "The start date-time."),
            p("date2", Any, "The end date-time."),
        ],
        "Number of interval boundaries between two date-times.",
        "Counts intervals from `date1` to `date2`, negative when `date2` is earlier, as VB's DateDiff does: years, quarters and months compare the calendar parts (`yyyy` from Dec 31 to Jan 1 is 1); `ww` counts the Sundays crossed; `d`, `y`, `w` (weeks of 7 days), `h`, `n` and `s` count whole elapsed units, truncated toward zero.",
        &[ex(r#"DateDiff("d", CDate("2021-08-18+08:00"), CDate("2021-08-31+08:00"))"#, "{}", "13")],
        Native(date::date_diff),
    ),
    fixed(
        "DateFromNum",
        &[p("value", Number, "An Active Directory integer date (FILETIME ticks).")],
        "Converts an AD integer date to a date-time.",
        "Reads an Active Directory integer date: 100-nanosecond ticks since 1601-01-01 UTC, as in `accountExpires` and `lastLogonTimestamp`. `0` and `9223372036854775807`, which mean \"never\" in `accountExpires`, give null.",
        &[ex("DateFromNum(129699324000000000)", "{}", r#""1/1/2012 11:00:00 PM""#)],
        Native(date::date_from_num),
    ),
    fixed(
        "DefaultDomain",
        &[],
        "The tenant's default domain name.",
        "Returns the default verified domain of the tenant, taken from the evaluation context (`--tenant-domain`, `Context::tenant_domain`); an error when it is not set.",
        &[],
        Contextual(context::default_domain),
    ),
    prepared(with_forms(fixed(
        "FormatDateTime",
        &[
            SOURCE_TEXT,
            opt("dateTimeStyles", Text, "Optional .NET DateTimeStyles for parsing."),
            opt("inputFormat", Text, "The .NET format of the source; empty: read as CDate reads dates."),
            p("outputFormat", Text, "The .NET format of the result."),
        ],
        "Re-formats a date string.",
        "Reads `source` exactly as `inputFormat` describes it and writes it as `outputFormat` describes, both .NET custom format strings (`yyyy`, `MM`, `dd`, `HH`, `hh`, `mm`, `ss`, `f`…, `F`…, `tt`, `z`/`zz`/`zzz`, `K`, `'quoted'` and `\\`-escaped literals) or standard one-letter formats (`o`, `s`, `u`, `d`, `G`, …), in the invariant culture. Leading and trailing white space in the source is allowed. An offset read from the source is kept in the output (`zzz`); the styles slot may say `AdjustToUniversal` to convert to UTC instead. A source that does not match is an error; so is a format with an unclosed quote, at compile time when the format is a constant. With the input format slot empty, a text source is read as `CDate` reads dates, and a date-time value (from `CDate`, `DateAdd`, `Now`) needs none. It has two forms, told apart by the number of arguments: four slots as the functions reference gives them, and three, `FormatDateTime(source, inputFormat, outputFormat)`, as Graph's function catalog and Microsoft's SuccessFactors guide write it, which is the four-slot form with no styles.",
        &[
            ex(r#"FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")"#, r#"{"extensionAttribute1": "20150123105347.1Z"}"#, r#""2015-01-23""#),
            ex(r#"FormatDateTime([ContractEndDate], , "yyyy-MM-ddzzz", "yyyy-MM-dd")"#, r#"{"ContractEndDate": "2020-12-31-08:00"}"#, r#""2020-12-31""#),
            ex(r#"FormatDateTime([startDate], "M/d/yyyy h:mm:ss tt", "yyyyMMdd")"#, r#"{"startDate": "3/1/2024 8:00:00 AM"}"#, r#""20240301""#),
        ],
        Native(date::format_date_time),
    ), &[&[0, 2, 3]]), date::prepare_formats),
    fixed(
        "Guid",
        &[],
        "A new random GUID.",
        "Returns a random (version 4) GUID in lower-case 8-4-4-4-12 form. The randomness comes from the evaluation context, so a seed (`--seed`) makes it reproducible.",
        &[],
        Contextual(context::guid),
    ),
    fixed(
        "IgnoreFlowIfNullOrEmpty",
        &[p("expression", Any, "The value to flow when it is present.")],
        "Leaves the target attribute out when the value is null or empty.",
        "Returns the value unless it is null or the empty string; then the target attribute is left out of this object's provisioning altogether (not sent, not cleared). The marker absorbs: a function given it returns it, so it works wherever it is nested.",
        &[
            ex("IgnoreFlowIfNullOrEmpty([department])", "{}", "ignored"),
            ex("IgnoreFlowIfNullOrEmpty([department])", r#"{"department": "Sales"}"#, r#""Sales""#),
        ],
        Native(logic::ignore_flow_if_null_or_empty),
    ),
    fixed(
        "IIF",
        &[
            p("condition", Boolean, "A comparison or boolean; no And/Or."),
            p("valueIfTrue", Any, "The result when the condition holds."),
            p("valueIfFalse", Any, "The result otherwise."),
        ],
        "Chooses between two values.",
        "Evaluates the condition, then only the branch it selects. The condition is a comparison (`=`, `<>`, `<`, `<=`, `>`, `>=`) or a boolean value. Entra documents that a condition over a null or empty attribute fails; scimap reports a comparison with a null side as an error and warns about such conditions.",
        &[ex(r#"IIF([country]="USA",[country],[department])"#, r#"{"country": "USA", "department": "Sales"}"#, r#""USA""#)],
        Sp(Special::Iif),
    ),
    fixed(
        "InStr",
        &[
            p("value1", Text, "The string to search in."),
            p("value2", Text, "The string to find."),
            opt("start", Number, "The 1-based position to start at (default 1)."),
            opt("compareType", COMPARE, "`vbBinaryCompare` (default, case-sensitive) or `vbTextCompare`."),
        ],
        "Position of a substring, or 0.",
        "Returns the 1-based position of the first occurrence of `value2` in `value1` at or after `start`, or 0 when there is none. Null when either string is null.",
        &[
            ex(r#"InStr("The quick brown fox","quick")"#, "{}", "5"),
            ex(r#"InStr("repEated","e",3,vbBinaryCompare)"#, "{}", "7"),
        ],
        Native(text::instr),
    ),
    presence(fixed(
        "IsNull",
        &[p("expression", Any, "The value to test.")],
        "True when the value is null (absent).",
        "True for null only; an empty string is not null.",
        &[ex("IsNull([displayName])", "{}", "true")],
        Native(logic::is_null),
    ), Presence::IsNull),
    presence(fixed(
        "IsNullOrEmpty",
        &[p("expression", Any, "The value to test.")],
        "True when the value is null or the empty string.",
        "The opposite of `IsPresent`.",
        &[ex("IsNullOrEmpty([displayName])", r#"{"displayName": ""}"#, "true")],
        Native(logic::is_null_or_empty),
    ), Presence::IsNullOrEmpty),
    presence(fixed(
        "IsPresent",
        &[p("expression", Any, "The value to test.")],
        "True when the value is neither null nor empty.",
        "The opposite of `IsNullOrEmpty`.",
        &[ex("IsPresent([displayName])", r#"{"displayName": "John"}"#, "true")],
        Native(logic::is_present),
    ), Presence::IsPresent),
    fixed(
        "IsString",
        &[p("expression", Any, "The value to test.")],
        "True when the value is a single value with a text form.",
        "True for strings, numbers, booleans and date-times; false for null and multi-valued values.",
        &[ex("IsString([displayName])", r#"{"displayName": "John"}"#, "true")],
        Native(logic::is_string),
    ),
    fixed(
        "Item",
        &[p("attribute", Multi, "A multi-valued value."), p("index", Number, "1-based position.")],
        "One value of a multi-valued attribute.",
        "Returns the value at the 1-based `index`. A single value counts as a list of one. An index below 1 or past the end gives null.",
        &[ex("Item([proxyAddresses], 1)", r#"{"proxyAddresses": ["SMTP:john@contoso.com", "smtp:jd@contoso.com"]}"#, r#""SMTP:john@contoso.com""#)],
        Native(multi::item),
    ),
    Function {
        name: "Join",
        params: &[p("separator", Text, "Put between values; may be empty."), p("source", Any, "A value or multi-valued value to join.")],
        repeat: 1,
        min_repeats: 1,
        forms: &[],
        summary: "Joins values with a separator.",
        docs: "Concatenates the values of every source with `separator` between them. A multi-valued source contributes each of its values. Null and empty values are skipped, so no separator is doubled. Null when every source is null.",
        examples: &[ex(r#"Join(", ", "", [surname], [givenName])"#, r#"{"givenName": "John", "surname": "Doe"}"#, r#""Doe, John""#)],
        implementation: Native(multi::join),
        ..PLAIN
    },
    fixed(
        "Left",
        &[p("String", Text, "The string."), p("NumChars", Number, "How many characters.")],
        "The first characters of a string.",
        "Returns the first `NumChars` characters. 0 gives the empty string; a negative count returns the string unchanged; a count past the end returns the whole string. A null string gives the empty string.",
        &[ex(r#"Left("John Doe", 3)"#, "{}", r#""Joh""#)],
        Native(text::left),
    ),
    fixed(
        "Len",
        &[SOURCE_TEXT],
        "Number of characters in a string.",
        "Counts the characters of the string; 0 for null.",
        &[ex(r#"Len("John")"#, "{}", "4")],
        Native(text::len),
    ),
    fixed(
        "Mid",
        &[SOURCE_TEXT, p("start", Number, "1-based position of the first character."), p("length", Number, "How many characters.")],
        "A substring.",
        "Returns `length` characters starting at the 1-based `start`, or fewer at the end of the string. A `start` below 1 or past the end gives the empty string; a negative `length` is an error. Null stays null.",
        &[ex("Mid([givenName], 1, 3)", r#"{"givenName": "John"}"#, r#""Joh""#)],
        Native(text::mid),
    ),
    fixed(
        "NormalizeDiacritics",
        &[SOURCE_TEXT],
        "Replaces letters with diacritics by plain letters.",
        "Replaces the letters of Entra's fixed table (for example `ä`→`a`, `ß`→`ss`, `æ`→`ae`, `ø`→`oe`, `ı`→`i`) and keeps every other character. Letters outside the table, such as Vietnamese `ồ`, are kept.",
        &[ex("NormalizeDiacritics([givenName])", r#"{"givenName": "Zoë"}"#, r#""Zoe""#)],
        Native(diacritics::normalize),
    ),
    fixed(
        "Not",
        &[SOURCE],
        "Negates a boolean.",
        "Returns False when the value is true (`True` in any case, or a non-zero number) and True for anything else, null included.",
        &[ex(r#"Not("False")"#, "{}", "true")],
        Native(logic::not),
    ),
    fixed(
        "Now",
        &[],
        "The current date-time in UTC.",
        "Returns the current UTC date-time, or the time the evaluation context fixes (`--now`).",
        &[],
        Contextual(context::now),
    ),
    fixed(
        "NumFromDate",
        &[p("value", Text, "An ISO 8601 date-time string.")],
        "Converts a date-time to an AD integer date.",
        "Returns the date-time as an Active Directory integer date (100-nanosecond ticks since 1601-01-01 UTC), for `accountExpires`. A text date is read as `CDate` reads it.",
        &[ex(r#"NumFromDate("2021-12-31 23:59:59-08:00")"#, "{}", "132854975990000000")],
        Native(date::num_from_date),
    ),
    fixed(
        "PCase",
        &[SOURCE_TEXT, opt("wordSeparators", Text, "Characters that separate words.")],
        "Capitalises the first letter of every word.",
        "Lower-cases the string, then upper-cases the first letter of each word. Without `wordSeparators` words break as in .NET's `ToTitleCase` (a word runs through letters, marks, digits and apostrophes); with it, only its characters separate words.",
        &[
            ex("PCase([firstName])", r#"{"firstName": "PABLO GONSALVES (SECOND)"}"#, r#""Pablo Gonsalves (Second)""#),
            ex(r#"PCase([lastName]," '-")"#, r#"{"lastName": "PINTO-DE'SILVA"}"#, r#""Pinto-De'Silva""#),
        ],
        Native(case::pcase),
    ),
    fixed(
        "RandomString",
        &[
            p("Length", Number, "Length of the result (at most 256)."),
            p("MinimumNumbers", Number, "At least this many digits."),
            p("MinimumSpecialCharacters", Number, "At least this many special characters."),
            p("MinimumCapital", Number, "At least this many upper-case letters."),
            p("MinimumLowerCase", Number, "At least this many lower-case letters."),
            opt("CharactersToAvoid", Text, "Characters never to use."),
        ],
        "A random string meeting complexity minimums.",
        "Generates a random string of `Length` characters (1 to 256) with at least the given numbers of digits, special characters (``~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/``), capitals and lower-case letters; the other characters are drawn from all four classes, and none of `CharactersToAvoid` is used. Minimums that add up to more than `Length` are an error. Seeded by the evaluation context.",
        &[],
        Contextual(context::random_string),
    ),
    Function {
        redacts: true,
        ..fixed(
        "Redact",
        &[p("value", Any, "The value to hide from logs.")],
        "Flows the value but hides it in logs.",
        "Returns the value unchanged; provisioning logs show `[Redact]` in its place.",
        &[ex(r#"Redact([userPrincipalName])"#, r#"{"userPrincipalName": "john@contoso.com"}"#, r#""john@contoso.com""#)],
        Native(logic::redact),
    )
    },
    fixed(
        "RemoveDuplicates",
        &[p("attribute", Multi, "A multi-valued value.")],
        "Removes repeated values.",
        "Keeps the first occurrence of every value, in order, comparing exactly (case-sensitive).",
        &[ex("RemoveDuplicates([proxyAddresses])", r#"{"proxyAddresses": ["a", "b", "a"]}"#, r#"["a", "b"]"#)],
        Native(multi::remove_duplicates),
    ),
    prepared(fixed(
        "Replace",
        &[
            SOURCE_TEXT,
            keyed("oldValue", "Find", Text, true, "Text to find (literal forms)."),
            keyed("regexPattern", "RegexPattern", Text, true, "A regular expression (regex forms)."),
            keyed("regexGroupName", "RegexGroupName", Text, true, "A named group of the pattern."),
            keyed("replacementValue", "Replacement", Text, true, "Replacement text; regex forms expand `${name}`, `$1`, `$$`."),
            keyed("replacementAttributeName", "ReplacementAttributeName", Any, true, "Another attribute to take the group from."),
            keyed("template", "Template", Text, true, "A template in which `oldValue` is replaced by the source."),
        ],
        "Replaces text, literally or by regular expression.",
        "Five forms, chosen by which slots are filled (the others left empty):\n\n\
         1. `oldValue`, `replacementValue`: every occurrence of `oldValue` in the source is replaced.\n\
         2. `oldValue`, `template`: the template, with every `oldValue` in it replaced by the source.\n\
         3. `regexPattern`, `replacementValue`: every match is replaced; .NET substitutions such as `${name}` are expanded.\n\
         4. `regexPattern`, `regexGroupName`, `replacementValue`: inside every match, the text of the named group is replaced.\n\
         5. `regexPattern`, `regexGroupName`, `replacementAttributeName`: the source when it has a value; otherwise the named group's match in the other attribute (null when it does not match).\n\n\
         Matching is case-sensitive. A null source gives null in forms 1–4.",
        &[
            ex(r#"Replace([mail], "@contoso.com", , , "", , )"#, r#"{"mail": "john.doe@contoso.com"}"#, r#""john.doe""#),
            ex(r#"Replace([UserID], "<username>", , , , , "<username>@contoso.com")"#, r#"{"UserID": "jsmith"}"#, r#""jsmith@contoso.com""#),
            ex(
                r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )"#,
                r#"{"telephoneNumber": "+91 9998887777"}"#,
                r#""9998887777""#,
            ),
            ex(r#"Replace([AddressLineData], , "(?<streetNumber>^\\d*)", "streetNumber", "888", , )"#, r#"{"AddressLineData": "545 Tremont Street"}"#, r#""888 Tremont Street""#),
        ],
        Native(replace::replace),
    ), super::prepare_replace),
    Function {
        name: "SelectUniqueValue",
        params: &[p("uniqueValueRule", Any, "A candidate value.")],
        repeat: 1,
        min_repeats: 2,
        forms: &[],
        summary: "The first candidate not yet taken in the target.",
        docs: "Returns the first rule's value that is not null, not empty and not yet taken in the target, as the evaluation context's existing values tell (`--existing`, `Context::existing`; compared without regard to case). When every value is taken the evaluation fails: Entra escrows the object. Only allowed as the whole expression, never nested. All rules are evaluated.",
        examples: &[],
        implementation: Contextual(context::select_unique_value),
        asks_target: true,
        ..PLAIN
    },
    fixed(
        "SingleAppRoleAssignment",
        &[APP_ROLES],
        "One of the user's app roles, as a string.",
        "Returns the `value` of the user's app role (its display name when it has no value); meant for users with exactly one role: with several, the first is returned. Null when no role is assigned.",
        &[ex("SingleAppRoleAssignment([appRoleAssignments])", r#"{"appRoleAssignments": [{"value": "Admin", "displayName": "Administrator"}]}"#, r#""Admin""#)],
        Native(roles::single),
    ),
    fixed(
        "Split",
        &[SOURCE_TEXT, p("delimiter", Text, "Where to split.")],
        "Splits a string into a multi-valued value.",
        "Splits at every occurrence of `delimiter` and trims white space around each part. Empty parts between two delimiters are kept. Null or empty source gives null.",
        &[ex(r#"Split([extensionAttribute5], ",")"#, r#"{"extensionAttribute5": "PermissionSetOne, PermissionSetTwo"}"#, r#"["PermissionSetOne", "PermissionSetTwo"]"#)],
        Native(multi::split),
    ),
    fixed(
        "StripSpaces",
        &[SOURCE_TEXT],
        "Removes every space character.",
        "Removes every U+0020 space; tabs and other white space are kept.",
        &[ex(r#"StripSpaces("John  Smith ")"#, "{}", r#""JohnSmith""#)],
        Native(text::strip_spaces),
    ),
    Function {
        name: "Switch",
        params: &[
            SOURCE,
            opt("defaultValue", Any, "The result when no key matches (may be left empty: null)."),
            p("key", Any, "A value to compare the source with."),
            p("value", Any, "The result when the key before it matches."),
        ],
        repeat: 2,
        min_repeats: 1,
        forms: &[],
        summary: "Picks the value whose key equals the source.",
        docs: "Compares the source with each key in turn, exactly and case-sensitively, and returns the value after the first key that matches; otherwise the default. A null source matches the key `\"\"`. Only the matching value (or the default) is evaluated. Keys that are all constants compile to a table lookup.",
        examples: &[ex(
            r#"Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney", "QLD", "Australia/Brisbane", "SA", "Australia/Adelaide")"#,
            r#"{"state": "QLD"}"#,
            r#""Australia/Brisbane""#,
        )],
        implementation: Sp(Special::Switch),
        ..PLAIN
    },
    prepared(fixed(
        "ToLower",
        &[SOURCE_TEXT, opt("culture", Culture, "A culture name such as `en-US` or `tr-TR`.")],
        "Lower-cases a string.",
        "Lower-cases character by character; Turkish and Azeri cultures map `I` to `ı`. Other cultures use invariant rules.",
        &[ex(r#"ToLower("JOHN.Smith@Contoso.COM")"#, "{}", r#""john.smith@contoso.com""#)],
        Native(case::to_lower),
    ), super::prepare_culture),
    prepared(fixed(
        "ToUpper",
        &[SOURCE_TEXT, opt("culture", Culture, "A culture name such as `en-US` or `tr-TR`.")],
        "Upper-cases a string.",
        "Upper-cases character by character; Turkish and Azeri cultures map `i` to `İ`. A character whose upper case is several characters (`ß`) is kept.",
        &[ex("ToUpper([givenName])", r#"{"givenName": "john"}"#, r#""JOHN""#)],
        Native(case::to_upper),
    ), super::prepare_culture),
    fixed(
        "Word",
        &[
            p("String", Text, "The string."),
            p("WordNumber", Number, "1-based number of the word."),
            p("Delimiters", Text, "Every character of it separates words."),
        ],
        "One word of a string.",
        "Splits the string at any of the delimiter characters, treating a run of delimiters as one, and returns the word at the 1-based `WordNumber`. The empty string when there is no such word, when the number is below 1, or when the string is null.",
        &[ex(r#"Word("This,string!has&many separators",3,",!&#")"#, "{}", r#""has""#)],
        Native(text::word),
    ),
];

pub(super) fn reference_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# Function reference\n\n\
         Generated from scimap's function registry (`src/functions/registry.rs`); do not edit by hand.\n\
         A test fails when this file and the registry disagree; `UPDATE_DOCS=1 cargo test --test docs` rewrites it.\n\n\
         Function names are case-sensitive. `?` marks a parameter whose slot may be left empty; `…` a parameter that repeats.\n\
         Graph key is the parameter's key in Microsoft Graph's `attributeMappingSource.parameters`.\n\n",
    );
    for f in FUNCTIONS {
        let _ = writeln!(
            out,
            "- [`{}`](#{}): {}",
            f.name,
            f.name.to_lowercase(),
            f.summary
        );
    }
    for f in FUNCTIONS {
        let _ = write!(
            out,
            "\n## {}\n\n`{}`\n\n{}\n\n",
            f.name,
            f.signature(),
            f.docs
        );
        if !f.params.is_empty() {
            out.push_str("| Parameter | Graph key | Kind | Required | Description |\n| --- | --- | --- | --- | --- |\n");
            for (i, param) in f.params.iter().enumerate() {
                let repeats = i >= f.params.len() - f.repeat;
                let name = if repeats {
                    format!("{}…", param.name)
                } else {
                    param.name.to_string()
                };
                let required = if param.optional { "no" } else { "yes" };
                let kind = match param.kind {
                    ArgKind::Enum(names) => names.join(" / "),
                    other => other.name().to_string(),
                };
                let _ = writeln!(
                    out,
                    "| `{name}` | `{}` | {kind} | {required} | {} |",
                    param.graph_key, param.docs
                );
            }
            out.push('\n');
        }
        for e in f.examples {
            let record = if e.record == "{}" {
                String::new()
            } else {
                format!(" with `{}`", e.record)
            };
            let _ = writeln!(out, "- `{}`{record} → `{}`", e.expression, e.result);
        }
    }
    out
}

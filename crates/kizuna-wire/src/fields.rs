//! What every text and number a client sends may be: its longest form and
//! the characters it may hold. The server checks each request against these
//! rules before anything else reads it, the client before it sends, and the
//! API document states the same limits, so all three refuse the same input.
//!
//! Characters no field accepts: NUL and every other control character (C0,
//! DEL, C1), except that free text keeps tabs and line breaks; and the
//! bidirectional embeddings, overrides and isolates (U+202A–U+202E,
//! U+2066–U+2069), which make text read in another order than it is
//! stored — a name or handle that looks like someone else's. Handles, ids
//! and codes are ASCII, so no mark or look-alike can enter them at all.

use crate::ErrorCode;

/// The largest number the node's store holds (an SQLite INTEGER): a
/// position, size or time above it is refused, never wrapped. Schema
/// attributes take only literals, so the API document's `maximum` spells it
/// out (9223372036854775807); a test of the document holds it to this.
pub const MAX_STORED: u64 = i64::MAX as u64;

/// What characters a field may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `^[a-z][a-z0-9_.]*$`: an account's handle.
    Handle,
    /// `^[A-Za-z0-9_.-]+$`: ids, codes and tokens the node or a device made.
    Id,
    /// One line of text: no control characters, no bidirectional controls.
    Line,
    /// Free text: as a line, but tabs and line breaks are kept.
    Text,
    /// An e-mail address: `local@domain`, the domain with a dot not at its
    /// start; no spaces, control or bidirectional characters.
    Email,
    /// A phone number as typed: `+`, then 8 to 15 digits (E.164), with
    /// spaces and dashes anywhere.
    Phone,
}

// The classes as the API document states them (ECMAScript regular
// expressions); a test of the server holds them to [`Field::check`].
pub const HANDLE_PATTERN: &str = r"^[a-z][a-z0-9_.]*$";
pub const ID_PATTERN: &str = r"^[A-Za-z0-9_.-]+$";
pub const LINE_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$";
pub const TEXT_PATTERN: &str =
    r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$";
pub const EMAIL_PATTERN: &str = r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u202A-\u202E\u2066-\u2069@]+@[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u202A-\u202E\u2066-\u2069@.][^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u202A-\u202E\u2066-\u2069@]*\.[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u202A-\u202E\u2066-\u2069@]*$";
pub const PHONE_PATTERN: &str = r"^[ -]*\+[ -]*([0-9][ -]*){8,15}$";

impl Class {
    /// The class as a pattern of the API document.
    pub fn pattern(self) -> &'static str {
        match self {
            Class::Handle => HANDLE_PATTERN,
            Class::Id => ID_PATTERN,
            Class::Line => LINE_PATTERN,
            Class::Text => TEXT_PATTERN,
            Class::Email => EMAIL_PATTERN,
            Class::Phone => PHONE_PATTERN,
        }
    }
}

/// One field's rule: its name in the request, its length in characters,
/// its character class, and the error code a client branches on.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
    pub class: Class,
    pub code: ErrorCode,
}

const fn field(name: &'static str, min: usize, max: usize, class: Class, code: ErrorCode) -> Field {
    Field {
        name,
        min,
        max,
        class,
        code,
    }
}

// The rules, one per kind of field. The API document repeats each as
// `maxLength` and `pattern` (see the schemas' attributes); a test of the
// server compares the two.
pub const HANDLE: Field = field("handle", 3, 32, Class::Handle, ErrorCode::InvalidHandle);
pub const NAME: Field = field("name", 1, 100, Class::Line, ErrorCode::InvalidName);
pub const EMAIL: Field = field("email", 3, 254, Class::Email, ErrorCode::InvalidEmail);
pub const PHONE: Field = field("phone", 1, 32, Class::Phone, ErrorCode::InvalidPhone);
/// The one-time code sent to a phone number: six digits.
pub const PHONE_CODE: Field = field("phone_code", 6, 6, Class::Id, ErrorCode::PhoneCodeWrong);
pub const REGION: Field = field("region", 1, 16, Class::Id, ErrorCode::InvalidRegion);
/// The version of a region's disclosures a person agrees to (a digest of
/// their text, in hex).
pub const DISCLOSURES_VERSION: Field = field("version", 1, 128, Class::Id, ErrorCode::BadRequest);
pub const DEVICE_LABEL: Field = field("label", 1, 64, Class::Line, ErrorCode::BadRequest);
pub const DEVICE_ID: Field = field("device_id", 1, 64, Class::Id, ErrorCode::BadRequest);
pub const CHALLENGE: Field = field("challenge", 1, 256, Class::Id, ErrorCode::BadRequest);
pub const LINK_CODE: Field = field("code", 1, 32, Class::Id, ErrorCode::BadRequest);
/// Ids the node hands out: links, grants, reports.
pub const ID: Field = field("id", 1, 64, Class::Id, ErrorCode::BadRequest);
pub const REPORT_NOTE: Field = field(
    "note",
    0,
    crate::reports::MAX_NOTE,
    Class::Text,
    ErrorCode::BadRequest,
);
pub const APPEAL_NOTE: Field = field(
    "note",
    1,
    crate::reports::MAX_NOTE,
    Class::Text,
    ErrorCode::BadRequest,
);
pub const STAFF_ID: Field = field("staff_id", 3, 32, Class::Id, ErrorCode::BadRequest);
pub const ORG_ID: Field = field("org_id", 3, 32, Class::Id, ErrorCode::BadRequest);
pub const PASSWORD: Field = field("password", 1, 256, Class::Line, ErrorCode::BadRequest);
pub const TOTP: Field = field("totp", 1, 16, Class::Id, ErrorCode::BadRequest);
pub const COUNTRY: Field = field("country", 2, 2, Class::Id, ErrorCode::BadRequest);
pub const NETWORK: Field = field("network", 1, 64, Class::Line, ErrorCode::BadRequest);
/// A purpose or a personal field's name in an organisation's scope.
pub const SCOPE_NAME: Field = field("scope", 1, 32, Class::Id, ErrorCode::BadRequest);
pub const TICKET: Field = field("ticket", 1, 128, Class::Line, ErrorCode::BadRequest);
pub const JUSTIFICATION: Field = field("reason", 1, 2000, Class::Text, ErrorCode::BadRequest);
pub const REVIEW_NOTE: Field = field("note", 1, 2000, Class::Text, ErrorCode::BadRequest);
pub const DECISION_REASON: Field = field("reason", 1, 500, Class::Text, ErrorCode::BadRequest);
/// An official account's organisation, as residents know it.
pub const ORGANISATION: Field = field("organisation", 1, 100, Class::Line, ErrorCode::InvalidName);
/// The area an official account serves.
pub const AREA: Field = field("area", 1, 100, Class::Line, ErrorCode::BadRequest);
/// Where an organisation keeps what people send it.
pub const KEEPS_DATA: Field = field("keeps_data", 1, 300, Class::Line, ErrorCode::BadRequest);
/// Where a person asks an organisation about their data.
pub const CONTACT: Field = field("contact", 1, 254, Class::Line, ErrorCode::BadRequest);
/// The evidence a verification rests on.
pub const EVIDENCE: Field = field("evidence", 1, 2000, Class::Text, ErrorCode::BadRequest);

/// Most entries in a list of handles or device ids a request names.
pub const MAX_LIST: usize = 5000;

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Empty,
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
        chars: usize,
    },
    /// A character the field's class does not allow, by its position.
    Character {
        at: usize,
        found: char,
    },
    /// Allowed characters in a shape the field does not take.
    Shape(&'static str),
    /// A list with more entries than are accepted.
    TooMany {
        max: usize,
        found: usize,
    },
    /// A number above what the node can hold.
    TooLarge {
        max: u64,
    },
}

/// A field of a request that breaks its rule: which, and what is wrong, so
/// the person can correct it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path in the request, like `device.label`.
    pub field: String,
    pub problem: Problem,
    pub code: ErrorCode,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = &self.field;
        match &self.problem {
            Problem::Empty => write!(f, "{field} must not be empty"),
            Problem::TooShort { min } => write!(f, "{field} must be at least {min} characters"),
            Problem::TooLong { max, chars } => write!(
                f,
                "{field} is {chars} characters long; at most {max} are accepted"
            ),
            Problem::Character { at, found } => write!(
                f,
                "{field} may not contain {} (character {} of it): control characters, \
                 and characters that reverse the reading order, are refused",
                describe(*found),
                at + 1
            ),
            Problem::Shape(shape) => write!(f, "{field} must be {shape}"),
            Problem::TooMany { max, found } => {
                write!(f, "{field} has {found} entries; at most {max} are accepted")
            }
            Problem::TooLarge { max } => write!(f, "{field} must be at most {max}"),
        }
    }
}

impl std::error::Error for FieldError {}

fn describe(c: char) -> String {
    match c {
        '\0' => "NUL".into(),
        '\n' => "a line feed".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        c if c.is_ascii_graphic() => format!("'{c}'"),
        c => format!("U+{:04X}", c as u32),
    }
}

/// Characters that make text read in another order than it is stored.
fn reorders(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

impl Field {
    /// This rule under another name, for a field of the same kind.
    pub const fn named(self, name: &'static str) -> Field {
        Field { name, ..self }
    }

    fn error(&self, field: &str, problem: Problem) -> FieldError {
        FieldError {
            field: field.to_string(),
            problem,
            code: self.code,
        }
    }

    /// Checks `v` against the rule, naming the field as `path` in the error.
    pub fn check_at(&self, path: &str, v: &str) -> Result<(), FieldError> {
        let chars = v.chars().count();
        if chars == 0 && self.min > 0 {
            return Err(self.error(path, Problem::Empty));
        }
        if chars > self.max {
            return Err(self.error(
                path,
                Problem::TooLong {
                    max: self.max,
                    chars,
                },
            ));
        }
        let allowed = |c: char| match self.class {
            Class::Handle => c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.'),
            Class::Id => id_char(c),
            Class::Line => !c.is_control() && !reorders(c),
            Class::Text => (!c.is_control() || matches!(c, '\n' | '\r' | '\t')) && !reorders(c),
            Class::Email => !c.is_control() && !c.is_whitespace() && !reorders(c),
            Class::Phone => c.is_ascii_digit() || matches!(c, '+' | ' ' | '-'),
        };
        if let Some((at, found)) = v.chars().enumerate().find(|(_, c)| !allowed(*c)) {
            return Err(self.error(path, Problem::Character { at, found }));
        }
        if chars < self.min {
            return Err(self.error(path, Problem::TooShort { min: self.min }));
        }
        let shape = match self.class {
            Class::Handle if !v.starts_with(|c: char| c.is_ascii_lowercase()) => {
                Some("3 to 32 lowercase letters, digits, '_' or '.', starting with a letter")
            }
            Class::Email if !email_shape(v) => {
                Some("an address like name@example.jp: one '@', and a domain with a dot")
            }
            Class::Phone
                if !v.trim_start_matches([' ', '-']).starts_with('+')
                    || v.matches('+').count() != 1
                    || !(8..=15).contains(&v.chars().filter(char::is_ascii_digit).count()) =>
            {
                Some("in international form, '+' and 8 to 15 digits, like +819012345678")
            }
            _ => None,
        };
        match shape {
            Some(s) => Err(self.error(path, Problem::Shape(s))),
            None => Ok(()),
        }
    }

    /// Checks `v` against the rule under the field's own name.
    pub fn check(&self, v: &str) -> Result<(), FieldError> {
        self.check_at(self.name, v)
    }

    /// Checks an optional field when present.
    pub fn check_some(&self, v: &Option<String>) -> Result<(), FieldError> {
        v.as_deref().map_or(Ok(()), |v| self.check(v))
    }

    /// Checks a list of at most [`MAX_LIST`] entries, naming each as
    /// `list[i]`.
    pub fn check_each(&self, list: &'static str, v: &[String]) -> Result<(), FieldError> {
        if v.len() > MAX_LIST {
            return Err(self.error(
                list,
                Problem::TooMany {
                    max: MAX_LIST,
                    found: v.len(),
                },
            ));
        }
        v.iter()
            .enumerate()
            .try_for_each(|(i, e)| self.check_at(&format!("{list}[{i}]"), e))
    }
}

fn email_shape(v: &str) -> bool {
    v.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
    })
}

/// Checks a position, size or time a client sends: the node stores it as a
/// signed 64-bit integer, so anything larger is refused rather than
/// wrapped into a negative number.
pub fn check_stored(field: &str, v: u64) -> Result<u64, FieldError> {
    if v > MAX_STORED {
        return Err(FieldError {
            field: field.to_string(),
            problem: Problem::TooLarge { max: MAX_STORED },
            code: ErrorCode::BadRequest,
        });
    }
    Ok(v)
}

/// A request whose fields are checked against their rules before anything
/// reads them.
pub trait Checked {
    fn check(&self) -> Result<(), FieldError>;
}

/// The rules as the API document states them, built from the same
/// [`Field`]s the checks use, so the document cannot promise less or more
/// than the server accepts.
#[cfg(feature = "openapi")]
pub mod schemas;

mod requests;

#[cfg(test)]
mod tests;

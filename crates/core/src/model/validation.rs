//! The checks shared by every kind of item, and the error they report: a field and a reason,
//! because publishers must be able to point at what to fix.

use super::ValidationError;
use crate::identity::MAX_ITEM_NAME_LEN;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub(super) const MAX_HOST_NAME_LEN: usize = 15;
/// MTU bounds: 68 is the IPv4 minimum (RFC 791), 65535 the largest a veth accepts.
pub(super) const MTU_MIN: u32 = 68;
pub(super) const MTU_MAX: u32 = 65535;

/// Logical names are key segments: non-empty, no '/', no whitespace or control characters.
pub(super) fn check_logical_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(field, "name is empty"));
    }
    if name.len() > MAX_ITEM_NAME_LEN {
        return Err(ValidationError::new(
            field,
            format!(
                "name is {} bytes long, the limit is {MAX_ITEM_NAME_LEN} (it goes in the link's alias)",
                name.len()
            ),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || c.is_whitespace() || is_invisible(*c))
    {
        return Err(ValidationError::new(
            field,
            format!("name '{}' contains {:?}", name.escape_debug(), c),
        ));
    }
    Ok(())
}

/// The kernel's own rule for interface names (`dev_valid_name`).
pub(super) fn check_host_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(field, "interface name is empty"));
    }
    if name.len() > MAX_HOST_NAME_LEN {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' is {} bytes long; Linux allows at most {MAX_HOST_NAME_LEN}",
                name.escape_debug(),
                name.len()
            ),
        ));
    }
    if name == "." || name == ".." {
        return Err(ValidationError::new(
            field,
            format!("'{name}' is not a valid interface name"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | ':') || c.is_whitespace() || is_invisible(*c))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' contains {:?}, which Linux does not allow in interface names",
                name.escape_debug(),
                c
            ),
        ));
    }
    Ok(())
}

/// Control and format characters (Unicode Cc and Cf: bidi overrides such as U+202E, zero-width
/// spaces, the BOM, soft hyphens, tags) print as nothing or reorder the text around them, so a
/// name holding one reads as another name in logs, `ip link` and explanations.
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{AD}'
                | '\u{600}'..='\u{605}'
                | '\u{61C}'
                | '\u{6DD}'
                | '\u{70F}'
                | '\u{890}'..='\u{891}'
                | '\u{8E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

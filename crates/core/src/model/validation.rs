//! The checks shared by every kind of item, and the error they report: a field and a reason,
//! because publishers must be able to point at what to fix.

use super::ValidationError;

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
    if name.len() > 255 {
        return Err(ValidationError::new(
            field,
            format!("name is {} bytes long, the limit is 255", name.len()),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || c.is_whitespace() || c.is_control())
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
        .find(|c| matches!(c, '/' | ':' | '\0') || c.is_whitespace())
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

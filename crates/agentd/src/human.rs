//! What `nsagentctl` shows people rather than programs: times in RFC 3339, item details that
//! carry them, and the `_at` fields of answers shown as trees.
//!
//! Times are logged and answered as milliseconds since the Unix epoch ([`Timestamp`]), which
//! programs compare and people cannot read. The JSON of every answer keeps them so (it is the
//! machine-readable form); the default, human output turns them into RFC 3339, in UTC with
//! milliseconds, so that a time reads the same on every host and sorts as text.

use nsagent_core::{ItemState, Timestamp};
use serde_json::Value;

/// Why a time has no RFC 3339 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// RFC 3339 has four digits for the year: a time after 9999-12-31T23:59:59.999Z (a log
    /// from a clock gone wild, or a wrong field) has no form in it.
    #[error("{0} ms since the Unix epoch is after the year 9999, which RFC 3339 cannot write")]
    OutOfRange(u64),
}

/// `t` in RFC 3339, UTC, with milliseconds: `2026-12-03T06:16:54.312Z`. The width is fixed
/// (no trimmed zeros), so that a column of times lines up.
pub fn rfc3339(t: Timestamp) -> Result<String, TimeError> {
    let nanos = i128::from(t.0) * 1_000_000;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|_| TimeError::OutOfRange(t.0))?;
    if at.year() > 9999 {
        return Err(TimeError::OutOfRange(t.0));
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    ))
}

/// `t` for a person: RFC 3339, or, for a time RFC 3339 cannot write, the raw milliseconds
/// saying so — a line of output is never lost to a bad time.
pub fn time_text(t: Timestamp) -> String {
    rfc3339(t).unwrap_or_else(|_| format!("{} ms since the epoch", t.0))
}

/// An item's state in words, as `status` and `replay` show it in `detail`: the core's own
/// words, with the time of a retry in RFC 3339 (the core has no clock and prints
/// milliseconds). `detail` is for people only; `state` and `explain` keep the numbers.
pub fn state_detail(state: &ItemState) -> String {
    match state {
        ItemState::Failed {
            error,
            attempts,
            retry_at: Some(t),
        } => format!(
            "failed after {attempts} attempt(s): {error} (retry at {})",
            time_text(*t)
        ),
        other => other.to_string(),
    }
}

/// Turns every number under a key that names a time (`at`, or ending in `_at`, as
/// `retry_at` does) in `value` into its [`time_text`], for an answer shown to a person as a
/// tree (`explain`). Strings, and numbers under other keys, are left as they are.
pub fn humanize_times(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let names_a_time = key == "at" || key.ends_with("_at");
                match v.as_u64() {
                    Some(ms) if names_a_time => *v = Value::String(time_text(Timestamp(ms))),
                    _ => humanize_times(v),
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(humanize_times),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_in_utc_with_milliseconds() {
        assert_eq!(
            rfc3339(Timestamp(1_796_148_352_540)),
            Ok("2026-12-01T18:05:52.540Z".to_string())
        );
        assert_eq!(
            rfc3339(Timestamp(0)),
            Ok("1970-01-01T00:00:00.000Z".to_string())
        );
        // Leap day, and the last millisecond RFC 3339 can write.
        assert_eq!(
            rfc3339(Timestamp(951_782_400_001)),
            Ok("2000-02-29T00:00:00.001Z".to_string())
        );
        assert_eq!(
            rfc3339(Timestamp(253_402_300_799_999)),
            Ok("9999-12-31T23:59:59.999Z".to_string())
        );
    }

    #[test]
    fn a_time_after_the_year_9999_is_an_error_and_shown_raw() {
        let after = Timestamp(253_402_300_800_000);
        assert_eq!(rfc3339(after), Err(TimeError::OutOfRange(after.0)));
        assert_eq!(
            rfc3339(Timestamp(u64::MAX)),
            Err(TimeError::OutOfRange(u64::MAX))
        );
        assert!(TimeError::OutOfRange(7).to_string().contains("9999"));
        assert_eq!(time_text(after), "253402300800000 ms since the epoch");
        assert_eq!(time_text(Timestamp(0)), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_retry_is_shown_at_its_time_and_other_states_in_the_cores_words() {
        let failed = |retry_at| ItemState::Failed {
            error: "create link d1: File exists (errno 17)".into(),
            attempts: 2,
            retry_at,
        };
        assert_eq!(
            state_detail(&failed(Some(Timestamp(1_796_148_352_540)))),
            "failed after 2 attempt(s): create link d1: File exists (errno 17) \
             (retry at 2026-12-01T18:05:52.540Z)"
        );
        // Everything but the time is the core's own text.
        let core = failed(Some(Timestamp(5))).to_string();
        assert!(
            core.starts_with(
                "failed after 2 attempt(s): create link d1: File exists (errno 17) (retry at "
            ),
            "{core}"
        );
        assert_eq!(state_detail(&failed(None)), failed(None).to_string());
        assert_eq!(state_detail(&ItemState::Applied), "applied");
        let pending = ItemState::Pending { reasons: vec![] };
        assert_eq!(state_detail(&pending), pending.to_string());
    }

    #[test]
    fn only_numbers_under_time_keys_become_times() {
        let mut v = serde_json::json!({
            "state": {"Failed": {"attempts": 3, "error": "x", "retry_at": 1_796_148_352_540_u64}},
            "records": [{"at": 0, "seq": 4}, {"at": null}],
            "last_seq": 9,
            "format": "at",
            "started_at": "already text",
        });
        humanize_times(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "state": {"Failed": {"attempts": 3, "error": "x", "retry_at": "2026-12-01T18:05:52.540Z"}},
                "records": [{"at": "1970-01-01T00:00:00.000Z", "seq": 4}, {"at": null}],
                "last_seq": 9,
                "format": "at",
                "started_at": "already text",
            })
        );
    }
}

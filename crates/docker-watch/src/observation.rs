//! What one look at a container tells the map: whether it is a microservice, and if it runs,
//! with which pid since when. Pure conversion of the daemon's inspect answer, kept apart from
//! the I/O so that every malformed answer has a test.

use bollard::models::ContainerInspectResponse;

use crate::error::ObservationError;

/// Environment variable that makes a container a microservice (vpp-agent's convention).
pub const ENV_LABEL: &str = "MICROSERVICE_LABEL";
/// Docker label that makes a container a microservice, for images whose environment the
/// operator cannot change.
pub const DOCKER_LABEL: &str = "nsagent.microservice";

/// When a container's current process started, in nanoseconds since the Unix epoch. It orders
/// duplicates (the newest wins), so it keeps the daemon's full precision: two containers
/// started in the same second must still be ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StartTime(pub i128);

impl StartTime {
    /// Parses the daemon's RFC 3339 timestamps (`2026-11-24T01:11:25.445978837Z`, any number of
    /// fraction digits, `Z` or a `±hh:mm` offset).
    pub fn parse(text: &str) -> Result<StartTime, ObservationError> {
        parse_rfc3339(text).ok_or_else(|| ObservationError::BadStartTime(text.to_string()))
    }
}

/// A container that runs a microservice, as seen at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub container_id: String,
    pub label: String,
    /// The container's init process as seen from the daemon's pid namespace.
    pub pid: u32,
    pub started_at: StartTime,
}

/// The verdict on one inspected container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspected {
    /// Neither the environment variable nor the Docker label names a microservice.
    NotMicroservice {
        container_id: String,
    },
    /// A microservice container that has no process (created, exited, restarting, dead): it has
    /// no namespace to enter.
    NotRunning {
        container_id: String,
    },
    Running(Observation),
}

impl Inspected {
    pub fn container_id(&self) -> &str {
        match self {
            Inspected::NotMicroservice { container_id } => container_id,
            Inspected::NotRunning { container_id } => container_id,
            Inspected::Running(obs) => &obs.container_id,
        }
    }
}

/// Reads a container's microservice label: the environment variable first (vpp-agent's
/// convention, and what existing deployments set), else the Docker label.
pub fn microservice_label(
    env: Option<&[String]>,
    labels: Option<&std::collections::HashMap<String, String>>,
) -> Option<String> {
    let from_env = env.and_then(|vars| {
        vars.iter().find_map(|var| {
            var.strip_prefix(ENV_LABEL)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string)
        })
    });
    from_env.or_else(|| labels.and_then(|l| l.get(DOCKER_LABEL).cloned()))
}

/// Turns the daemon's answer to `GET /containers/{id}/json` into a verdict.
pub fn inspect(resp: &ContainerInspectResponse) -> Result<Inspected, ObservationError> {
    let container_id = resp
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or(ObservationError::MissingId)?;
    let config = resp.config.as_ref();
    let label = microservice_label(
        config.and_then(|c| c.env.as_deref()),
        config.and_then(|c| c.labels.as_ref()),
    );
    let Some(label) = label else {
        return Ok(Inspected::NotMicroservice { container_id });
    };
    if label.is_empty() {
        return Err(ObservationError::EmptyLabel { container_id });
    }
    let state = resp
        .state
        .as_ref()
        .ok_or_else(|| ObservationError::MissingState {
            container_id: container_id.clone(),
        })?;
    let pid = state.pid.unwrap_or(0);
    // A restarting container reports running with pid 0: there is no process, so no namespace.
    if state.running != Some(true) || pid == 0 {
        return Ok(Inspected::NotRunning { container_id });
    }
    let pid = u32::try_from(pid).map_err(|_| ObservationError::BadPid {
        container_id: container_id.clone(),
        pid,
    })?;
    let started_at = match state.started_at.as_deref() {
        Some(text) => StartTime::parse(text)?,
        None => return Err(ObservationError::MissingStartTime { container_id }),
    };
    Ok(Inspected::Running(Observation {
        container_id,
        label,
        pid,
        started_at,
    }))
}

fn parse_rfc3339(text: &str) -> Option<StartTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value: i128 = frac[..digits].parse().ok()?;
        nanos = value * 10i128.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if ob[0] == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(StartTime(i128::from(secs) * 1_000_000_000 + nanos))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's well-known formula).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{ContainerConfig, ContainerState};

    use super::*;

    const T0: &str = "2026-11-24T01:11:25.445978837Z";

    fn response(
        env: &[&str],
        labels: &[(&str, &str)],
        running: bool,
        pid: i64,
        started: Option<&str>,
    ) -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("c0ffee".into()),
            config: Some(ContainerConfig {
                env: Some(env.iter().map(|s| s.to_string()).collect()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            }),
            state: Some(ContainerState {
                running: Some(running),
                pid: Some(pid),
                started_at: started.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running_ms(label: &str) -> ContainerInspectResponse {
        response(
            &["PATH=/bin", &format!("MICROSERVICE_LABEL={label}")],
            &[],
            true,
            42,
            Some(T0),
        )
    }

    #[test]
    fn env_variable_makes_a_microservice() {
        let verdict = inspect(&running_ms("ms1")).expect("valid");
        let Inspected::Running(obs) = verdict else {
            panic!("not running: {verdict:?}")
        };
        assert_eq!(
            (obs.container_id.as_str(), obs.label.as_str(), obs.pid),
            ("c0ffee", "ms1", 42)
        );
        assert_eq!(obs.started_at, StartTime::parse(T0).expect("time"));
    }

    #[test]
    fn docker_label_makes_a_microservice() {
        let resp = response(&["PATH=/bin"], &[(DOCKER_LABEL, "ms2")], true, 42, Some(T0));
        let verdict = inspect(&resp).expect("valid");
        assert!(
            matches!(&verdict, Inspected::Running(o) if o.label == "ms2"),
            "{verdict:?}"
        );
    }

    #[test]
    fn env_variable_wins_over_docker_label() {
        let env = ["MICROSERVICE_LABEL=from-env".to_string()];
        let labels = HashMap::from([(DOCKER_LABEL.to_string(), "from-label".to_string())]);
        assert_eq!(
            microservice_label(Some(&env), Some(&labels)).as_deref(),
            Some("from-env")
        );
    }

    #[test]
    fn similar_variable_names_are_not_the_label() {
        let env = [
            "MICROSERVICE_LABELS=x".to_string(),
            "XMICROSERVICE_LABEL=y".to_string(),
        ];
        assert_eq!(microservice_label(Some(&env), None), None);
    }

    #[test]
    fn label_value_may_contain_equal_signs() {
        let env = ["MICROSERVICE_LABEL=a=b".to_string()];
        assert_eq!(microservice_label(Some(&env), None).as_deref(), Some("a=b"));
    }

    #[test]
    fn container_without_label_is_not_a_microservice() {
        let resp = response(&["PATH=/bin"], &[("other", "x")], true, 42, Some(T0));
        assert_eq!(
            inspect(&resp),
            Ok(Inspected::NotMicroservice {
                container_id: "c0ffee".into()
            })
        );
        let bare = ContainerInspectResponse {
            id: Some("c0ffee".into()),
            ..Default::default()
        };
        assert_eq!(
            inspect(&bare),
            Ok(Inspected::NotMicroservice {
                container_id: "c0ffee".into()
            })
        );
    }

    #[test]
    fn stopped_microservice_is_not_running() {
        let resp = response(&["MICROSERVICE_LABEL=ms1"], &[], false, 0, Some(T0));
        assert_eq!(
            inspect(&resp),
            Ok(Inspected::NotRunning {
                container_id: "c0ffee".into()
            })
        );
    }

    #[test]
    fn restarting_microservice_without_pid_is_not_running() {
        let resp = response(&["MICROSERVICE_LABEL=ms1"], &[], true, 0, Some(T0));
        assert_eq!(
            inspect(&resp),
            Ok(Inspected::NotRunning {
                container_id: "c0ffee".into()
            })
        );
    }

    #[test]
    fn missing_id_is_an_error() {
        let mut resp = running_ms("ms1");
        resp.id = None;
        assert_eq!(inspect(&resp), Err(ObservationError::MissingId));
        resp.id = Some(String::new());
        assert_eq!(inspect(&resp), Err(ObservationError::MissingId));
    }

    #[test]
    fn empty_label_is_an_error() {
        let resp = response(&["MICROSERVICE_LABEL="], &[], true, 42, Some(T0));
        assert_eq!(
            inspect(&resp),
            Err(ObservationError::EmptyLabel {
                container_id: "c0ffee".into()
            })
        );
    }

    #[test]
    fn missing_state_is_an_error() {
        let mut resp = running_ms("ms1");
        resp.state = None;
        assert_eq!(
            inspect(&resp),
            Err(ObservationError::MissingState {
                container_id: "c0ffee".into()
            })
        );
    }

    #[test]
    fn pid_out_of_range_is_an_error() {
        for pid in [-1, i64::from(u32::MAX) + 1] {
            let resp = response(&["MICROSERVICE_LABEL=ms1"], &[], true, pid, Some(T0));
            assert_eq!(
                inspect(&resp),
                Err(ObservationError::BadPid {
                    container_id: "c0ffee".into(),
                    pid
                })
            );
        }
    }

    #[test]
    fn running_without_start_time_is_an_error() {
        let resp = response(&["MICROSERVICE_LABEL=ms1"], &[], true, 42, None);
        assert_eq!(
            inspect(&resp),
            Err(ObservationError::MissingStartTime {
                container_id: "c0ffee".into()
            })
        );
    }

    #[test]
    fn malformed_start_time_is_an_error() {
        let resp = response(
            &["MICROSERVICE_LABEL=ms1"],
            &[],
            true,
            42,
            Some("yesterday"),
        );
        assert_eq!(
            inspect(&resp),
            Err(ObservationError::BadStartTime("yesterday".into()))
        );
    }

    #[test]
    fn start_time_keeps_nanoseconds_and_trimmed_fractions_order_correctly() {
        let t = |s: &str| StartTime::parse(s).expect(s);
        assert_eq!(t("1970-01-01T00:00:00Z"), StartTime(0));
        assert_eq!(t("1970-01-01T00:00:01.5Z"), StartTime(1_500_000_000));
        assert_eq!(
            t("2000-03-01T00:00:00Z"),
            StartTime(951_868_800 * 1_000_000_000)
        );
        assert_eq!(t(T0).0 % 1_000_000_000, 445_978_837);
        // Go trims trailing zeros: .4 is later than .39, earlier than .45.
        assert!(t("2026-11-24T01:11:25.39Z") < t("2026-11-24T01:11:25.4Z"));
        assert!(t("2026-11-24T01:11:25.4Z") < t("2026-11-24T01:11:25.45Z"));
    }

    #[test]
    fn start_time_offsets_are_applied() {
        let t = |s: &str| StartTime::parse(s).expect(s);
        assert_eq!(t("2026-11-24T02:11:25+01:00"), t("2026-11-24T01:11:25Z"));
        assert_eq!(t("2026-11-23T20:41:25-04:30"), t("2026-11-24T01:11:25Z"));
        // Docker's zero time for a container that never ran parses (far in the past).
        assert!(t("0001-01-01T00:00:00Z") < StartTime(0));
    }

    #[test]
    fn invalid_start_times_are_rejected() {
        for bad in [
            "",
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T01:60:00Z",
            "2026-11-24T01:11:25",
            "2026-11-24T01:11:25.Z",
            "2026-11-24T01:11:25.1234567890Z",
            "2026-11-24T01:11:25+0100",
            "2026-11-24T01:11:25+24:00",
            "2026-1a-24T01:11:25Z",
            "+026-11-24T01:11:25Z",
        ] {
            assert_eq!(
                StartTime::parse(bad),
                Err(ObservationError::BadStartTime(bad.into())),
                "{bad:?}"
            );
        }
        assert!(StartTime::parse("2024-02-29T00:00:00Z").is_ok(), "leap day");
    }
}

//! Connecting to NATS with the credentials either binary was given.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// How to authenticate to the NATS server and which CA to trust.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct NatsAuth {
    /// User name (with --nats-password).
    #[arg(long = "nats-user", env = "NSAGENT_NATS_USER")]
    pub user: Option<String>,
    #[arg(
        long = "nats-password",
        env = "NSAGENT_NATS_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    #[arg(
        long = "nats-token",
        env = "NSAGENT_NATS_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A `.creds` file (JWT and NKey seed).
    #[arg(long = "nats-creds", env = "NSAGENT_NATS_CREDS")]
    pub creds: Option<PathBuf>,
    /// PEM file of the CA that signed the server's certificate; implies TLS.
    #[arg(long = "nats-tls-ca", env = "NSAGENT_NATS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

impl NatsAuth {
    /// Fills what is unset here from `other` (command line over config file).
    pub fn or(self, other: NatsAuth) -> NatsAuth {
        NatsAuth {
            user: self.user.or(other.user),
            password: self.password.or(other.password),
            token: self.token.or(other.token),
            creds: self.creds.or(other.creds),
            tls_ca: self.tls_ca.or(other.tls_ca),
        }
    }
}

/// Why no NATS client could be made: bad credentials settings, or (when waiting) no server.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("--nats-user and --nats-password go together")]
    HalfUserPassword,
    #[error("reading credentials file {path}: {source}")]
    Creds {
        path: String,
        source: std::io::Error,
    },
    #[error("connecting to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
}

/// Connects to `url`. With `wait`, fails if the server cannot be reached now; without, a
/// server that answers and refuses the credentials (or the TLS set-up) is still an error at
/// once, since waiting cannot mend it, while a server that does not answer is waited for in the
/// background (the daemon must start even while NATS is down). Either way the client
/// reconnects by itself for ever after a connection is lost.
pub async fn connect(
    url: &str,
    auth: &NatsAuth,
    name: &str,
    wait: bool,
) -> Result<async_nats::Client, ConnectError> {
    let failed = |source| ConnectError::Connect {
        url: url.to_string(),
        source,
    };
    match options(auth, name).await?.connect(url).await {
        Ok(client) => Ok(client),
        Err(e) if wait || is_refusal(e.kind()) => Err(failed(e)),
        Err(e) => {
            tracing::warn!(url, error = %e, "NATS is not reachable yet; retrying in the background");
            options(auth, name)
                .await?
                .retry_on_initial_connect()
                .connect(url)
                .await
                .map_err(failed)
        }
    }
}

/// Errors that mean the server is there and will not have us as configured.
fn is_refusal(kind: async_nats::ConnectErrorKind) -> bool {
    use async_nats::ConnectErrorKind as K;
    matches!(
        kind,
        K::AuthorizationViolation | K::Authentication | K::Tls | K::ServerParse
    )
}

/// How long to wait before connection attempt `attempts` (async-nats counts from 1, the first
/// connect included): nothing before the first, which every `nsagentctl` call and every agent
/// start makes (it cost them 100 ms each), then 100 ms more per attempt, at most 2 s.
fn reconnect_delay(attempts: usize) -> Duration {
    let waited = attempts.saturating_sub(1) as u64;
    Duration::from_millis((waited * 100).min(2_000))
}

async fn options(auth: &NatsAuth, name: &str) -> Result<async_nats::ConnectOptions, ConnectError> {
    let reports = ErrorReports::default();
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .client_capacity(65_536)
        .subscription_capacity(262_144)
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            let reports = reports.clone();
            async move { reports.log(event) }
        });
    match (&auth.user, &auth.password) {
        (Some(u), Some(p)) => options = options.user_and_password(u.clone(), p.clone()),
        (None, None) => {}
        _ => return Err(ConnectError::HalfUserPassword),
    }
    if let Some(token) = &auth.token {
        options = options.token(token.clone());
    }
    if let Some(path) = &auth.creds {
        options = options
            .credentials_file(path)
            .await
            .map_err(|source| ConnectError::Creds {
                path: path.display().to_string(),
                source,
            })?;
    }
    if let Some(ca) = &auth.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    Ok(options)
}

/// How often the same kind of connection error is logged at most, after its first time: a
/// server that refuses the agent's credentials answers every reconnect attempt the same way.
const ERROR_REPORT_EVERY: Duration = Duration::from_secs(30);

/// Logs the client's connection events: errors at ERROR, but the same error again only after
/// [`ERROR_REPORT_EVERY`], with how many were held back.
#[derive(Clone, Default)]
struct ErrorReports(std::sync::Arc<std::sync::Mutex<Option<HeldBack>>>);

struct HeldBack {
    what: String,
    since: std::time::Instant,
    count: u64,
}

impl ErrorReports {
    fn log(&self, event: async_nats::Event) {
        use async_nats::Event as E;
        match event {
            E::Connected => tracing::info!("connected to NATS"),
            E::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
            E::ServerError(_) | E::ClientError(_) | E::SlowConsumer(_) => {
                if let Some(held) = self.admit(event.to_string(), std::time::Instant::now()) {
                    tracing::error!(error = %event, held_back = held, "NATS connection error");
                }
            }
            other => tracing::info!(event = %other, "NATS"),
        }
    }

    /// Whether `what` is to be logged now; if so, how many reports of it were held back since
    /// the last one.
    fn admit(&self, what: String, now: std::time::Instant) -> Option<u64> {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match last.as_mut() {
            Some(h) if h.what == what && now.duration_since(h.since) < ERROR_REPORT_EVERY => {
                h.count += 1;
                None
            }
            Some(h) if h.what == what => {
                let held = h.count;
                *h = HeldBack {
                    what,
                    since: now,
                    count: 0,
                };
                Some(held)
            }
            _ => {
                *last = Some(HeldBack {
                    what,
                    since: now,
                    count: 0,
                });
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_connect_is_not_delayed_and_retries_back_off_to_two_seconds() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(100));
        assert_eq!(reconnect_delay(5), Duration::from_millis(400));
        assert_eq!(reconnect_delay(1_000), Duration::from_secs(2));
        assert_eq!(reconnect_delay(0), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_user_without_password_is_refused_before_connecting() {
        let auth = NatsAuth {
            user: Some("u".into()),
            ..NatsAuth::default()
        };
        let err = connect("nats://127.0.0.1:1", &auth, "t", true)
            .await
            .expect_err("half");
        assert!(matches!(err, ConnectError::HalfUserPassword));
    }

    #[tokio::test]
    async fn a_missing_creds_file_names_the_file() {
        let auth = NatsAuth {
            creds: Some("/nonexistent/x.creds".into()),
            ..NatsAuth::default()
        };
        let err = connect("nats://127.0.0.1:1", &auth, "t", true)
            .await
            .expect_err("creds");
        assert!(err.to_string().contains("/nonexistent/x.creds"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_when_waiting() {
        let err = connect("nats://127.0.0.1:1", &NatsAuth::default(), "t", true)
            .await
            .expect_err("down");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    }

    #[test]
    fn the_same_connection_error_is_reported_once_per_interval_with_a_count() {
        let r = ErrorReports::default();
        let t0 = std::time::Instant::now();
        let auth = "server error: authorization violation".to_string();
        assert_eq!(r.admit(auth.clone(), t0), Some(0));
        for i in 1..=5 {
            assert_eq!(
                r.admit(auth.clone(), t0 + Duration::from_millis(500 * i)),
                None
            );
        }
        // Another error is news at once; the first one again is held back no longer.
        assert_eq!(
            r.admit("other".into(), t0 + Duration::from_secs(3)),
            Some(0)
        );
        assert_eq!(r.admit(auth.clone(), t0 + Duration::from_secs(4)), Some(0));
        assert_eq!(r.admit(auth.clone(), t0 + Duration::from_secs(5)), None);
        assert_eq!(r.admit(auth, t0 + Duration::from_secs(40)), Some(1));
    }

    #[test]
    fn refusals_are_told_apart_from_a_server_that_is_not_there() {
        use async_nats::ConnectErrorKind as K;
        assert!(is_refusal(K::AuthorizationViolation));
        assert!(is_refusal(K::Tls));
        assert!(!is_refusal(K::Io));
        assert!(!is_refusal(K::TimedOut));
    }

    #[test]
    fn command_line_values_win_over_the_file() {
        let cli = NatsAuth {
            token: Some("cli".into()),
            ..NatsAuth::default()
        };
        let file = NatsAuth {
            token: Some("file".into()),
            user: Some("u".into()),
            ..NatsAuth::default()
        };
        let merged = cli.or(file);
        assert_eq!(merged.token.as_deref(), Some("cli"));
        assert_eq!(merged.user.as_deref(), Some("u"));
    }
}

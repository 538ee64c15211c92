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

/// Connects to `url`. With `wait`, fails if the server cannot be reached now; without, returns at
/// once and keeps trying in the background (the daemon must start even while NATS is down).
/// Either way the client reconnects by itself for ever after a connection is lost.
pub async fn connect(
    url: &str,
    auth: &NatsAuth,
    name: &str,
    wait: bool,
) -> Result<async_nats::Client, ConnectError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .client_capacity(65_536)
        .subscription_capacity(262_144)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64 * 100).min(2_000))
        });
    if !wait {
        options = options.retry_on_initial_connect();
    }
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
    options
        .connect(url)
        .await
        .map_err(|source| ConnectError::Connect {
            url: url.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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

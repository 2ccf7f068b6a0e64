//! Key material: the JWT signing key and the master key for secrets at rest.
//!
//! Bound beyond loopback, both must come from configuration and must not be the template's
//! placeholders: the service refuses to start otherwise. On loopback (a developer running
//! `cargo run`), missing keys are generated once and persisted in `security.dev_keys_file`
//! (mode 0600) so tokens and encrypted settings survive restarts.

use crate::config::Settings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub struct Keys {
    pub jwt: SecretString,
    pub master: SecretBox<[u8; 32]>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "config key `{key}` is missing or a placeholder; set {env} to a random value ({hint}); \
         it is required because server.host ({host}) is not loopback"
    )]
    Required {
        key: &'static str,
        env: &'static str,
        hint: &'static str,
        host: String,
    },
    #[error(
        "config key `security.master_key`: must be base64 of exactly 32 bytes (`openssl rand -base64 32`)"
    )]
    BadMasterKey,
    #[error("development key file {path}: {reason}")]
    DevFile { path: String, reason: String },
}

/// True for the values shipped in `.env.template` and other obvious stand-ins.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v.is_empty()
        || v.starts_with("change-me")
        || v.starts_with("changeme")
        || v == "secret"
        || v == "placeholder"
}

pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[derive(Serialize, Deserialize)]
struct DevKeys {
    jwt_secret: String,
    master_key: String,
}

pub fn resolve(settings: &Settings) -> Result<Keys, KeyError> {
    let host = &settings.server.host;
    let jwt_cfg = settings.auth.jwt_secret.expose();
    let master_cfg = settings.security.master_key.expose();
    let need_dev = is_placeholder(jwt_cfg) || is_placeholder(master_cfg);
    if need_dev && !is_loopback(host) {
        return Err(if is_placeholder(jwt_cfg) {
            KeyError::Required {
                key: "auth.jwt_secret",
                env: "APP__AUTH__JWT_SECRET",
                hint: "`openssl rand -base64 48`",
                host: host.clone(),
            }
        } else {
            KeyError::Required {
                key: "security.master_key",
                env: "APP__SECURITY__MASTER_KEY",
                hint: "`openssl rand -base64 32`",
                host: host.clone(),
            }
        });
    }
    let dev = if need_dev {
        Some(dev_keys(Path::new(&settings.security.dev_keys_file))?)
    } else {
        None
    };
    let jwt = match (&dev, is_placeholder(jwt_cfg)) {
        (Some(d), true) => d.jwt_secret.clone(),
        _ => jwt_cfg.to_owned(),
    };
    let master_b64 = match (&dev, is_placeholder(master_cfg)) {
        (Some(d), true) => d.master_key.clone(),
        _ => master_cfg.to_owned(),
    };
    let master: [u8; 32] = STANDARD
        .decode(master_b64.trim())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .ok_or(KeyError::BadMasterKey)?;
    Ok(Keys {
        jwt: SecretString::from(jwt),
        master: SecretBox::new(Box::new(master)),
    })
}

fn dev_keys(path: &Path) -> Result<DevKeys, KeyError> {
    let err = |reason: String| KeyError::DevFile {
        path: path.display().to_string(),
        reason,
    };
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        return serde_json::from_str(&text).map_err(|e| err(e.to_string()));
    }
    let keys = DevKeys {
        jwt_secret: STANDARD.encode(rand::random::<[u8; 48]>()),
        master_key: STANDARD.encode(rand::random::<[u8; 32]>()),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let text = serde_json::to_string_pretty(&keys).map_err(|e| err(e.to_string()))?;
    write_private(path, &text).map_err(|e| err(e.to_string()))?;
    tracing::warn!(
        file = %path.display(),
        "generated development keys (loopback only); set APP__AUTH__JWT_SECRET and APP__SECURITY__MASTER_KEY before exposing the service"
    );
    Ok(keys)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(text.as_bytes())
}

impl Keys {
    pub fn master(&self) -> &[u8; 32] {
        self.master.expose_secret()
    }
}

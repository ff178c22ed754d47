//! HTTPS for `scimap serve`: a certificate chain and its key read from PEM files, and
//! read again on SIGHUP or when either file changes, so that a renewed certificate is
//! served without a restart. A reload that fails keeps the certificate being served.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Why a certificate or key cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read the certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the private key {key} does not belong to the certificate {certificate}")]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error("the certificate {path} cannot be served: {reason}")]
    Rejected { path: PathBuf, reason: String },
    #[error("the certificate {path} expired at {expired}: renew it")]
    Expired { path: PathBuf, expired: String },
    #[error("the certificate {path} is not valid before {from}")]
    NotYetValid { path: PathBuf, from: String },
}

/// The certificate files, and the TLS configuration made from them last.
pub struct Certificates {
    certificate: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<ServerConfig>, Option<SystemTime>)>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("certificate", &self.certificate)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads the chain (the server's certificate first) and its key, both PEM.
    pub fn load(certificate: &Path, key: &Path) -> Result<Certificates, TlsError> {
        let config = read(certificate, key)?;
        Ok(Certificates {
            certificate: certificate.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((config, changed(certificate, key))),
        })
    }

    /// The acceptor for a new connection, with the configuration served now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        TlsAcceptor::from(current.0.clone())
    }

    /// Reads the files again; on failure the certificate being served stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = read(&self.certificate, &self.key)?;
        let stamp = changed(&self.certificate, &self.key);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (config, stamp);
        Ok(())
    }

    /// Reloads when either file changed since the last load.
    fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let stamp = changed(&self.certificate, &self.key);
        let last = self.current.read().unwrap_or_else(|p| p.into_inner()).1;
        (stamp != last).then(|| self.reload())
    }

    /// Reloads on SIGHUP, and when a file changes (looked at every `every`), until the
    /// process ends; each outcome is logged.
    pub async fn watch(self: Arc<Certificates>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let outcome = match hangup.as_mut() {
                Some(hangup) => tokio::select! {
                    _ = hangup.recv() => Some(self.reload()),
                    _ = tick.tick() => self.reload_if_changed(),
                },
                None => {
                    tick.tick().await;
                    self.reload_if_changed()
                }
            };
            #[cfg(not(unix))]
            let outcome = {
                tick.tick().await;
                self.reload_if_changed()
            };
            match outcome {
                Some(Ok(())) => tracing::info!(
                    "TLS certificate reloaded from {}",
                    self.certificate.display()
                ),
                Some(Err(e)) => tracing::error!("{e}; the certificate served so far stays"),
                None => {}
            }
        }
    }
}

/// The later of the two files' modification times.
fn changed(certificate: &Path, key: &Path) -> Option<SystemTime> {
    let time = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    time(certificate).max(time(key))
}

fn read(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let bad_certificate = |reason: String| TlsError::Certificate {
        path: certificate.to_path_buf(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| bad_certificate(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad_certificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(bad_certificate("no PEM certificate in it".into()));
    }
    let (from, until) = validity(&chain[0])
        .ok_or_else(|| bad_certificate("its validity period cannot be read".into()))?;
    let now = jiff::Timestamp::now();
    if now > until {
        return Err(TlsError::Expired {
            path: certificate.to_path_buf(),
            expired: until.to_string(),
        });
    }
    if now < from {
        return Err(TlsError::NotYetValid {
            path: certificate.to_path_buf(),
            from: from.to_string(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(private.clone_key())
        .map_err(|e| TlsError::Key {
            path: key.to_path_buf(),
            reason: e.to_string(),
        })?;
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing);
    if certified.keys_match().is_err() {
        return Err(TlsError::Mismatch {
            certificate: certificate.to_path_buf(),
            key: key.to_path_buf(),
        });
    }
    let rejected = |e: rustls::Error| TlsError::Rejected {
        path: certificate.to_path_buf(),
        reason: e.to_string(),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(rejected)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate's `notBefore` and `notAfter` (RFC 5280 §4.1.2.5): read from its DER by
/// walking `Certificate`, `TBSCertificate` (an explicit version, the serial number, the
/// signature algorithm, the issuer) to `Validity`.
fn validity(certificate: &[u8]) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
    let (_, certificate, _) = element(certificate)?;
    let (_, mut tbs, _) = element(certificate)?;
    let (tag, _, rest) = element(tbs)?;
    if tag == 0xA0 {
        tbs = rest;
    }
    for _ in 0..3 {
        tbs = element(tbs)?.2; // serial, signature algorithm, issuer
    }
    let (_, validity, _) = element(tbs)?;
    let (from_tag, from, rest) = element(validity)?;
    let (until_tag, until, _) = element(rest)?;
    Some((time(from_tag, from)?, time(until_tag, until)?))
}

/// One DER element: its tag, its contents and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = match first {
        short if short < 0x80 => (usize::from(short), rest),
        long => {
            let bytes = usize::from(long & 0x7F);
            if bytes == 0 || bytes > 4 || rest.len() < bytes {
                return None;
            }
            let length = rest[..bytes]
                .iter()
                .fold(0usize, |n, b| n << 8 | usize::from(*b));
            (length, &rest[bytes..])
        }
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950 to 2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`).
fn time(tag: u8, text: &[u8]) -> Option<jiff::Timestamp> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match (tag, text.len()) {
        (0x17, 12) => {
            let year: u32 = text[..2].parse().ok()?;
            let century = if year >= 50 { "19" } else { "20" };
            format!("{century}{text}")
        }
        (0x18, 14) => text.to_string(),
        _ => return None,
    };
    let (date, clock) = full.split_at(8);
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &clock[..2],
        &clock[2..4],
        &clock[4..]
    );
    iso.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_elements_and_times() {
        assert_eq!(
            element(&[0x30, 0x02, 0x01, 0x00, 0xFF]),
            Some((0x30, &[1u8, 0][..], &[0xFFu8][..]))
        );
        assert_eq!(
            element(&[0x30, 0x81, 0x01, 0x05]),
            Some((0x30, &[5u8][..], &[][..]))
        );
        assert_eq!(element(&[0x30, 0x05, 0x01]), None, "shorter than it says");
        assert_eq!(element(&[0x30, 0x80]), None, "indefinite length is not DER");
        assert_eq!(
            time(0x17, b"491231235959Z").unwrap().to_string(),
            "2049-12-31T23:59:59Z"
        );
        assert_eq!(
            time(0x17, b"500101000000Z").unwrap().to_string(),
            "1950-01-01T00:00:00Z"
        );
        assert_eq!(
            time(0x18, b"20991231000000Z").unwrap().to_string(),
            "2099-12-31T00:00:00Z"
        );
        assert_eq!(time(0x17, b"5001010000Z"), None);
        assert_eq!(time(0x17, "5001010000é0Z".as_bytes()), None);
        assert_eq!(validity(&[0x30, 0x00]), None);
    }
}

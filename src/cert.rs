//! `recall cert`: a certificate authority and a certificate it signed, for TLS in a lab
//! (Kamailio's tls module, recall's `tls:` listener, baresip). Real deployments use
//! certificates from their own CA; this only makes trying TLS easy and tests reproducible.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use thiserror::Error;
use time::{Duration, OffsetDateTime};

/// The names a lab certificate carries unless told otherwise.
pub const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why the files could not be made.
#[derive(Debug, Error)]
pub enum CertError {
    /// A name that cannot go in a certificate.
    #[error("--name {0:?}: not a DNS name or an IP address")]
    Name(String),
    /// A file is already there (it is not overwritten: it may be someone's key).
    #[error("{0} exists; remove it or choose another --out")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Generating or signing failed.
    #[error("cannot make the certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Writes `ca.pem`, `cert.pem` and `key.pem` into `out` (made if missing): a CA, and a
/// certificate it signed for `names` (server and client use), valid from yesterday for two
/// years. Returns the files written.
pub fn write(out: &Path, names: &[String]) -> Result<Vec<PathBuf>, CertError> {
    let names: Vec<String> = if names.is_empty() {
        DEFAULT_NAMES.iter().map(|n| (*n).to_owned()).collect()
    } else {
        names.to_vec()
    };
    if let Some(bad) = names.iter().find(|n| !is_name(n)) {
        return Err(CertError::Name(bad.clone()));
    }
    let files: Vec<PathBuf> = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .map(|f| out.join(f))
        .collect();
    if let Some(existing) = files.iter().find(|f| f.exists()) {
        return Err(CertError::Exists(existing.clone()));
    }
    let now = OffsetDateTime::now_utc();
    let (from, until) = (now - Duration::days(1), now + Duration::days(730));

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Each CA gets its own name: two labs' CAs must not look like one issuer.
    let serial = now.unix_timestamp_nanos() ^ i128::from(std::process::id());
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("recall lab CA {:x}", serial & 0xffff_ffff_ffff),
    );
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = from;
    ca.not_after = until;
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(Vec::<String>::new())?;
    for name in &names {
        let san = CertificateParams::new(vec![name.clone()])?;
        leaf.subject_alt_names.extend(san.subject_alt_names);
    }
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf.not_before = from;
    leaf.not_after = until;
    let key = KeyPair::generate()?;
    let cert = leaf.signed_by(&key, &issuer)?;

    std::fs::create_dir_all(out).map_err(|source| CertError::Write {
        path: out.to_owned(),
        source,
    })?;
    let contents = [ca_cert.pem(), cert.pem(), key.serialize_pem()];
    for (path, text) in files.iter().zip(contents) {
        write_file(path, &text, path.ends_with("key.pem"))?;
    }
    Ok(files)
}

/// An IP address, or a DNS name (labels of letters, digits and inner hyphens; `*.` first for
/// a wildcard).
fn is_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<(), CertError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| CertError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_a_certificate_and_a_private_key_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("recall-cert-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = write(&dir, &[]).expect("written");
        let ca = std::fs::read_to_string(&files[0]).expect("ca");
        let cert = std::fs::read_to_string(&files[1]).expect("cert");
        let key = std::fs::read_to_string(&files[2]).expect("key");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.contains("PRIVATE KEY"));
        assert_ne!(ca, cert);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[2])
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key.pem is private");
        assert!(matches!(write(&dir, &[]), Err(CertError::Exists(_))));
        assert!(matches!(
            write(&dir.join("bad"), &["not a name!".to_owned()]),
            Err(CertError::Name(_))
        ));
        assert!(!dir.join("bad").exists(), "nothing written for a bad name");
        assert!(is_name("pbx.example.com") && is_name("::1") && is_name("*.example.com"));
        assert!(!is_name("-x.example") && !is_name("a..b") && !is_name(""));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The trust store on disk: trust anchors and CRLs from files or folders, and the untrusted list.

use std::path::Path;

use pki::Certificate;
use pki::containers;
use pki::crl::Crl;

use crate::config::PkiConfig;

/// Why the live validator could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("pki.trust_anchors: cannot read {path}: {source}")]
    Anchors {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("pki.untrusted_list: cannot read {path}: {source}")]
    Untrusted {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("pki.untrusted_list: line {line} is not a SHA-256 fingerprint")]
    UntrustedLine { line: usize },
}

/// Every certificate in a file, or in every file of a folder (unreadable files are skipped
/// with a warning: one stray README must not take the trust store down).
pub fn load_certificates(path: &Path) -> std::io::Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for file in files_of(path)? {
        let bytes = std::fs::read(&file)?;
        match containers::certificates_in(&bytes) {
            Ok(list) => {
                for der in list {
                    match Certificate::from_der(&der) {
                        Ok(c) => out.push(c),
                        Err(e) => tracing::warn!("{}: skipped a certificate: {e}", file.display()),
                    }
                }
            }
            Err(e) => tracing::warn!("{}: no certificate read: {e}", file.display()),
        }
    }
    Ok(out)
}

/// Every CRL in a file or folder (PEM or DER).
pub fn load_crls(path: &Path) -> std::io::Result<Vec<Crl>> {
    let mut out = Vec::new();
    for file in files_of(path)? {
        let bytes = std::fs::read(&file)?;
        let ders = if containers::is_pem(&bytes) {
            containers::pem_blocks(&bytes, "X509 CRL")
        } else {
            vec![bytes]
        };
        for der in ders {
            match Crl::from_der(&der) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!("{}: skipped a CRL: {e}", file.display()),
            }
        }
    }
    Ok(out)
}

fn files_of(path: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_owned()])
    }
}

/// Reads an untrusted list: SHA-256 fingerprints in hex (colons and spaces allowed), `#`
/// starting a comment.
pub fn parse_untrusted(text: &str) -> Result<Vec<[u8; 32]>, SetupError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let hex: String = line
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        if hex.is_empty() {
            continue;
        }
        let bad = || SetupError::UntrustedLine { line: i + 1 };
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut fp = [0u8; 32];
        for (k, byte) in fp.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).map_err(|_| bad())?;
        }
        out.push(fp);
    }
    Ok(out)
}

/// What is trusted and distrusted.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub anchors: Vec<Certificate>,
    pub untrusted: Vec<[u8; 32]>,
}

impl Trust {
    pub fn load(settings: &PkiConfig) -> Result<Self, SetupError> {
        let anchors = match &settings.trust_anchors {
            Some(path) => load_certificates(path).map_err(|source| SetupError::Anchors {
                path: path.clone(),
                source,
            })?,
            None => Vec::new(),
        };
        let untrusted = match &settings.untrusted_list {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SetupError::Untrusted {
                        path: path.clone(),
                        source,
                    })?;
                parse_untrusted(&text)?
            }
            None => Vec::new(),
        };
        Ok(Self { anchors, untrusted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_list_accepts_colons_and_comments_and_names_bad_lines() {
        let fp = "AB:".repeat(31) + "AB";
        let text = format!("# distrusted\n{fp}  # old CA\n\n");
        assert_eq!(parse_untrusted(&text).unwrap(), vec![[0xab; 32]]);
        let err = parse_untrusted("# x\nnot-hex\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}

//! Downstream TLS: certificates chosen by SNI, replaceable while the edge runs.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Loads a PEM certificate chain and private key into a signing key for rustls.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(
        File::open(cert).map_err(|e| format!("cannot open certificate {}: {e}", cert.display()))?,
    ))
    .collect::<Result<_, _>>()
    .map_err(|e| format!("certificate {} is not valid PEM: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", cert.display()));
    }
    let key_der = rustls_pemfile::private_key(&mut BufReader::new(
        File::open(key).map_err(|e| format!("cannot open key {}: {e}", key.display()))?,
    ))
    .map_err(|e| format!("key {} is not valid PEM: {e}", key.display()))?
    .ok_or_else(|| format!("no private key found in {}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| format!("key {} is not usable: {e}", key.display()))?;
    let ck = CertifiedKey::new(certs, signing);
    ck.keys_match().map_err(|e| {
        format!(
            "key {} does not match certificate {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(Arc::new(ck))
}

/// The certificates by hostname; wildcard entries are stored under `*.parent`.
#[derive(Default)]
pub struct CertTable {
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl CertTable {
    /// Adds a certificate for a host pattern (`a.example` or `*.a.example`).
    pub fn insert(&mut self, pattern: &str, key: Arc<CertifiedKey>) {
        self.by_name.insert(pattern.to_string(), key);
    }

    fn find(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        let sni = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.by_name.get(&sni) {
            return Some(k.clone());
        }
        let (_, parent) = sni.split_once('.')?;
        self.by_name.get(&format!("*.{parent}")).cloned()
    }
}

/// A rustls certificate resolver whose table is swapped on reload: handshakes in flight keep
/// the certificate they started with, new ones get the new table.
#[derive(Default)]
pub struct SniResolver {
    table: ArcSwap<CertTable>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("names", &self.table.load().by_name.len())
            .finish()
    }
}

impl SniResolver {
    /// Replaces the whole table.
    pub fn replace(&self, table: CertTable) {
        self.table.store(Arc::new(table));
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // No SNI: no certificate. Serving some customer's certificate to a client that did not
        // say which site it wants would leak which sites share this edge.
        let sni = hello.server_name()?;
        self.table.load().find(sni)
    }
}

//! Who is asking: sessions (cookie + CSRF token), API tokens (Bearer), edges (Bearer, checked
//! against configured SHA-256 hashes), and role checks.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::http::{header, HeaderMap};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::error::DeskError;
use crate::store::{Role, UserRow};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "rempart_session";
/// The login form's double-submit CSRF cookie.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "rempart_login_csrf";
/// Session lifetime.
pub(crate) const SESSION_HOURS: i64 = 8;

/// Hashes a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256, hex: how random tokens are stored.
pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Constant-time string equality.
pub(crate) fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A `Set-Cookie` value with the desk's attributes.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// How the user authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// Session cookie: state-changing requests need the CSRF token.
    Session,
    /// API token.
    Token,
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    pub(crate) user: UserRow,
    pub(crate) csrf: String,
    pub(crate) via: Via,
}

impl CurrentUser {
    pub(crate) fn actor_name(&self) -> String {
        format!("user:{}", self.user.username)
    }

    /// Refuses unless the user's role is at least `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), DeskError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(DeskError::Forbidden(match role {
                Role::Customer => "customers only",
                Role::Moderator => "moderators only",
                Role::Analyst => "analysts only",
                Role::SeniorAnalyst => "senior analysts only",
                Role::Admin => "admins only",
            }))
        }
    }

    /// Refuses a state change whose CSRF token does not match the session's (API tokens are
    /// not sent by browsers on their own, so they need none).
    pub(crate) fn check_csrf(&self, sent: Option<&str>) -> Result<(), DeskError> {
        match self.via {
            Via::Token => Ok(()),
            Via::Session if sent.is_some_and(|s| ct_eq(s, &self.csrf)) => Ok(()),
            Via::Session => Err(DeskError::Forbidden("missing or wrong CSRF token")),
        }
    }

    /// Whether the user may see notifiers' identities.
    pub(crate) fn sees_identities(&self) -> bool {
        self.user.role >= Role::SeniorAnalyst
    }
}

/// Authenticates a request by API token or session cookie, and checks its role.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    role: Role,
) -> Result<CurrentUser, DeskError> {
    let user = if let Some(token) = bearer(headers) {
        let user = state
            .store
            .user_by_api_token(&sha256_hex(token))
            .await?
            .ok_or(DeskError::Unauthenticated)?;
        CurrentUser {
            user,
            csrf: String::new(),
            via: Via::Token,
        }
    } else {
        let token = cookie(headers, SESSION_COOKIE).ok_or(DeskError::Unauthenticated)?;
        let s = state
            .store
            .session(&sha256_hex(token), state.now_ms())
            .await?
            .ok_or(DeskError::Unauthenticated)?;
        CurrentUser {
            user: s.user,
            csrf: s.csrf,
            via: Via::Session,
        }
    };
    user.require(role)?;
    Ok(user)
}

/// Checks an edge's Bearer token against every configured hash, in constant time.
pub(crate) fn edge_name(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let token = bearer(headers)?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let mut found = None;
    for (name, hash) in &state.config.edge_tokens {
        if bool::from(digest.ct_eq(hash)) {
            found = Some(name.clone());
        }
    }
    found
}

//! Accounts, sessions and API tokens. Secrets are stored hashed: Argon2 for passwords,
//! SHA-256 for random session and API tokens.

use std::fmt;

use super::{get, new_id, Actor, Store, StoreError};

/// What an account may do. Ordered: each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A customer: sees and answers the notices and statements of its own zones, appeals.
    /// Below every analyst role, so that no analyst page admits it.
    Customer,
    /// Forum moderators' API clients: may only call `POST /api/v1/scan` (no case, report or
    /// evidence access).
    Moderator,
    /// Reviews cases, decides on single URLs, views evidence.
    Analyst,
    /// Also sees notifiers' identities, decides wider scopes, lifts decisions.
    SeniorAnalyst,
    /// Also manages accounts and API tokens.
    Admin,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Moderator => "moderator",
            Role::Analyst => "analyst",
            Role::SeniorAnalyst => "senior_analyst",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "moderator" => Some(Role::Moderator),
            "analyst" => Some(Role::Analyst),
            "senior_analyst" => Some(Role::SeniorAnalyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
}

/// A session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The account.
    pub user: UserRow,
    /// The session's CSRF token.
    pub csrf: String,
}

fn user_from(
    id: String,
    username: String,
    password_hash: String,
    role: String,
) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id,
        username,
        password_hash,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?,
    })
}

impl Store {
    /// Creates an account; fails with `Conflict` if the name is taken.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *w.tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("user '{username}' exists")));
        }
        let id = new_id("u_");
        sqlx::query("INSERT INTO users (id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(username)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(actor.at)
            .execute(&mut *w.tx)
            .await?;
        w.audit(
            actor,
            "user.created",
            &format!("user:{username}"),
            serde_json::json!({ "role": role.as_str() }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// The login names of the accounts with a role, oldest first.
    pub async fn usernames_with_role(&self, role: Role) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT username FROM users WHERE role = $1 ORDER BY created_at, username",
        )
        .bind(role.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// An account by login name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, username, password_hash, role FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(a, b, c, d)| user_from(a, b, c, d)).transpose()
    }

    /// Opens a session (audited as a login).
    pub async fn create_session(
        &self,
        token_hash: &str,
        user: &UserRow,
        csrf: &str,
        expires_at: i64,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(&user.id)
            .bind(csrf)
            .bind(actor.at)
            .bind(expires_at)
            .execute(&mut *w.tx)
            .await?;
        w.audit(
            actor,
            "user.login",
            &format!("user:{}", user.username),
            serde_json::json!({}),
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// The live session with this token hash.
    pub async fn session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.password_hash, u.role, s.csrf FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRow {
                user: user_from(
                    get(&r, "id")?,
                    get(&r, "username")?,
                    get(&r, "password_hash")?,
                    get(&r, "role")?,
                )?,
                csrf: get(&r, "csrf")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writes())
            .await?;
        Ok(())
    }

    /// Records an API token (its hash) for an account.
    pub async fn create_api_token(
        &self,
        token_hash: &str,
        user: &UserRow,
        label: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("INSERT INTO api_tokens (token_hash, user_id, label, created_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(&user.id)
            .bind(label)
            .bind(actor.at)
            .execute(&mut *w.tx)
            .await?;
        w.audit(
            actor,
            "api_token.created",
            &format!("user:{}", user.username),
            serde_json::json!({ "label": label }),
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// The account an API token belongs to.
    pub async fn user_by_api_token(&self, token_hash: &str) -> Result<Option<UserRow>, StoreError> {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT u.id, u.username, u.password_hash, u.role FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(a, b, c, d)| user_from(a, b, c, d)).transpose()
    }
}

//! The customer portal: customer accounts see the notices and statements of reasons of their
//! own zones, answer them, and appeal (DSA Art. 20) within the window.

use super::{hash_password, Desk};

impl Desk {
    /// Creates a customer account owning `zones` (apex hostnames, each with its subdomains),
    /// with a random password, which is returned. Statements of reasons go to `email`.
    pub async fn create_customer(
        &self,
        username: &str,
        email: &str,
        zones: &[String],
    ) -> anyhow::Result<String> {
        let password = super::auth::random_token(18);
        let hash = hash_password(&password)?;
        let state = self.state();
        state
            .store
            .create_customer(username, &hash, email, zones, &state.actor("system"))
            .await?;
        state.checkpoint().await;
        Ok(password)
    }
}

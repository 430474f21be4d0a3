//! A first case for the single-machine demo (`rempart up`): one report filed through the public
//! API and one decision restricting the reported URL, taken by the `system` actor, so that the
//! edge has something to enforce from its first second. Both are audited like any other.

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::store::NewDecision;
use crate::web::Desk;

impl Desk {
    /// Files a demo doxxing report about `url` and restricts that URL, unless the desk already
    /// has a policy (so restarting the demo does not pile up decisions).
    pub async fn seed_demo(&self, url: &str) -> anyhow::Result<()> {
        let state = self.state();
        if state.store.latest_policy_version().await?.is_some() {
            return Ok(());
        }
        let body = serde_json::json!({
            "urls": [url],
            "category": "doxxing",
            "explanation": "Demo report: the post publishes a private person's home address and asks readers to go there.",
            "notifier_name": "Demo notifier",
            "notifier_email": "notifier@example.org",
            "good_faith": true,
        });
        let request = Request::post("/api/v1/reports")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))?;
        let response = self.router().oneshot(request).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the demo report was refused: {}",
            response.status()
        );
        let now = state.now_ms();
        let case = state
            .store
            .queue(now, 10)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("the demo report opened no case"))?;
        let scope = rempart_policy::Scope::Url {
            url: url.to_string(),
        };
        let new = NewDecision {
            case_id: case.id,
            action: crate::decision::Action::RestrictUrl.as_str().into(),
            ground_kind: "legal".into(),
            ground: "The post publishes a private person's home address with a call to go there."
                .into(),
            facts: "Demo: reported through the public form; the evidence shows the address and the call to action.".into(),
            category: "doxxing".into(),
            scope: Some(serde_json::to_string(&scope)?),
            starts_at: now,
            ends_at: None,
            deadline: None,
            statement: Some(crate::store::NewStatement {
                territorial_scope: crate::dueprocess::EEA.iter().map(|c| c.to_string()).collect(),
                explanation: "Publishing a private person's home address with a call to go there endangers that person and breaches data-protection law.".into(),
                source_type: "SOURCE_ARTICLE_16".into(),
                automated_detection: false,
                automated_decision: "AUTOMATED_DECISION_NOT_AUTOMATED".into(),
                redress: state.config.due_process.redress.clone(),
            }),
            emergency: false,
        };
        let (_, version) = state
            .store
            .record_decision(&new, &state.actor("system"), &state.policy_ctx())
            .await?;
        if let Some(v) = version {
            state.published(v);
        }
        state.checkpoint().await;
        Ok(())
    }
}

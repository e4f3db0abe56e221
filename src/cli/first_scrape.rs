//! `benchmon targets --wait-scraped`: wait until Prometheus has scraped the chosen targets
//! once. A window opened right after a registration would otherwise start before the first
//! scrape (file_sd pick-up plus up to one scrape interval), and every such window would begin
//! with a gap in its coverage.

use super::output::Output;
use super::CliError;
use crate::client::Client;
use crate::domain::{ClientId, PromDuration, RunId, ServiceName};
use crate::session::SessionState;
use crate::targets::{TargetList, TargetView};
use std::time::Duration;

/// Which targets to wait for; none named: every enabled target of the session.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    pub clients: Vec<ClientId>,
    pub services: Vec<ServiceName>,
}

impl Chosen {
    fn picks(&self, t: &TargetView) -> bool {
        if !t.enabled {
            return false;
        }
        if self.clients.is_empty() && self.services.is_empty() {
            return true;
        }
        let client = t
            .client_id
            .as_deref()
            .is_some_and(|c| self.clients.iter().any(|x| x.as_str() == c) && t.service.is_none());
        let service = t
            .service
            .as_deref()
            .is_some_and(|s| self.services.iter().any(|x| x.as_str() == s));
        client || service
    }
}

/// Scraped at least once: Prometheus reports a last scrape (health `up` or `down`, not
/// `unknown`).
fn scraped(t: &TargetView) -> bool {
    t.health
        .as_ref()
        .is_some_and(|h| h.health != "unknown" && h.last_scrape.is_some())
}

/// The chosen targets not yet scraped, as `name (address)`; an error when none is chosen.
fn waiting_for(list: &TargetList, chosen: &Chosen) -> Result<Vec<String>, String> {
    let picked: Vec<&TargetView> = list.targets.iter().filter(|t| chosen.picks(t)).collect();
    if picked.is_empty() {
        return Err(format!(
            "session {} has no such enabled target to wait for",
            list.session_id
        ));
    }
    Ok(picked
        .iter()
        .filter(|t| !scraped(t))
        .map(|t| {
            let name = t
                .exporter
                .as_deref()
                .or(t.service.as_deref())
                .unwrap_or("?");
            format!("{name} ({})", t.address)
        })
        .collect())
}

/// Polls the targets list until every chosen target has been scraped, or `timeout` passes.
pub async fn wait(
    client: &Client,
    out: &Output,
    session: &RunId,
    chosen: &Chosen,
    timeout: &PromDuration,
) -> Result<(), CliError> {
    let progress = out.progress(format!(
        "waiting for the first scrape of the targets of session {session}"
    ));
    let deadline = tokio::time::Instant::now() + timeout.as_duration();
    // A session that is not (about to be) running scrapes nothing: say so at once.
    let state = client.session(session.as_str()).await?.state;
    if !matches!(
        state,
        SessionState::Pending | SessionState::Starting | SessionState::Running
    ) {
        drop(progress);
        return Err(CliError::NotScraped {
            session: session.to_string(),
            waited: "0s".into(),
            pending: "every target".into(),
            note: format!(
                "the session is {}: no Prometheus scrapes it",
                state.as_str()
            ),
        });
    }
    loop {
        let list = client.targets(session).await?;
        let pending = waiting_for(&list, chosen).map_err(CliError::Usage)?;
        if pending.is_empty() {
            drop(progress);
            let n = list.targets.iter().filter(|t| chosen.picks(t)).count();
            out.show(&list, |_| {
                format!("scraped: all {n} target(s) of session {session} scraped at least once")
            });
            return Ok(());
        }
        progress.set(format!("not scraped yet: {}", pending.join(", ")));
        if tokio::time::Instant::now() >= deadline {
            drop(progress);
            return Err(CliError::NotScraped {
                session: session.to_string(),
                waited: timeout.to_string(),
                pending: pending.join(", "),
                note: list.health_note.unwrap_or_default(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{TargetHealth, TargetKind};

    fn view(client: &str, service: Option<&str>, health: Option<&str>) -> TargetView {
        TargetView {
            kind: if service.is_some() {
                TargetKind::Service
            } else {
                TargetKind::Exporter
            },
            client_id: Some(client.into()),
            node: Some("n1".into()),
            exporter: service.is_none().then(|| "node".into()),
            service: service.map(Into::into),
            address: format!("n1:{}", if service.is_some() { 8000 } else { 9100 }),
            enabled: true,
            labels: Default::default(),
            health: health.map(|h| TargetHealth {
                health: h.into(),
                last_scrape: (h != "unknown").then(|| "2026-01-01T00:00:00Z".into()),
                last_error: None,
                last_scrape_duration_seconds: None,
                scrape_url: String::new(),
            }),
        }
    }

    #[test]
    fn only_the_chosen_targets_are_waited_for_until_scraped_up_or_down() {
        let list = TargetList {
            session_id: "s".into(),
            clients: vec![],
            services: vec![],
            targets: vec![
                view("job-1", None, Some("up")),
                view("job-1", Some("vllm"), Some("unknown")),
                view("job-2", None, None),
            ],
            health_note: None,
        };
        let job1 = Chosen {
            clients: vec!["job-1".parse().unwrap()],
            services: vec![],
        };
        assert_eq!(waiting_for(&list, &job1), Ok(vec![]));
        let with_service = Chosen {
            services: vec!["vllm".parse().unwrap()],
            ..job1.clone()
        };
        assert_eq!(
            waiting_for(&list, &with_service),
            Ok(vec!["vllm (n1:8000)".to_owned()])
        );
        let all = waiting_for(&list, &Chosen::default()).unwrap();
        assert_eq!(all, ["vllm (n1:8000)", "node (n1:9100)"]);
        let none = Chosen {
            clients: vec!["job-9".parse().unwrap()],
            services: vec![],
        };
        assert!(waiting_for(&list, &none).is_err());
        let mut down = list.clone();
        down.targets[1] = view("job-1", Some("vllm"), Some("down"));
        assert_eq!(waiting_for(&down, &with_service), Ok(vec![]));
    }
}

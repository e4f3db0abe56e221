//! Session topology: `store` and `scrapers` on create, and the site's defaults for them.

use crate::support::*;
use benchmon::domain::{ScraperCount, StoreSpec};
use benchmon::launcher::LauncherKind;
use serde_json::json;

#[tokio::test]
async fn a_session_shows_the_store_and_scrapers_it_was_created_with() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let plain = app.create_session("topo-plain").await;
    assert_eq!((plain.store, plain.scrapers), (StoreSpec::Prometheus, None));

    let vm = app
        .create(&from_json(
            json!({"run_id": "topo-vm", "store": "victoriametrics", "scrapers": 3}),
        ))
        .await
        .success(201);
    assert_eq!(vm.store, StoreSpec::VictoriaMetrics);
    assert_eq!(vm.scrapers.map(ScraperCount::get), Some(3));

    let (status, _, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": "topo-remote", "store": {
                "remote_write_url": "http://store.example:8428/api/v1/write",
                "query_url": "http://store.example:8428"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["store"],
        json!({"remote_write_url": "http://store.example:8428/api/v1/write",
               "query_url": "http://store.example:8428/"})
    );
    assert_eq!(body["scrapers"], json!(null));
    app.shutdown().await;
}

#[tokio::test]
async fn the_site_default_store_applies_when_a_request_names_none() {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Slurm);
    settings.site = benchmon::config::SiteConfig::from_toml(
        "[topology]\nstore = \"victoriametrics\"\nscrapers = 2\n",
    )
    .unwrap();
    let app = spawn_app_with(settings, dirs).await;
    let s = app.create_session("topo-site").await;
    assert_eq!(s.store, StoreSpec::VictoriaMetrics);
    assert_eq!(s.scrapers.map(ScraperCount::get), Some(2));
    let p = app
        .create(&from_json(
            json!({"run_id": "topo-own", "store": "prometheus"}),
        ))
        .await
        .success(201);
    assert_eq!((p.store, p.scrapers), (StoreSpec::Prometheus, None));
    app.shutdown().await;
}

#[tokio::test]
async fn scraper_nodes_place_the_scrapers_and_are_refused_where_they_cannot_apply() {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Slurm);
    settings.site = benchmon::config::SiteConfig::from_toml(
        "[topology]\nscraper_nodes = [\"site-a\", \"site-b\"]\n",
    )
    .unwrap();
    let app = spawn_app_with(settings, dirs).await;
    let nodes = |s: &benchmon::session::Session| {
        s.scraper_nodes
            .as_ref()
            .map(|n| n.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    };
    let own = app
        .create(&from_json(
            json!({"run_id": "place-own", "store": "victoriametrics",
            "scraper_nodes": ["bmnode1", "bmnode2", "vm"]}),
        ))
        .await
        .success(201);
    assert_eq!(
        nodes(&own),
        Some(vec!["bmnode1".into(), "bmnode2".into(), "vm".into()])
    );
    let site = app
        .create(&from_json(
            json!({"run_id": "place-site", "store": "victoriametrics"}),
        ))
        .await
        .success(201);
    assert_eq!(nodes(&site), Some(vec!["site-a".into(), "site-b".into()]));
    // A single Prometheus has no scrapers: the site default does not apply, a request's is
    // refused.
    let plain = app.create_session("place-plain").await;
    assert_eq!(plain.scraper_nodes, None);
    let cases = [
        (json!(["n1"]), Some("prometheus"), "scraper_nodes"),
        (json!([]), None, "scraper_nodes"),
        (json!(["node[1-2]"]), None, "scraper_nodes[0]"),
        (
            json!(["n1", "n2\n#SBATCH --uid=0"]),
            None,
            "scraper_nodes[1]",
        ),
        (json!(vec!["n"; 65]), None, "scraper_nodes"),
    ];
    for (i, (nodes, store, field)) in cases.into_iter().enumerate() {
        let mut body = json!({"run_id": format!("place-bad-{i}"), "scraper_nodes": nodes,
            "store": store.unwrap_or("victoriametrics")});
        if store.is_none() {
            body["scrapers"] = json!(2);
        }
        let (status, ctype, problem) = app
            .send(reqwest::Method::POST, "/api/v1/sessions", Some(body))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert!(ctype.starts_with("application/problem+json"), "{ctype}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    app.shutdown().await;
}

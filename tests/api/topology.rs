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

//! The document store's tests, on SQLite and on a real PostgreSQL (see [`both_backends`]).

use super::*;
use crate::testing::TestDb;

fn guide(fee: f64) -> Guide {
    let mut g: Guide = serde_json::from_str(include_str!("../../guides/sample/sfz-huanling.json")).unwrap();
    g.fees.as_mut().unwrap()[0].amount_yuan = Some(fee);
    g
}

async fn drafts_conflict_publish_and_roll_back(db: TestDb) {
    let store = GuideStore::new(db.pool().await).await.unwrap();
    assert_eq!(store.publish(&guide(20.0), "import").await.unwrap(), Saved::Version(1));
    let code = guide(20.0).code;
    assert_eq!(store.save_draft(&guide(30.0), 1, "editor-a").await.unwrap(), 2);
    let e = store.save_draft(&guide(40.0), 1, "editor-b").await.unwrap_err();
    assert!(matches!(&e, KnowledgeError::Conflict { latest: 2, by, .. } if by == "editor-a"), "{e}");
    let fee = |g: Guide| g.fees.unwrap()[0].amount_yuan;
    assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(20.0), "a draft is not live");
    assert_eq!(store.make_live(&code, 2, GoLive::Publish).await.unwrap(), Some(1));
    assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(30.0));
    assert_eq!(store.make_live(&code, 1, GoLive::Rollback).await.unwrap(), Some(2), "roll back");
    assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(20.0));
    let h = store.history(&code).await.unwrap();
    assert_eq!(h.iter().map(|v| (v.version, v.live)).collect::<Vec<_>>(), [(2, false), (1, true)]);
    assert_eq!(h[0].author, "editor-a");
    assert!(matches!(store.make_live(&code, 9, GoLive::Publish).await, Err(KnowledgeError::NotFound(_))));
}

async fn after_a_rollback_edits_start_from_the_live_version_and_nothing_rolled_back_is_republished(db: TestDb) {
    let store = GuideStore::new(db.pool().await).await.unwrap();
    let code = guide(20.0).code;
    let fee = |g: Guide| g.fees.unwrap()[0].amount_yuan;
    store.publish(&guide(20.0), "import").await.unwrap();
    assert_eq!(store.head(&code).await.unwrap(), Some(1));
    assert_eq!(store.save_draft(&guide(30.0), 1, "editor-a").await.unwrap(), 2);
    assert_eq!(store.head(&code).await.unwrap(), Some(2), "a draft on the live version is what the next edit continues");
    store.make_live(&code, 2, GoLive::Publish).await.unwrap();
    // A draft on version 2, then version 2 is rolled back.
    assert_eq!(store.save_draft(&guide(35.0), 2, "editor-b").await.unwrap(), 3);
    assert_eq!(store.make_live(&code, 1, GoLive::Rollback).await.unwrap(), Some(2));
    assert_eq!(store.head(&code).await.unwrap(), Some(1), "the rolled-back version and drafts on it are history");
    for v in [2, 3] {
        let e = store.make_live(&code, v, GoLive::Publish).await.unwrap_err();
        assert!(matches!(e, KnowledgeError::Stale { version, root: 2, live: Some(1), publishing: true, .. } if version == v), "v{v}: {e}");
    }
    assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(20.0), "nothing rolled back came back");
    let e = store.save_draft(&guide(40.0), 2, "editor-a").await.unwrap_err();
    assert!(matches!(e, KnowledgeError::Stale { version: 2, root: 2, live: Some(1), publishing: false, .. }), "{e}");
    assert!(matches!(store.save_draft(&guide(40.0), 3, "editor-b").await.unwrap_err(), KnowledgeError::Stale { root: 2, .. }));
    // Editing the live version works, and that draft publishes.
    assert_eq!(store.save_draft(&guide(25.0), 1, "editor-a").await.unwrap(), 4);
    assert!(
        matches!(store.save_draft(&guide(26.0), 1, "editor-b").await.unwrap_err(), KnowledgeError::Conflict { latest: 4, .. }),
        "the usual conflict"
    );
    assert_eq!(store.head(&code).await.unwrap(), Some(4));
    store.make_live(&code, 4, GoLive::Publish).await.unwrap();
    assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(25.0));
    // Rolling back needs a version that was published; publishing the live one again is harmless.
    assert!(matches!(store.make_live(&code, 3, GoLive::Rollback).await.unwrap_err(), KnowledgeError::NotAllowed(_)));
    assert_eq!(store.make_live(&code, 4, GoLive::Publish).await.unwrap(), Some(4));
    assert_eq!(store.make_live(&code, 2, GoLive::Rollback).await.unwrap(), Some(4), "any published version can be rolled back to");
}

async fn drafts_saved_before_bases_were_recorded_build_on_the_version_before_them(db: TestDb) {
    let store = GuideStore::new(db.pool().await).await.unwrap();
    let code = guide(20.0).code;
    store.publish(&guide(20.0), "import").await.unwrap();
    store.save_draft(&guide(30.0), 1, "editor-a").await.unwrap();
    sqlx::query("UPDATE guide_versions SET base_version = NULL").execute(store.pool()).await.unwrap();
    assert_eq!(store.head(&code).await.unwrap(), Some(2));
    assert_eq!(store.save_draft(&guide(31.0), 2, "editor-a").await.unwrap(), 3);
    store.make_live(&code, 3, GoLive::Publish).await.unwrap();
    assert_eq!(store.live(&code).await.unwrap().unwrap().fees.unwrap()[0].amount_yuan, Some(31.0));
}

async fn versions_are_created_only_on_change_and_survive_reopen(db: TestDb) {
    {
        let store = GuideStore::new(db.pool().await).await.unwrap();
        assert_eq!(store.publish(&guide(20.0), "import").await.unwrap(), Saved::Version(1));
        assert_eq!(store.publish(&guide(20.0), "import").await.unwrap(), Saved::Unchanged);
        assert_eq!(store.publish(&guide(25.0), "editor-a").await.unwrap(), Saved::Version(2));
        store.pool().close().await;
    }
    let store = GuideStore::new(db.pool().await).await.unwrap();
    let live = store.live("SAMPLE-GA-001").await.unwrap().unwrap();
    assert_eq!(live.version, 2);
    assert_eq!(live.fees.unwrap()[0].amount_yuan, Some(25.0));
    assert_eq!(live.updated_by.as_deref(), Some("editor-a"));
    assert_eq!(store.list().await.unwrap()[0].latest_version, 2);
    assert_eq!(store.count_live().await.unwrap(), 1);
    assert!(store.live("NOPE").await.unwrap().is_none());
}

/// Two replicas (two pools on one database) saving at once: of two drafts on the same base
/// exactly one is saved and the other is told who won; publishes queue up as new versions.
async fn two_replicas_saving_at_once_never_lose_a_version(db: TestDb) {
    let a = GuideStore::new(db.pool().await).await.unwrap();
    let b = GuideStore::new(db.pool().await).await.unwrap();
    let code = guide(20.0).code;
    a.publish(&guide(20.0), "import").await.unwrap();
    for round in 0..5u32 {
        let base = a.head(&code).await.unwrap().unwrap();
        let fee = 30.0 + f64::from(round);
        let (ga, gb) = (guide(fee), guide(fee + 0.5));
        let (ra, rb) = tokio::join!(a.save_draft(&ga, base, "editor-a"), b.save_draft(&gb, base, "editor-b"));
        let won = [ra.is_ok(), rb.is_ok()];
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "round {round}: exactly one draft on v{base} is saved");
        let lost = if won[0] { rb.unwrap_err() } else { ra.unwrap_err() };
        assert!(matches!(lost, KnowledgeError::Conflict { .. }), "round {round}: {lost}");
    }
    let (ga, gb) = (guide(50.0), guide(60.0));
    let (pa, pb) = tokio::join!(a.publish(&ga, "editor-a"), b.publish(&gb, "editor-b"));
    let mut versions = [pa.unwrap(), pb.unwrap()].map(|s| match s {
        Saved::Version(v) => v,
        Saved::Unchanged => panic!("both publishes changed the guide"),
    });
    versions.sort();
    assert_eq!(versions[1], versions[0] + 1, "each publish is its own version");
    assert_eq!(b.history(&code).await.unwrap().len() as u32, versions[1]);
}

async fn invalid_guides_are_refused_with_reasons(db: TestDb) {
    let store = GuideStore::new(db.pool().await).await.unwrap();
    let mut g = guide(20.0);
    g.name.clear();
    let err = store.publish(&g, "x").await.unwrap_err();
    assert!(err.to_string().contains("事项名称不能为空"), "{err}");
    assert_eq!(store.count_live().await.unwrap(), 0);
}

crate::both_backends!(
    drafts_conflict_publish_and_roll_back,
    after_a_rollback_edits_start_from_the_live_version_and_nothing_rolled_back_is_republished,
    drafts_saved_before_bases_were_recorded_build_on_the_version_before_them,
    versions_are_created_only_on_change_and_survive_reopen,
    two_replicas_saving_at_once_never_lose_a_version,
    invalid_guides_are_refused_with_reasons,
);

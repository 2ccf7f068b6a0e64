//! Uploads are streamed to a temporary file and stored in 1 MiB chunks, never held whole in
//! memory (a 200 MB upload peaked at ~150 MB RSS; `bench/upload.sh` measures it). A file
//! over several chunks comes back byte for byte; one over the limit is refused with nothing
//! stored.

use crate::finance_api::{account, plain_csv_profile, upload_csv, wait_import};
use crate::helpers::{Backend, TestApp, test_settings};
use crate::on_both_backends;
use serde_json::Value;

on_both_backends!(a_multi_chunk_upload_imports_exactly_and_an_oversized_one_leaves_nothing);

async fn count(db: &ai_service::db::Db, sql: &str) -> i64 {
    db.fetch_scalar(sql).await.expect(sql)
}

async fn a_multi_chunk_upload_imports_exactly_and_an_oversized_one_leaves_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    let profile = plain_csv_profile(&app, &token).await;

    // ~2.6 MB: three chunks, rows crossing chunk boundaries.
    let rows = 25_000;
    let mut csv = String::from("date,description,amount\n");
    for n in 0..rows {
        csv.push_str(&format!(
            "2026-05-{:02},{:0>90},-{}.{:02}\n",
            1 + n % 28,
            n,
            n % 300,
            n % 100
        ));
    }
    assert!(csv.len() > 2 * 1024 * 1024);
    let res = upload_csv(&app, &token, &acc, &profile, csv.into_bytes()).await;
    assert_eq!(res.status(), 202);
    let accepted: Value = res.json().await.expect("json");
    let id = accepted["import_id"].as_str().expect("id");
    let done = wait_import(&app, &token, id).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["inserted"], rows);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM fin_import_chunks").await,
        0,
        "a completed import drops its file"
    );

    // Over the 50 MiB limit: 413, and no import, chunk or job left behind.
    let before = count(&db, "SELECT COUNT(*) FROM jobs").await;
    let res = upload_csv(&app, &token, &acc, &profile, vec![b'x'; 51 * 1024 * 1024]).await;
    assert_eq!(res.status(), 413);
    let problem: Value = res.json().await.expect("problem");
    assert_eq!(problem["code"], "payload_too_large", "{problem:#}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM fin_imports").await, 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM fin_import_chunks").await,
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs").await, before);
    db.close().await;
    app.stop().await;
}

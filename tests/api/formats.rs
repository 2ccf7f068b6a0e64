//! What responses look like: one timestamp format (RFC 3339), amounts at their currency's
//! scale; and statement files that must be refused (wrong encoding, archives, loose OFX
//! amounts) are refused with messages in plain words, while balances never count as rows.

use crate::finance_api::{fixture, get, post, wait_import, wait_job};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    timestamps_are_rfc3339_and_amounts_keep_their_scale,
    bad_encodings_archives_and_loose_amounts_are_refused_plainly
);

fn assert_rfc3339(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {v}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'),
        "{what}: {s}"
    );
}

async fn timestamps_are_rfc3339_and_amounts_keep_their_scale(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let eur = post(&app, &token, "/v1/financial/accounts", json!({"name": "Main", "account_type": "checking", "currency": "EUR", "opening_balance": "1500.00"})).await;
    assert_eq!(eur["opening_balance"], "1500.00", "{eur:#}");
    assert_eq!(eur["balance"], "1500.00", "{eur:#}");
    assert_rfc3339(&eur["created_at"], "account.created_at");
    assert_rfc3339(&eur["updated_at"], "account.updated_at");
    assert!(eur["last_synced_at"].is_null());
    let eur = eur["id"].as_str().expect("id").to_owned();
    let jpy = post(&app, &token, "/v1/financial/accounts", json!({"name": "Yen", "account_type": "cash", "currency": "JPY", "opening_balance": "1000"})).await;
    assert_eq!(jpy["opening_balance"], "1000");
    let jpy = jpy["id"].as_str().expect("id").to_owned();

    for (account, amount, text) in [
        (&eur, "-45.20", "Groceries"),
        (&eur, "-0.1234", "Fee"),
        (&jpy, "-500", "Ramen"),
    ] {
        let t = post(&app, &token, "/v1/financial/transactions", json!({"account_id": account, "booked_date": "2026-01-05", "amount": amount, "description": text})).await;
        // As given: the currency's two decimals are kept, extra precision is not cut.
        assert_eq!(t["amount"], amount, "{t:#}");
        assert_rfc3339(&t["created_at"], "transaction.created_at");
    }
    let listed = get(
        &app,
        &token,
        &format!("/v1/financial/transactions?account_id={eur}&sort=amount"),
    )
    .await;
    let amounts: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["amount"].as_str().expect("amount"))
        .collect();
    assert_eq!(amounts, ["-45.20", "-0.1234"]);
    let a = get(&app, &token, &format!("/v1/financial/accounts/{eur}")).await;
    assert_eq!(a["balance"], "1454.6766");
    let a = get(&app, &token, &format!("/v1/financial/accounts/{jpy}")).await;
    assert_eq!(a["balance"], "500");
    let spending = get(
        &app,
        &token,
        "/v1/financial/reports/spending?from=2026-01-01&to=2026-01-31",
    )
    .await;
    let mut spent: Vec<(String, String)> = spending["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["currency"].as_str().unwrap_or_default().to_owned(),
                r["spent"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    spent.sort();
    assert_eq!(
        spent,
        [
            ("EUR".to_owned(), "45.3234".to_owned()),
            ("JPY".to_owned(), "500".to_owned())
        ]
    );
    let balance = get(
        &app,
        &token,
        &format!("/v1/financial/reports/balance?account_id={eur}&from=2026-01-01&to=2026-01-31"),
    )
    .await;
    assert_eq!(balance["starting_balance"], "1500.00", "{balance:#}");

    let c = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Food", "kind": "expense"}),
    )
    .await;
    assert_rfc3339(&c["created_at"], "category.created_at");
    let job = post(
        &app,
        &token,
        "/v1/financial/categorization/backfill",
        json!({"from": "2026-01-01", "to": "2026-01-31"}),
    )
    .await;
    let job = wait_job(&app, &token, job["job_id"].as_str().expect("job id")).await;
    for field in ["run_at", "created_at", "updated_at", "finished_at"] {
        assert_rfc3339(&job[field], &format!("job.{field}"));
    }

    let s = post(&app, &token, "/v1/trading/strategies", json!({
        "name": "fmt-grid", "kind": "grid", "connector": "paper", "symbols": ["BTC-USDT"],
        "params": {"lower": "95", "upper": "105", "levels": 20, "order_qty": "0.01"},
        "risk": {"max_order_notional": "100", "max_open_position": "1000", "max_orders_per_minute": 30, "daily_loss_limit": "50"}})).await;
    for field in ["state_since", "created_at", "updated_at"] {
        assert_rfc3339(&s[field], &format!("strategy.{field}"));
    }
    assert!(s["last_tick_at"].is_null());
    app.stop().await;
}

/// Uploads raw bytes and waits for the import to finish.
async fn upload(
    app: &TestApp,
    token: &str,
    account: &str,
    bytes: &[u8],
    extra: &[(&str, &str)],
) -> Value {
    let mut form = reqwest::multipart::Form::new().text("account_id", account.to_owned());
    for (k, v) in extra {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("upload"),
    );
    let res = app
        .client
        .post(format!("{}/v1/financial/imports", app.address))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status().as_u16(), 202);
    let accepted: Value = res.json().await.expect("json");
    wait_import(app, token, accepted["import_id"].as_str().expect("id")).await
}

async fn bad_encodings_archives_and_loose_amounts_are_refused_plainly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let account = |name: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let a = post(
                app,
                token,
                "/v1/financial/accounts",
                json!({"name": name, "account_type": "checking", "currency": "EUR"}),
            )
            .await;
            a["id"].as_str().expect("id").to_owned()
        }
    };
    let acc = account("CSV").await;
    let columns = json!({"date": "date", "description": "text", "amount": "amount"});
    let utf8 = post(
        &app,
        &token,
        "/v1/financial/csv-profiles",
        json!({"name": "utf8", "profile": {"columns": columns}}),
    )
    .await;
    let latin1 = post(
        &app,
        &token,
        "/v1/financial/csv-profiles",
        json!({"name": "latin1", "profile": {"columns": columns, "encoding": "latin1"}}),
    )
    .await;
    let (utf8, latin1) = (
        utf8["id"].as_str().expect("id"),
        latin1["id"].as_str().expect("id"),
    );

    // A Latin-1 file read as UTF-8: refused, naming the row; nothing stored.
    let csv = b"date,text,amount\n2026-02-01,ok,-1.00\n2026-02-02,Caf\xe9 Central,-2.50\n";
    let i = upload(&app, &token, &acc, csv, &[("profile_id", utf8)]).await;
    assert_eq!(i["status"], "failed", "{i:#}");
    assert_eq!(i["inserted"], 0);
    assert!(
        i["error"]
            .as_str()
            .is_some_and(|e| e.contains("not valid UTF-8")),
        "{i:#}"
    );
    assert_eq!(i["problems"][0]["location"], "line 3", "{i:#}");
    assert_rfc3339(&i["created_at"], "import.created_at");
    assert_rfc3339(&i["finished_at"], "import.finished_at");
    let txs = get(
        &app,
        &token,
        &format!("/v1/financial/transactions?account_id={acc}"),
    )
    .await;
    assert_eq!(txs["items"].as_array().map(Vec::len), Some(0));
    // With the right encoding: both rows, correctly decoded; again: nothing new.
    let i = upload(&app, &token, &acc, csv, &[("profile_id", latin1)]).await;
    assert_eq!(
        (i["status"].as_str(), i["inserted"].as_i64()),
        (Some("completed"), Some(2)),
        "{i:#}"
    );
    let i = upload(&app, &token, &acc, csv, &[("profile_id", latin1)]).await;
    assert_eq!(i["inserted"], 0, "{i:#}");
    let txs = get(
        &app,
        &token,
        &format!("/v1/financial/transactions?account_id={acc}&q=central"),
    )
    .await;
    assert_eq!(txs["items"][0]["description"], "Café Central");
    assert_eq!(txs["items"][0]["amount"], "-2.50");

    // A ZIP archive, sniffed or named as CAMT: said to be an archive, not "malformed XML".
    let mut zip = b"PK\x03\x04\x14\x00\x00\x00statement.xml".to_vec();
    zip.extend_from_slice(&fixture("camt053.xml"));
    for extra in [&[][..], &[("format", "camt053")][..]] {
        let i = upload(&app, &token, &acc, &zip, extra).await;
        assert_eq!(i["status"], "failed", "{i:#}");
        let error = i["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("not a supported statement format (looks like a ZIP archive"),
            "{error}"
        );
    }

    // OFX amounts are plain numbers: `$120` is refused like `+1 006,60`, by row and field.
    let ofx_acc = account("OFX").await;
    let ofx =
        String::from_utf8_lossy(&fixture("ofx1.ofx")).replace("<TRNAMT>-12.50", "<TRNAMT>$120");
    let i = upload(&app, &token, &ofx_acc, ofx.as_bytes(), &[]).await;
    assert_eq!(i["status"], "failed", "{i:#}");
    assert_eq!(i["problems"][0]["location"], "line 39");
    let reason = i["problems"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("TRNAMT \"$120\" is not a plain number"),
        "{reason}"
    );

    // An unreadable closing balance is not a bad row: the entries import.
    let camt_acc = account("CAMT").await;
    let camt = String::from_utf8_lossy(&fixture("camt053.xml")).replace(
        "<Amt Ccy=\"EUR\">1234.56</Amt>",
        "<Amt Ccy=\"EUR\">1.234,56</Amt>",
    );
    let i = upload(&app, &token, &camt_acc, camt.as_bytes(), &[]).await;
    assert_eq!(
        (i["status"].as_str(), i["inserted"].as_i64()),
        (Some("completed"), Some(2)),
        "{i:#}"
    );
    assert_eq!(i["problems"], json!([]), "{i:#}");
    app.stop().await;
}

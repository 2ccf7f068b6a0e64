//! `/v1/financial` end to end: accounts and balances, categories, transactions with filters
//! and stable pagination, imports of every format through jobs (re-import adds nothing, twins
//! stay two, bad files import nothing unless asked), rules and the model through the
//! categorization jobs, user locks, reports against hand-computed numbers.

use crate::helpers::{Backend, TestApp, eventually};
use crate::on_both_backends;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    accounts_categories_transactions_and_pagination,
    every_format_imports_once_and_twins_stay_two,
    bad_files_import_nothing_unless_skipping,
    rules_then_model_categorize_and_user_locks_win,
    reports_match_hand_computed_numbers,
    a_slow_text_search_reads_every_column_the_quick_path_skips
);

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/actors/tests/fixtures/statements"
);

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let res = app.call("POST", path, Some(token), Some(body)).await;
    let status = res.status().as_u16();
    let v: Value = res.json().await.expect("json");
    assert!(
        status == 201 || status == 202 || status == 200,
        "{path}: {status} {v:#}"
    );
    v
}

pub async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.call("GET", path, Some(token), None).await;
    assert_eq!(res.status().as_u16(), 200, "{path}");
    res.json().await.expect("json")
}

pub async fn account(app: &TestApp, token: &str, name: &str, currency: &str) -> String {
    let a = post(
        app,
        token,
        "/v1/financial/accounts",
        json!({"name": name, "account_type": "checking", "currency": currency, "opening_balance": "100.00"}),
    )
    .await;
    a["id"].as_str().expect("id").to_owned()
}

/// Uploads a file and waits for its import job; returns the import.
pub async fn import(
    app: &TestApp,
    token: &str,
    account_id: &str,
    file: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut form = reqwest::multipart::Form::new().text("account_id", account_id.to_owned());
    for (k, v) in extra {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(fixture_or_bytes(file)).file_name(
            if file.starts_with("inline:") {
                "upload.txt".to_owned()
            } else {
                file.to_owned()
            },
        ),
    );
    let res = app
        .client
        .post(format!("{}/v1/financial/imports", app.address))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status().as_u16(), 202, "{:?}", res.text().await);
    let accepted: Value = res.json().await.expect("json");
    wait_import(app, token, accepted["import_id"].as_str().expect("id")).await
}

/// A saved CSV profile for `date,description,amount` files; returns its id.
pub async fn plain_csv_profile(app: &TestApp, token: &str) -> String {
    let p = post(
        app,
        token,
        "/v1/financial/csv-profiles",
        json!({"name": "plain", "profile": {
        "columns": {"date": "date", "description": "description", "amount": "amount"}}}),
    )
    .await;
    p["id"].as_str().expect("profile id").to_owned()
}

/// Uploads `csv` to `account_id` with a CSV profile; the raw response.
pub async fn upload_csv(
    app: &TestApp,
    token: &str,
    account_id: &str,
    profile_id: &str,
    csv: Vec<u8>,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("account_id", account_id.to_owned())
        .text("profile_id", profile_id.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv).file_name("s.csv"),
        );
    app.client
        .post(format!("{}/v1/financial/imports", app.address))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

/// `inline:<text>` uploads the text itself instead of a fixture.
fn fixture_or_bytes(file: &str) -> Vec<u8> {
    match file.strip_prefix("inline:") {
        Some(text) => text.as_bytes().to_vec(),
        None => fixture(file),
    }
}

pub async fn wait_import(app: &TestApp, token: &str, id: &str) -> Value {
    eventually(
        Duration::from_secs(10),
        &format!("import {id} to finish"),
        || async {
            let i = get(app, token, &format!("/v1/financial/imports/{id}")).await;
            if i["status"] == "completed" || i["status"] == "failed" {
                Ok(i)
            } else {
                Err(i)
            }
        },
    )
    .await
}

pub async fn wait_job(app: &TestApp, token: &str, id: &str) -> Value {
    eventually(
        Duration::from_secs(10),
        &format!("job {id} to finish"),
        || async {
            let j = get(app, token, &format!("/v1/jobs/{id}")).await;
            if j["state"] == "completed" || j["state"] == "dead" {
                Ok(j)
            } else {
                Err(j)
            }
        },
    )
    .await
}

async fn txs(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    get(
        app,
        token,
        &format!("/v1/financial/transactions?limit=500&{query}"),
    )
    .await["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn accounts_categories_transactions_and_pagination(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    // Validation names the fields.
    let res = app
        .call("POST", "/v1/financial/accounts", Some(&token), Some(json!({"name": "", "account_type": "piggy", "currency": "euro", "opening_balance": "1.23456"})))
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let p: Value = res.json().await.expect("json");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("f"))
        .collect();
    assert_eq!(
        fields,
        ["name", "account_type", "currency", "opening_balance"]
    );

    let food = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Food", "kind": "expense"}),
    )
    .await;
    let food = food["id"].as_str().expect("id").to_owned();
    let groceries = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Groceries", "kind": "expense", "parent_id": food}),
    )
    .await;
    // Two levels at most.
    let res = app
        .call(
            "POST",
            "/v1/financial/categories",
            Some(&token),
            Some(json!({"name": "Deep", "kind": "expense", "parent_id": groceries["id"]})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);

    // 25 transactions over 5 days; amounts −1 … −25.
    for n in 1..=25 {
        post(
            &app,
            &token,
            "/v1/financial/transactions",
            json!({"account_id": acc, "booked_date": format!("2026-01-0{}", 1 + n % 5), "amount": format!("-{n}.00"),
                   "description": format!("Shop {n}"), "counterparty": if n % 2 == 0 { "Even Ltd" } else { "Odd SA" }}),
        )
        .await;
    }
    // The same purchase again is refused (it would be a duplicate of the bank's later import).
    let res = app
        .call("POST", "/v1/financial/transactions", Some(&token), Some(json!({"account_id": acc, "booked_date": "2026-01-02", "amount": "-1.00", "description": "Shop 1"})))
        .await;
    assert_eq!(res.status().as_u16(), 409);
    // Balance: 100 − (1 + … + 25) = −225.
    let a = get(&app, &token, &format!("/v1/financial/accounts/{acc}")).await;
    assert_eq!(a["balance"], "-225.00");
    let all = get(&app, &token, "/v1/financial/accounts").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    assert_eq!(all[0]["balance"], "-225.00");
    let imports = get(
        &app,
        &token,
        &format!("/v1/financial/imports?account_id={acc}"),
    )
    .await;
    assert_eq!(imports.as_array().map(Vec::len), Some(0));

    // Stable pagination: pages of 10 by amount ascending cover everything exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/financial/transactions?account_id={acc}&sort=amount&limit=10");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(&app, &token, &path).await;
        for t in page["items"].as_array().expect("items") {
            seen.push(t["amount"].as_str().expect("amount").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let want: Vec<String> = (1..=25).rev().map(|n| format!("-{n}.00")).collect();
    assert_eq!(seen, want);

    // Filters: text, amount range, counterparty text, date range, uncategorized.
    assert_eq!(
        txs(&app, &token, "q=shop%201").await.len(),
        11,
        "Shop 1, 10-19"
    );
    assert_eq!(
        txs(&app, &token, "min_amount=-5&max_amount=-3").await.len(),
        3
    );
    assert_eq!(txs(&app, &token, "q=even").await.len(), 12);
    assert_eq!(
        txs(&app, &token, "from=2026-01-02&to=2026-01-02")
            .await
            .len(),
        5
    );
    let first = &txs(&app, &token, "q=shop%2025").await[0];
    let id = first["id"].as_str().expect("id");
    let res = app
        .call(
            "PATCH",
            &format!("/v1/financial/transactions/{id}"),
            Some(&token),
            Some(json!({"category_id": groceries["id"], "notes": "weekly"})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let t: Value = res.json().await.expect("json");
    assert_eq!(
        (t["categorized_by"].as_str(), t["category_locked"].as_bool()),
        (Some("user"), Some(true))
    );
    // Text that JSON must escape, through the page's own writer (`tx_json.rs`).
    let awkward = "quote \" backslash \\ tab \t bell \u{7} Zürich € 🧾 \u{2028} </script>";
    let res = app
        .call(
            "POST",
            "/v1/financial/transactions",
            Some(&token),
            Some(json!({"account_id": acc,
            "booked_date": "2026-01-30", "amount": "-0.5", "description": awkward,
            "counterparty": "<b>&amp;</b>", "notes": "line one\nline two"})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    // A page carries every field exactly as the single read does (pages are written straight
    // from the rows, the single read goes through the DTO): locked and unlocked, notes or
    // none; the quick path, then a text search (the slow path).
    for query in ["", "q=quote"] {
        let items = txs(&app, &token, query).await;
        assert!(!items.is_empty(), "{query}");
        for item in items {
            let id = item["id"].as_str().expect("id");
            let one = get(&app, &token, &format!("/v1/financial/transactions/{id}")).await;
            assert_eq!(item, one);
        }
    }
    assert_eq!(
        txs(&app, &token, "q=quote").await[0]["description"],
        awkward
    );
    assert_eq!(txs(&app, &token, "uncategorized=true").await.len(), 25);
    assert_eq!(
        txs(
            &app,
            &token,
            &format!("category_id={}", groceries["id"].as_str().expect("id"))
        )
        .await
        .len(),
        1
    );
    // Bad filters are named.
    let res = app
        .call(
            "GET",
            "/v1/financial/transactions?from=yesterday&sort=size&limit=0",
            Some(&token),
            None,
        )
        .await;
    let p: Value = res.json().await.expect("json");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("f"))
        .collect();
    assert_eq!(fields, ["from", "sort", "limit"]);
    app.stop().await;
}

async fn every_format_imports_once_and_twins_stay_two(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let eur = account(&app, &token, "EUR", "EUR").await;
    let usd = account(&app, &token, "USD", "USD").await;
    let chf = account(&app, &token, "CHF", "CHF").await;
    let es = account(&app, &token, "ES", "EUR").await;
    let csv = post(&app, &token, "/v1/financial/csv-profiles", json!({"name": "plain", "profile": {
        "columns": {"date": "Date", "value_date": "Value Date", "description": "Description", "counterparty": "Counterparty",
                    "amount": "Amount", "currency": "Currency", "external_id": "Reference"},
        "thousands_separator": ","}})).await;
    let latin = post(&app, &token, "/v1/financial/csv-profiles", json!({"name": "banco", "profile": {
        "delimiter": ";", "encoding": "latin1", "decimal_separator": ",", "thousands_separator": ".", "date_format": "%d/%m/%Y",
        "skip_rows": 1, "columns": {"date": "Fecha", "description": "Concepto", "debit": "Cargo", "credit": "Abono"}}})).await;
    let (csv_id, latin_id) = (
        csv["id"].as_str().expect("id"),
        latin["id"].as_str().expect("id"),
    );

    // (account, file, form fields, rows inserted)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, i64);
    let cases: [Case<'_>; 8] = [
        (
            &eur,
            "checking.csv",
            vec![("format", "csv"), ("profile_id", csv_id)],
            5,
        ),
        (
            &es,
            "latin1_semicolon.csv",
            vec![("profile_id", latin_id)],
            3,
        ),
        (&eur, "ofx1.ofx", vec![], 3),
        (&usd, "ofx2.qfx", vec![], 2),
        (&eur, "camt053.xml", vec![("format", "camt053")], 2),
        (&chf, "camt053_v8.xml", vec![], 2),
        (&es, "norma43.n43", vec![], 3),
        (
            &es,
            "latin1_semicolon.csv",
            vec![("profile_id", latin_id)],
            0,
        ),
    ];
    for (acc, file, extra, inserted) in &cases {
        let i = import(&app, &token, acc, file, extra).await;
        assert_eq!(i["status"], "completed", "{file}: {i:#}");
        assert_eq!(i["inserted"], *inserted, "{file}: {i:#}");
    }
    // Again: nothing new, everything recognised.
    for (acc, file, extra, _) in &cases[..7] {
        let i = import(&app, &token, acc, file, extra).await;
        assert_eq!(
            (i["inserted"].as_i64(), i["status"].as_str()),
            (Some(0), Some("completed")),
            "{file}: {i:#}"
        );
        assert!(i["duplicates"].as_i64().unwrap_or(0) > 0);
    }
    // The two identical coffees are two purchases.
    let coffees = txs(&app, &token, &format!("account_id={eur}&q=coffee")).await;
    assert_eq!(coffees.len(), 2);
    // Latin-1 decoded, decimal comma read.
    let cafe = txs(&app, &token, &format!("account_id={es}&q=%C3%B1and%C3%BA")).await;
    assert_eq!(cafe[0]["amount"], "-4.50", "{cafe:#?}");
    // The pending CAMT entry is pending.
    let pending = txs(&app, &token, &format!("account_id={chf}&status=pending")).await;
    assert_eq!(pending.len(), 1);
    app.stop().await;
}

async fn bad_files_import_nothing_unless_skipping(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    let p = post(
        &app,
        &token,
        "/v1/financial/csv-profiles",
        json!({"name": "simple", "profile": {
        "columns": {"date": "date", "description": "text", "amount": "amount"}}}),
    )
    .await;
    let pid = p["id"].as_str().expect("id");
    let bad = "inline:date,text,amount\n2026-02-01,ok one,-1.00\n2026-02-30,bad date,-2.00\n2026-02-03,bad amount,abc\n2026-02-04,ok two,-4.00\n";
    let i = import(&app, &token, &acc, bad, &[("profile_id", pid)]).await;
    assert_eq!(i["status"], "failed", "{i:#}");
    assert_eq!(i["inserted"], 0);
    let locations: Vec<&str> = i["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["location"].as_str().expect("loc"))
        .collect();
    assert_eq!(locations, ["line 3", "line 4"]);
    assert!(
        i["error"]
            .as_str()
            .expect("error")
            .contains("nothing was imported")
    );
    assert!(txs(&app, &token, "").await.is_empty());

    let i = import(
        &app,
        &token,
        &acc,
        bad,
        &[("profile_id", pid), ("skip_bad_rows", "true")],
    )
    .await;
    assert_eq!(
        (i["status"].as_str(), i["inserted"].as_i64()),
        (Some("completed"), Some(2)),
        "{i:#}"
    );
    assert_eq!(i["problems"].as_array().map(Vec::len), Some(2));
    // Not a statement at all.
    let i = import(
        &app,
        &token,
        &acc,
        "inline:hello, I am not a bank statement",
        &[("format", "ofx")],
    )
    .await;
    assert_eq!(i["status"], "failed");
    // Form errors are named.
    let form = reqwest::multipart::Form::new().text("format", "pdf");
    let res = app
        .client
        .post(format!("{}/v1/financial/imports", app.address))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status().as_u16(), 422);
    let p: Value = res.json().await.expect("json");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("f"))
        .collect();
    assert_eq!(fields, ["account_id", "format", "file"]);
    app.stop().await;
}

async fn rules_then_model_categorize_and_user_locks_win(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    let cat = |name: &'static str, kind: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            post(
                app,
                token,
                "/v1/financial/categories",
                json!({"name": name, "kind": kind}),
            )
            .await["id"]
                .as_str()
                .expect("id")
                .to_owned()
        }
    };
    let (groceries, coffee, fun, salary) = (
        cat("Groceries", "expense").await,
        cat("Coffee", "expense").await,
        cat("Fun", "expense").await,
        cat("Salary", "income").await,
    );
    // Rule 1 (position 10): "coffee" → Coffee, stop. Rule 2 (20): any debit ≤ 10 → Fun.
    let r1 = post(&app, &token, "/v1/financial/rules", json!({"name": "coffee", "position": 10,
        "conditions": [{"type": "description_contains", "value": "COFFEE"}], "actions": {"set_category": coffee}, "stop_processing": true})).await;
    post(&app, &token, "/v1/financial/rules", json!({"name": "small", "position": 20,
        "conditions": [{"type": "amount_range", "max": "10"}, {"type": "direction", "direction": "debit"}], "actions": {"set_category": fun}})).await;
    // An invalid rule is refused with its field.
    let res = app.call("POST", "/v1/financial/rules", Some(&token), Some(json!({"name": "bad", "conditions": [{"type": "description_regex", "pattern": "("}], "actions": {"set_category": fun}}))).await;
    let p: Value = res.json().await.expect("json");
    assert_eq!(p["errors"][0]["field"], "conditions[0].pattern", "{p:#}");

    // The user teaches the model with 12 categorized transactions.
    for n in 0..6 {
        for (desc, amount, category) in [
            ("MERCADONA VALENCIA", "-55.20", &groceries),
            ("NOMINA ACME SL", "2100.00", &salary),
        ] {
            post(
                &app,
                &token,
                "/v1/financial/transactions",
                json!({"account_id": acc, "booked_date": format!("2025-12-{:02}", 10 + n),
                "amount": amount, "description": desc, "category_id": category}),
            )
            .await;
        }
    }
    let p = post(
        &app,
        &token,
        "/v1/financial/csv-profiles",
        json!({"name": "simple", "profile": {
        "columns": {"date": "date", "description": "text", "amount": "amount"}}}),
    )
    .await;
    let pid = p["id"].as_str().expect("id");
    let file = "inline:date,text,amount\n2026-01-05,Coffee corner,-3.20\n2026-01-06,Kiosk,-4.00\n2026-01-07,MERCADONA ALICANTE,-61.10\n2026-01-08,Unknown big thing,-300.00\n";
    let i = import(&app, &token, &acc, file, &[("profile_id", pid)]).await;
    assert_eq!(i["inserted"], 4);
    // The import queues auto_categorize; wait for it.
    let got = eventually(
        Duration::from_secs(10),
        "3 transactions categorized",
        || async {
            let got = txs(
                &app,
                &token,
                &format!("import_id={}", i["id"].as_str().expect("id")),
            )
            .await;
            let n = got
                .iter()
                .filter(|t| !t["categorized_by"].is_null())
                .count();
            if n == 3 { Ok(got) } else { Err(got) }
        },
    )
    .await;
    let by_desc = |d: &str| {
        got.iter()
            .find(|t| t["description"] == d)
            .expect("tx")
            .clone()
    };
    // Coffee: rule 1 and stop (rule 2 also matches but never runs).
    assert_eq!(
        (
            by_desc("Coffee corner")["category_id"].as_str(),
            by_desc("Coffee corner")["categorized_by"].as_str()
        ),
        (Some(coffee.as_str()), Some("rule"))
    );
    assert_eq!(by_desc("Coffee corner")["rule_id"], r1["id"]);
    assert_eq!(by_desc("Kiosk")["category_id"].as_str(), Some(fun.as_str()));
    // No rule: the model, learned from the user's examples.
    assert_eq!(
        (
            by_desc("MERCADONA ALICANTE")["category_id"].as_str(),
            by_desc("MERCADONA ALICANTE")["categorized_by"].as_str()
        ),
        (Some(groceries.as_str()), Some("model"))
    );
    // Unsure: it abstains.
    assert!(by_desc("Unknown big thing")["category_id"].is_null());

    // The user corrects the kiosk (locking it); a backfill leaves it alone.
    let kiosk = by_desc("Kiosk")["id"].as_str().expect("id").to_owned();
    app.call(
        "PATCH",
        &format!("/v1/financial/transactions/{kiosk}"),
        Some(&token),
        Some(json!({"category_id": groceries})),
    )
    .await;
    let job = post(
        &app,
        &token,
        "/v1/financial/categorization/backfill",
        json!({"from": "2026-01-01", "to": "2026-01-31"}),
    )
    .await;
    let job = wait_job(&app, &token, job["job_id"].as_str().expect("job")).await;
    assert_eq!(job["state"], "completed", "{job:#}");
    let k = get(&app, &token, &format!("/v1/financial/transactions/{kiosk}")).await;
    assert_eq!(
        (k["category_id"].as_str(), k["categorized_by"].as_str()),
        (Some(groceries.as_str()), Some("user"))
    );
    // Dry run of rule 2 over the books: it matches the coffee and the kiosk (locked).
    let test = post(
        &app,
        &token,
        &format!(
            "/v1/financial/rules/{}/test",
            r1["id"].as_str().expect("id")
        ),
        json!({}),
    )
    .await;
    assert_eq!(test["matched"], 1);
    // Stats: the rule tier was corrected once (the kiosk).
    let stats = get(&app, &token, "/v1/financial/categorization/stats").await;
    let rule = stats["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .find(|t| t["tier"] == "rule")
        .expect("rule tier")
        .clone();
    assert_eq!(
        (rule["categorized"].as_i64(), rule["corrected"].as_i64()),
        (Some(2), Some(1)),
        "{stats:#}"
    );
    assert_eq!(rule["accuracy"], 0.5);
    app.stop().await;
}

async fn reports_match_hand_computed_numbers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let eur = account(&app, &token, "EUR", "EUR").await;
    let usd = account(&app, &token, "USD", "USD").await;
    let food = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Food", "kind": "expense"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let moves = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Moves", "kind": "transfer"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rows = [
        (&eur, "2026-01-05", "-10.25", "Bakery", Some(&food)),
        (&eur, "2026-01-20", "-4.75", "Bakery", Some(&food)),
        (&eur, "2026-01-25", "1000.00", "Salary", None),
        (&eur, "2026-01-26", "-500.00", "To savings", Some(&moves)),
        (&eur, "2026-02-02", "-30.00", "Grocer", Some(&food)),
        (&eur, "2026-02-03", "-7.00", "Cinema", None),
        (&usd, "2026-02-04", "-12.00", "Diner", Some(&food)),
    ];
    for (acc, date, amount, desc, cat) in rows {
        let mut body = json!({"account_id": acc, "booked_date": date, "amount": amount, "description": desc, "counterparty": desc});
        if let Some(c) = cat {
            body["category_id"] = json!(c);
        }
        post(&app, &token, "/v1/financial/transactions", body).await;
    }
    let s = get(
        &app,
        &token,
        "/v1/financial/reports/spending?from=2026-01-01&to=2026-02-28",
    )
    .await;
    assert_eq!(s["mixed_currencies"], true);
    assert!(s["note"].as_str().expect("note").contains("not converted"));
    let spent: Vec<(String, Option<String>, String, String)> = s["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["month"].as_str().expect("m").to_owned(),
                r["category"].as_str().map(str::to_owned),
                r["currency"].as_str().expect("c").to_owned(),
                r["spent"].as_str().expect("s").to_owned(),
            )
        })
        .collect();
    // January food 10.25 + 4.75 = 15; the transfer is not spending. February: food 30 (EUR)
    // and 12 (USD), cinema 7 uncategorized.
    assert!(
        spent.contains(&(
            "2026-01".into(),
            Some("Food".into()),
            "EUR".into(),
            "15.00".into()
        )),
        "{spent:?}"
    );
    assert!(
        spent.contains(&(
            "2026-02".into(),
            Some("Food".into()),
            "EUR".into(),
            "30.00".into()
        )),
        "{spent:?}"
    );
    assert!(
        spent.contains(&(
            "2026-02".into(),
            Some("Food".into()),
            "USD".into(),
            "12.00".into()
        )),
        "{spent:?}"
    );
    assert!(
        spent.contains(&("2026-02".into(), None, "EUR".into(), "7.00".into())),
        "{spent:?}"
    );
    assert_eq!(spent.len(), 4);

    let c = get(
        &app,
        &token,
        &format!("/v1/financial/reports/cashflow?account_id={eur}"),
    )
    .await;
    let jan = &c["rows"][0];
    assert_eq!(
        (
            jan["month"].as_str(),
            jan["income"].as_str(),
            jan["expense"].as_str(),
            jan["net"].as_str()
        ),
        (
            Some("2026-01"),
            Some("1000.00"),
            Some("15.00"),
            Some("985.00")
        )
    );
    assert_eq!(c["mixed_currencies"], false);

    // Balance: opening 100; end of Jan 100 − 15 + 1000 − 500 = 585; Feb 585 − 37 = 548.
    let b = get(
        &app,
        &token,
        &format!("/v1/financial/reports/balance?account_id={eur}"),
    )
    .await;
    let points: Vec<(&str, &str)> = b["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            (
                p["month"].as_str().expect("m"),
                p["balance"].as_str().expect("b"),
            )
        })
        .collect();
    assert_eq!(points, [("2026-01", "585.00"), ("2026-02", "548.00")]);
    let b = get(
        &app,
        &token,
        &format!("/v1/financial/reports/balance?account_id={eur}&from=2026-02-01"),
    )
    .await;
    assert_eq!(b["starting_balance"], "585.00");

    let t = get(
        &app,
        &token,
        &format!("/v1/financial/reports/top-counterparties?account_id={eur}&limit=2"),
    )
    .await;
    let top: Vec<(&str, &str, i64)> = t["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["counterparty"].as_str().expect("c"),
                r["spent"].as_str().expect("s"),
                r["count"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(top, [("Grocer", "30.00", 1), ("Bakery", "15.00", 2)]);
    app.stop().await;
}

/// SQLite keeps whatever type a value was written with: a blob where text belongs (written
/// by hand, or by another tool) fails the page that holds it with an opaque 500, the cause
/// logged, and leaves every other page and the process answering.
#[actix_web::test]
async fn a_corrupt_row_fails_its_page_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    for (day, text) in [("2026-01-01", "old"), ("2026-01-02", "corrupt")] {
        post(
            &app,
            &token,
            "/v1/financial/transactions",
            json!({"account_id": acc,
            "booked_date": day, "amount": "-1.00", "description": text}),
        )
        .await;
    }
    let url = app.db.as_ref().expect("db").url().to_owned();
    let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
    sqlx::query("UPDATE fin_transactions SET description = X'00FF' WHERE description = 'corrupt'")
        .execute(&pool)
        .await
        .expect("corrupt");
    pool.close().await;
    for query in ["limit=5", "limit=5&q=o"] {
        let res = app
            .call(
                "GET",
                &format!("/v1/financial/transactions?{query}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(res.status().as_u16(), 500, "{query}");
        let p: Value = res.json().await.expect("json");
        assert_eq!(
            (p["code"].as_str(), p["detail"].as_str()),
            (
                Some("internal"),
                Some("internal error; the server log has the details")
            )
        );
    }
    let rest = txs(&app, &token, "to=2026-01-01").await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["description"], "old");
    app.stop().await;
}

/// The page's quick read selects `NULL` for the columns it does not show (`SHOWN_COLUMNS`);
/// a search too slow for the quick paths (SQLite's read on the request's thread gives up
/// after its budget; Postgres text searches use the pool) reads whole rows again. Over 20k
/// imported-looking rows (a dedupe key, an automatic category) both paths give what the
/// single read gives.
async fn a_slow_text_search_reads_every_column_the_quick_path_skips(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&crate::helpers::test_settings(&url).database)
        .await
        .expect("connect");
    let rows = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
            SELECT i FROM n"
        }
        Backend::Postgres => "SELECT i FROM generate_series(1, 20000) AS i",
    };
    let insert = format!(
        "INSERT INTO fin_transactions (id, account_id, booked_date, amount, amount_e4, currency, \
         description, search, dedupe_key, status, category_locked, auto_tier, created_at, updated_at) \
         SELECT 'tx' || i, $1, '2026-02-0' || (i % 9 + 1), '-1.5', -15000, 'EUR', \
         CASE WHEN i % 5000 = 0 THEN 'Needle ' || i ELSE 'Hay ' || i END, \
         CASE WHEN i % 5000 = 0 THEN 'needle ' || i ELSE 'hay ' || i END, \
         'h:' || i, 'booked', {no}, 'model', 0, 0 FROM ({rows}) AS r",
        no = if backend == Backend::Sqlite {
            "0"
        } else {
            "FALSE"
        },
    );
    db.execute(ai_service::db::Sql::new(insert).bind(acc.as_str()))
        .await
        .expect("seed");
    db.close().await;
    let found = txs(&app, &token, "q=needle").await;
    assert_eq!(found.len(), 4, "{found:#?}");
    for item in &found {
        let id = item["id"].as_str().expect("id");
        let one = get(&app, &token, &format!("/v1/financial/transactions/{id}")).await;
        assert_eq!(item, &one);
    }
    // And the quick path over the same rows.
    let page = get(&app, &token, "/v1/financial/transactions?limit=20").await;
    for item in page["items"].as_array().expect("items").clone() {
        let id = item["id"].as_str().expect("id");
        let one = get(&app, &token, &format!("/v1/financial/transactions/{id}")).await;
        assert_eq!(item, one);
    }
    if backend == Backend::Sqlite {
        let metrics = app.get("/metrics").await.text().await.expect("metrics");
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("db_inline_reads_total{outcome=\"offloaded\"}")),
            "the search ran on the request's thread, not the slow path:\n{metrics}"
        );
    }
    app.stop().await;
}

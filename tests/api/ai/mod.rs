//! The AI core against local fakes of OpenAI and Anthropic: structured categorization in
//! batches with thresholds and redaction, repair-then-abstain, the ask tool loop (refused
//! mutations, step limit, cache), retries honouring retry-after, quota never retried, the
//! circuit breaker and readiness `degraded`, the budget stop, timeouts, usage and prompts.

mod fake;
mod telegram;

use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use ai_service::config::{AiProvider, ModelPrice, Secret, Settings};
use fake::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::Duration;

on_both_backends!(
    categorization_batches_thresholds_redaction_and_usage,
    a_choice_made_while_the_llm_thinks_is_never_overwritten
);

const KEY: &str = "sk-test-key-0123456789";

async fn app_with(
    backend: Backend,
    provider: AiProvider,
    fake: &FakeLlm,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut s = test_settings(db.url());
    s.ai.provider = provider;
    s.ai.model = "gpt-test".to_owned();
    s.ai.base_url = match provider {
        AiProvider::Anthropic => fake.address.clone(),
        _ => format!("{}/v1", fake.address),
    };
    s.ai.api_key = Secret::new(KEY);
    s.ai.timeout_secs = 5;
    tweak(&mut s);
    let mut app = TestApp::with_settings(s).await;
    app.db = Some(db);
    app
}

async fn ask(app: &TestApp, token: &str, question: &str) -> (u16, Value) {
    let res = app
        .call(
            "POST",
            "/v1/ai/ask",
            Some(token),
            Some(json!({"question": question})),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let res = app.call("POST", path, Some(token), Some(body)).await;
    let status = res.status().as_u16();
    let v: Value = res.json().await.expect("json");
    assert!((200..300).contains(&status), "{path}: {status} {v:#}");
    v
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.call("GET", path, Some(token), None).await;
    assert_eq!(res.status().as_u16(), 200, "{path}");
    res.json().await.expect("json")
}

/// The fake model's categorizer: MERCADONA → groceries (sure), NETFLIX → fun (unsure),
/// anything else → null. Reads refs and categories from the request, as a model would.
fn categorizing_model(body: &Value) -> Reply {
    let input: Value = body["messages"][1]["content"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let id_of = |name: &str| {
        input["categories"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .map(|c| c["id"].clone())
            .unwrap_or(Value::Null)
    };
    let results: Vec<Value> = input["transactions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let d = t["description"].as_str().unwrap_or_default();
            let (cat, conf) = if d.contains("MERCADONA") {
                (id_of("Groceries"), 0.95)
            } else if d.contains("NETFLIX") {
                (id_of("Fun"), 0.5)
            } else {
                (Value::Null, 0.2)
            };
            json!({"ref": t["ref"], "category_id": cat, "confidence": conf})
        })
        .collect();
    openai_content(&json!({"results": results}).to_string())
}

async fn categorization_batches_thresholds_redaction_and_usage(backend: Backend) {
    let fake = FakeLlm::start().await;
    fake.respond(categorizing_model);
    let app = app_with(backend, AiProvider::Openai, &fake, |s| {
        s.ai.prices.insert(
            "gpt-test".to_owned(),
            ModelPrice {
                input_per_mtok: Decimal::from(1),
                output_per_mtok: Decimal::from(2),
            },
        );
    })
    .await;
    let token = app.token_for("trader").await;
    let admin = app.token_for("admin").await;
    let acc = post(&app, &token, "/v1/financial/accounts",
        json!({"name": "Main", "account_type": "checking", "currency": "EUR", "opening_balance": "0"})).await["id"]
        .as_str().expect("id").to_owned();
    let groceries = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Groceries", "kind": "expense"}),
    )
    .await["id"]
        .clone();
    let fun = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Fun", "kind": "expense"}),
    )
    .await["id"]
        .clone();
    for i in 0..30 {
        let description = match i % 3 {
            0 => "NETFLIX.COM".to_owned(),
            1 => format!("MERCADONA VALENCIA {i}"),
            _ => format!(
                "TRANSFER TO ES91 2100 0418 4502 0005 1332 ana.k@example.com card 4111 1111 1111 1111 #{i}"
            ),
        };
        post(&app, &token, "/v1/financial/transactions", json!({"account_id": acc,
            "booked_date": format!("2026-10-{:02}", 1 + i % 28), "amount": "-10.00", "description": description})).await;
    }
    post(
        &app,
        &token,
        "/v1/financial/categorization/backfill",
        json!({"from": "2026-10-01", "to": "2026-10-31"}),
    )
    .await;
    let txs = eventually(
        Duration::from_secs(20),
        "LLM-categorized groceries",
        || async {
            let page = get(&app, &token, "/v1/financial/transactions?limit=100").await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            let applied = items
                .iter()
                .filter(|t| t["categorized_by"] == "llm")
                .count();
            let suggested = items
                .iter()
                .filter(|t| !t["suggested_category_id"].is_null())
                .count();
            if (applied, suggested) == (10, 10) {
                Ok(items)
            } else {
                Err((applied, suggested))
            }
        },
    )
    .await;
    for t in &txs {
        let d = t["description"].as_str().unwrap_or_default();
        if d.contains("MERCADONA") {
            assert_eq!(
                (&t["category_id"], &t["categorized_by"]),
                (&groceries, &json!("llm")),
                "{t:#}"
            );
        } else if d.contains("NETFLIX") {
            // Below finance.llm_threshold (0.8): a suggestion, not applied.
            assert!(t["category_id"].is_null(), "{t:#}");
            assert_eq!(t["suggested_category_id"], fun, "{t:#}");
            assert_eq!(t["suggestion_confidence"], json!(0.5));
        } else {
            assert!(
                t["category_id"].is_null() && t["suggested_category_id"].is_null(),
                "{t:#}"
            );
        }
    }
    // 30 uncategorized transactions: two batches (25 + 5), strict schema, nothing sensitive.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "one request per batch");
    let mut sizes: Vec<usize> = requests
        .iter()
        .map(|r| {
            r.body["response_format"]["json_schema"]["schema"]["properties"]["results"]["items"]
                    ["properties"]["ref"]["enum"]
                    .as_array()
                    .map_or(0, Vec::len)
        })
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![5, 25]);
    for r in &requests {
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(
            r.body["response_format"]["json_schema"]["strict"],
            json!(true)
        );
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "authorization" && v == &format!("Bearer {KEY}"))
        );
        for secret in [
            "2100 0418",
            "ES91",
            "ana.k@example.com",
            "4111 1111",
            "-10.00",
        ] {
            assert!(
                !r.raw.contains(secret),
                "`{secret}` left the process: {}",
                r.raw
            );
        }
    }
    // Usage: two categorize calls, each 1000 input + 100 output tokens at 1 and 2 USD/Mtok.
    let usage = get(&app, &admin, "/v1/ai/usage").await;
    let line = usage["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["purpose"] == "categorize"))
        .cloned()
        .expect("line");
    assert_eq!(
        (
            line["calls"].as_i64(),
            line["answered"].as_i64(),
            line["input_tokens"].as_i64()
        ),
        (Some(2), Some(2), Some(2000)),
        "{usage:#}"
    );
    assert_eq!(
        Decimal::from_str(line["cost_usd"].as_str().unwrap_or("x")).ok(),
        Decimal::from_str("0.0024").ok(),
        "{usage:#}"
    );
    // The spend as a counter, and the request durations (and the backfill job's) as
    // histograms with buckets, as the dashboard and the alerts query them.
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(metrics.contains("# TYPE llm_cost_usd_total counter\n"));
    let spent = metrics
        .lines()
        .find_map(|l| l.strip_prefix("llm_cost_usd_total "))
        .and_then(|v| Decimal::from_str(v).ok())
        .expect("llm_cost_usd_total sample");
    // Process-wide: other tests' calls may add to it, never take away.
    assert!(
        spent >= Decimal::from_str("0.0024").expect("dec"),
        "{spent}"
    );
    for family in ["llm_request_duration_seconds", "job_duration_seconds"] {
        assert!(
            metrics.contains(&format!("# TYPE {family} histogram\n")),
            "{family} is not a histogram with buckets"
        );
    }
    // The llm tier's acceptance: of 10 applied, one changed and one confirmed; of 10
    // suggestions, one taken and one passed over (another category chosen).
    let of = |needle: &str| -> Vec<String> {
        txs.iter()
            .filter(|t| {
                t["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(needle))
            })
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (mercadona, netflix) = (of("MERCADONA"), of("NETFLIX"));
    for (id, category) in [
        (&mercadona[0], &fun),
        (&mercadona[1], &groceries),
        (&netflix[0], &fun),
        (&netflix[1], &groceries),
    ] {
        let res = app
            .call(
                "PATCH",
                &format!("/v1/financial/transactions/{id}"),
                Some(&token),
                Some(json!({"category_id": category})),
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let stats = get(&app, &token, "/v1/financial/categorization/stats").await;
    let llm = &stats["llm"];
    assert_eq!(
        [
            &llm["applied_kept"],
            &llm["applied_changed"],
            &llm["suggestions_open"],
            &llm["suggestions_accepted"],
            &llm["suggestions_rejected"]
        ],
        [&json!(9), &json!(1), &json!(8), &json!(1), &json!(1)],
        "{stats:#}"
    );
    let close = |v: &Value, x: f64| v.as_f64().is_some_and(|f| (f - x).abs() < 1e-9);
    assert!(close(&llm["coverage"], 20.0 / 30.0), "{stats:#}");
    assert!(close(&llm["acceptance_rate"], 10.0 / 12.0), "{stats:#}");
    assert!(close(&llm["suggestion_acceptance_rate"], 0.5), "{stats:#}");
    let tier = stats["tiers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["tier"] == "llm"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&tier["categorized"], &tier["corrected"]),
        (&json!(10), &json!(1)),
        "{stats:#}"
    );
    // The Telegram keyboard of an uncategorized transaction offers the suggestion first.
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let row = ai_service::finance::transactions::get(&db, &netflix[2])
        .await
        .expect("read")
        .expect("row");
    let offered = ai_service::telegram::finance::suggestions(&db, &row)
        .await
        .expect("suggestions");
    db.close().await;
    assert_eq!(
        offered.first().map(|(id, _)| json!(id)),
        Some(fun.clone()),
        "{offered:?}"
    );
    // A viewer may ask but not read usage.
    let viewer = app.token_for("viewer").await;
    assert_eq!(
        app.call("GET", "/v1/ai/usage", Some(&viewer), None)
            .await
            .status()
            .as_u16(),
        403
    );
    app.stop().await;
}

#[actix_web::test]
async fn not_configured_is_a_503_problem_and_readiness_degraded() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.token_for("admin").await;
    let (status, body) = ask(&app, &token, "how much on food?").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("ai_not_configured")),
        "{body:#}"
    );
    let res = app.call("GET", "/v1/ai/prompts", Some(&token), None).await;
    assert_eq!(res.status().as_u16(), 503);
    let ready = app.wait_ready_status(200).await;
    assert_eq!(ready["degraded"], json!(["llm-provider"]), "{ready:#}");
    // Usage is a read of stored calls: a provider switched off later leaves them readable.
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let call = actors::ai::engine::CallRecord {
        purpose: "ask".to_owned(),
        template: "ask".to_owned(),
        template_version: 1,
        provider: "openai".to_owned(),
        model: "gpt-test".to_owned(),
        input_tokens: 1000,
        output_tokens: 100,
        cost_usd: Decimal::from_str("0.0012").expect("dec"),
        latency_ms: 5,
        outcome: "ok".to_owned(),
        trace_id: "t".to_owned(),
    };
    let at = chrono::DateTime::parse_from_rfc3339("2026-10-05T12:00:00Z").expect("date");
    ai_service::ai::store::insert(&db, &call, at.timestamp_millis(), "2026-10")
        .await
        .expect("insert");
    db.close().await;
    let usage = get(&app, &token, "/v1/ai/usage?month=2026-10").await;
    assert_eq!(
        (usage["provider"].as_str(), usage["breaker"].is_null()),
        (Some("none"), true),
        "{usage:#}"
    );
    assert_eq!(usage["spent_usd"], "0.0012", "{usage:#}");
    assert_eq!(usage["lines"][0]["calls"], 1, "{usage:#}");
    assert_eq!(usage["lines"][0]["model"], "gpt-test", "{usage:#}");
    app.stop().await;
}

#[actix_web::test]
async fn invalid_answers_are_repaired_once_then_the_tier_abstains() {
    let fake = FakeLlm::start().await;
    let bad = openai_content(
        r#"{"results": [{"ref": "t1", "category_id": "made_up", "confidence": 0.99}]}"#,
    );
    fake.push(bad.clone());
    fake.push(openai_content("not json at all"));
    let app = app_with(Backend::Sqlite, AiProvider::Openai, &fake, |_| {}).await;
    let token = app.token_for("trader").await;
    let acc = post(&app, &token, "/v1/financial/accounts",
        json!({"name": "Main", "account_type": "checking", "currency": "EUR", "opening_balance": "0"})).await["id"]
        .as_str().expect("id").to_owned();
    post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Groceries", "kind": "expense"}),
    )
    .await;
    post(
        &app,
        &token,
        "/v1/financial/transactions",
        json!({"account_id": acc,
        "booked_date": "2026-10-03", "amount": "-5.00", "description": "SOMETHING"}),
    )
    .await;
    post(
        &app,
        &token,
        "/v1/financial/categorization/backfill",
        json!({"from": "2026-10-01", "to": "2026-10-31"}),
    )
    .await;
    eventually(Duration::from_secs(10), "a repair attempt", || async {
        if fake.count() >= 2 {
            Ok(())
        } else {
            Err(fake.count())
        }
    })
    .await;
    let repair = &fake.requests()[1];
    let last = repair.body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    assert!(
        last["content"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match"),
        "{last:#}"
    );
    // Abstained: still uncategorized, and no third request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.count(), 2);
    let page = get(&app, &token, "/v1/financial/transactions").await;
    assert!(page["items"][0]["category_id"].is_null(), "{page:#}");
    app.stop().await;
}

#[actix_web::test]
async fn ask_with_anthropic_tools_refuses_mutations_and_caches() {
    let fake = FakeLlm::start().await;
    fake.push(anthropic_tool_use(&[
        ("toolu_1", "delete_transaction", json!({"id": "x"})),
        ("toolu_2", "list_accounts", json!({})),
    ]));
    fake.push(anthropic_text(
        "You have 1 account, Main. Your IBAN is [IBAN_1].",
    ));
    let app = app_with(Backend::Sqlite, AiProvider::Anthropic, &fake, |s| {
        s.ai.model = "claude-test".to_owned()
    })
    .await;
    let token = app.token_for("trader").await;
    post(&app, &token, "/v1/financial/accounts",
        json!({"name": "Main", "account_type": "checking", "currency": "EUR", "opening_balance": "0"})).await;
    let q = "How many accounts do I have? My IBAN is ES91 2100 0418 4502 0005 1332";
    let (status, body) = ask(&app, &token, q).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"], "answered");
    assert_eq!(
        body["answer"],
        "You have 1 account, Main. Your IBAN is ES91 2100 0418 4502 0005 1332."
    );
    assert_eq!(body["tool_calls"][0]["name"], "delete_transaction");
    assert_eq!(body["tool_calls"][0]["refused"], json!(true));
    assert_eq!(body["tool_calls"][1]["refused"], json!(false));
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 1600, "output_tokens": 120})
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    let header = |r: &Recorded, k: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header(&reqs[0], "x-api-key").as_deref(), Some(KEY));
    assert_eq!(
        header(&reqs[0], "anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(reqs[0].path, "/v1/messages");
    // Both tool results go back in one user turn, the refusal among them.
    let results = reqs[1].body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        results["content"].as_array().map(Vec::len),
        Some(2),
        "{results:#}"
    );
    assert!(results.to_string().contains("not an available tool"));
    for r in &reqs {
        assert!(!r.raw.contains("2100 0418"), "IBAN left the process");
    }
    // The same question again: from the cache, no request.
    let (status, again) = ask(&app, &token, &q.to_lowercase()).await;
    assert_eq!(
        (status, again["cached"].as_bool()),
        (200, Some(true)),
        "{again:#}"
    );
    assert_eq!(fake.count(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn ask_reads_month_end_balances() {
    let fake = FakeLlm::start().await;
    fake.push(openai_tool_calls(&[(
        "call_1",
        "balance_by_month",
        json!({"from": null, "to": null, "account_id": null}),
    )]));
    fake.push(openai_content("Main ended October 2026 at 1224.56 EUR."));
    let app = app_with(Backend::Sqlite, AiProvider::Openai, &fake, |_| {}).await;
    let token = app.token_for("trader").await;
    let acc = post(&app, &token, "/v1/financial/accounts",
        json!({"name": "Main", "account_type": "checking", "currency": "EUR", "opening_balance": "1234.56"})).await["id"]
        .as_str().expect("id").to_owned();
    post(
        &app,
        &token,
        "/v1/financial/transactions",
        json!({"account_id": acc,
        "booked_date": "2026-10-05", "amount": "-10.00", "description": "BAKERY"}),
    )
    .await;
    let (status, body) = ask(&app, &token, "What was my balance at the end of October?").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("answered")),
        "{body:#}"
    );
    assert_eq!(body["tool_calls"][0]["name"], "balance_by_month");
    assert_eq!(body["tool_calls"][0]["refused"], json!(false));
    // The month-end balance the answer quotes is what the tool returned to the model.
    let reqs = fake.requests();
    assert!(reqs[1].raw.contains("1224.56"), "{}", reqs[1].raw);
    app.stop().await;
}

#[actix_web::test]
async fn ask_stops_at_the_step_limit() {
    let fake = FakeLlm::start().await;
    fake.respond(|_| openai_tool_calls(&[("call_1", "list_accounts", json!({}))]));
    let app = app_with(Backend::Sqlite, AiProvider::Openai, &fake, |s| {
        s.ai.max_tool_steps = 2
    })
    .await;
    let token = app.token_for("viewer").await;
    let (status, body) = ask(&app, &token, "loop forever").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("abstained")),
        "{body:#}"
    );
    assert_eq!(
        fake.count(),
        3,
        "two tool steps, the third reply ends the loop"
    );
    assert_eq!(body["tool_calls"].as_array().map(Vec::len), Some(2));
    app.stop().await;
}

#[actix_web::test]
async fn retries_honour_retry_after_quota_is_final_and_the_breaker_opens() {
    let fake = FakeLlm::start().await;
    fake.push(openai_error(429, "requests", "rate_limit_exceeded").retry_after("0"));
    fake.push(openai_error(503, "server_error", "overloaded").retry_after("0"));
    fake.push(openai_content("Hello."));
    let app = app_with(Backend::Sqlite, AiProvider::Openai, &fake, |s| {
        s.ai.max_retries = 2;
        s.ai.breaker_threshold = 3;
        s.ai.breaker_cool_down_secs = 60;
    })
    .await;
    let token = app.token_for("admin").await;
    let (status, body) = ask(&app, &token, "hi").await;
    assert_eq!(
        (status, body["answer"].as_str()),
        (200, Some("Hello.")),
        "{body:#}"
    );
    assert_eq!(fake.count(), 3);
    // Quota: never retried.
    fake.push(openai_error(
        429,
        "insufficient_quota",
        "insufficient_quota",
    ));
    let (status, body) = ask(&app, &token, "again").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("ai_unavailable")),
        "{body:#}"
    );
    assert_eq!(fake.count(), 4);
    // A 400 (our request is wrong): sending it again would not help, so it is not retried.
    fake.push(openai_error(400, "invalid_request_error", "invalid_value"));
    let (status, body) = ask(&app, &token, "bad request").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("ai_unavailable")),
        "{body:#}"
    );
    assert_eq!(fake.count(), 5);
    // Three 500s in a row open the breaker; the next question makes no request.
    for _ in 0..3 {
        fake.push(openai_error(500, "server_error", "server_error").retry_after("0"));
    }
    let (status, _) = ask(&app, &token, "third").await;
    assert_eq!(status, 503);
    assert_eq!(fake.count(), 8);
    let (status, body) = ask(&app, &token, "fourth").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("ai_unavailable")),
        "{body:#}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("circuit breaker"),
        "{body:#}"
    );
    assert_eq!(fake.count(), 8, "no request while the breaker is open");
    // Degraded, never unready.
    let ready = app.wait_ready_status(200).await;
    assert_eq!(ready["degraded"], json!(["llm-provider"]), "{ready:#}");
    let usage = get(&app, &token, "/v1/ai/usage").await;
    assert_eq!(usage["breaker"], "open", "{usage:#}");
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("llm_requests_total{"),
        "metrics lack llm_requests_total"
    );
    assert!(metrics.contains("outcome=\"rate_limited\""));
    app.stop().await;
}

#[actix_web::test]
async fn anthropic_529_is_retried_and_timeouts_give_up() {
    let fake = FakeLlm::start().await;
    fake.push(anthropic_error(529, "overloaded_error").retry_after("0"));
    fake.push(anthropic_text("Fine."));
    let app = app_with(Backend::Sqlite, AiProvider::Anthropic, &fake, |s| {
        s.ai.max_retries = 1;
        s.ai.timeout_secs = 1;
    })
    .await;
    let token = app.token_for("viewer").await;
    let (status, body) = ask(&app, &token, "ok?").await;
    assert_eq!(
        (status, body["answer"].as_str()),
        (200, Some("Fine.")),
        "{body:#}"
    );
    assert_eq!(fake.count(), 2);
    fake.push(anthropic_text("late").delayed(Duration::from_secs(3)));
    fake.push(anthropic_text("late").delayed(Duration::from_secs(3)));
    let (status, body) = ask(&app, &token, "slow?").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("ai_unavailable")),
        "{body:#}"
    );
    assert_eq!(fake.count(), 4, "one retry after the timeout");
    // Auth errors are final too.
    fake.push(anthropic_error(401, "authentication_error"));
    let (status, _) = ask(&app, &token, "auth?").await;
    assert_eq!((status, fake.count()), (503, 5));
    // A rate limit without retry-after: retried after our own (jittered) backoff.
    fake.push(anthropic_error(429, "rate_limit_error"));
    fake.push(anthropic_text("Later."));
    let (status, body) = ask(&app, &token, "busy?").await;
    assert_eq!(
        (status, body["answer"].as_str()),
        (200, Some("Later.")),
        "{body:#}"
    );
    assert_eq!(fake.count(), 7);
    app.stop().await;
}

#[actix_web::test]
async fn the_budget_stops_calls_before_they_go_out() {
    let fake = FakeLlm::start().await;
    fake.respond(|_| openai_content("Yes."));
    let app = app_with(Backend::Sqlite, AiProvider::Openai, &fake, |s| {
        s.ai.max_tokens = 100;
        s.ai.monthly_budget_usd = Decimal::from_str("0.15").expect("dec");
        s.ai.prices.insert(
            "gpt-test".to_owned(),
            ModelPrice {
                input_per_mtok: Decimal::from(100),
                output_per_mtok: Decimal::from(100),
            },
        );
    })
    .await;
    let token = app.token_for("admin").await;
    let (status, _) = ask(&app, &token, "first?").await;
    assert_eq!(status, 200);
    // 1100 tokens at 100 USD/Mtok = 0.11 spent; the next call's reservation would pass 0.15.
    let (status, body) = ask(&app, &token, "second?").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("ai_budget_exhausted")),
        "{body:#}"
    );
    assert_eq!(fake.count(), 1, "refused before the request");
    let usage = get(&app, &token, "/v1/ai/usage").await;
    assert_eq!(usage["spent_usd"], "0.11", "{usage:#}");
    assert_eq!(usage["remaining_usd"], "0.04", "{usage:#}");
    let prompts = get(&app, &token, "/v1/ai/prompts").await;
    assert_eq!(
        prompts["items"].as_array().map(Vec::len),
        Some(2),
        "{prompts:#}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn the_key_comes_from_the_integration_secret_and_prompts_from_the_data_dir() {
    const STORED: &str = "sk-from-settings-4321";
    let fake = FakeLlm::start().await;
    fake.respond(|_| openai_content("Hello."));
    let prompts = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        prompts.path().join("ask.txt"),
        "version: 7\n---\nYou are the owner's own prompt.\n",
    )
    .expect("write");
    let dir = prompts.path().display().to_string();
    let app = app_with(Backend::Sqlite, AiProvider::Openai, &fake, |s| {
        s.ai.api_key = Secret::new("");
        s.ai.prompts_dir = dir;
    })
    .await;
    let admin = app.token_for("admin").await;
    let res = app
        .call(
            "PUT",
            "/v1/settings/integrations/default/openai",
            Some(&admin),
            Some(json!({"mode": "live", "secrets": {"api_key": STORED}})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let (status, body) = ask(&app, &admin, "hi").await;
    assert_eq!(
        (status, body["answer"].as_str()),
        (200, Some("Hello.")),
        "{body:#}"
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0]
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == &format!("Bearer {STORED}")),
        "the stored key is sent: {:?}",
        reqs[0].headers
    );
    assert!(
        reqs[0].raw.contains("You are the owner's own prompt."),
        "{}",
        reqs[0].raw
    );
    let listed = get(&app, &admin, "/v1/ai/prompts").await;
    let ask_prompt = listed["items"]
        .as_array()
        .and_then(|i| i.iter().find(|p| p["name"] == "ask"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&ask_prompt["version"], &ask_prompt["source"]),
        (&json!(7), &json!("override")),
        "{listed:#}"
    );
    let usage = get(&app, &admin, "/v1/ai/usage").await;
    assert_eq!(usage["lines"][0]["calls"], json!(1), "{usage:#}");
    app.stop().await;
}

/// The user categorizes transactions while their batch is with the model: the late answer
/// neither overwrites the choice (tier `llm` never replaces a user's category) nor leaves a
/// suggestion on it; the untouched transaction of the same batch is applied as usual.
async fn a_choice_made_while_the_llm_thinks_is_never_overwritten(backend: Backend) {
    let fake = FakeLlm::start().await;
    fake.respond(|body| categorizing_model(body).delayed(Duration::from_millis(1500)));
    let app = app_with(backend, AiProvider::Openai, &fake, |_| {}).await;
    let token = app.token_for("trader").await;
    let acc = post(&app, &token, "/v1/financial/accounts",
        json!({"name": "Main", "account_type": "checking", "currency": "EUR", "opening_balance": "0"})).await["id"]
        .as_str().expect("id").to_owned();
    let mut made = Vec::new();
    for name in ["Groceries", "Fun"] {
        let c = post(
            &app,
            &token,
            "/v1/financial/categories",
            json!({"name": name, "kind": "expense"}),
        )
        .await;
        made.push(c["id"].clone());
    }
    let (groceries, fun) = (made[0].clone(), made[1].clone());
    let mut ids = Vec::new();
    for description in [
        "MERCADONA VALENCIA 1",
        "MERCADONA VALENCIA 2",
        "NETFLIX.COM",
    ] {
        let t = post(
            &app,
            &token,
            "/v1/financial/transactions",
            json!({"account_id": acc,
            "booked_date": "2026-10-05", "amount": "-10.00", "description": description}),
        )
        .await;
        ids.push(t["id"].as_str().expect("id").to_owned());
    }
    let job = post(
        &app,
        &token,
        "/v1/financial/categorization/backfill",
        json!({"from": "2026-10-01", "to": "2026-10-31"}),
    )
    .await["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
    eventually(Duration::from_secs(10), "the batch sent", || async {
        if fake.count() == 1 {
            Ok(())
        } else {
            Err(fake.count())
        }
    })
    .await;
    // While the model thinks: the second MERCADONA to Fun, NETFLIX to Groceries.
    for (id, chosen) in [(&ids[1], &fun), (&ids[2], &groceries)] {
        let res = app
            .call(
                "PATCH",
                &format!("/v1/financial/transactions/{id}"),
                Some(&token),
                Some(json!({"category_id": chosen})),
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
    }
    eventually(Duration::from_secs(20), "the backfill job done", || async {
        let j = get(&app, &token, &format!("/v1/jobs/{job}")).await;
        if j["state"] == "completed" {
            Ok(())
        } else {
            Err(j)
        }
    })
    .await;
    let path = |id: &str| format!("/v1/financial/transactions/{id}");
    let applied = get(&app, &token, &path(&ids[0])).await;
    assert_eq!(
        (&applied["category_id"], &applied["categorized_by"]),
        (&groceries, &json!("llm")),
        "{applied:#}"
    );
    for (id, chosen) in [(&ids[1], &fun), (&ids[2], &groceries)] {
        let t = get(&app, &token, &path(id)).await;
        assert_eq!(
            (&t["category_id"], &t["categorized_by"]),
            (chosen, &json!("user")),
            "{t:#}"
        );
        assert!(t["suggested_category_id"].is_null(), "{t:#}");
    }
    assert_eq!(fake.count(), 1);
    app.stop().await;
}

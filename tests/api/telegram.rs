//! The Telegram bot end to end against a local fake Bot API (`telegram_fake.rs`): polling
//! (offsets, 409, 429, a server ignoring `timeout`, stale updates after a restart), linking,
//! role refusal, confirmations, the webhook, notifications without duplicates.

use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use crate::telegram_fake::{FakeBotApi, TOKEN};
use ai_service::config::{Secret, Settings};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    link_codes_link_once_and_expire,
    viewer_is_refused_trading_from_chat,
    confirmation_yes_no_and_someone_elses_button,
    notifications_are_not_repeated_after_a_restart,
    document_import_then_category_tap,
    old_notification_dedupe_rows_are_pruned,
    sync_one_account_by_name,
    uncategorized_lists_with_buttons_and_a_tap_works
);

fn settings(db: &TestDb, fake: &FakeBotApi) -> Settings {
    let mut s = test_settings(db.url());
    s.telegram.enabled = true;
    s.telegram.api_base_url = fake.url.clone();
    s.telegram.bot_token = Secret::new(TOKEN);
    s.telegram.poll_timeout_secs = 1;
    s.telegram.per_chat_interval_ms = 10;
    s
}

async fn app_with(db: TestDb, settings: Settings) -> TestApp {
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    app
}

async fn spawn(backend: Backend, fake: &FakeBotApi) -> TestApp {
    let db = TestDb::new(backend).await;
    let s = settings(&db, fake);
    app_with(db, s).await
}

pub(crate) fn text(v: &Value) -> String {
    v["text"].as_str().unwrap_or_default().to_owned()
}

/// Links Telegram user `tg` to a new user with `role`; returns that user's access token.
pub(crate) async fn link(app: &TestApp, fake: &FakeBotApi, tg: i64, role: &str) -> String {
    let token = app.token_for(role).await;
    let res = app
        .call("POST", "/v1/telegram/link-codes", Some(&token), None)
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.expect("json");
    let code = body["code"].as_str().expect("code").to_owned();
    assert!(body["expires_at"].is_string());
    let before = fake.sent_to(tg).len();
    fake.text_from(tg, &format!("/link {code}"), 0);
    let reply = fake.reply(tg, before + 1).await;
    assert!(text(&reply).contains("Linked"), "{reply}");
    token
}

async fn link_with_code(app: &TestApp, fake: &FakeBotApi, tg: i64, code: &str) -> String {
    let before = fake.sent_to(tg).len();
    fake.text_from(tg, &format!("/link {code}"), 0);
    let _ = app;
    text(&fake.reply(tg, before + 1).await)
}

async fn link_codes_link_once_and_expire(backend: Backend) {
    let fake = FakeBotApi::start().await;
    let app = spawn(backend, &fake).await;
    // Someone unknown gets one fixed hint, however often they write; each try is audited.
    fake.text_from(777, "/status", 0);
    assert!(text(&fake.reply(777, 1).await).contains("only answers linked accounts"));
    fake.text_from(777, "/stop all", 0);
    fake.text_from(777, "/help", 0);
    let token = app.token_for("trader").await;
    let res = app
        .call("POST", "/v1/telegram/link-codes", Some(&token), None)
        .await;
    let code = res.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    assert!(
        link_with_code(&app, &fake, 101, "NOPE1234")
            .await
            .contains("unknown code")
    );
    assert!(
        link_with_code(&app, &fake, 101, &code)
            .await
            .contains("Linked")
    );
    // Reused, by the same or someone else: refused.
    assert!(
        link_with_code(&app, &fake, 102, &code)
            .await
            .contains("already used")
    );
    // Expired.
    let db =
        ai_service::db::Db::connect(&test_settings(app.db.as_ref().expect("db").url()).database)
            .await
            .expect("connect");
    let users = ai_service::db::users::list(&db).await.expect("users");
    let trader = users.iter().find(|u| u.role == "trader").expect("trader");
    ai_service::telegram::store::insert_code(
        &db,
        "OLDCODE234",
        &trader.id,
        chrono::Utc::now() - chrono::Duration::minutes(1),
    )
    .await
    .expect("insert");
    assert!(
        link_with_code(&app, &fake, 103, "OLDCODE234")
            .await
            .contains("expired")
    );
    db.close().await;
    // The linked user is answered; links are listed for admins only.
    fake.text_from(101, "/status", 0);
    assert!(text(&fake.reply(101, 3).await).contains("No strategies yet"));
    let admin = app.token_for("admin").await;
    let links: Value = app
        .call("GET", "/v1/telegram/links", Some(&admin), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(links.as_array().map(Vec::len), Some(1), "{links}");
    assert_eq!(links[0]["telegram_user_id"], 101);
    assert_eq!(
        app.call("GET", "/v1/telegram/links", Some(&token), None)
            .await
            .status()
            .as_u16(),
        403
    );
    assert_eq!(fake.sent_to(777).len(), 1, "the hint is rate-limited");
    let audit: Value = app
        .call(
            "GET",
            "/v1/audit?action=telegram.unlinked&limit=50",
            Some(&admin),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    eventually(Duration::from_secs(5), "3 unlinked audit rows", || async {
        let audit: Value = app
            .call(
                "GET",
                "/v1/audit?action=telegram.unlinked&limit=50",
                Some(&admin),
                None,
            )
            .await
            .json()
            .await
            .expect("json");
        let n = audit["items"]
            .as_array()
            .or(audit.as_array())
            .map_or(0, Vec::len);
        if n == 3 { Ok(()) } else { Err(audit) }
    })
    .await;
    let _ = audit;
    // Self-unlink works; the bot then treats them as unknown.
    assert_eq!(
        app.call("DELETE", "/v1/telegram/links/101", Some(&token), None)
            .await
            .status()
            .as_u16(),
        204
    );
    app.stop().await;
}

async fn viewer_is_refused_trading_from_chat(backend: Backend) {
    let fake = FakeBotApi::start().await;
    let app = spawn(backend, &fake).await;
    link(&app, &fake, 201, "viewer").await;
    fake.text_from(
        201,
        &format!("/deploy@{} btc-grid", crate::telegram_fake::BOT_USERNAME),
        0,
    );
    let reply = text(&fake.reply(201, 2).await);
    assert!(reply.contains("needs role <b>trader</b>"), "{reply}");
    // Reading is fine for a viewer.
    fake.text_from(201, "/jobs", 0);
    assert!(text(&fake.reply(201, 3).await).contains("Recent jobs"));
    app.stop().await;
}

async fn confirmation_yes_no_and_someone_elses_button(backend: Backend) {
    let fake = FakeBotApi::start().await;
    let app = spawn(backend, &fake).await;
    let token = link(&app, &fake, 301, "trader").await;
    link(&app, &fake, 302, "admin").await;
    crate::trading_api::create(&app, &token, crate::trading_api::always_buy("BTC-Grid")).await;
    // Case-insensitive names, with "did you mean" for typos.
    fake.text_from(301, "/deploy btc-gird", 0);
    assert!(text(&fake.reply(301, 2).await).contains("Did you mean"));
    // Deploy replies when the transition happened.
    fake.text_from(301, "/deploy btc-grid", 0);
    // (Its first fills may be announced before the reply: match by text.)
    let r = text(&fake.matching(301, "is now", 1).await);
    assert!(r.contains("is now <b>live</b>"), "{r}");
    // Stop all asks first.
    fake.text_from(301, "/stop all", 0);
    let ask = fake.matching(301, "Stop <b>all", 1).await;
    assert!(text(&ask).contains("Stop <b>all 1</b>"), "{ask}");
    let buttons = &ask["reply_markup"]["inline_keyboard"][0];
    let yes = buttons[0]["callback_data"]
        .as_str()
        .expect("yes")
        .to_owned();
    let no = buttons[1]["callback_data"].as_str().expect("no").to_owned();
    assert!(yes.len() <= 64 && no.len() <= 64);
    // Someone else's press: refused, and the button still works for its owner.
    fake.press(302, 301, 4242, &yes);
    eventually(
        Duration::from_secs(5),
        "answer to the wrong user",
        || async {
            let a = fake.calls("answerCallbackQuery");
            if a.iter().any(|b| b["text"] == "This button is not yours.") {
                Ok(())
            } else {
                Err(a)
            }
        },
    )
    .await;
    // No: nothing happens, the message says so.
    fake.press(301, 301, 4242, &no);
    eventually(Duration::from_secs(5), "cancelled edit", || async {
        let e = fake.calls("editMessageText");
        if e.iter().any(|b| text(b).contains("Cancelled")) {
            Ok(())
        } else {
            Err(e)
        }
    })
    .await;
    // Used up: pressing yes on the same keyboard now does nothing.
    fake.press(301, 301, 4242, &yes);
    eventually(Duration::from_secs(5), "no longer valid", || async {
        let a = fake.calls("answerCallbackQuery");
        if a.iter().any(|b| b["text"] == "No longer valid.") {
            Ok(())
        } else {
            Err(a)
        }
    })
    .await;
    // Ask again, say yes: stopped, reported in the edited message.
    fake.text_from(301, "/stop all", 0);
    // (Trade notifications arrive in between: find the question by its text.)
    let ask = fake.matching(301, "Stop <b>all", 2).await;
    let yes = ask["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .expect("yes")
        .to_owned();
    fake.press(301, 301, 4343, &yes);
    eventually(Duration::from_secs(20), "stopped edit", || async {
        let e = fake.calls("editMessageText");
        if e.iter().any(|b| text(b).contains("is now <b>stopped</b>")) {
            Ok(())
        } else {
            Err(e)
        }
    })
    .await;
    // /pnl answers with a chart (the strategy has fills) and the table.
    fake.text_from(301, "/pnl week", 0);
    fake.matching(301, "<b>PnL</b>", 1).await;
    eventually(Duration::from_secs(10), "a PnL chart", || async {
        let n = fake.calls("sendPhoto").len();
        if n == 1 { Ok(()) } else { Err(n) }
    })
    .await;
    // Every callback was answered (the client spinner stops).
    assert!(fake.calls("answerCallbackQuery").len() >= 4);
    app.stop().await;
}

async fn insert_outbox(url: &str, payload: Value) {
    let db = ai_service::db::Db::connect(&test_settings(url).database)
        .await
        .expect("connect");
    let sql = "INSERT INTO outbox (id, event_type, payload, trace_id, created_at) VALUES ($1, 'JobFailed', $2, 'test', $3)";
    let id = uuid::Uuid::now_v7().to_string();
    let payload = payload.to_string();
    let now = chrono::Utc::now().timestamp_millis();
    db.execute(
        ai_service::db::sql::Sql::new(sql)
            .bind(id)
            .bind(payload)
            .bind(now),
    )
    .await
    .expect("insert outbox");
    db.close().await;
}

fn job_failed(job_id: &str) -> Value {
    json!({"job_id": job_id, "queue": "financial", "name": "syncBank", "error": "bank said no", "dead": true, "trace_id": "t"})
}

async fn notifications_are_not_repeated_after_a_restart(backend: Backend) {
    let fake = FakeBotApi::start().await;
    let db = TestDb::new(backend).await;
    let url = db.url().to_owned();
    let s = settings(&db, &fake);
    let mut app = app_with(db, s.clone()).await;
    link(&app, &fake, 401, "viewer").await;
    insert_outbox(&url, job_failed("job-1")).await;
    let n = fake.reply(401, 2).await;
    assert!(text(&n).contains("syncBank failed for good"), "{n}");
    // Restart; the same event comes again (at-least-once delivery), then a new one.
    let db = app.db.take();
    app.stop().await;
    let app = app_with(db.expect("db"), s).await;
    insert_outbox(&url, job_failed("job-1")).await;
    insert_outbox(&url, job_failed("job-2")).await;
    let n = fake.reply(401, 3).await;
    assert!(text(&n).contains("failed for good"), "{n}");
    // Give a duplicate time to show up behind the marker, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job1 = fake
        .sent_to(401)
        .iter()
        .filter(|m| text(m).contains("failed for good"))
        .count();
    assert_eq!(job1, 2, "one message per event: {:?}", fake.sent_to(401));
    app.stop().await;
}

async fn old_notification_dedupe_rows_are_pruned(backend: Backend) {
    use ai_service::telegram::store::{
        NOTIFICATION_RETENTION_DAYS, claim_notification, prune_notifications,
    };
    let fake = FakeBotApi::start().await;
    let app = spawn(backend, &fake).await;
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    assert!(claim_notification(&db, "recent", 1).await.expect("claim"));
    let old = chrono::Utc::now() - chrono::TimeDelta::days(NOTIFICATION_RETENTION_DAYS + 1);
    db.execute(
        ai_service::db::sql::Sql::new(
            "INSERT INTO telegram_notifications (event_key, telegram_user_id, sent_at) VALUES ($1, $2, $3)",
        )
        .bind("old")
        .bind(1_i64)
        .bind(old),
    )
    .await
    .expect("insert old");
    let before = chrono::Utc::now() - chrono::TimeDelta::days(NOTIFICATION_RETENTION_DAYS);
    // At most the old row: the app's own pruning (first run at start-up) may get there first.
    assert!(prune_notifications(&db, before).await.expect("prune") <= 1);
    // The recent row is still claimed (a replay stays deduplicated); the old one is free again.
    assert!(!claim_notification(&db, "recent", 1).await.expect("claim"));
    assert!(claim_notification(&db, "old", 1).await.expect("claim"));
    db.close().await;
    app.stop().await;
}

async fn sync_one_account_by_name(backend: Backend) {
    let fake = FakeBotApi::start().await;
    let app = spawn(backend, &fake).await;
    let token = link(&app, &fake, 901, "trader").await;
    let linked = crate::finance_api::post(
        &app,
        &token,
        "/v1/financial/accounts",
        json!({"name": "Checking Main", "account_type": "checking", "currency": "USD",
            "opening_balance": "1.00", "external_ref": "ext-1"}),
    )
    .await;
    let linked = linked["id"].as_str().expect("id").to_owned();
    crate::finance_api::account(&app, &token, "Savings", "USD").await;
    // Case-insensitive, spaces allowed: one sync_bank job for that account only.
    fake.text_from(901, "/sync checking MAIN", 0);
    let ok = fake.matching(901, "requested", 1).await;
    let t = text(&ok);
    assert!(t.contains("Sync of <b>Checking Main</b>"), "{t}");
    let job_id = t
        .rsplit("(job ")
        .next()
        .and_then(|r| r.strip_suffix(")."))
        .expect("job id")
        .to_owned();
    let job = crate::finance_api::get(&app, &token, &format!("/v1/jobs/{job_id}")).await;
    assert_eq!(job["name"], "sync_bank", "{job}");
    assert_eq!(job["payload"]["account_id"], linked.as_str(), "{job}");
    // A typo is refused with the close name; nothing is enqueued.
    fake.text_from(901, "/sync chekcing main", 0);
    let t = text(&fake.matching(901, "Did you mean", 1).await);
    assert!(t.contains("<code>Checking Main</code>"), "{t}");
    // An account without a provider link says so.
    fake.text_from(901, "/sync savings", 0);
    let t = text(&fake.matching(901, "not linked", 1).await);
    assert!(t.contains("<b>Savings</b>"), "{t}");
    app.stop().await;
}

fn uncategorized_count(txs: &Value) -> usize {
    txs["items"].as_array().or(txs.as_array()).map_or(0, |a| {
        a.iter().filter(|t| t["category_id"].is_null()).count()
    })
}

async fn uncategorized_lists_with_buttons_and_a_tap_works(backend: Backend) {
    let fake = FakeBotApi::start().await;
    let db = TestDb::new(backend).await;
    let mut s = settings(&db, &fake);
    // No new-transaction notifications: only the list sends "Category?" messages.
    s.telegram.notify_min_amount = rust_decimal::Decimal::new(1_000_000_000, 0);
    let app = app_with(db, s).await;
    let token = link(&app, &fake, 1001, "trader").await;
    fake.text_from(1001, "/uncategorized", 0);
    fake.matching(1001, "No uncategorized transactions", 1)
        .await;
    let account = crate::finance_api::account(&app, &token, "Card", "USD").await;
    crate::finance_api::post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Food", "kind": "expense"}),
    )
    .await;
    crate::finance_api::import(&app, &token, &account, "ofx2.qfx", &[]).await;
    let path = "/v1/financial/transactions?limit=100";
    let n = uncategorized_count(&crate::finance_api::get(&app, &token, path).await);
    assert!(n > 0, "the fixture has uncategorized transactions");
    fake.text_from(1001, "/uncategorized", 0);
    let head = text(
        &fake
            .matching(1001, "uncategorized transactions; the latest", 1)
            .await,
    );
    assert!(head.contains(&format!("<b>{n}</b>")), "{head}");
    let shown = n.min(10);
    let taps = eventually(
        Duration::from_secs(15),
        "one message per transaction",
        || async {
            let c: Vec<Value> = fake
                .sent_to(1001)
                .into_iter()
                .filter(|m| text(m).contains("Category?"))
                .collect();
            if c.len() == shown { Ok(c) } else { Err(c) }
        },
    )
    .await;
    let buttons = |m: &Value| -> Vec<Value> {
        m["reply_markup"]["inline_keyboard"]
            .as_array()
            .expect("rows")
            .iter()
            .flat_map(|r| r.as_array().cloned().unwrap_or_default())
            .collect()
    };
    for m in &taps {
        let b = buttons(m);
        assert!(b.iter().any(|b| b["text"] == "Food"), "{m}");
        assert!(b.iter().any(|b| b["text"] == "Other…"), "{m}");
    }
    let food = buttons(&taps[0])
        .into_iter()
        .find(|b| b["text"] == "Food")
        .expect("Food");
    fake.press(
        1001,
        1001,
        91,
        food["callback_data"].as_str().expect("data"),
    );
    eventually(Duration::from_secs(10), "categorized", || async {
        let e = fake.calls("editMessageText");
        if e.iter().any(|b| text(b).contains("<b>Food</b>")) {
            Ok(())
        } else {
            Err(e)
        }
    })
    .await;
    let left = uncategorized_count(&crate::finance_api::get(&app, &token, path).await);
    assert_eq!(left, n - 1);
    fake.text_from(1001, "/uncategorized", 0);
    let head = text(
        &fake
            .matching(1001, "uncategorized transactions; the latest", 2)
            .await,
    );
    assert!(head.contains(&format!("<b>{left}</b>")), "{head}");
    app.stop().await;
}

async fn document_import_then_category_tap(backend: Backend) {
    let fake = FakeBotApi::start().await;
    let db = TestDb::new(backend).await;
    let mut s = settings(&db, &fake);
    s.telegram.notify_min_amount = rust_decimal::Decimal::ZERO;
    let app = app_with(db, s).await;
    let token = link(&app, &fake, 801, "trader").await;
    let account = crate::finance_api::account(&app, &token, "Card", "USD").await;
    crate::finance_api::post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Food", "kind": "expense"}),
    )
    .await;
    let bytes = std::fs::read("actors/tests/fixtures/statements/ofx2.qfx").expect("fixture");
    fake.lock().files.push(("doc1".to_owned(), bytes.clone()));
    fake.push(
        "message",
        json!({"message_id": 5, "from": {"id": 801, "is_bot": false, "first_name": "Ana"},
            "chat": {"id": 801, "type": "private"}, "date": chrono::Utc::now().timestamp(),
            "document": {"file_id": "doc1", "file_unique_id": "u1", "file_name": "card.qfx",
                "mime_type": "application/x-ofx", "file_size": bytes.len()}}),
    );
    let ask = fake.matching(801, "into which account", 1).await;
    let first = &ask["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(first["text"], "Card");
    let data = first["callback_data"].as_str().expect("data").to_owned();
    fake.press(801, 801, 77, &data);
    let done = eventually(Duration::from_secs(20), "import result", || async {
        let e = fake.calls("editMessageText");
        e.iter()
            .find(|b| text(b).contains("Imported"))
            .cloned()
            .ok_or(e)
    })
    .await;
    assert!(text(&done).contains("new"), "{done}");
    let imports: Value = app
        .call(
            "GET",
            &format!("/v1/financial/imports?account_id={account}"),
            Some(&token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        imports.as_array().map(Vec::len),
        Some(1),
        "the normal import path: {imports}"
    );
    // The new transactions arrive with category buttons; a tap sets it, locked.
    let tap = fake.matching(801, "Category?", 1).await;
    let food = tap["reply_markup"]["inline_keyboard"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .find(|b| b["text"] == "Food")
        .expect("Food offered");
    fake.press(801, 801, 78, food["callback_data"].as_str().expect("data"));
    eventually(Duration::from_secs(10), "categorized", || async {
        let e = fake.calls("editMessageText");
        if e.iter().any(|b| text(b).contains("<b>Food</b>")) {
            Ok(())
        } else {
            Err(e)
        }
    })
    .await;
    let txs: Value = app
        .call(
            "GET",
            "/v1/financial/transactions?limit=100",
            Some(&token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let items = txs["items"]
        .as_array()
        .or(txs.as_array())
        .cloned()
        .unwrap_or_default();
    let tapped: Vec<&Value> = items
        .iter()
        .filter(|t| t["categorized_by"] == "user")
        .collect();
    assert_eq!(tapped.len(), 1, "{txs}");
    assert_eq!(tapped[0]["category_locked"], true);
    app.stop().await;
}

// ---- polling behaviour (SQLite: no storage beyond the app's own) ------------------------

#[actix_web::test]
async fn offsets_are_confirmed_and_stale_updates_dropped() {
    let fake = FakeBotApi::start().await;
    // Pending before the start: one stale command, one fresh message.
    let stale = fake.text_from(501, "/stop all", 600);
    let fresh = fake.text_from(502, "hello", 0);
    let app = spawn(Backend::Sqlite, &fake).await;
    fake.reply(502, 1).await;
    eventually(Duration::from_secs(5), "offset past both", || async {
        let polls = fake.lock().polls.clone();
        if polls.iter().any(|(_, o)| *o == Some(fresh + 1)) {
            Ok(())
        } else {
            Err(polls.len())
        }
    })
    .await;
    assert!(fresh > stale);
    assert!(
        fake.sent_to(501).is_empty(),
        "a stale update is never acted on"
    );
    // Allowed updates and the long-poll timeout are sent.
    let polls = fake.calls("getUpdates");
    assert_eq!(
        polls[0]["allowed_updates"],
        json!(["message", "callback_query"])
    );
    assert_eq!(polls[0]["timeout"], 1);
    // setMyCommands registered the commands; polling removed any webhook first.
    assert!(
        fake.calls("setMyCommands")[0]["commands"]
            .as_array()
            .is_some_and(|c| c.len() > 10)
    );
    assert_eq!(fake.calls("deleteWebhook").len(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn conflict_backs_off_and_readiness_shows_it_without_503() {
    let fake = FakeBotApi::start().await;
    fake.lock().conflict = true;
    let app = spawn(Backend::Sqlite, &fake).await;
    let body = eventually(Duration::from_secs(10), "telegram degraded", || async {
        let res = app.get("/health/ready").await;
        let code = res.status().as_u16();
        let body: Value = res.json().await.expect("json");
        if body["optional"]["telegram"]["status"] == "degraded"
            && body["optional"]["telegram"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("409"))
        {
            Ok((code, body))
        } else {
            Err(body)
        }
    })
    .await;
    assert_eq!(
        body.0, 200,
        "Telegram never makes the service unready: {}",
        body.1
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let polls = fake.lock().polls.len();
    assert_eq!(polls, 1, "after a 409 the poller waits ≥ 30 s");
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("telegram_conflicts_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_server_ignoring_timeout_does_not_make_the_poller_spin() {
    let fake = FakeBotApi::start().await;
    fake.lock().ignore_timeout = true;
    let app = spawn(Backend::Sqlite, &fake).await;
    eventually(Duration::from_secs(5), "polling", || async {
        let n = fake.lock().polls.len();
        if n >= 2 { Ok(()) } else { Err(n) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let polls = fake.lock().polls.clone();
    for pair in polls.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(240),
            "empty polls {gap:?} apart"
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn too_many_requests_is_retried_after_retry_after() {
    let fake = FakeBotApi::start().await;
    fake.lock().send_429 = 1;
    let app = spawn(Backend::Sqlite, &fake).await;
    fake.text_from(601, "hi", 0);
    fake.reply(601, 2).await;
    let calls: Vec<_> = fake
        .lock()
        .calls
        .iter()
        .filter(|(_, m, b)| m == "sendMessage" && b["chat_id"] == 601)
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(calls.len(), 2, "one 429, one retry");
    assert!(
        calls[1] - calls[0] >= Duration::from_millis(990),
        "{:?}",
        calls[1] - calls[0]
    );
    app.stop().await;
}

#[actix_web::test]
async fn webhook_needs_the_secret_and_settings_apply_without_restart() {
    let fake = FakeBotApi::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut s = settings(&db, &fake);
    s.telegram.bot_token = Secret::default(); // no token: the bot waits for the settings API
    let app = app_with(db, s).await;
    let body = app.wait_ready_status(200).await;
    assert_eq!(body["optional"]["telegram"]["status"], "degraded", "{body}");
    let admin = app.token_for("admin").await;
    let res = app
        .call("PUT", "/v1/settings/integrations/default/telegram", Some(&admin), Some(json!({
            "mode": "live", "secrets": {"bot_token": TOKEN, "public_url": "https://nas.example.org"}})))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let hook = eventually(Duration::from_secs(10), "setWebhook", || async {
        fake.calls("setWebhook").first().cloned().ok_or(())
    })
    .await;
    assert_eq!(hook["url"], "https://nas.example.org/v1/telegram/webhook");
    let secret = hook["secret_token"].as_str().expect("secret").to_owned();
    assert!(secret.len() >= 32);
    let update = json!({"update_id": 9, "message": {"message_id": 1, "from": {"id": 701, "is_bot": false, "first_name": "A"},
        "chat": {"id": 701, "type": "private"}, "date": chrono::Utc::now().timestamp(), "text": "/help"}});
    let post = |secret: Option<&str>| {
        let mut req = app
            .client
            .post(format!("{}/v1/telegram/webhook", app.address))
            .json(&update);
        if let Some(s) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        req.send()
    };
    assert_eq!(post(None).await.expect("send").status().as_u16(), 401);
    assert_eq!(
        post(Some("wrong")).await.expect("send").status().as_u16(),
        401
    );
    assert!(fake.sent_to(701).is_empty());
    assert_eq!(
        post(Some(&secret)).await.expect("send").status().as_u16(),
        200
    );
    assert!(text(&fake.reply(701, 1).await).contains("only answers linked accounts"));
    eventually(Duration::from_secs(5), "refusals audited", || async {
        let audit: Value = app
            .call(
                "GET",
                "/v1/audit?action=telegram.webhook",
                Some(&admin),
                None,
            )
            .await
            .json()
            .await
            .expect("json");
        let n = audit["items"]
            .as_array()
            .or(audit.as_array())
            .map_or(0, Vec::len);
        if n == 2 { Ok(()) } else { Err(audit) }
    })
    .await;
    // Back to polling: the webhook is deleted, getUpdates starts.
    let res = app
        .call(
            "PUT",
            "/v1/settings/integrations/default/telegram",
            Some(&admin),
            Some(json!({
            "mode": "live", "secrets": {"public_url": null}})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    eventually(Duration::from_secs(10), "polling again", || async {
        let n = fake.lock().polls.len();
        if n >= 1 && !fake.calls("deleteWebhook").is_empty() {
            Ok(())
        } else {
            Err(n)
        }
    })
    .await;
    app.stop().await;
}

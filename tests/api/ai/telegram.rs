//! The AI through the bot, against the fake Bot API and the fake OpenAI server: `/ask` and
//! plain text answered by the tool loop (with the update's trace id), an unlinked sender
//! refused, provider `none` answered plainly; the budget-reached alarm (one audit row, one
//! admin message per month, `llm_budget_remaining_usd` at 0).

use super::fake::*;
use super::{app_with, ask, get, post};
use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use crate::telegram::{link, text};
use crate::telegram_fake::{FakeBotApi, TOKEN};
use ai_service::config::{AiProvider, ModelPrice, Secret, Settings};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    ask_and_plain_text_are_answered_from_tool_results,
    the_budget_alarm_is_raised_once_a_month
);

fn with_bot(s: &mut Settings, bot: &FakeBotApi) {
    s.telegram.enabled = true;
    s.telegram.api_base_url = bot.url.clone();
    s.telegram.bot_token = Secret::new(TOKEN);
    s.telegram.poll_timeout_secs = 1;
    s.telegram.per_chat_interval_ms = 10;
}

/// A model that first lists the accounts, then answers with the balance the tool returned.
fn balance_model(body: &Value) -> Reply {
    let after_tool = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "tool");
    if after_tool {
        openai_content("Your account Main holds 1234.56 EUR.")
    } else {
        openai_tool_calls(&[("call_1", "list_accounts", json!({}))])
    }
}

async fn audit_items(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    app.flush_audit().await;
    let page = get(app, admin, &format!("/v1/audit?{query}&limit=100")).await;
    page["items"]
        .as_array()
        .or(page.as_array())
        .cloned()
        .unwrap_or_default()
}

async fn ask_and_plain_text_are_answered_from_tool_results(backend: Backend) {
    let llm = FakeLlm::start().await;
    llm.respond(balance_model);
    let bot = FakeBotApi::start().await;
    let app = app_with(backend, AiProvider::Openai, &llm, |s| with_bot(s, &bot)).await;
    let admin = link(&app, &bot, 801, "admin").await;
    post(&app, &admin, "/v1/financial/accounts",
        json!({"name": "Main", "account_type": "checking", "currency": "EUR", "opening_balance": "1234.56"})).await;

    bot.text_from(801, "/ask how much is in my account?", 0);
    let reply = text(&bot.matching(801, "1234.56", 1).await);
    assert!(
        reply.starts_with("Your account Main holds 1234.56 EUR."),
        "{reply}"
    );
    assert!(
        reply.contains("Tools used") && reply.contains("list_accounts — 1 accounts"),
        "{reply}"
    );
    // Plain text is a question too (a different one: no cache hit).
    bot.text_from(801, "And what is my balance today?", 0);
    let reply = text(&bot.matching(801, "1234.56", 2).await);
    assert!(reply.contains("list_accounts"), "{reply}");
    assert_eq!(llm.count(), 4, "two model calls per question");

    // Each question's model calls carry the Telegram update's trace id, audited as `/ask`
    // (without the question text).
    let asks = audit_items(&app, &admin, "action=telegram.command").await;
    let asks: Vec<&Value> = asks.iter().filter(|e| e["target"] == "/ask").collect();
    assert_eq!(asks.len(), 2, "{asks:#?}");
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let traces: Vec<(String,)> = db
        .fetch_all(
            "SELECT DISTINCT trace_id FROM llm_calls WHERE purpose = 'ask' ORDER BY trace_id",
        )
        .await
        .expect("llm_calls");
    db.close().await;
    let mut audited: Vec<String> = asks
        .iter()
        .filter_map(|e| e["trace_id"].as_str().map(str::to_owned))
        .collect();
    audited.sort();
    assert_eq!(
        traces.into_iter().map(|(t,)| t).collect::<Vec<_>>(),
        audited
    );
    assert!(audited.iter().all(|t| t.starts_with("tg-")), "{audited:?}");

    // Someone not linked: the fixed hint, no model call.
    bot.text_from(802, "how much is in my account?", 0);
    let hint = text(&bot.reply(802, 1).await);
    assert!(hint.contains("only answers linked accounts"), "{hint}");
    bot.text_from(802, "/ask how much is in my account?", 0);
    // The /help text lists /ask.
    bot.text_from(801, "/help", 0);
    let help = text(&bot.matching(801, "Commands", 1).await);
    assert!(help.contains("/ask QUESTION"), "{help}");
    assert_eq!(llm.count(), 4, "nothing asked for the unlinked sender");
    app.stop().await;
}

#[actix_web::test]
async fn without_a_provider_the_bot_says_ai_is_not_configured() {
    let bot = FakeBotApi::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut s = test_settings(db.url());
    with_bot(&mut s, &bot);
    let mut app = TestApp::with_settings(s).await;
    app.db = Some(db);
    link(&app, &bot, 811, "viewer").await;
    bot.text_from(811, "/ask how much did I spend?", 0);
    let reply = text(&bot.reply(811, 2).await);
    assert!(reply.contains("AI is not configured"), "{reply}");
    bot.text_from(811, "how much did I spend?", 0);
    let reply = text(&bot.reply(811, 3).await);
    assert!(reply.contains("AI is not configured"), "{reply}");
    // An empty /ask gets the usage.
    bot.text_from(811, "/ask", 0);
    let reply = text(&bot.reply(811, 4).await);
    assert!(reply.contains("Usage: /ask QUESTION"), "{reply}");
    app.stop().await;
}

/// A completion that reports `prompt_tokens` input tokens (to spend a budget in one call).
fn costly(content: &str, prompt_tokens: u64) -> Reply {
    let mut r = openai_content(content);
    r.body["usage"] = json!({"prompt_tokens": prompt_tokens, "completion_tokens": 100,
        "total_tokens": prompt_tokens + 100});
    r
}

async fn the_budget_alarm_is_raised_once_a_month(backend: Backend) {
    let llm = FakeLlm::start().await;
    // 20 000 input + 100 output tokens at 100 USD/Mtok = 2.01 USD: one call overshoots the
    // 1 USD budget (its reservation, a few hundred tokens, fitted).
    llm.push(costly("Yes.", 20_000));
    llm.respond(|_| openai_content("Never sent."));
    let bot = FakeBotApi::start().await;
    let mut settings = None;
    let mut app = app_with(backend, AiProvider::Openai, &llm, |s| {
        with_bot(s, &bot);
        s.ai.max_tokens = 100;
        s.ai.monthly_budget_usd = Decimal::from(1);
        s.ai.prices.insert(
            "gpt-test".to_owned(),
            ModelPrice {
                input_per_mtok: Decimal::from(100),
                output_per_mtok: Decimal::from(100),
            },
        );
        settings = Some(s.clone());
    })
    .await;
    let admin = link(&app, &bot, 821, "admin").await;
    let viewer = link(&app, &bot, 822, "viewer").await;
    let (status, body) = ask(&app, &viewer, "first?").await;
    assert_eq!(status, 200, "{body:#}");
    // Several refused calls, from REST and from the chat.
    for q in ["second?", "third?", "fourth?"] {
        let (status, body) = ask(&app, &viewer, q).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("ai_budget_exhausted")),
            "{body:#}"
        );
    }
    bot.text_from(822, "/ask fifth?", 0);
    let reply = text(&bot.matching(822, "budget", 1).await);
    assert!(reply.contains("is used up"), "{reply}");
    assert_eq!(llm.count(), 1, "refused before the request");

    // One notification, to the admin only.
    let note = text(&bot.matching(821, "The AI budget for", 1).await);
    assert!(note.contains("2.01") && note.contains("of 1 USD"), "{note}");
    let (status, _) = ask(&app, &viewer, "sixth?").await;
    assert_eq!(status, 503);
    let rows = eventually(Duration::from_secs(10), "one budget audit row", || async {
        let rows = audit_items(&app, &admin, "action=ai.budget_reached").await;
        if rows.is_empty() { Err(rows) } else { Ok(rows) }
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(
        rows[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("budget of 1 USD") && d.contains("2.01")),
        "{rows:#?}"
    );
    // The admin's message arrived above; no second one followed the later refusals.
    let to_admin = bot
        .sent_to(821)
        .iter()
        .filter(|m| text(m).contains("The AI budget for"))
        .count();
    assert_eq!(to_admin, 1, "{:#?}", bot.sent_to(821));
    assert!(
        !bot.sent_to(822)
            .iter()
            .any(|m| text(m).contains("The AI budget for")),
        "viewers are not told"
    );
    // What the llm_budget_remaining_usd gauge is set from.
    let usage = get(&app, &admin, "/v1/ai/usage").await;
    assert_eq!(usage["remaining_usd"], "0", "{usage:#}");

    // After a restart the budget is read back from llm_calls: refused at once, and the
    // alarm (raised before the refusal returns) finds this month's audit row: no repeat.
    let db = app.db.take();
    app.stop().await;
    let mut app = TestApp::with_settings(settings.expect("settings")).await;
    app.db = db;
    let before = bot.sent_to(822).len();
    bot.text_from(822, "/ask seventh?", 0);
    eventually(
        Duration::from_secs(15),
        "the refusal after the restart",
        || async {
            let sent = bot.sent_to(822);
            let used_up = sent[before..]
                .iter()
                .any(|m| text(m).contains("is used up"));
            if used_up { Ok(()) } else { Err(sent.len()) }
        },
    )
    .await;
    assert_eq!(llm.count(), 1, "still no request");
    let login = app.login("admin-user", "pw-admin-user-0123456789").await;
    let admin = login.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let rows = audit_items(&app, &admin, "action=ai.budget_reached").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let to_admin = bot
        .sent_to(821)
        .iter()
        .filter(|m| text(m).contains("The AI budget for"))
        .count();
    assert_eq!(to_admin, 1, "{:#?}", bot.sent_to(821));
    app.stop().await;
}

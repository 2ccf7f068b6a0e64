//! Import benchmark (not a test): a generated 100k-row CSV (realistic descriptions, some
//! twins) imported on SQLite and (with `--postgres URL`) Postgres, then imported again; rows/s
//! for both (parse + dedupe + write), and the categorization p99 per transaction (rules, then
//! naive Bayes). Targets: ≥ 50k rows/s first import on SQLite, ≥ 100k rows/s re-import with 0
//! new rows, p99 ≤ 1 ms. Run via `bench/import.sh`.
#![allow(clippy::print_stdout)]

use actors::TraceId;
use actors::finance::categorize::{
    Categorizer, Condition, NaiveBayes, Rule, RuleActions, RuleSet, TxView,
};
use actors::finance::parse::{self, CsvProfile, Format};
use ai_service::config::{SecretUrl, Settings};
use ai_service::db::Db;
use ai_service::finance::accounts::{self, AccountRow};
use ai_service::finance::ingest::{IngestOptions, ingest};
use std::fmt::Write as _;
use std::time::Instant;

const MERCHANTS: &[(&str, &str, i64)] = &[
    ("MERCADONA", "groceries", 6_000),
    ("CARREFOUR EXPRESS", "groceries", 3_500),
    ("LIDL SUPERMERCADO", "groceries", 4_200),
    ("REPSOL ESTACION", "fuel", 6_500),
    ("CEPSA GASOLINERA", "fuel", 5_800),
    ("STARBUCKS COFFEE", "coffee", 450),
    ("CAFETERIA EL RINCON", "coffee", 320),
    ("AMAZON EU SARL", "shopping", 3_999),
    ("ZARA ONLINE", "shopping", 5_995),
    ("RENFE VIAJEROS", "transport", 2_350),
    ("METRO DE MADRID", "transport", 150),
    ("NETFLIX.COM", "subscriptions", 1_399),
    ("SPOTIFY AB", "subscriptions", 1_099),
    ("IBERDROLA CLIENTES", "utilities", 8_520),
    ("VODAFONE ESPANA", "utilities", 3_900),
    ("FARMACIA CENTRAL", "health", 1_280),
    ("RESTAURANTE LA TAGLIATELLA", "restaurants", 4_560),
    ("TELEPIZZA", "restaurants", 2_195),
    ("NOMINA ACME SOLUTIONS SL", "salary", -240_000),
    ("BIZUM DE JUAN PEREZ", "transfers", -2_500),
];
const CITIES: &[&str] = &[
    "MADRID", "VALENCIA", "SEVILLA", "BILBAO", "ZARAGOZA", "MALAGA",
];

/// A deterministic PRNG (no dependency, same file every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// `rows` lines over two years; ~2 % are exact twins of the line before (two identical real
/// purchases the same day).
fn generate(rows: usize) -> (String, Vec<(String, &'static str)>) {
    let mut rng = Lcg(42);
    let mut csv = String::from("date,description,amount\n");
    let mut labelled = Vec::new();
    let mut prev = String::new();
    for n in 0..rows {
        if n > 0 && rng.next().is_multiple_of(50) {
            csv.push_str(&prev);
            continue;
        }
        let (name, cat, base) = MERCHANTS[(rng.next() % MERCHANTS.len() as u64) as usize];
        let day = n * 730 / rows;
        let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
            + chrono::Duration::days(day as i64);
        let jitter = (rng.next() % 400) as i64 - 200;
        let cents = -(base + jitter * base.signum().abs() * base.abs() / 1000);
        let desc = format!(
            "{name} {} {:04}",
            CITIES[(rng.next() % CITIES.len() as u64) as usize],
            rng.next() % 10_000
        );
        let line = format!("{date},{desc},{}.{:02}\n", cents / 100, (cents % 100).abs());
        let line = if cents < 0 && cents > -100 {
            line.replacen(",0.", ",-0.", 1)
        } else {
            line
        };
        csv.push_str(&line);
        if labelled.len() < 2_000 {
            labelled.push((desc, cat));
        }
        prev = line;
    }
    (csv, labelled)
}

fn settings(url: &str) -> Settings {
    let mut s = Settings::default();
    s.database.url = SecretUrl::new(url);
    s.database.max_connections = 4;
    s
}

async fn run_backend(label: &str, url: &str, csv: &[u8], rows: usize) -> anyhow::Result<()> {
    let db = Db::connect(&settings(url).database).await?;
    db.migrate().await?;
    let account = AccountRow {
        id: "bench-account".into(),
        name: "Bench".into(),
        account_type: "checking".into(),
        currency: "EUR".into(),
        institution: None,
        opening_balance: "0".into(),
        opening_e4: 0,
        external_ref: None,
        archived: false,
        last_synced_at: None,
        created_at: 0,
        updated_at: 0,
    };
    accounts::upsert(&db, &account).await?;
    let profile: CsvProfile = serde_json::from_value(serde_json::json!({
        "columns": {"date": "date", "description": "description", "amount": "amount"}
    }))?;
    for pass in ["first import", "re-import"] {
        let started = Instant::now();
        let parsed =
            parse::parse(Format::Csv, csv, Some(&profile)).map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(parsed.bad.is_empty(), "bad rows: {:?}", &parsed.bad[..1]);
        let parse_s = started.elapsed().as_secs_f64();
        let out = ingest(
            &db,
            &account,
            &parsed.statement.lines,
            &IngestOptions::default(),
            &TraceId::new("bench"),
        )
        .await?;
        let total = started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rate = rows as f64 / total;
        println!(
            "{label:8} {pass:12}: {rows} rows in {total:.2} s = {rate:>9.0} rows/s (parse {parse_s:.2} s); inserted {}, duplicates {}",
            out.inserted, out.duplicates
        );
    }
    db.close().await;
    Ok(())
}

fn categorization_p99(lines: &[(String, &'static str)], rows: &str) -> anyhow::Result<()> {
    let mut model = NaiveBayes::new();
    for (desc, cat) in lines {
        let f = NaiveBayes::features(desc, None, rust_decimal::Decimal::ONE);
        model.learn(&f, cat);
    }
    // 20 rules, most not matching most lines (the realistic case: each rule is tried).
    let rules = (0..20)
        .map(|n| Rule {
            id: format!("r{n:02}"),
            name: format!("rule {n}"),
            position: n,
            enabled: true,
            match_all: false,
            conditions: vec![
                Condition::DescriptionRegex {
                    pattern: format!("^(shop{n}|store{n}) "),
                },
                Condition::CounterpartyContains {
                    value: format!("merchant {n}"),
                },
            ],
            actions: RuleActions {
                set_category: Some(format!("cat-{n}")),
                ..RuleActions::default()
            },
            stop_processing: true,
        })
        .collect();
    let c = Categorizer {
        rules: RuleSet::new(rules),
        model,
        threshold: 0.6,
        min_examples: 10,
    };
    let mut lat = Vec::new();
    let mut decided = 0usize;
    for l in rows.lines().skip(1) {
        let mut parts = l.splitn(3, ',');
        let (_, desc, amount) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("0"),
        );
        let amount: rust_decimal::Decimal = amount.parse().unwrap_or_default();
        let started = Instant::now();
        let d = c.decide(&TxView {
            account_id: "a",
            description: desc,
            counterparty: None,
            amount,
        });
        lat.push(started.elapsed());
        decided += usize::from(d.category.is_some());
    }
    lat.sort();
    let p = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1));
        lat[i].as_secs_f64() * 1000.0
    };
    println!(
        "categorization: {} transactions, {decided} categorized; p50 {:.4} ms, p99 {:.4} ms, max {:.3} ms (target p99 <= 1 ms)",
        lat.len(),
        p(0.50),
        p(0.99),
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    Ok(())
}

#[actix_web::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("bench_import: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut postgres = None;
    while let Some(a) = args.next() {
        if a == "--postgres" {
            postgres = args.next();
        }
    }
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (csv, labelled) = generate(rows);
    let mut summary = String::new();
    let _ = write!(summary, "{} bytes of CSV", csv.len());
    println!("{rows} rows generated ({summary})");
    let dir = tempfile::tempdir()?;
    run_backend(
        "sqlite",
        &format!("sqlite://{}/bench.db", dir.path().display()),
        csv.as_bytes(),
        rows,
    )
    .await?;
    if let Some(admin) = &postgres {
        let name = format!("bench_import_{}", std::process::id());
        let admin_db = Db::connect(&settings(admin).database).await?;
        admin_db.execute(format!("CREATE DATABASE {name}")).await?;
        let (base, _) = admin.rsplit_once('/').unwrap_or((admin.as_str(), ""));
        let res = run_backend("postgres", &format!("{base}/{name}"), csv.as_bytes(), rows).await;
        admin_db
            .execute(format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
        admin_db.close().await;
        res?;
    }
    categorization_p99(&labelled, &csv)
}

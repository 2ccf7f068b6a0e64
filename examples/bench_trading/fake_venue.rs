//! The fake Binance of the API tests (`tests/api/binance_fake.rs`, shared, not copied), run
//! in a child process so its CPU is not counted as the service's. The child prints its URL,
//! moves its book (a sine of ±1.5 around 100 over 10 s, so grids and thresholds trade), and
//! answers `stats` on stdin with the service times of the order placements it served since
//! the last `stats`. It exits when its stdin closes.

#[allow(dead_code)]
#[path = "../../tests/api/binance_fake.rs"]
mod binance_fake;

pub use binance_fake::{API_KEY, API_SECRET};

use crate::round_trips::percentiles;
use binance_fake::FakeBinance;
use rust_decimal::Decimal;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHILD_FLAG: &str = "--fake-binance";

/// The child's body: serve until stdin closes.
pub async fn serve() -> anyhow::Result<()> {
    let fake = FakeBinance::start().await;
    {
        // Enough of everything for every strategy's orders to go through.
        let mut st = fake.lock();
        st.balances
            .insert("USDT".to_owned(), Decimal::from(1_000_000_000));
        st.balances
            .insert("BTC".to_owned(), Decimal::from(1_000_000));
    }
    println!("{}", fake.url);
    std::io::stdout().flush()?;
    let mover = fake.clone();
    actix_web::rt::spawn(async move {
        let t0 = Instant::now();
        loop {
            let phase = t0.elapsed().as_secs_f64() / 10.0 * std::f64::consts::TAU;
            let mid = Decimal::try_from(100.0 + 1.5 * phase.sin())
                .unwrap_or(Decimal::ONE_HUNDRED)
                .round_dp(2);
            let cent = Decimal::new(1, 2);
            mover.set_book(mid - cent, mid + cent);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let served = fake.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut from = 0;
    while let Some(line) = rx.recv().await {
        if line.trim() != "stats" {
            continue;
        }
        let mut took: Vec<Duration> = {
            let st = served.lock();
            let new = &st.served[from.min(st.served.len())..];
            from = st.served.len();
            new.iter()
                .filter(|s| s.method == "POST" && s.path == "/api/v3/order")
                .map(|s| s.took)
                .collect()
        };
        let n = took.len();
        let line = match percentiles(&mut took) {
            Some((p50, p99, max)) => format!(
                "{n} {} {} {}",
                p50.as_nanos(),
                p99.as_nanos(),
                max.as_nanos()
            ),
            None => "0 0 0 0".to_owned(),
        };
        println!("{line}");
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// The parent's handle on the child.
pub struct FakeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub url: String,
}

/// Order placements the fake served and its own time on them (p50, p99, max).
pub struct FakeStats {
    pub orders: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl FakeProcess {
    pub fn spawn() -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(CHILD_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
        );
        let mut url = String::new();
        stdout.read_line(&mut url)?;
        Ok(Self {
            child,
            stdin,
            stdout,
            url: url.trim().to_owned(),
        })
    }

    pub fn stats(&mut self) -> anyhow::Result<FakeStats> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("fake closed"))?;
        writeln!(stdin, "stats")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let v: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let ns = |i: usize| Duration::from_nanos(v.get(i).copied().unwrap_or(0));
        Ok(FakeStats {
            orders: usize::try_from(v.first().copied().unwrap_or(0)).unwrap_or(0),
            p50: ns(1),
            p99: ns(2),
            max: ns(3),
        })
    }

    /// Closes its stdin (it exits) and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        self.child.wait()?;
        Ok(())
    }
}

//! Waiting on a condition instead of sleeping a fixed time.

use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it returns `Ok`, and returns that value. Panics after
/// `timeout` naming `what` and the last `Err` seen, so a failing test says what it waited for.
#[allow(clippy::panic)]
pub async fn eventually<T, E, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("waited {timeout:?} for {what}; last: {last:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

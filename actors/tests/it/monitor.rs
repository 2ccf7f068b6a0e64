use actors::TraceId;
use actors::health::{CheckNow, DependencyMonitor, MonitorConfig};
use actors::ports::{Dependency, DependencyError};
use actors::supervise::{Backoff, ComponentKind, Readiness, Status, Supervisor, SupervisorConfig};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// A dependency whose availability the test switches; it counts connect attempts.
#[derive(Default)]
struct Switch {
    up: AtomicBool,
    connects: AtomicU32,
}

#[async_trait]
impl Dependency for Switch {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn connect(&self) -> Result<(), DependencyError> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        self.check().await
    }

    async fn check(&self) -> Result<(), DependencyError> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(DependencyError("connection refused".into()))
        }
    }
}

fn config() -> MonitorConfig {
    MonitorConfig {
        reconnect: Backoff::new(Duration::from_millis(10), Duration::from_millis(40)),
        check_interval: Duration::from_secs(3600),
        check_timeout: Duration::from_secs(1),
    }
}

async fn status_becomes(readiness: &Readiness, want: Status) {
    for _ in 0..300 {
        if readiness
            .get(ComponentKind::Dependency, "fake")
            .map(|c| c.status)
            == Some(want)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("dependency never became {want:?}: {:?}", readiness.report());
}

#[actix_rt::test]
async fn retries_until_the_dependency_appears_then_follows_it_down_and_up() {
    let readiness = Readiness::default();
    let mut sup = Supervisor::new(SupervisorConfig::default(), readiness.clone());
    let port = Arc::new(Switch::default());
    let dyn_port: Arc<dyn Dependency> = port.clone();
    let monitor = sup.spawn("fake-monitor", move |child| {
        DependencyMonitor::new(Arc::clone(&dyn_port), config(), &child)
    });

    status_becomes(&readiness, Status::Down).await;
    let check = monitor
        .send(CheckNow {
            trace_id: TraceId::new("t-1"),
        })
        .await
        .expect("answers");
    assert_eq!(check.status, Status::Down);
    assert!(
        check
            .detail
            .unwrap_or_default()
            .contains("connection refused")
    );
    assert!(!readiness.report().ready);

    port.up.store(true, Ordering::SeqCst);
    status_becomes(&readiness, Status::Up).await;
    assert!(
        port.connects.load(Ordering::SeqCst) >= 2,
        "it kept retrying"
    );
    assert!(readiness.report().ready);

    // Later outage: an on-demand check sees it at once, without a restart.
    port.up.store(false, Ordering::SeqCst);
    let down = monitor
        .send(CheckNow {
            trace_id: TraceId::new("t-2"),
        })
        .await
        .expect("answers");
    assert_eq!(down.status, Status::Down);
    assert!(!readiness.report().ready);

    port.up.store(true, Ordering::SeqCst);
    let up = monitor
        .send(CheckNow {
            trace_id: TraceId::new("t-3"),
        })
        .await
        .expect("answers");
    assert_eq!(up.status, Status::Up);
    assert!(readiness.report().ready);
    sup.shutdown().await;
}

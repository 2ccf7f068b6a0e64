use actix::{Actor, ActorContext, Context, Handler, Message};
use actors::supervise::{Backoff, ComponentKind, Readiness, Status, Supervisor, SupervisorConfig};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Crashy {
    incarnation: u32,
    stopped: Arc<Mutex<Vec<&'static str>>>,
    name: &'static str,
}

#[derive(Message)]
#[rtype(result = "u32")]
struct WhoAreYou;

#[derive(Message)]
#[rtype(result = "()")]
struct Panic;

#[derive(Message)]
#[rtype(result = "()")]
struct FailAndStop;

impl Actor for Crashy {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.stopped.lock().expect("lock").push(self.name);
    }
}

impl Handler<WhoAreYou> for Crashy {
    type Result = u32;
    fn handle(&mut self, _: WhoAreYou, _: &mut Self::Context) -> u32 {
        self.incarnation
    }
}

impl Handler<Panic> for Crashy {
    type Result = ();
    #[allow(clippy::panic)]
    fn handle(&mut self, _: Panic, _: &mut Self::Context) {
        panic!("boom (deliberate, from a test)");
    }
}

impl Handler<FailAndStop> for Crashy {
    type Result = ();
    fn handle(&mut self, _: FailAndStop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

fn fast_config() -> SupervisorConfig {
    SupervisorConfig {
        restart: Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
        stable_after: Duration::from_secs(60),
        stop_timeout: Duration::from_secs(2),
    }
}

/// Restarts counted since the previous call (debugging snapshots reset counters).
fn restarts(snapshotter: &Snapshotter, actor: &str) -> u64 {
    restart_series(snapshotter, actor).unwrap_or(0)
}

/// `None` when no `actor_restarts_total` series exists for `actor`.
fn restart_series(snapshotter: &Snapshotter, actor: &str) -> Option<u64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| {
            let k = key.key();
            let matches = k.name() == "actor_restarts_total"
                && k.labels().any(|l| l.key() == "actor" && l.value() == actor);
            match (matches, value) {
                (true, DebugValue::Counter(n)) => Some(n),
                _ => None,
            }
        })
}

/// Polls `f` until it yields `Some` (the actor is back) or two seconds pass.
async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 2 s");
}

fn spawn_crashy(
    sup: &mut Supervisor,
    name: &'static str,
    stopped: &Arc<Mutex<Vec<&'static str>>>,
) -> actors::supervise::ActorRef<Crashy> {
    let stopped = Arc::clone(stopped);
    sup.spawn(name, move |child| Crashy {
        incarnation: child.incarnation(),
        stopped: Arc::clone(&stopped),
        name,
    })
}

#[actix_rt::test]
async fn a_panicking_actor_is_restarted_and_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let readiness = Readiness::default();
    let mut sup = Supervisor::new(fast_config(), readiness.clone());
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let crashy = spawn_crashy(&mut sup, "crashy", &stopped);

    assert_eq!(crashy.send(WhoAreYou).await, Ok(0));
    assert_eq!(
        restart_series(&snapshotter, "crashy"),
        Some(0),
        "series exists before any failure"
    );

    // The panicking request gets no answer; the actor is gone until the restart.
    assert!(crashy.send(Panic).await.is_err());
    let second = eventually(|| async { crashy.send(WhoAreYou).await.ok() }).await;
    assert_eq!(second, 1, "a new incarnation answers");
    assert_eq!(restarts(&snapshotter, "crashy"), 1);
    assert_eq!(
        readiness
            .get(ComponentKind::Actor, "crashy")
            .map(|c| c.status),
        Some(Status::Up)
    );

    assert!(crashy.send(Panic).await.is_err());
    assert_eq!(
        eventually(|| async { crashy.send(WhoAreYou).await.ok() }).await,
        2
    );
    // Debugging snapshots hand out counter deltas: one more since the last look.
    assert_eq!(restarts(&snapshotter, "crashy"), 1);
    sup.shutdown().await;
}

#[actix_rt::test]
async fn an_actor_that_stops_itself_on_error_is_restarted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let readiness = Readiness::default();
    let mut sup = Supervisor::new(fast_config(), readiness.clone());
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let crashy = spawn_crashy(&mut sup, "stopper", &stopped);

    crashy
        .send(FailAndStop)
        .await
        .expect("handled before stopping");
    let next = eventually(|| async { crashy.send(WhoAreYou).await.ok() }).await;
    assert_eq!(next, 1);
    assert_eq!(restarts(&snapshotter, "stopper"), 1);
    assert_eq!(*stopped.lock().expect("lock"), vec!["stopper"]);
    sup.shutdown().await;
}

#[actix_rt::test]
async fn readiness_is_down_while_waiting_to_restart() {
    let readiness = Readiness::default();
    let config = SupervisorConfig {
        restart: Backoff::new(Duration::from_millis(400), Duration::from_millis(400)),
        ..fast_config()
    };
    let mut sup = Supervisor::new(config, readiness.clone());
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let crashy = spawn_crashy(&mut sup, "slow-restart", &stopped);
    assert!(crashy.send(Panic).await.is_err());
    let check = eventually(|| async {
        readiness
            .get(ComponentKind::Actor, "slow-restart")
            .filter(|c| c.status == Status::Down)
    })
    .await;
    assert!(check.detail.unwrap_or_default().contains("restart #1"));
    assert!(!readiness.report().ready);
    assert_eq!(
        crashy.send(WhoAreYou).await,
        Err(actors::supervise::SendError::NotRunning("slow-restart"))
    );
    eventually(|| async { crashy.send(WhoAreYou).await.ok() }).await;
    assert!(readiness.report().ready);
    sup.shutdown().await;
}

#[actix_rt::test]
async fn shutdown_stops_children_in_reverse_order_without_restarting() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let readiness = Readiness::default();
    let mut sup = Supervisor::new(fast_config(), readiness.clone());
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let first = spawn_crashy(&mut sup, "first", &stopped);
    let second = spawn_crashy(&mut sup, "second", &stopped);
    let third = spawn_crashy(&mut sup, "third", &stopped);
    for a in [&first, &second, &third] {
        a.send(WhoAreYou).await.expect("running");
    }
    assert_eq!(sup.children(), vec!["first", "second", "third"]);

    sup.shutdown().await;
    assert_eq!(
        *stopped.lock().expect("lock"),
        vec!["third", "second", "first"]
    );
    for name in ["first", "second", "third"] {
        assert_eq!(restarts(&snapshotter, name), 0, "{name} was not restarted");
        assert_eq!(
            readiness.get(ComponentKind::Actor, name).map(|c| c.status),
            Some(Status::Stopped)
        );
    }
    assert!(first.send(WhoAreYou).await.is_err());
}

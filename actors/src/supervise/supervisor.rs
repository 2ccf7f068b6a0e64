//! The supervisor: one watcher task per child, restart with backoff, ordered shutdown.

use super::actor_ref::{ActorRef, Slot};
use super::{ACTOR_RESTARTS_TOTAL, Backoff, ComponentKind, Readiness, Status};
use actix::fut::{ActorFutureExt, wrap_future};
use actix::{Actor, ActorContext, AsyncContext, Context};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

#[derive(Debug, Clone, Copy)]
pub struct SupervisorConfig {
    /// Delay before the n-th consecutive restart.
    pub restart: Backoff,
    /// An incarnation that lived this long resets the backoff to its initial delay.
    pub stable_after: Duration,
    /// How long shutdown waits for one child to stop before moving on.
    pub stop_timeout: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            restart: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
            stable_after: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(10),
        }
    }
}

/// Given to a child's factory on every (re)start: its name and its readiness entry.
#[derive(Clone, Debug)]
pub struct ChildContext {
    name: &'static str,
    readiness: Readiness,
    incarnation: u32,
}

impl ChildContext {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// 0 for the first start, then one more per restart.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    pub fn ready(&self) {
        self.readiness
            .set(ComponentKind::Actor, self.name, Status::Up, None);
    }

    pub fn not_ready(&self, detail: impl Into<String>) {
        self.readiness.set(
            ComponentKind::Actor,
            self.name,
            Status::Down,
            Some(detail.into()),
        );
    }
}

/// Owns the watcher tasks of its children. Not an actor itself: it must keep working
/// while any actor, however broken, is being restarted.
pub struct Supervisor {
    config: SupervisorConfig,
    readiness: Readiness,
    /// Per child in start order: its name, its stop switch, and "its watcher has finished".
    children: Vec<(&'static str, watch::Sender<bool>, oneshot::Receiver<()>)>,
}

impl Supervisor {
    pub fn new(config: SupervisorConfig, readiness: Readiness) -> Self {
        super::describe_metrics();
        Self {
            config,
            readiness,
            children: Vec::new(),
        }
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Names of the children in start order.
    pub fn children(&self) -> Vec<&'static str> {
        self.children.iter().map(|(name, ..)| *name).collect()
    }

    /// Starts `factory`'s actor on the current arbiter and keeps it running until
    /// [`shutdown`](Self::shutdown). Must be called inside an actix system.
    pub fn spawn<A, F>(&mut self, name: &'static str, factory: F) -> ActorRef<A>
    where
        A: Actor<Context = Context<A>>,
        F: FnMut(ChildContext) -> A + 'static,
    {
        let slot: Slot<A> = Arc::new(RwLock::new(None));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = oneshot::channel();
        // Register at 0 so the series exists before the first failure.
        metrics::counter!(ACTOR_RESTARTS_TOTAL, "actor" => name).increment(0);
        self.readiness
            .set(ComponentKind::Actor, name, Status::Starting, None);
        let watcher = Watcher {
            name,
            config: self.config,
            readiness: self.readiness.clone(),
            slot: Arc::clone(&slot),
            stop: stop_rx,
        };
        // The first incarnation starts right here, so the returned handle works at once.
        let mut factory = factory;
        let first = watcher.start(0, &mut factory);
        actix::spawn(async move {
            watcher.run(factory, first).await;
            let _ = done_tx.send(());
        });
        self.children.push((name, stop_tx, done_rx));
        ActorRef::new(name, slot)
    }

    /// Stops the children in reverse start order, each given `stop_timeout` to finish.
    pub async fn shutdown(mut self) {
        while let Some((name, stop, done)) = self.children.pop() {
            tracing::info!(actor = name, "stopping actor");
            let _ = stop.send(true);
            if tokio::time::timeout(self.config.stop_timeout * 2, done)
                .await
                .is_err()
            {
                tracing::warn!(actor = name, "actor watcher did not finish in time");
            }
        }
    }
}

/// The two ends the watcher holds on a running incarnation.
struct Incarnation {
    /// Resolves (with an error) when the actor's context is dropped: stop or panic.
    exit: oneshot::Receiver<()>,
    /// Asks the actor to stop.
    halt: oneshot::Sender<()>,
}

struct Watcher<A: Actor> {
    name: &'static str,
    config: SupervisorConfig,
    readiness: Readiness,
    slot: Slot<A>,
    stop: watch::Receiver<bool>,
}

impl<A> Watcher<A>
where
    A: Actor<Context = Context<A>>,
{
    fn set_slot(&self, addr: Option<actix::Addr<A>>) {
        *self.slot.write().unwrap_or_else(PoisonError::into_inner) = addr;
    }

    /// Creates one incarnation and publishes its address.
    fn start<F>(&self, incarnation: u32, factory: &mut F) -> Incarnation
    where
        F: FnMut(ChildContext) -> A + 'static,
    {
        let (exit_tx, exit_rx) = oneshot::channel::<()>();
        let (halt_tx, halt_rx) = oneshot::channel::<()>();
        let child = ChildContext {
            name: self.name,
            readiness: self.readiness.clone(),
            incarnation,
        };
        // Mark up before the actor's `started` runs, so an actor that reports its own
        // readiness there overrides this rather than being overridden by it.
        self.readiness
            .set(ComponentKind::Actor, self.name, Status::Up, None);
        let actor = factory(child);
        let addr = A::create(move |ctx| {
            // Dropped together with the actor's context, whether it stopped or panicked:
            // the one signal that covers both ends.
            ctx.spawn(wrap_future(async move {
                let _exit_guard = exit_tx;
                std::future::pending::<()>().await;
            }));
            ctx.spawn(
                wrap_future(halt_rx).map(|_, _act: &mut A, ctx: &mut Context<A>| {
                    ctx.stop();
                }),
            );
            actor
        });
        self.set_slot(Some(addr));
        Incarnation {
            exit: exit_rx,
            halt: halt_tx,
        }
    }

    async fn run<F>(mut self, mut factory: F, first: Incarnation)
    where
        F: FnMut(ChildContext) -> A + 'static,
    {
        let mut attempt: u32 = 0;
        let mut incarnation: u32 = 0;
        let mut current = Some(first);
        loop {
            let Incarnation {
                exit: mut exit_rx,
                halt: halt_tx,
            } = match current.take() {
                Some(first) => first,
                None => self.start(incarnation, &mut factory),
            };
            let started = Instant::now();

            tokio::select! {
                _ = &mut exit_rx => {}
                _ = self.stop.changed() => {
                    let _ = halt_tx.send(());
                    if tokio::time::timeout(self.config.stop_timeout, exit_rx).await.is_err() {
                        tracing::warn!(actor = self.name, "actor did not stop in time");
                    }
                    self.set_slot(None);
                    self.readiness.set(ComponentKind::Actor, self.name, Status::Stopped, None);
                    return;
                }
            }

            // The actor ended without being asked to: an error stop or a panic.
            self.set_slot(None);
            if *self.stop.borrow() {
                self.readiness
                    .set(ComponentKind::Actor, self.name, Status::Stopped, None);
                return;
            }
            if started.elapsed() >= self.config.stable_after {
                attempt = 0;
            }
            let delay = self.config.restart.delay(attempt);
            attempt = attempt.saturating_add(1);
            tracing::error!(
                actor = self.name,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                lived_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "actor ended unexpectedly (error stop or panic); restarting after backoff"
            );
            self.readiness.set(
                ComponentKind::Actor,
                self.name,
                Status::Down,
                Some(format!(
                    "ended unexpectedly; restart #{attempt} in {} ms",
                    delay.as_millis()
                )),
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.stop.changed() => {
                    self.readiness.set(ComponentKind::Actor, self.name, Status::Stopped, None);
                    return;
                }
            }
            metrics::counter!(ACTOR_RESTARTS_TOTAL, "actor" => self.name).increment(1);
            incarnation = incarnation.saturating_add(1);
        }
    }
}

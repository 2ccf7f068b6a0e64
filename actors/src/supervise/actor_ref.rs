//! `ActorRef`: a stable handle to whichever incarnation of a supervised actor is alive.

use super::{ACTOR_MAILBOX_DEPTH, ACTOR_MESSAGES_TOTAL};
use actix::{Actor, Addr, Context, Handler, MailboxError, Message};
use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Between a failure and its restart there is no incarnation to talk to.
    #[error("actor `{0}` is not running (restarting or stopped)")]
    NotRunning(&'static str),
    /// The incarnation ended while the message was queued or being handled.
    #[error("actor `{0}` ended before answering")]
    Closed(&'static str),
    #[error("actor `{0}` did not answer in time")]
    Timeout(&'static str),
    #[error("actor `{0}` mailbox is full")]
    Full(&'static str),
}

pub(super) type Slot<A> = Arc<RwLock<Option<Addr<A>>>>;

/// Cheap to clone and `Send + Sync`, so HTTP workers on other threads can hold one.
pub struct ActorRef<A: Actor> {
    name: &'static str,
    slot: Slot<A>,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            slot: Arc::clone(&self.slot),
        }
    }
}

/// Keeps `actor_mailbox_depth` honest even when the caller drops the request future.
struct InFlight(metrics::Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

impl<A> ActorRef<A>
where
    A: Actor<Context = Context<A>>,
{
    pub(super) fn new(name: &'static str, slot: Slot<A>) -> Self {
        Self { name, slot }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The current incarnation's address, if one is running.
    pub fn addr(&self) -> Option<Addr<A>> {
        let slot = self.slot.read().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().filter(|a| a.connected()).cloned()
    }

    /// Request/response: waits for mailbox space and for the handler's answer.
    pub async fn send<M>(&self, msg: M) -> Result<M::Result, SendError>
    where
        A: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let addr = self.addr().ok_or(SendError::NotRunning(self.name))?;
        metrics::counter!(ACTOR_MESSAGES_TOTAL, "actor" => self.name).increment(1);
        let depth = metrics::gauge!(ACTOR_MAILBOX_DEPTH, "actor" => self.name);
        depth.increment(1.0);
        let _in_flight = InFlight(depth);
        addr.send(msg).await.map_err(|e| match e {
            MailboxError::Closed => SendError::Closed(self.name),
            MailboxError::Timeout => SendError::Timeout(self.name),
        })
    }

    /// Fire-and-forget without waiting for mailbox space: refuses instead of blocking.
    pub fn try_tell<M>(&self, msg: M) -> Result<(), SendError>
    where
        A: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let addr = self.addr().ok_or(SendError::NotRunning(self.name))?;
        addr.try_send(msg).map_err(|e| match e {
            actix::prelude::SendError::Full(_) => SendError::Full(self.name),
            actix::prelude::SendError::Closed(_) => SendError::Closed(self.name),
        })?;
        metrics::counter!(ACTOR_MESSAGES_TOTAL, "actor" => self.name).increment(1);
        Ok(())
    }
}

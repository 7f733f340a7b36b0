//! The routing socket's broadcast side: every control connection that subscribed gets each
//! routing message (RTM_IFINFO, RTM_NEWADDR, ...), as every PF_ROUTE socket does on BSD.
//! A subscriber that does not read loses messages (counted), it never stalls the stack.

use std::sync::Arc;

use crate::msg::{encode, Msg, MSGF_BCAST};

/// Where a subscriber's messages go. `offer` never waits: Ok(true) when the message was
/// taken, Ok(false) when there was no room for it (it is lost for this subscriber), Err
/// when the subscriber is gone.
pub trait Sink: Send + Sync {
    #[allow(clippy::result_unit_err)]
    fn offer(&self, b: &[u8]) -> Result<bool, ()>;
}

#[derive(Default)]
pub struct RouteSocket {
    subs: Vec<(u64, Arc<dyn Sink>)>,
    /// Messages lost because a subscriber had no room for them.
    pub dropped: u64,
    /// The pid and seq of the request being served, if a client's request causes the
    /// messages: BSD's routing socket stamps each message with its originator's rtm_pid and
    /// rtm_seq (`route monitor` shows them); messages the stack makes by itself carry its own
    /// pid and seq 0.
    pub origin: Option<(u32, u32)>,
}

impl RouteSocket {
    pub fn subscribe(&mut self, id: u64, conn: Arc<dyn Sink>) {
        self.unsubscribe(id);
        self.subs.push((id, conn));
    }

    pub fn unsubscribe(&mut self, id: u64) {
        self.subs.retain(|(i, _)| *i != id);
    }

    pub fn subscribers(&self) -> usize {
        self.subs.len()
    }

    /// Sends one routing message to every subscriber.
    pub fn broadcast(&mut self, msg: &Msg) {
        if self.subs.is_empty() {
            return;
        }
        let (pid, seq) = self.origin.unwrap_or((std::process::id(), 0));
        let b = encode(msg, seq, pid, MSGF_BCAST, 0);
        let mut dead = Vec::new();
        for (id, c) in &self.subs {
            match c.offer(&b) {
                Ok(true) => {}
                Ok(false) => self.dropped += 1,
                Err(()) => dead.push(*id),
            }
        }
        for id in dead {
            self.unsubscribe(id);
        }
    }
}

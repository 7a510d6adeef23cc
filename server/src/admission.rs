//! Backpressure for answers: at most `max_in_flight` run at once, at most `max_waiting` more
//! wait (each told its place in the queue); beyond that the request is refused with 429 and
//! `Retry-After` before anything is stored. Never an unbounded queue.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

#[derive(Clone)]
pub struct Admission {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    max_in_flight: usize,
    max_total: usize,
}

/// A place in the queue; [`Ticket::start`] waits for a running slot.
pub struct Ticket {
    running: Arc<Semaphore>,
    _admitted: OwnedSemaphorePermit,
}

impl Admission {
    pub fn new(max_in_flight: usize, max_waiting: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        let max_total = max_in_flight + max_waiting;
        Admission {
            running: Arc::new(Semaphore::new(max_in_flight)),
            admitted: Arc::new(Semaphore::new(max_total)),
            max_in_flight,
            max_total,
        }
    }

    /// A ticket, or `None` when in-flight and waiting places are all taken.
    pub fn try_enter(&self) -> Option<Ticket> {
        match self.admitted.clone().try_acquire_owned() {
            Ok(p) => Some(Ticket { running: self.running.clone(), _admitted: p }),
            Err(TryAcquireError::NoPermits) | Err(TryAcquireError::Closed) => None,
        }
    }

    /// Answers running now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.running.available_permits()
    }

    /// Admitted answers not yet running.
    pub fn waiting(&self) -> usize {
        (self.max_total - self.admitted.available_permits()).saturating_sub(self.in_flight())
    }
}

impl Ticket {
    /// Start now if a slot is free (`Ok`), else the caller learns it must wait (`Err(self)`).
    pub fn try_start(self) -> Result<Running, Ticket> {
        match self.running.clone().try_acquire_owned() {
            Ok(p) => Ok(Running { _slot: p, _ticket: self }),
            Err(_) => Err(self),
        }
    }

    /// Wait for a running slot.
    pub async fn start(self) -> Running {
        // The semaphore is never closed.
        let p = self.running.clone().acquire_owned().await.expect("admission semaphore closed");
        Running { _slot: p, _ticket: self }
    }
}

/// Holds a running slot (and the queue place) until dropped.
pub struct Running {
    _slot: OwnedSemaphorePermit,
    _ticket: Ticket,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_running_plus_waiting_then_refuses() {
        let a = Admission::new(1, 1);
        let first = a.try_enter().unwrap().try_start().ok().unwrap();
        let second = a.try_enter().unwrap();
        assert!(a.try_enter().is_none(), "queue full");
        let second = second.try_start().err().unwrap();
        assert_eq!((a.in_flight(), a.waiting()), (1, 1));
        drop(first);
        let _run = second.start().await;
        assert_eq!((a.in_flight(), a.waiting()), (1, 0));
        assert!(a.try_enter().is_some());
    }
}

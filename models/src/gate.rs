//! Admission for generation: a chat model that answers at most `at_once` conversations at a
//! time and lets at most `waiting` more wait; beyond that a request fails at once with
//! [`ModelError::Busy`] (callers then answer from the guides' own words). A slot is held for
//! as long as its [`TokenStream`] lives, and freed when the caller drops it.
//!
//! Turns that need no generation (retrieval-only answers, handoffs, clarifications) never
//! take a slot, so they are not queued behind the model.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::{ChatModel, GenParams, Message, ModelError, TokenStream};

pub struct GatedChat {
    inner: Arc<dyn ChatModel>,
    /// Generations running.
    slots: Arc<Semaphore>,
    /// Generations running or waiting.
    places: Arc<Semaphore>,
    at_once: usize,
    total: usize,
}

impl GatedChat {
    pub fn new(inner: Arc<dyn ChatModel>, at_once: usize, waiting: usize) -> Self {
        let at_once = at_once.max(1);
        let total = at_once + waiting;
        GatedChat { inner, slots: Arc::new(Semaphore::new(at_once)), places: Arc::new(Semaphore::new(total)), at_once, total }
    }

    /// Generations running now.
    pub fn running(&self) -> usize {
        self.at_once - self.slots.available_permits()
    }

    /// Generations waiting for a slot.
    pub fn waiting(&self) -> usize {
        (self.total - self.places.available_permits()).saturating_sub(self.running())
    }
}

#[async_trait]
impl ChatModel for GatedChat {
    fn available(&self) -> bool {
        self.inner.available()
    }

    async fn chat(&self, messages: Vec<Message>, params: GenParams) -> Result<TokenStream, ModelError> {
        let place = self.places.clone().try_acquire_owned().map_err(|_| ModelError::Busy)?;
        // Neither semaphore is ever closed.
        let slot = self.slots.clone().acquire_owned().await.map_err(|_| ModelError::Busy)?;
        let stream = self.inner.chat(messages, params).await?;
        Ok(stream.holding((place, slot)))
    }

    fn warm(&self, messages: &[Message]) {
        self.inner.warm(messages)
    }

    fn failing(&self) -> Option<String> {
        self.inner.failing()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GenEvent;

    /// Answers with one piece and keeps the stream open until dropped.
    struct Slow;

    #[async_trait]
    impl ChatModel for Slow {
        fn available(&self) -> bool {
            true
        }
        async fn chat(&self, _: Vec<Message>, _: GenParams) -> Result<TokenStream, ModelError> {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tx.send(GenEvent::Text("办".into())).await.unwrap();
            tokio::spawn(async move { tx.closed().await });
            Ok(TokenStream::new(rx))
        }
        fn warm(&self, _: &[Message]) {}
    }

    #[tokio::test]
    async fn one_runs_one_waits_the_next_is_busy_and_a_dropped_stream_frees_its_slot() {
        let gate = Arc::new(GatedChat::new(Arc::new(Slow), 1, 1));
        let first = gate.chat(vec![], GenParams::default()).await.unwrap();
        assert_eq!((gate.running(), gate.waiting()), (1, 0));
        let g = gate.clone();
        let second = tokio::spawn(async move { g.chat(vec![], GenParams::default()).await.map(drop) });
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(gate.chat(vec![], GenParams::default()).await, Err(ModelError::Busy)), "no place left");
        drop(first);
        second.await.unwrap().unwrap();
        assert_eq!((gate.running(), gate.waiting()), (0, 0), "every slot came back");
    }
}

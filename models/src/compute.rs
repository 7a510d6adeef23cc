//! The compute thread: one OS thread owns the models and runs every heavy job in turn.
//!
//! Two heavy jobs at once on a 2-core machine collapse throughput (both thread pools spin), so
//! embedding, generation and OCR are serialised here. Callers send a job over a bounded queue
//! and get the answer on a oneshot channel; a full queue is an immediate [`ModelError::Busy`]
//! (the server turns it into 429 with `Retry-After`), never an unbounded wait; a stopped thread
//! or a model that is not loaded is [`ModelError::Unavailable`] (503). Dropping the last
//! [`ComputeHandle`] ends the thread after the job in hand.
//!
//! The handle implements the model ports ([`ChatModel`], [`Embed`]): callers hand it chat
//! messages, and the ChatML template of the loaded Qwen2 model is applied here.

use std::sync::Arc;
use std::thread;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::e5_classifier::{ClassifierSpec, E5Classifier};
use crate::embedder::{Embedder, TextKind};
use crate::generator::{GenParams, GenStats, Generator};
use crate::ocr::{Ocr, OcrLine};
use crate::port::{chatml_prefix, chatml_prompt, ChatModel, Embed, Message, TokenStream};
use crate::ModelError;

/// What a generation streams back.
#[derive(Debug)]
pub enum GenEvent {
    /// The next piece of text.
    Text(String),
    /// Finished (stop token, length limit, or the receiver asked to stop).
    Done(GenStats),
    /// The generation broke off; the kind says whether a retry can help (the text streamed
    /// before it stands as a partial answer).
    Error(ModelError),
}

/// Pieces of text buffered between the compute thread and a slow reader.
const STREAM_BUFFER: usize = 64;

/// Jobs the compute thread runs.
enum Job {
    Embed {
        texts: Vec<String>,
        kind: TextKind,
        reply: oneshot::Sender<Result<Vec<Vec<f32>>, ModelError>>,
    },
    Generate {
        prompt: String,
        params: GenParams,
        events: mpsc::Sender<GenEvent>,
    },
    /// Prefill a prompt prefix (the fixed system prompt) into the generator's cache.
    Warm {
        prefix: String,
    },
    /// Class probabilities of one text, per head of the classifier.
    Classify {
        text: String,
        reply: oneshot::Sender<Result<Vec<Vec<f32>>, ModelError>>,
    },
    /// Read the text lines of an image.
    Ocr {
        image: image::RgbImage,
        reply: oneshot::Sender<Result<Vec<OcrLine>, ModelError>>,
    },
    /// Occupies the thread until the sender side is dropped (tests of a busy thread).
    #[cfg(test)]
    Hold(std::sync::mpsc::Receiver<()>),
    /// Ends the thread as a panic in a model would (tests of a stopped thread).
    #[cfg(test)]
    Stop,
}

/// The models the thread owns; any may be absent (then its jobs fail with `Unavailable`).
#[derive(Default)]
pub struct Models {
    pub embedder: Option<Embedder>,
    pub generator: Option<Generator>,
    pub ocr: Option<Ocr>,
    /// A fine-tuned classifier over the embedder (used only with it).
    pub classifier: Option<E5Classifier>,
}

/// Cheap to clone; all clones feed the same thread.
#[derive(Clone)]
pub struct ComputeHandle {
    tx: mpsc::Sender<Job>,
    info: Arc<Info>,
}

struct Info {
    embed_dim: Option<usize>,
    has_ocr: bool,
    tokenizer: Option<tokenizers::Tokenizer>,
    classifier: Option<ClassifierSpec>,
}

impl ComputeHandle {
    /// Start the thread with `models`; at most `queue` jobs wait behind the running one.
    pub fn spawn(models: Models, queue: usize) -> Self {
        keep_model_buffers();
        let (tx, rx) = mpsc::channel(queue.max(1));
        let info = Arc::new(Info {
            embed_dim: models.embedder.as_ref().map(Embedder::dim),
            has_ocr: models.ocr.is_some(),
            tokenizer: models.generator.as_ref().map(|g| g.tokenizer().clone()),
            classifier: models.classifier.as_ref().filter(|_| models.embedder.is_some()).map(|c| c.spec().clone()),
        });
        thread::Builder::new().name("banshi-compute".into()).spawn(move || run(models, rx)).expect("spawning the compute thread");
        ComputeHandle { tx, info }
    }

    /// Embedding size, when an embedder is loaded.
    pub fn embed_dim(&self) -> Option<usize> {
        self.info.embed_dim
    }

    /// Embed texts; waits for a queue slot (use from batch jobs such as ingest).
    pub async fn embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job::Embed { texts, kind, reply }).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Embed texts, or fail at once with `Busy` when the queue is full (interactive callers).
    pub async fn try_embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        let (reply, rx) = oneshot::channel();
        self.try_send(Job::Embed { texts, kind, reply })?;
        rx.await.map_err(|_| stopped())?
    }

    /// The fine-tuned classifier's spec, when one is loaded (with its embedder).
    pub fn classifier(&self) -> Option<&ClassifierSpec> {
        self.info.classifier.as_ref()
    }

    /// Class probabilities of `text` per head (`[head][class]`), or `Busy` at once when the
    /// queue is full (a classification is never worth waiting behind generations for).
    pub async fn try_classify(&self, text: String) -> Result<Vec<Vec<f32>>, ModelError> {
        let (reply, rx) = oneshot::channel();
        self.try_send(Job::Classify { text, reply })?;
        rx.await.map_err(|_| stopped())?
    }

    /// Whether OCR models are loaded.
    pub fn has_ocr(&self) -> bool {
        self.info.has_ocr
    }

    /// The text lines of `image` (OCR), in reading order. Waits its turn on the compute thread.
    pub async fn ocr(&self, image: image::RgbImage) -> Result<Vec<OcrLine>, ModelError> {
        if !self.has_ocr() {
            return Err(not_loaded("OCR models"));
        }
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job::Ocr { image, reply }).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    pub fn has_generator(&self) -> bool {
        self.info.tokenizer.is_some()
    }

    /// Tokens `text` takes in the generator's vocabulary (None without a generator).
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        self.info.tokenizer.as_ref()?.encode(text, false).ok().map(|e| e.len())
    }

    /// Start generating after `prompt`, already in the generator's template; fails at once with
    /// `Busy` when the queue is full, `Unavailable` without a generator or a running thread.
    /// Text arrives on the returned channel; dropping it stops the generation within one token.
    fn generate_prompt(&self, prompt: String, params: GenParams) -> Result<mpsc::Receiver<GenEvent>, ModelError> {
        if !self.has_generator() {
            return Err(not_loaded("generator"));
        }
        let (events, rx) = mpsc::channel(STREAM_BUFFER);
        self.try_send(Job::Generate { prompt, params, events })?;
        Ok(rx)
    }

    /// Queue `job`, or `Busy` at once when the queue is full.
    fn try_send(&self, job: Job) -> Result<(), ModelError> {
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ModelError::Busy,
            mpsc::error::TrySendError::Closed(_) => stopped(),
        })
    }

    /// Jobs waiting (not counting the running one).
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// The in-process generator: ChatML (Qwen2's template) is applied here, not by callers.
#[async_trait]
impl ChatModel for ComputeHandle {
    fn available(&self) -> bool {
        self.has_generator()
    }

    async fn chat(&self, messages: Vec<Message>, params: GenParams) -> Result<TokenStream, ModelError> {
        self.generate_prompt(chatml_prompt(&messages), params).map(TokenStream::new)
    }

    fn warm(&self, messages: &[Message]) {
        if self.has_generator() {
            // A full queue skips warming: the first answer then pays for the prefix itself.
            let _ = self.tx.try_send(Job::Warm { prefix: chatml_prefix(messages) });
        }
    }
}

#[async_trait]
impl Embed for ComputeHandle {
    fn dim(&self) -> Option<usize> {
        self.embed_dim()
    }

    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        ComputeHandle::embed(self, texts, kind).await
    }

    async fn try_embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        ComputeHandle::try_embed(self, texts, kind).await
    }
}

fn stopped() -> ModelError {
    ModelError::Unavailable("the compute thread has stopped".into())
}

fn not_loaded(what: &str) -> ModelError {
    ModelError::Unavailable(format!("no {what} loaded (see `banshi models fetch`)"))
}

fn run(mut models: Models, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.blocking_recv() {
        match job {
            Job::Embed { texts, kind, reply } => {
                if reply.is_closed() {
                    continue; // the caller went away while queued
                }
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let result = match &models.embedder {
                    Some(e) => e.embed(&refs, kind),
                    None => Err(not_loaded("embedder")),
                };
                let _ = reply.send(result);
            }
            Job::Classify { text, reply } => {
                if reply.is_closed() {
                    continue;
                }
                let result = match (&models.classifier, &models.embedder) {
                    (Some(c), Some(e)) => c.predict(e, &[&text]).map(|mut p| p.remove(0)),
                    _ => Err(not_loaded("classifier")),
                };
                let _ = reply.send(result);
            }
            Job::Generate { prompt, params, events } => generate(models.generator.as_mut(), &prompt, &params, &events),
            Job::Ocr { image, reply } => {
                if reply.is_closed() {
                    continue;
                }
                let result = match &models.ocr {
                    Some(o) => o.recognize(&image),
                    None => Err(not_loaded("OCR models")),
                };
                let _ = reply.send(result);
            }
            Job::Warm { prefix } => {
                if let Some(g) = models.generator.as_mut() {
                    if let Err(e) = g.encode(&prefix).and_then(|t| g.warm_prefix(&t)) {
                        tracing::warn!("warming the prompt prefix failed: {e}");
                    }
                }
            }
            #[cfg(test)]
            Job::Hold(release) => {
                let _ = release.recv();
            }
            #[cfg(test)]
            Job::Stop => return,
        }
    }
}

fn generate(generator: Option<&mut Generator>, prompt: &str, params: &GenParams, events: &mpsc::Sender<GenEvent>) {
    if events.is_closed() {
        return; // the caller went away while queued
    }
    let Some(g) = generator else {
        let _ = events.blocking_send(GenEvent::Error(not_loaded("generator")));
        return;
    };
    let result = g.encode(prompt).and_then(|tokens| {
        g.generate(&tokens, params, |piece| match events.blocking_send(GenEvent::Text(piece.to_string())) {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(_) => std::ops::ControlFlow::Break(()),
        })
    });
    let _ = events.blocking_send(match result {
        Ok(stats) => GenEvent::Done(stats),
        // Whatever broke (tensor maths, a prompt too long for the context), the generation failed.
        Err(e) => GenEvent::Error(ModelError::Failed(e.to_string())),
    });
}

/// Let the allocator reuse freed model activations instead of returning them to the kernel.
///
/// candle allocates a fresh buffer for every op; glibc hands buffers above its mmap threshold
/// (128 KB at first) straight back to the kernel on free, so each op of an encoder pass paid
/// page faults and page zeroing again. Measured on gov_qa answers: 3.7 → 5.6 passages/s. The
/// cost: the heap keeps its peak (a few hundred MB) instead of shrinking after a batch.
/// Process-wide and idempotent; a no-op off glibc.
pub fn keep_model_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; glibc applies it under its own lock.
    unsafe {
        // 32 MB is glibc's upper bound on 64-bit; the encoder's largest buffer is below it.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e5s1::E5s1;
    use crate::testing::{tiny_file, tiny_pieces};

    fn tiny_handle(queue: usize) -> ComputeHandle {
        let file = E5s1::parse(tiny_file(&tiny_pieces(), &[], 32, 1, 2, 64), "tiny").unwrap();
        let generator = Some(crate::testing::tiny_generator());
        ComputeHandle::spawn(Models { embedder: Some(Embedder::from_e5s1(file).unwrap()), generator, ..Models::default() }, queue)
    }

    #[tokio::test]
    async fn embeds_on_the_thread() {
        let h = tiny_handle(4);
        assert_eq!(h.embed_dim(), Some(32));
        let v = h.embed(vec!["身份证".into(), "办理".into()], TextKind::Query).await.unwrap();
        assert_eq!(v.len(), 2);
    }

    #[tokio::test]
    async fn classifies_on_the_thread() {
        use crate::e5_classifier::{E5Classifier, HeadSpec};
        let file = E5s1::parse(tiny_file(&tiny_pieces(), &[], 32, 2, 2, 64), "tiny").unwrap();
        let embedder = Embedder::from_e5s1(file).unwrap();
        let heads = vec![HeadSpec { name: "kind".into(), classes: vec!["a".into(), "b".into(), "c".into()] }];
        let classifier = E5Classifier::from_embedder(&embedder, heads, 1, 60, 1).unwrap();
        let want = classifier.predict(&embedder, &["身份证"]).unwrap().remove(0);
        let h = ComputeHandle::spawn(Models { embedder: Some(embedder), classifier: Some(classifier), ..Models::default() }, 2);
        assert_eq!(h.classifier().map(|s| s.heads.len()), Some(1));
        assert_eq!(h.try_classify("身份证".into()).await.unwrap(), want);
        let without = tiny_handle(1);
        assert!(without.classifier().is_none());
        assert!(matches!(without.try_classify("x".into()).await, Err(ModelError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_model_not_loaded_is_unavailable() {
        let h = ComputeHandle::spawn(Models::default(), 1);
        let err = h.embed(vec!["x".into()], TextKind::Query).await.unwrap_err();
        assert!(matches!(err, ModelError::Unavailable(_)), "{err:?}");
        assert!(!ChatModel::available(&h));
        let err = h.chat(vec![Message::user("你好")], GenParams::default()).await.err();
        assert!(matches!(err, Some(ModelError::Unavailable(_))), "{err:?}");
    }

    #[tokio::test]
    async fn a_stopped_thread_is_unavailable() {
        let h = tiny_handle(2);
        h.tx.send(Job::Stop).await.unwrap();
        // The queue closes once the thread has returned and dropped its receiver.
        while !h.tx.is_closed() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let waited = h.embed(vec!["x".into()], TextKind::Query).await;
        assert!(matches!(waited, Err(ModelError::Unavailable(_))), "{waited:?}");
        let refused = Embed::try_embed(&h, vec!["x".into()], TextKind::Query).await;
        assert!(matches!(refused, Err(ModelError::Unavailable(_))), "{refused:?}");
    }

    fn tiny_chat(queue: usize) -> ComputeHandle {
        ComputeHandle::spawn(Models { generator: Some(crate::testing::tiny_generator()), ..Models::default() }, queue)
    }

    /// Every event of a stream, up to and including `Done` or `Error`.
    async fn drain(mut s: TokenStream) -> Vec<GenEvent> {
        let mut out = Vec::new();
        while let Some(ev) = s.next().await {
            let end = !matches!(ev, GenEvent::Text(_));
            out.push(ev);
            if end {
                break;
            }
        }
        out
    }

    #[tokio::test]
    async fn chat_messages_are_rendered_by_the_model() {
        let h = tiny_chat(2);
        let messages = vec![Message::system("办事"), Message::user("身份证")];
        let params = GenParams { max_tokens: 8, ..GenParams::default() };
        let events = drain(h.chat(messages.clone(), params).await.unwrap()).await;
        assert!(matches!(events.last(), Some(GenEvent::Done(s)) if s.prompt_tokens > 0), "{events:?}");
        // The port's prompt is the ChatML the generator itself would be given.
        let mut g = crate::testing::tiny_generator();
        let tokens = g.encode(&chatml_prompt(&messages)).unwrap();
        let mut want = String::new();
        let stats = g
            .generate(&tokens, &params, |p| {
                want.push_str(p);
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        let got: String = events.iter().filter_map(|e| if let GenEvent::Text(t) = e { Some(t.as_str()) } else { None }).collect();
        assert_eq!(got, want);
        assert!(matches!(events.last(), Some(GenEvent::Done(s)) if s.prompt_tokens == stats.prompt_tokens));
    }

    #[tokio::test]
    async fn a_generation_that_breaks_ends_its_stream_with_failed() {
        let h = tiny_chat(2);
        // More tokens than the context holds: the generator refuses after the job started.
        let events =
            drain(h.chat(vec![Message::user("身份证")], GenParams { max_tokens: usize::MAX / 2, ..GenParams::default() }).await.unwrap())
                .await;
        assert!(matches!(events.as_slice(), [GenEvent::Error(ModelError::Failed(_))]), "{events:?}");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_waiting() {
        let h = tiny_handle(1);
        let (release, held) = std::sync::mpsc::channel();
        h.tx.send(Job::Hold(held)).await.unwrap();
        // Wait until the thread has taken the hold job, then fill the one queue slot.
        while h.queue_depth() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let queued = {
            let h = h.clone();
            tokio::spawn(async move { h.embed(vec!["身份证".into()], TextKind::Query).await })
        };
        while h.queue_depth() < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let refused = h.try_embed(vec!["x".into()], TextKind::Query).await;
        assert!(matches!(refused, Err(ModelError::Busy)), "{refused:?}");
        let refused = h.chat(vec![Message::user("x")], GenParams::default()).await.err();
        assert!(matches!(refused, Some(ModelError::Busy)), "{refused:?}");
        drop(release);
        assert_eq!(queued.await.unwrap().unwrap().len(), 1, "the queued job still runs");
    }
}

//! Document frequencies of the knowledge base's words, for weighing a question's words by how
//! much they say.
//!
//! The retrieval confidence asks how much of a question the top item's text covers. Counted
//! word by word, “示例市明天下不下雨” is half covered by a flood-report guide (示例市, 明天);
//! weighted by inverse document frequency it is not, because 下雨 — the word that matters —
//! appears in no guide at all. A word the knowledge base has never seen weighs the most.
//!
//! Documents are items (or bundles), each a set of [`term_id`]s of its chunks' words; replacing
//! a document (a new version made live) moves its counts. Nothing is persisted: the table is
//! rebuilt from the live guides when the knowledge base opens (about a second for ~2,300 items).
//!
//! Locking: one `RwLock`; a lookup reads a handful of counts, an update rewrites one document.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::chunk::Chunk;
use crate::sparse::{term_id, SparseEncoder};

#[derive(Default)]
pub struct Vocabulary {
    inner: RwLock<Counts>,
}

#[derive(Default)]
struct Counts {
    docs: HashMap<String, HashSet<u32>>,
    df: HashMap<u32, u32>,
}

impl Vocabulary {
    /// Record (or replace) the words of document `code` from its chunks.
    pub fn set(&self, sparse: &SparseEncoder, code: &str, chunks: &[Chunk]) {
        let terms: HashSet<u32> = chunks.iter().flat_map(|c| sparse.tokens(&c.text)).map(|t| term_id(&t)).collect();
        let mut c = self.inner.write().expect("vocabulary lock");
        if let Some(old) = c.docs.remove(code) {
            for t in old {
                if let Some(n) = c.df.get_mut(&t) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        for &t in &terms {
            *c.df.entry(t).or_default() += 1;
        }
        c.docs.insert(code.to_string(), terms);
    }

    /// Number of documents recorded.
    pub fn len(&self) -> usize {
        self.inner.read().expect("vocabulary lock").docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// BM25's inverse document frequency of `token`: ln(1 + (N − df + ½)/(df + ½)). Highest for
    /// a word no document has; 1 for all of them when nothing is recorded (plain counting).
    pub fn idf(&self, token: &str) -> f32 {
        let c = self.inner.read().expect("vocabulary lock");
        let n = c.docs.len() as f32;
        if n == 0.0 {
            return 1.0;
        }
        let df = c.df.get(&term_id(token)).copied().unwrap_or(0) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(code: &str, text: &str) -> Chunk {
        Chunk {
            code: code.into(),
            name: code.into(),
            section: crate::section::Section::Overview,
            title: "基本信息".into(),
            text: text.into(),
        }
    }

    #[test]
    fn unseen_words_weigh_most_and_replacement_moves_counts() {
        let s = SparseEncoder::new();
        let v = Vocabulary::default();
        assert_eq!(v.idf("身份证"), 1.0, "empty vocabulary counts every word alike");
        v.set(&s, "A", &[chunk("A", "居民身份证换领需要户口簿")]);
        v.set(&s, "B", &[chunk("B", "临时居民身份证申领")]);
        v.set(&s, "C", &[chunk("C", "汛情发布查询")]);
        assert_eq!(v.len(), 3);
        let common = v.idf("身份证");
        let rare = v.idf("户口簿");
        let unseen = v.idf("下雨");
        assert!(common < rare && rare < unseen, "{common} {rare} {unseen}");
        // A new version of A without 户口簿: the word is now unseen.
        v.set(&s, "A", &[chunk("A", "居民身份证换领")]);
        assert_eq!(v.len(), 3);
        assert_eq!(v.idf("户口簿"), unseen);
    }
}

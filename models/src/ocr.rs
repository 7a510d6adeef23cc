//! PP-OCRv4 (Chinese) text detection + recognition, run with tract-onnx (pure Rust).
//!
//! Detection (DB) gives a text-probability map; pixels above [`DET_THRESH`] are grouped into
//! connected regions, each kept when its mean probability reaches [`BOX_THRESH`], and grown by
//! the DB "unclip" distance. Boxes are axis-aligned: scans and photos of upright documents,
//! not rotated text. Each box is cropped, scaled to height 48 and recognised; the CTC output is
//! decoded greedily over the dictionary stored in the model's own metadata (`character`).
//!
//! tract needs concrete input shapes for these networks, so detection runs on one fixed
//! 960×960 letterboxed square and recognition on crops padded to a few width buckets, each with
//! its own optimised plan (made once, cached). Inputs follow PaddleOCR's training: BGR channel
//! order, det normalised with the ImageNet mean/std, rec scaled to [-1, 1].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use image::{imageops, RgbImage};
use tract_onnx::prelude::*;

use crate::ModelError;

/// Detection map threshold (a pixel is text).
pub const DET_THRESH: f32 = 0.3;
/// Mean probability a region needs to be a text box.
pub const BOX_THRESH: f32 = 0.5;
/// DB unclip ratio: how far a shrunk text region is grown back.
pub const UNCLIP_RATIO: f32 = 1.6;
/// Detection runs on this square (the long side scaled to it, the rest padded).
const DET_SIDE: u32 = 960;
const REC_HEIGHT: u32 = 48;
/// Recognition crops are padded to a multiple of this width (one plan per multiple).
const REC_WIDTH_BUCKET: u32 = 320;
/// Widest crop recognised at once (longer lines are scaled down to fit).
const REC_MAX_WIDTH: u32 = 1600;

type Plan = Arc<TypedRunnableModel>;
type InferenceModel = tract_onnx::prelude::InferenceModel;

/// One recognised line of text.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrLine {
    pub text: String,
    /// Mean probability of the kept characters (0–1).
    pub score: f32,
    /// `[x0, y0, x1, y1]` in the input image's pixels.
    pub bbox: [u32; 4],
}

/// The OCR pipeline: detection, recognition and the recognition dictionary.
pub struct Ocr {
    det: Plan,
    rec: InferenceModel,
    rec_file: std::path::PathBuf,
    /// Recognition plans by padded width (a handful of buckets).
    rec_plans: Mutex<HashMap<u32, Plan>>,
    dict: Vec<String>,
}

fn tract_err(file: &Path) -> impl Fn(TractError) -> ModelError + '_ {
    move |e| ModelError::Format { file: file.display().to_string(), detail: format!("{e:#}") }
}

/// Read an ONNX model and its metadata properties.
fn read(path: &Path) -> Result<InferenceModel, ModelError> {
    if !path.exists() {
        return Err(ModelError::Missing(path.to_path_buf()));
    }
    tract_onnx::onnx().model_for_path(path).map_err(tract_err(path))
}

/// An optimised plan for input `[1, 3, h, w]`. PP-OCR's up-sampling paths defeat tract's
/// symbolic shape proofs, so plans are made per concrete size (a few, cached).
fn plan(model: &InferenceModel, file: &Path, h: u32, w: u32) -> Result<Plan, ModelError> {
    let err = tract_err(file);
    let fact = f32::fact([1usize, 3, h as usize, w as usize]);
    model.clone().with_input_fact(0, fact.into()).map_err(&err)?.into_optimized().map_err(&err)?.into_runnable().map_err(&err)
}

impl Ocr {
    /// Load detection and recognition models (`ch_PP-OCRv4_det_infer.onnx`,
    /// `ch_PP-OCRv4_rec_infer.onnx`). Fails when a file is missing or the recognition model has
    /// no `character` dictionary in its metadata.
    pub fn from_files(det: &Path, rec: &Path) -> Result<Ocr, ModelError> {
        let det_plan = plan(&read(det)?, det, DET_SIDE, DET_SIDE)?;
        let rec_model = read(rec)?;
        let dict = rec_model
            .properties
            .get("onnx.metadata_props.character")
            .and_then(|t| t.as_plain_ram().and_then(|v| v.to_scalar::<String>().ok().cloned()))
            .ok_or_else(|| ModelError::Format {
                file: rec.display().to_string(),
                detail: "no `character` dictionary in the metadata".into(),
            })?;
        let mut dict: Vec<String> = dict.lines().map(str::to_string).collect();
        dict.push(" ".into()); // PaddleOCR's use_space_char: the last class is a space
        Ok(Ocr { det: det_plan, rec: rec_model, rec_file: rec.to_path_buf(), rec_plans: Mutex::new(HashMap::new()), dict })
    }

    /// Characters the recogniser knows (without the CTC blank).
    pub fn dictionary_len(&self) -> usize {
        self.dict.len()
    }

    /// Every text line of `img`, top to bottom, left to right.
    pub fn recognize(&self, img: &RgbImage) -> Result<Vec<OcrLine>, ModelError> {
        let mut lines = Vec::new();
        for bbox in self.detect(img)? {
            let [x0, y0, x1, y1] = bbox;
            let crop = imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
            let (text, score) = self.read_line(&crop)?;
            if !text.trim().is_empty() {
                lines.push(OcrLine { text, score, bbox });
            }
        }
        Ok(lines)
    }

    /// Text boxes of `img` in reading order.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<[u32; 4]>, ModelError> {
        let (w, h) = img.dimensions();
        if w < 4 || h < 4 {
            return Ok(Vec::new());
        }
        // Letterbox into the fixed detection square (PaddleOCR's 960 limit on the long side);
        // the padding is the normalised mean, i.e. zeros.
        let (dw, dh) = det_size(w, h);
        let resized = imageops::resize(img, dw, dh, imageops::FilterType::Triangle);
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let input = tensor_bgr_padded(&resized, DET_SIDE, DET_SIDE, |c, v| (v / 255.0 - MEAN[c]) / STD[c]);
        let out = self.det.run(tvec!(input.into())).map_err(tract_err(Path::new("det")))?;
        let map = out[0].to_plain_array_view::<f32>().map_err(tract_err(Path::new("det")))?;
        let side = DET_SIDE as usize;
        // Only the image's part of the map.
        let probs: Vec<f32> =
            map.iter().copied().enumerate().filter(|(i, _)| i % side < dw as usize && i / side < dh as usize).map(|(_, p)| p).collect();
        let boxes = db_boxes(&probs, dw as usize, dh as usize);
        let (sx, sy) = (w as f32 / dw as f32, h as f32 / dh as f32);
        let mut scaled: Vec<[u32; 4]> = boxes
            .into_iter()
            .map(|[x0, y0, x1, y1]| {
                let x0 = ((x0 * sx).floor().max(0.0) as u32).min(w - 1);
                let y0 = ((y0 * sy).floor().max(0.0) as u32).min(h - 1);
                let x1 = ((x1 * sx).ceil() as u32).clamp(x0 + 1, w);
                let y1 = ((y1 * sy).ceil() as u32).clamp(y0 + 1, h);
                [x0, y0, x1, y1]
            })
            .collect();
        reading_order(&mut scaled);
        Ok(scaled)
    }

    /// Recognise one cropped line; returns its text and mean character probability.
    pub fn read_line(&self, crop: &RgbImage) -> Result<(String, f32), ModelError> {
        let (w, h) = crop.dimensions();
        if w == 0 || h == 0 {
            return Ok((String::new(), 0.0));
        }
        let rw = ((REC_HEIGHT as f32 * w as f32 / h as f32).ceil() as u32).clamp(16, REC_MAX_WIDTH);
        let resized = imageops::resize(crop, rw, REC_HEIGHT, imageops::FilterType::Triangle);
        // Pad on the right to the width bucket; padding is 0 after normalisation, as in PaddleOCR.
        let bucket = rw.div_ceil(REC_WIDTH_BUCKET) * REC_WIDTH_BUCKET;
        let input = tensor_bgr_padded(&resized, bucket, REC_HEIGHT, |_, v| (v / 255.0 - 0.5) / 0.5);
        let rec = self.rec_plan(bucket)?;
        let out = rec.run(tvec!(input.into())).map_err(tract_err(Path::new("rec")))?;
        let view = out[0].to_plain_array_view::<f32>().map_err(tract_err(Path::new("rec")))?;
        let shape = view.shape().to_vec();
        let (steps, classes) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let probs: Vec<f32> = view.iter().copied().collect();
        Ok(ctc_greedy(&probs, steps, classes, &self.dict))
    }
}

impl Ocr {
    /// The recognition plan for crops padded to `width` (built once per width bucket).
    fn rec_plan(&self, width: u32) -> Result<Plan, ModelError> {
        let mut plans = self.rec_plans.lock().expect("rec plan lock");
        if let Some(p) = plans.get(&width) {
            return Ok(p.clone());
        }
        let p = plan(&self.rec, &self.rec_file, REC_HEIGHT, width)?;
        plans.insert(width, p.clone());
        Ok(p)
    }
}

/// The image's size inside the detection square: the long side scaled to [`DET_SIDE`]
/// (small images are scaled up too: thin strokes detect better at that size).
fn det_size(w: u32, h: u32) -> (u32, u32) {
    let scale = DET_SIDE as f32 / w.max(h) as f32;
    let side = |v: u32| ((v as f32 * scale).round() as u32).clamp(1, DET_SIDE);
    (side(w), side(h))
}

/// `[1, 3, height, width]` tensor in BGR order with `norm(channel, value)` applied to the
/// image's pixels (top left); the rest is zeros.
fn tensor_bgr_padded(img: &RgbImage, width: u32, height: u32, norm: impl Fn(usize, f32) -> f32) -> Tensor {
    let (w, h) = (width as usize, height as usize);
    let mut data = vec![0f32; 3 * w * h];
    for (x, y, p) in img.enumerate_pixels() {
        let i = y as usize * w + x as usize;
        for (c, v) in [p[2], p[1], p[0]].into_iter().enumerate() {
            data[c * w * h + i] = norm(c, v as f32);
        }
    }
    tract_ndarray::Array4::from_shape_vec((1, 3, h, w), data).expect("the shape matches the data").into_tensor()
}

/// DB post-processing on a `w × h` probability map: boxes `[x0, y0, x1, y1]` (map pixels,
/// unclipped) of 4-connected regions above [`DET_THRESH`] whose mean reaches [`BOX_THRESH`].
pub fn db_boxes(probs: &[f32], w: usize, h: usize) -> Vec<[f32; 4]> {
    let mut seen = vec![false; w * h];
    let mut boxes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || probs[start] <= DET_THRESH {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let (mut sum, mut n) = (0f32, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            sum += probs[i];
            n += 1;
            let mut visit = |j: usize| {
                if !seen[j] && probs[j] > DET_THRESH {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        if bw.min(bh) < 3.0 || sum / (n as f32) < BOX_THRESH {
            continue;
        }
        let d = bw * bh * UNCLIP_RATIO / (2.0 * (bw + bh));
        boxes.push([
            (x0 as f32 - d).max(0.0),
            (y0 as f32 - d).max(0.0),
            (x1 as f32 + 1.0 + d).min(w as f32),
            (y1 as f32 + 1.0 + d).min(h as f32),
        ]);
    }
    boxes
}

/// Sort boxes into reading order: lines top to bottom (boxes whose vertical centres are within
/// half a line height share a line), left to right within a line.
fn reading_order(boxes: &mut [[u32; 4]]) {
    boxes.sort_by_key(|b| (b[1] + b[3]) / 2);
    let mut i = 0;
    while i < boxes.len() {
        let centre = (boxes[i][1] + boxes[i][3]) / 2;
        let half = (boxes[i][3] - boxes[i][1]) / 2;
        let mut j = i + 1;
        while j < boxes.len() && (boxes[j][1] + boxes[j][3]) / 2 <= centre + half {
            j += 1;
        }
        boxes[i..j].sort_by_key(|b| b[0]);
        i = j;
    }
}

/// Greedy CTC decoding of `steps × classes` probabilities: best class per step, repeats
/// collapsed, blanks (class 0) dropped; class `k` is `dict[k - 1]`.
pub fn ctc_greedy(probs: &[f32], steps: usize, classes: usize, dict: &[String]) -> (String, f32) {
    let mut text = String::new();
    let mut scores = Vec::new();
    let mut last = 0usize;
    for t in 0..steps {
        let row = &probs[t * classes..(t + 1) * classes];
        let (best, p) = row.iter().enumerate().fold((0, f32::MIN), |acc, (k, &v)| if v > acc.1 { (k, v) } else { acc });
        if best != 0 && best != last {
            if let Some(c) = dict.get(best - 1) {
                text.push_str(c);
                scores.push(p);
            }
        }
        last = best;
    }
    let score = if scores.is_empty() { 0.0 } else { scores.iter().sum::<f32>() / scores.len() as f32 };
    (text, score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let dict: Vec<String> = ["出", "生", "证"].iter().map(|s| s.to_string()).collect();
        // steps: 出 出 blank 生 生 blank 生 证
        let seq = [1, 1, 0, 2, 2, 0, 2, 3];
        let mut probs = vec![0.0; seq.len() * 4];
        for (t, &k) in seq.iter().enumerate() {
            probs[t * 4 + k] = 0.9;
        }
        let (text, score) = ctc_greedy(&probs, seq.len(), 4, &dict);
        assert_eq!(text, "出生生证", "a blank separates a doubled character");
        assert!((score - 0.9).abs() < 1e-6);
    }

    #[test]
    fn db_finds_one_box_per_text_region_and_drops_faint_ones() {
        let (w, h) = (40, 20);
        let mut probs = vec![0.0f32; w * h];
        for y in 4..8 {
            for x in 5..30 {
                probs[y * w + x] = 0.9; // a text line
            }
        }
        for y in 12..16 {
            for x in 5..15 {
                probs[y * w + x] = 0.35; // above the pixel threshold, too faint as a box
            }
        }
        let boxes = db_boxes(&probs, w, h);
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let [x0, y0, x1, y1] = boxes[0];
        assert!(x0 < 5.0 && y0 < 4.0 && x1 > 30.0 && y1 > 8.0, "unclipped outwards: {:?}", boxes[0]);
    }

    #[test]
    fn boxes_are_read_line_by_line() {
        let mut b = [[50, 10, 90, 30], [0, 50, 40, 70], [0, 12, 40, 28]];
        reading_order(&mut b);
        assert_eq!(b, [[0, 12, 40, 28], [50, 10, 90, 30], [0, 50, 40, 70]]);
    }

    #[test]
    fn detection_sizes_fit_the_square_keeping_the_aspect() {
        assert_eq!(det_size(480, 240), (960, 480));
        assert_eq!(det_size(3000, 4000), (720, 960));
        assert_eq!(det_size(10_000, 1), (960, 1));
    }

    #[test]
    fn a_missing_model_file_is_named() {
        let e = Ocr::from_files(Path::new("/nonexistent/det.onnx"), Path::new("/nonexistent/rec.onnx")).err().unwrap();
        assert!(e.to_string().contains("det.onnx"), "{e}");
    }
}

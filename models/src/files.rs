//! Names of the weight files inside the models dir: what the loaders here are pointed at and
//! what `banshi-fetch` installs there.

pub const GENERATOR_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
pub const GENERATOR_TOKENIZER_FILE: &str = "qwen2.5-tokenizer.json";
pub const EMBEDDER_FILE: &str = "e5-small-q4.bin";
pub const OCR_DET_FILE: &str = "ch_PP-OCRv4_det_infer.onnx";
pub const OCR_REC_FILE: &str = "ch_PP-OCRv4_rec_infer.onnx";
pub const OCR_CLS_FILE: &str = "ch_ppocr_mobile_v2.0_cls_infer.onnx";

//! Pre-review (智能预审) of uploaded materials before the citizen travels: [`document`] reads a
//! file safely into pages of text (PDF text, OCR for images and scanned pages) with quality
//! measures; [`recognize`] decides which material it is and reads its fields by rules;
//! [`report`] applies completeness, validity, consistency and quality rules and writes the
//! report (通过 / 需补正 / 不通过, each with the reason and what to do).

pub mod document;
pub mod recognize;
pub mod report;

pub use document::{read, Document, FileKind, Limits, Page, UploadError};
pub use report::{review, Analysed, Report, Verdict};

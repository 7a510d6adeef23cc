//! Reading an uploaded file into pages of text, safely: the type is decided by magic bytes
//! (PDF, JPEG, PNG; anything else is refused with the reason), image dimensions are read from
//! the header and bounded before any pixel is decoded (decompression bombs), PDFs are bounded in
//! pages, and nothing in a file is executed or rendered: text PDFs give their text, images and
//! image-only PDF pages (their embedded JPEGs) are read by OCR on the compute thread.
//!
//! Each page also gets the quality measures pre-review needs: size, blankness and sharpness.

use std::io::Cursor;

use banshi_models::ComputeHandle;
use image::{DynamicImage, GrayImage, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};

/// What an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Pdf,
    Jpeg,
    Png,
}

impl FileKind {
    pub fn mime(self) -> &'static str {
        match self {
            FileKind::Pdf => "application/pdf",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
        }
    }
}

/// Bounds on what is decoded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    /// Longest image side, in pixels.
    pub max_side: u32,
    /// Pixels of one image (width × height).
    pub max_pixels: u64,
    pub max_pages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 10 * 1024 * 1024, max_side: 8000, max_pixels: 40_000_000, max_pages: 20 }
    }
}

/// Why a file was refused (Chinese, for the citizen).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("文件过大（{0} MB），请上传不超过 {1} MB 的文件")]
    TooLarge(usize, usize),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    #[error("图片文字识别暂不可用：{0}")]
    Ocr(String),
}

/// One page's text and quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page {
    pub text: String,
    /// The text was read by OCR (images, scanned PDF pages).
    pub ocr: bool,
    /// Mean OCR character confidence (0–1), when OCR ran and found text.
    pub ocr_score: Option<f32>,
    /// Image size in pixels (scanned pages and images).
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Nothing on the page (uniform pixels, or no text at all).
    pub blank: bool,
    /// Variance of the Laplacian of the grey image (low = blurred), for images.
    pub sharpness: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Document {
    pub kind: FileKind,
    pub pages: Vec<Page>,
}

impl Document {
    pub fn text(&self) -> String {
        self.pages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n")
    }
}

/// The file's type from its first bytes.
pub fn sniff(bytes: &[u8]) -> Result<FileKind, UploadError> {
    match bytes {
        [b'%', b'P', b'D', b'F', b'-', ..] => Ok(FileKind::Pdf),
        [0xFF, 0xD8, 0xFF, ..] => Ok(FileKind::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Ok(FileKind::Png),
        [b'P', b'K', 3, 4, ..] => Err(UploadError::Unsupported("不支持压缩包或 Office 文档，请上传 PDF、JPG 或 PNG 文件".into())),
        [b'G', b'I', b'F', ..] | [b'B', b'M', ..] | [b'R', b'I', b'F', b'F', ..] => {
            Err(UploadError::Unsupported("不支持该图片格式，请转为 JPG 或 PNG 后上传".into()))
        }
        [0x7F, b'E', b'L', b'F', ..] | [b'M', b'Z', ..] | [b'#', b'!', ..] => {
            Err(UploadError::Unsupported("不能上传程序或脚本文件，请上传 PDF、JPG 或 PNG 文件".into()))
        }
        _ => Err(UploadError::Unsupported("无法识别的文件类型，请上传 PDF、JPG 或 PNG 文件".into())),
    }
}

/// Read `bytes` into pages. OCR runs through `compute` when it has the OCR models; without
/// them images come back as pages without text (the report then says they could not be read).
pub async fn read(bytes: &[u8], limits: Limits, compute: Option<&ComputeHandle>) -> Result<Document, UploadError> {
    if bytes.len() > limits.max_bytes {
        return Err(UploadError::TooLarge(bytes.len().div_ceil(1024 * 1024), limits.max_bytes / (1024 * 1024)));
    }
    let kind = sniff(bytes)?;
    let pages = match kind {
        FileKind::Jpeg | FileKind::Png => vec![image_page(decode(bytes, limits)?, compute).await?],
        FileKind::Pdf => pdf_pages(bytes, limits, compute).await?,
    };
    Ok(Document { kind, pages })
}

/// Decode an image after checking its header's dimensions against `limits`.
pub fn decode(bytes: &[u8], limits: Limits) -> Result<RgbImage, UploadError> {
    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| UploadError::Invalid("图片文件已损坏，无法读取".into()))?;
    // Reading the header allocates nothing; the limits apply to decoding below.
    reader.no_limits();
    let (w, h) = reader.into_dimensions().map_err(|e| {
        tracing::debug!("reading image dimensions: {e}");
        UploadError::Invalid("图片文件已损坏，无法读取".into())
    })?;
    if w.max(h) > limits.max_side || w as u64 * h as u64 > limits.max_pixels {
        return Err(UploadError::Invalid(format!("图片尺寸过大（{w}×{h}），请压缩到长边不超过 {} 像素后上传", limits.max_side)));
    }
    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| UploadError::Invalid("图片文件已损坏，无法读取".into()))?;
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_pixels * 4 + 1024 * 1024);
    reader.limits(l);
    let img = reader.decode().map_err(|e| UploadError::Invalid(format!("图片无法解码：{e}")))?;
    Ok(DynamicImage::to_rgb8(&img))
}

async fn image_page(img: RgbImage, compute: Option<&ComputeHandle>) -> Result<Page, UploadError> {
    let grey = image::imageops::grayscale(&img);
    let blank = is_blank(&grey);
    let sharpness = Some(sharpness(&grey));
    let (width, height) = (Some(img.width()), Some(img.height()));
    let (text, ocr_score) = match compute.filter(|c| c.has_ocr()) {
        Some(c) if !blank => {
            let lines = c.ocr(img).await.map_err(|e| UploadError::Ocr(e.to_string()))?;
            let score = (!lines.is_empty()).then(|| lines.iter().map(|l| l.score).sum::<f32>() / lines.len() as f32);
            (lines.into_iter().map(|l| l.text).collect::<Vec<_>>().join("\n"), score)
        }
        _ => (String::new(), None),
    };
    Ok(Page { text, ocr: true, ocr_score, width, height, blank, sharpness })
}

/// Pixels almost all the same grey (a blank scan or a photo of nothing).
fn is_blank(grey: &GrayImage) -> bool {
    let n = grey.len() as f64;
    if n == 0.0 {
        return true;
    }
    let mean = grey.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = grey.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    var.sqrt() < 6.0
}

/// Variance of the 4-neighbour Laplacian on a copy at most 1000 px wide: sharp text has strong
/// edges; a blurred photo has little.
pub fn sharpness(grey: &GrayImage) -> f32 {
    let g = if grey.width() > 1000 {
        image::imageops::resize(
            grey,
            1000,
            (grey.height() as u64 * 1000 / grey.width() as u64).max(1) as u32,
            image::imageops::FilterType::Triangle,
        )
    } else {
        grey.clone()
    };
    let (w, h) = g.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let px = |x: u32, y: u32| g.get_pixel(x, y)[0] as f32;
    let mut vals = Vec::with_capacity(((w - 2) * (h - 2)) as usize);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            vals.push(px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y));
        }
    }
    let mean = vals.iter().sum::<f32>() / vals.len() as f32;
    vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / vals.len() as f32
}

/// Text of each page; a page without text is read from its embedded JPEG images by OCR.
/// pdf-extract can panic on malformed files: it runs on a blocking thread behind
/// `catch_unwind`, so a bad PDF is refused, never a crash.
async fn pdf_pages(bytes: &[u8], limits: Limits, compute: Option<&ComputeHandle>) -> Result<Vec<Page>, UploadError> {
    let owned = bytes.to_vec();
    let max_pages = limits.max_pages;
    let parsed = tokio::task::spawn_blocking(move || std::panic::catch_unwind(|| parse_pdf(&owned, max_pages)))
        .await
        .map_err(|_| UploadError::Invalid("PDF 文件无法读取".into()))?
        .map_err(|_| UploadError::Invalid("PDF 文件结构异常，无法读取，请重新导出后上传".into()))??;
    let mut pages = Vec::new();
    for (text, jpegs) in parsed {
        if !text.trim().is_empty() {
            pages.push(Page { text, ocr: false, ocr_score: None, width: None, height: None, blank: false, sharpness: None });
            continue;
        }
        let Some(jpeg) = jpegs.into_iter().next() else {
            pages.push(Page { text: String::new(), ocr: false, ocr_score: None, width: None, height: None, blank: true, sharpness: None });
            continue;
        };
        pages.push(image_page(decode(&jpeg, limits)?, compute).await?);
    }
    Ok(pages)
}

type PdfPage = (String, Vec<Vec<u8>>);

fn parse_pdf(bytes: &[u8], max_pages: usize) -> Result<Vec<PdfPage>, UploadError> {
    let doc = pdf_extract::Document::load_mem(bytes).map_err(|_| UploadError::Invalid("PDF 文件已损坏或已加密，无法读取".into()))?;
    let page_ids: Vec<_> = doc.get_pages().into_values().collect();
    if page_ids.is_empty() {
        return Err(UploadError::Invalid("PDF 文件没有页面".into()));
    }
    if page_ids.len() > max_pages {
        return Err(UploadError::Invalid(format!("PDF 共 {} 页，超过 {max_pages} 页的上限，请只上传所需材料的页面", page_ids.len())));
    }
    let texts = pdf_extract::extract_text_from_mem_by_pages(bytes).unwrap_or_else(|_| vec![String::new(); page_ids.len()]);
    Ok(page_ids.iter().enumerate().map(|(i, id)| (texts.get(i).cloned().unwrap_or_default(), page_jpegs(&doc, *id))).collect())
}

/// The page's image XObjects stored as JPEG (DCTDecode): their stream is the JPEG file itself.
fn page_jpegs(doc: &pdf_extract::Document, page: pdf_extract::ObjectId) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok((resources, ids)) = doc.get_page_resources(page) else { return out };
    let mut dicts: Vec<&pdf_extract::Dictionary> = resources.into_iter().collect();
    let owned: Vec<_> = ids.iter().filter_map(|id| doc.get_dictionary(*id).ok()).collect();
    dicts.extend(owned);
    for res in dicts {
        let Ok(xobjects) = res.get(b"XObject").and_then(|o| match o {
            pdf_extract::Object::Reference(id) => doc.get_dictionary(*id),
            o => o.as_dict(),
        }) else {
            continue;
        };
        for (_, obj) in xobjects.iter() {
            let Ok(id) = obj.as_reference() else { continue };
            let Ok(stream) = doc.get_object(id).and_then(|o| o.as_stream()) else { continue };
            let is_image = stream.dict.get(b"Subtype").and_then(|s| s.as_name()).is_ok_and(|n| n == b"Image");
            let is_jpeg = stream.dict.get(b"Filter").is_ok_and(|f| match f {
                pdf_extract::Object::Name(n) => n == b"DCTDecode",
                pdf_extract::Object::Array(a) => a.iter().any(|x| x.as_name().is_ok_and(|n| n == b"DCTDecode")),
                _ => false,
            });
            if is_image && is_jpeg {
                out.push(stream.content.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_magic_bytes_not_names() {
        assert_eq!(sniff(b"%PDF-1.7\n...").unwrap(), FileKind::Pdf);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(), FileKind::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....").unwrap(), FileKind::Png);
        assert!(sniff(b"MZ\x90\x00").unwrap_err().to_string().contains("程序"));
        assert!(sniff(b"PK\x03\x04").unwrap_err().to_string().contains("压缩包"));
        assert!(sniff(b"GIF89a").is_err());
        assert!(sniff(b"").is_err());
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// A PNG header claiming a huge image, without the pixels.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut chunk = b"IHDR".to_vec();
        chunk.extend(w.to_be_bytes());
        chunk.extend(h.to_be_bytes());
        chunk.extend([8, 2, 0, 0, 0]);
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        for (name, data) in
            [(&b"IHDR"[..], &chunk[4..]), (b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01][..]), (b"IEND", &[][..])]
        {
            v.extend((data.len() as u32).to_be_bytes());
            let body: Vec<u8> = name.iter().chain(data).copied().collect();
            v.extend(&body);
            v.extend(crc32(&body).to_be_bytes());
        }
        v
    }

    #[test]
    fn huge_dimensions_are_refused_before_decoding() {
        let e = decode(&png_header(60_000, 60_000), Limits::default()).unwrap_err();
        assert!(e.to_string().contains("60000×60000"), "{e}");
        assert!(decode(b"\x89PNG\r\n\x1a\nrubbish", Limits::default()).is_err());
    }

    #[test]
    fn blank_and_blurred_pages_are_measured() {
        let white = GrayImage::from_pixel(200, 100, image::Luma([250]));
        assert!(is_blank(&white));
        let mut text = white.clone();
        for x in (10..190).step_by(6) {
            for y in 40..60 {
                text.put_pixel(x, y, image::Luma([0]));
            }
        }
        assert!(!is_blank(&text));
        let blurred = image::imageops::blur(&text, 3.0);
        assert!(sharpness(&text) > 10.0 * sharpness(&blurred), "{} vs {}", sharpness(&text), sharpness(&blurred));
    }

    #[tokio::test]
    async fn broken_pdfs_and_oversized_files_are_refused_cleanly() {
        let e = read(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", Limits::default(), None).await.unwrap_err();
        assert!(matches!(e, UploadError::Invalid(_)), "{e:?}");
        let big = vec![0u8; 2 * 1024 * 1024];
        let e = read(&big, Limits { max_bytes: 1024 * 1024, ..Limits::default() }, None).await.unwrap_err();
        assert!(matches!(e, UploadError::TooLarge(2, 1)), "{e:?}");
    }
}

//! Synthetic material documents for pre-review: pages rendered with a CJK font (Debian's
//! fonts-noto-cjk) into PNG / JPEG images, image-only PDFs (a scan: one JPEG per page) and text
//! PDFs (a Type0 font with a ToUnicode map, so the text is extractable without embedding
//! glyphs). Used by `banshi eval prereview` and by the end-to-end tests.

use std::io::Cursor;
use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

use crate::EvalError;

/// Where Debian's fonts-noto-cjk puts the Simplified Chinese sans font.
pub const CJK_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// A font to render with.
pub struct Renderer {
    data: Vec<u8>,
}

impl Renderer {
    pub fn new() -> Result<Renderer, EvalError> {
        let data = std::fs::read(CJK_FONT).map_err(|e| EvalError::Io(format!("{CJK_FONT} (install fonts-noto-cjk)"), e))?;
        FontRef::try_from_slice_and_index(&data, 0).map_err(|e| EvalError::Dataset(format!("{CJK_FONT}: {e}")))?;
        Ok(Renderer { data })
    }

    pub fn available() -> bool {
        Path::new(CJK_FONT).exists()
    }

    /// `lines` black on white, `px` high, on a page at least `min_width` × `min_height`.
    pub fn page(&self, lines: &[String], px: f32, min_width: u32, min_height: u32) -> RgbImage {
        let font = FontRef::try_from_slice_and_index(&self.data, 0).expect("checked in new");
        let scaled = font.as_scaled(PxScale::from(px));
        let text_w = lines.iter().map(|l| l.chars().map(|c| scaled.h_advance(font.glyph_id(c))).sum::<f32>()).fold(0.0, f32::max) as u32;
        let line_h = (px * 1.8) as u32;
        let margin = (px * 1.5) as u32;
        let mut img = RgbImage::from_pixel(
            (text_w + 2 * margin).max(min_width),
            (line_h * lines.len() as u32 + 2 * margin).max(min_height),
            Rgb([255, 255, 255]),
        );
        for (i, line) in lines.iter().enumerate() {
            let mut x = margin as f32;
            let baseline = margin as f32 + i as f32 * line_h as f32 + scaled.ascent();
            for c in line.chars() {
                let g = scaled.scaled_glyph(c);
                let adv = scaled.h_advance(g.id);
                let g = ab_glyph::Glyph { position: ab_glyph::point(x, baseline), ..g };
                if let Some(o) = font.outline_glyph(g) {
                    let b = o.px_bounds();
                    o.draw(|gx, gy, cov| {
                        let (px_, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                        if px_ >= 0 && py >= 0 && (px_ as u32) < img.width() && (py as u32) < img.height() {
                            let v = (255.0 * (1.0 - cov)).clamp(0.0, 255.0) as u8;
                            let p = img.get_pixel_mut(px_ as u32, py as u32);
                            p.0 = [p.0[0].min(v), p.0[1].min(v), p.0[2].min(v)];
                        }
                    });
                }
                x += adv;
            }
        }
        img
    }
}

pub fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encoding to memory");
    out.into_inner()
}

pub fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(img).expect("encoding to memory");
    out
}

/// A PDF whose pages are the given JPEG scans (what a scanner or a phone app produces).
pub fn image_pdf(pages: &[RgbImage]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let n = pages.len();
    // 1: catalog, 2: pages, then per page: page, content, image.
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes());
    for (i, img) in pages.iter().enumerate() {
        let (w, h) = img.dimensions();
        let (page, content, image) = (3 + 3 * i, 4 + 3 * i, 5 + 3 * i);
        objects.push(format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources << /XObject << /Im{i} {image} 0 R >> >> /Contents {content} 0 R >>").into_bytes());
        let draw = format!("q {w} 0 0 {h} 0 0 cm /Im{i} Do Q");
        objects.push(stream("", draw.as_bytes()));
        let data = jpeg(img);
        objects.push(stream(
            &format!("/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode"),
            &data,
        ));
        debug_assert_eq!(page, objects.len() - 2);
    }
    assemble(&objects)
}

/// A text PDF with `lines` (one page), extractable through its ToUnicode map.
pub fn text_pdf(lines: &[String]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = Vec::new();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec());
    objects
        .push(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_vec());
    let mut content = String::from("BT /F1 14 Tf 16 TL 60 780 Td\n");
    for l in lines {
        let hex: String = l.encode_utf16().map(|u| format!("{u:04X}")).collect();
        content.push_str(&format!("<{hex}> Tj T*\n"));
    }
    content.push_str("ET");
    objects.push(stream("", content.as_bytes()));
    objects.push(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H /DescendantFonts [6 0 R] /ToUnicode 8 0 R >>"
            .to_vec(),
    );
    objects.push(b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 7 0 R /DW 1000 >>".to_vec());
    objects.push(b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 4 /FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 80 >>".to_vec());
    let mut cmap = String::from("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def /CMapName /Identity-UCS def /CMapType 2 def\n1 begincodespacerange <0000> <FFFF> endcodespacerange\n");
    for chunk in (0u32..256).collect::<Vec<_>>().chunks(100) {
        cmap.push_str(&format!("{} beginbfrange\n", chunk.len()));
        for hi in chunk {
            cmap.push_str(&format!("<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>\n"));
        }
        cmap.push_str("endbfrange\n");
    }
    cmap.push_str("endcmap CMapName currentdict /CMap defineresource pop end end");
    objects.push(stream("", cmap.as_bytes()));
    assemble(&objects)
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// Objects numbered from 1, with a cross-reference table and trailer.
fn assemble(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use banshi_assistant::prereview::{read, FileKind, Limits};

    #[tokio::test]
    async fn generated_pdfs_read_back() {
        let lines = vec!["居民身份证".to_string(), "姓名 林晓梅".to_string(), "公民身份号码 35010219930412124X".to_string()];
        let doc = read(&text_pdf(&lines), Limits::default(), None).await.unwrap();
        assert_eq!(doc.kind, FileKind::Pdf);
        let text: String = doc.text().chars().filter(|c| !c.is_whitespace()).collect();
        assert!(text.contains("姓名林晓梅") && text.contains("35010219930412124X"), "{text:?}");
        if Renderer::available() {
            let img = Renderer::new().unwrap().page(&lines, 28.0, 600, 0);
            let doc = read(&image_pdf(&[img.clone(), img]), Limits::default(), None).await.unwrap();
            assert_eq!(doc.pages.len(), 2);
            assert!(doc.pages.iter().all(|p| p.ocr && p.width == Some(img_w(&lines))), "{:?}", doc.pages);
        }
    }

    fn img_w(lines: &[String]) -> u32 {
        Renderer::new().unwrap().page(lines, 28.0, 600, 0).width()
    }
}

//! PP-OCRv4 on rendered Chinese text (Noto Sans CJK, as Debian's fonts-noto-cjk installs it):
//! character accuracy over document-like lines. Runs when the models dir has the OCR models
//! and the font is installed; otherwise says why it skipped.

use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use banshi_models::setup::{OCR_DET_FILE, OCR_REC_FILE};
use banshi_models::Ocr;
use image::{Rgb, RgbImage};

const FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// Render `lines` black on white, `px` high, with a margin.
fn render(lines: &[&str], px: f32) -> RgbImage {
    let data = std::fs::read(FONT).unwrap();
    let font = FontRef::try_from_slice_and_index(&data, 0).unwrap();
    let scaled = font.as_scaled(PxScale::from(px));
    let width = lines.iter().map(|l| l.chars().map(|c| scaled.h_advance(font.glyph_id(c))).sum::<f32>()).fold(0.0, f32::max) as u32 + 80;
    let line_h = (px * 1.8) as u32;
    let mut img = RgbImage::from_pixel(width, line_h * lines.len() as u32 + 60, Rgb([255, 255, 255]));
    for (i, line) in lines.iter().enumerate() {
        let mut x = 40.0;
        let baseline = 30.0 + i as f32 * line_h as f32 + scaled.ascent();
        for c in line.chars() {
            let g = scaled.scaled_glyph(c);
            let adv = scaled.h_advance(g.id);
            let g = ab_glyph::Glyph { position: ab_glyph::point(x, baseline), ..g };
            if let Some(o) = font.outline_glyph(g) {
                let b = o.px_bounds();
                o.draw(|gx, gy, cov| {
                    let (px_, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
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

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + usize::from(a[i - 1] != b[j - 1]));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[test]
fn rendered_chinese_documents_are_read() {
    let dir = banshi_models::default_models_dir();
    if !dir.join(OCR_DET_FILE).exists() || !Path::new(FONT).exists() {
        eprintln!("SKIPPED: needs {} in {} and the font {FONT}", OCR_DET_FILE, dir.display());
        return;
    }
    let t = std::time::Instant::now();
    let ocr = Ocr::from_files(&dir.join(OCR_DET_FILE), &dir.join(OCR_REC_FILE)).unwrap();
    eprintln!("OCR models loaded in {:.1} s, dictionary {} characters", t.elapsed().as_secs_f64(), ocr.dictionary_len());
    let docs: [&[&str]; 3] = [
        &["中华人民共和国居民身份证", "姓名 林晓梅", "公民身份号码 35010219930412124X", "有效期限 2021.03.01-2041.03.01"],
        &["出生医学证明", "新生儿姓名 陈思语 性别 女", "出生时间 2026年11月18日", "签发机构 示例市妇幼保健院"],
        &["营业执照", "统一社会信用代码 91350102MA2YK8N33H", "名称 示例市云帆科技有限公司", "住所 示例市鼓楼区软件大道89号"],
    ];
    let (mut chars, mut errors) = (0usize, 0usize);
    let t = std::time::Instant::now();
    for doc in docs {
        let img = render(doc, 32.0);
        let lines = ocr.recognize(&img).unwrap();
        let got: String = lines.iter().map(|l| l.text.replace(' ', "")).collect::<Vec<_>>().join("\n");
        let want: String = doc.iter().map(|l| l.replace(' ', "")).collect::<Vec<_>>().join("\n");
        let e = edit_distance(&got, &want);
        eprintln!("--- {e} errors\n{got}");
        chars += want.chars().count();
        errors += e;
    }
    let accuracy = 1.0 - errors as f64 / chars as f64;
    eprintln!("character accuracy {:.4} over {chars} characters; {:.1} s for 3 pages", accuracy, t.elapsed().as_secs_f64());
    assert!(accuracy >= 0.95, "character accuracy {accuracy:.4}");
}

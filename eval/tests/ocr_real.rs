//! PP-OCRv4 on rendered Chinese text (Noto Sans CJK, as Debian's fonts-noto-cjk installs it):
//! character accuracy over document-like lines. Runs when the models dir has the OCR models
//! and the font is installed; otherwise says why it skipped.

use banshi_eval::corpus::Renderer;
use banshi_eval::edit_distance;
use banshi_models::files::{OCR_DET_FILE, OCR_REC_FILE};
use banshi_models::Ocr;

#[test]
fn rendered_chinese_documents_are_read() {
    let dir = banshi_models::default_models_dir();
    if !dir.join(OCR_DET_FILE).exists() || !Renderer::available() {
        eprintln!("SKIPPED: needs {OCR_DET_FILE} in {} and fonts-noto-cjk", dir.display());
        return;
    }
    let t = std::time::Instant::now();
    let ocr = Ocr::from_files(&dir.join(OCR_DET_FILE), &dir.join(OCR_REC_FILE)).unwrap();
    eprintln!("OCR models loaded in {:.1} s, dictionary {} characters", t.elapsed().as_secs_f64(), ocr.dictionary_len());
    let renderer = Renderer::new().unwrap();
    let docs: [&[&str]; 3] = [
        &["中华人民共和国居民身份证", "姓名 林晓梅", "公民身份号码 35010219930412124X", "有效期限 2021.03.01-2041.03.01"],
        &["出生医学证明", "新生儿姓名 陈思语 性别 女", "出生时间 2026年11月18日", "签发机构 示例市妇幼保健院"],
        &["营业执照", "统一社会信用代码 91350102MA2YK8N33H", "名称 示例市云帆科技有限公司", "住所 示例市鼓楼区软件大道89号"],
    ];
    let (mut chars, mut errors) = (0usize, 0usize);
    let t = std::time::Instant::now();
    for doc in docs {
        let lines: Vec<String> = doc.iter().map(|s| s.to_string()).collect();
        let got: String = ocr
            .recognize(&renderer.page(&lines, 32.0, 0, 0))
            .unwrap()
            .iter()
            .map(|l| l.text.replace(' ', ""))
            .collect::<Vec<_>>()
            .join("\n");
        let want: String = doc.iter().map(|l| l.replace(' ', "")).collect::<Vec<_>>().join("\n");
        let e = edit_distance(&got, &want);
        eprintln!("--- {e} errors\n{got}");
        chars += want.chars().count();
        errors += e;
    }
    let accuracy = 1.0 - errors as f64 / chars as f64;
    eprintln!("character accuracy {accuracy:.4} over {chars} characters; {:.1} s for 3 pages", t.elapsed().as_secs_f64());
    assert!(accuracy >= 0.95, "character accuracy {accuracy:.4}");
}

/// A photographed resident ID card, each side on its own: the front (人像面) has no 居民身份证 /
/// 签发机关 / 有效期限 text, and its labels stand far from their values, so OCR reads label and
/// value as separate boxes (separate lines); the back (国徽面) has the issuer and validity. Both
/// are recognised as 居民身份证 by the pre-review rules, and the front's 姓名 and number are read.
#[test]
fn both_sides_of_a_photographed_id_card_are_recognised_after_ocr() {
    use banshi_assistant::prereview::recognize::{classify, fields, MaterialKind};
    let dir = banshi_models::default_models_dir();
    if !dir.join(OCR_DET_FILE).exists() || !Renderer::available() {
        eprintln!("SKIPPED: needs {OCR_DET_FILE} in {} and fonts-noto-cjk", dir.display());
        return;
    }
    let ocr = Ocr::from_files(&dir.join(OCR_DET_FILE), &dir.join(OCR_REC_FILE)).unwrap();
    let renderer = Renderer::new().unwrap();
    let gap = "\u{3000}\u{3000}";
    let front = [
        format!("姓名{gap}林晓梅"),
        format!("性别{gap}女{gap}\u{3000}民族{gap}汉"),
        format!("出生{gap}1993 年 4 月 12 日"),
        format!("住址{gap}示例市鼓楼区五四路100号"),
        format!("公民身份号码{gap}35010219930412124X"),
    ];
    let back = [
        "中华人民共和国".to_string(),
        "居民身份证".to_string(),
        format!("签发机关{gap}示例市公安局"),
        format!("有效期限{gap}2016.03.01-2036.03.01"),
    ];
    // As pre-review reads an image: one line per OCR box, top to bottom.
    let read = |lines: &[String]| {
        ocr.recognize(&renderer.page(lines, 32.0, 1000, 700)).unwrap().into_iter().map(|l| l.text).collect::<Vec<_>>().join("\n")
    };
    let text = read(&front);
    eprintln!("--- front\n{text}");
    assert_eq!(classify(&text).0, MaterialKind::IdCard, "{text}");
    let f = fields(&text);
    assert_eq!(
        (f.get("姓名").map(String::as_str), f.get("公民身份号码").map(String::as_str)),
        (Some("林晓梅"), Some("35010219930412124X")),
        "{text}"
    );
    let text = read(&back);
    eprintln!("--- back\n{text}");
    assert_eq!(classify(&text).0, MaterialKind::IdCard, "{text}");
    assert_eq!(fields(&text).get("有效期至").map(String::as_str), Some("2036-03-01"), "{text}");
}

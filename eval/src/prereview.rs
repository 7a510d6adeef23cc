//! Pre-review on a generated corpus: for three sample items, clean material sets and sets with
//! one planted defect each (wrong ID checksum, expired ID, mismatched name, missing material,
//! blank page, wrong document type, low resolution, invalid credit code), as PNG, JPEG, scanned
//! PDF and text PDF. Every document goes through the same reading (OCR on images) and rules as
//! an upload. A photographed ID card is two photos, as a citizen takes them: the front (人像面:
//! labels and values far apart, so OCR reads them as separate boxes, and no 居民身份证 text) and
//! the back (国徽面); a scan has both sides on one page. Reports the detection rate per defect
//! kind, false rejections on clean sets, how many ID card sides were recognised (and the name
//! read from the front), and OCR character accuracy on the rendered pages.

use std::collections::BTreeMap;

use banshi_assistant::apply::FormView;
use banshi_assistant::forms::fill::FormProgress;
use banshi_assistant::forms::FormSpec;
use banshi_assistant::prereview::recognize::{classify, fields, MaterialKind};
use banshi_assistant::prereview::{read, review, Analysed, Limits, Verdict};
use banshi_knowledge::Guide;
use banshi_models::ComputeHandle;
use chrono::NaiveDate;
use serde::Serialize;

use crate::corpus::{image_pdf, jpeg, png, text_pdf, Renderer};
use crate::{edit_distance, EvalError};

/// Planted defects, by the finding code that must report them.
pub const DEFECTS: [&str; 8] = ["invalid_id", "expired", "mismatch", "missing", "blank", "wrong_type", "low_resolution", "invalid_uscc"];

#[derive(Clone)]
struct Person {
    name: &'static str,
    id: &'static str,
    gender: &'static str,
}

const PEOPLE: [Person; 3] = [
    Person { name: "林晓梅", id: "35010219930412124X", gender: "女" },
    Person { name: "陈志强", id: "350102199108201330", gender: "男" },
    Person { name: "郑秀兰", id: "350102196509152425", gender: "女" },
];
const COMPANY: (&str, &str) = ("示例市云帆科技有限公司", "91350102MA2YK8N33H");

/// How a document is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    Png,
    Jpeg,
    ScannedPdf,
    TextPdf,
}

const FORMATS: [Format; 4] = [Format::Png, Format::Jpeg, Format::ScannedPdf, Format::TextPdf];

/// One material document's lines.
fn lines(kind: &str, p: &Person, valid_until: &str) -> Vec<String> {
    let v = |s: &str| s.to_string();
    match kind {
        "id" => vec![
            v("中华人民共和国"),
            v("居民身份证"),
            format!("姓名 {}", p.name),
            format!("性别 {} 民族 汉", p.gender),
            v("住址 示例市鼓楼区五四路100号"),
            format!("公民身份号码 {}", p.id),
            v("签发机关 示例市公安局"),
            format!("有效期限 2016.03.01-{valid_until}"),
        ],
        "hukou" => vec![
            v("居民户口簿"),
            format!("户主姓名 {}", PEOPLE[1].name),
            v("户别 家庭户"),
            format!("姓名 {}", p.name),
            format!("公民身份号码 {}", p.id),
            v("住址 示例市鼓楼区五四路100号"),
        ],
        "birth" => vec![
            v("出生医学证明"),
            v("新生儿姓名 陈思语"),
            v("出生时间 2026年11月18日"),
            v("出生地点 示例市鼓楼区"),
            format!("母亲姓名 {}", PEOPLE[0].name),
            format!("母亲身份证件号码 {}", PEOPLE[0].id),
            format!("父亲姓名 {}", PEOPLE[1].name),
            format!("父亲身份证件号码 {}", PEOPLE[1].id),
        ],
        "licence" => vec![
            v("营业执照"),
            format!("统一社会信用代码 {}", COMPANY.1),
            format!("名称 {}", COMPANY.0),
            v("类型 有限责任公司"),
            format!("法定代表人 {}", p.name),
            v("住所 示例市鼓楼区软件大道89号"),
            v("营业期限 长期"),
        ],
        "contract" => vec![
            v("劳动合同书"),
            format!("甲方 {}", COMPANY.0),
            format!("乙方 {}", p.name),
            format!("乙方公民身份号码 {}", p.id),
            v("合同期限 2026年12月01日至2029年11月30日"),
        ],
        // The two sides of a card as printed: wide gaps (two ideographic spaces) between a
        // label and its value, so OCR reads them as separate boxes, as it does on real cards.
        "id_front" => vec![
            format!("姓名\u{3000}\u{3000}{}", p.name),
            format!("性别\u{3000}\u{3000}{}\u{3000}\u{3000}\u{3000}民族\u{3000}\u{3000}汉", p.gender),
            format!(
                "出生\u{3000}\u{3000}{} 年 {} 月 {} 日",
                &p.id[6..10],
                p.id[10..12].trim_start_matches('0'),
                p.id[12..14].trim_start_matches('0')
            ),
            v("住址\u{3000}\u{3000}示例市鼓楼区五四路100号"),
            format!("公民身份号码\u{3000}\u{3000}{}", p.id),
        ],
        "id_back" => vec![
            v("中华人民共和国"),
            v("居民身份证"),
            v("签发机关\u{3000}\u{3000}示例市公安局"),
            format!("有效期限\u{3000}\u{3000}2016.03.01-{valid_until}"),
        ],
        _ => vec![],
    }
}

/// The pages a document is delivered as: a photographed ID card is its front and its back, two
/// uploads; everything else (and an ID card scanned or exported to PDF, both sides on a page) one.
fn pieces(kind: &str, fmt: Format) -> Vec<&'static str> {
    match (kind, fmt) {
        ("id", Format::Png | Format::Jpeg) => vec!["id_front", "id_back"],
        ("id", _) => vec!["id"],
        ("hukou", _) => vec!["hukou"],
        ("birth", _) => vec!["birth"],
        ("licence", _) => vec!["licence"],
        ("contract", _) => vec!["contract"],
        _ => vec![],
    }
}

/// A sample item and the documents (material name, kind) a clean set has.
struct Case {
    code: &'static str,
    docs: Vec<(&'static str, &'static str)>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            code: "SAMPLE-GA-002", docs: vec![("出生医学证明", "birth"), ("父母双方居民身份证", "id"), ("随迁方居民户口簿", "hukou")]
        },
        Case { code: "SAMPLE-GA-011", docs: vec![("营业执照", "licence"), ("法定代表人居民身份证", "id")] },
        Case {
            code: "SAMPLE-RS-004", docs: vec![("营业执照", "licence"), ("劳动者居民身份证", "id"), ("劳动合同", "contract")]
        },
    ]
}

#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    pub item: String,
    pub defect: Option<String>,
    pub format: Format,
    pub verdict: Verdict,
    pub detected: bool,
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrereviewReport {
    pub sets: Vec<SetResult>,
    /// defect → (planted, detected)
    pub by_defect: BTreeMap<String, (usize, usize)>,
    pub clean_sets: usize,
    pub false_rejections: usize,
    pub ocr_chars: usize,
    pub ocr_errors: usize,
    /// Photographed ID card sides uploaded, and recognised as 居民身份证 by their text.
    pub id_sides: (usize, usize),
    /// ID card fronts (the side with the name), and those whose 姓名 was read right.
    pub id_front_names: (usize, usize),
    pub seconds: f64,
}

/// Run the corpus: `guides` must hold the sample items; OCR runs through `compute`.
pub async fn run(
    guides: &[Guide],
    compute: &ComputeHandle,
    today: NaiveDate,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<PrereviewReport, EvalError> {
    let started = std::time::Instant::now();
    let renderer = Renderer::new()?;
    let mut sets = Vec::new();
    let mut by_defect: BTreeMap<String, (usize, usize)> = DEFECTS.iter().map(|d| (d.to_string(), (0, 0))).collect();
    let (mut clean_sets, mut false_rejections, mut ocr_chars, mut ocr_errors) = (0, 0, 0, 0);
    let (mut id_sides, mut id_front_names) = ((0, 0), (0, 0));
    let plan: Vec<(usize, Option<&str>, usize)> = (0..cases().len())
        .flat_map(|c| {
            let mut v: Vec<(usize, Option<&str>, usize)> = (0..2).map(|k| (c, None, k)).collect();
            let has_licence = cases()[c].docs.iter().any(|d| d.1 == "licence");
            v.extend(DEFECTS.iter().enumerate().filter(|(_, d)| has_licence || **d != "invalid_uscc").map(|(k, d)| (c, Some(*d), k)));
            v
        })
        .collect();
    let total = plan.len();
    for (n, (ci, defect, k)) in plan.into_iter().enumerate() {
        progress(n, total);
        let case = &cases()[ci];
        let guide = guides
            .iter()
            .find(|g| g.code == case.code)
            .ok_or_else(|| EvalError::Dataset(format!("sample guide {} not found", case.code)))?;
        let spec = FormSpec::for_guide(guide).ok_or_else(|| EvalError::Dataset(format!("{} has no form", case.code)))?;
        let view = FormView::of(&FormProgress::new(spec));
        let person = PEOPLE[k % PEOPLE.len()].clone();
        let format = FORMATS[(ci + k) % FORMATS.len()];
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        values.insert("name".into(), person.name.into());
        values.insert("id_number".into(), person.id.into());
        values.insert("company_name".into(), COMPANY.0.into());
        for p in &PEOPLE[..2] {
            values.insert(format!("parent_{}", p.id), p.name.into());
            values.insert(format!("parent_id_{}", p.id), p.id.into());
        }
        values.insert("child_name".into(), "陈思语".into());
        let mut uploads = Vec::new();
        for (i, (material, kind)) in case.docs.iter().enumerate() {
            let first_id = i == case.docs.iter().position(|d| d.1 == "id").unwrap_or(usize::MAX);
            let first = i == 0;
            if defect == Some("missing") && first {
                continue;
            }
            let until = if defect == Some("expired") && first_id { "2025.03.01" } else { "2036.03.01" };
            // Planted defects replace a value wherever the document (or the side of it) shows it.
            let mut replace: Vec<(&str, String)> = Vec::new();
            if first_id && defect == Some("invalid_id") {
                replace.push((person.id, format!("{}{}", &person.id[..17], if person.id.ends_with('0') { "1" } else { "0" })));
            }
            if first_id && defect == Some("mismatch") {
                replace.push((person.name, "王小红".into()));
            }
            if *kind == "licence" && defect == Some("invalid_uscc") {
                replace.push((COMPANY.1, "91350102MA2YK8N33Z".into()));
            }
            let (mut px, mut fmt) = (30.0, format);
            let mut kind_shown = *kind;
            if first && defect == Some("wrong_type") {
                kind_shown = if case.docs[0].1 == "hukou" { "contract" } else { "hukou" };
            }
            if first && defect == Some("low_resolution") {
                px = 9.0;
                fmt = Format::Png;
            }
            let blank = first && defect == Some("blank");
            if blank && fmt == Format::TextPdf {
                fmt = Format::Jpeg;
            }
            let sides = if blank { vec![kind_shown] } else { pieces(kind_shown, fmt) };
            for (side_no, side) in sides.iter().enumerate() {
                let doc_lines: Vec<String> = if kind_shown == *kind {
                    lines(side, &person, until).into_iter().map(|l| replace.iter().fold(l, |l, (from, to)| l.replace(from, to))).collect()
                } else {
                    lines(side, &person, "2036.03.01")
                };
                let bytes = match fmt {
                    Format::TextPdf => text_pdf(&doc_lines),
                    _ => {
                        let img = if blank {
                            image::RgbImage::from_pixel(1240, 1754, image::Rgb([255, 255, 255]))
                        } else if px < 10.0 {
                            renderer.page(&doc_lines, px, 0, 0)
                        } else {
                            renderer.page(&doc_lines, px, 1000, 700)
                        };
                        match fmt {
                            Format::Png => png(&img),
                            Format::Jpeg => jpeg(&img),
                            _ => image_pdf(&[img]),
                        }
                    }
                };
                let doc = read(&bytes, Limits::default(), Some(compute))
                    .await
                    .map_err(|e| EvalError::Dataset(format!("reading a generated document: {e}")))?;
                if doc.pages.iter().all(|p| p.ocr) && !blank && px > 10.0 {
                    let got: String = doc.text().chars().filter(|c| !c.is_whitespace()).collect();
                    let want: String = doc_lines.concat().chars().filter(|c| !c.is_whitespace()).collect();
                    ocr_chars += want.chars().count();
                    ocr_errors += edit_distance(&got, &want).min(want.chars().count());
                }
                if side.starts_with("id_") && px > 10.0 {
                    let text = doc.text();
                    id_sides.0 += 1;
                    id_sides.1 += usize::from(classify(&text).0 == MaterialKind::IdCard);
                    if *side == "id_front" {
                        let want = doc_lines
                            .iter()
                            .find_map(|l| l.strip_prefix("姓名"))
                            .map(|n| n.trim_start_matches('\u{3000}'))
                            .unwrap_or_default()
                            .to_string();
                        id_front_names.0 += 1;
                        id_front_names.1 += usize::from(fields(&text).get("姓名") == Some(&want));
                    }
                }
                let id = (i * 2 + side_no) as i64 + 1;
                uploads.push(Analysed {
                    upload_id: id,
                    file_name: format!("{material}-{side}.{fmt:?}"),
                    doc,
                    declared: Some(material.to_string()),
                });
            }
        }
        let report = review(&guide.name, &view.materials, &uploads, &values, today);
        let codes: Vec<String> =
            report.materials.iter().chain(&report.unmatched).flat_map(|m| m.findings.iter().map(|f| f.code.clone())).collect();
        let detected = match defect {
            Some(d) => report.verdict != Verdict::Pass && codes.iter().any(|c| c == d),
            None => report.verdict == Verdict::Pass,
        };
        match defect {
            Some(d) => {
                let e = by_defect.entry(d.to_string()).or_default();
                e.0 += 1;
                e.1 += usize::from(detected);
            }
            None => {
                clean_sets += 1;
                false_rejections += usize::from(!detected);
            }
        }
        sets.push(SetResult {
            item: format!("{} {}", guide.code, guide.name),
            defect: defect.map(str::to_string),
            format,
            verdict: report.verdict,
            detected,
            codes,
        });
    }
    progress(total, total);
    Ok(PrereviewReport {
        sets,
        by_defect,
        clean_sets,
        false_rejections,
        ocr_chars,
        ocr_errors,
        id_sides,
        id_front_names,
        seconds: started.elapsed().as_secs_f64(),
    })
}

pub fn markdown(r: &PrereviewReport) -> String {
    let mut md = String::from("# Pre-review on a generated corpus\n\n| defect | planted | detected | rate |\n|---|---:|---:|---:|\n");
    for (d, (n, k)) in &r.by_defect {
        md.push_str(&format!("| {d} | {n} | {k} | {:.1}% |\n", 100.0 * *k as f64 / (*n).max(1) as f64));
    }
    md.push_str(&format!(
        "\nClean sets: {} · false rejections: {} ({:.1}%)\n\nID card photos (front and back, separately): {} of {} sides recognised as 居民身份证; 姓名 read on {} of {} fronts\n\nOCR character accuracy on rendered pages: {:.4} ({} characters)\n\n{} documents sets in {:.0} s\n\n| item | defect | format | verdict | findings |\n|---|---|---|---|---|\n",
        r.clean_sets,
        r.false_rejections,
        100.0 * r.false_rejections as f64 / r.clean_sets.max(1) as f64,
        r.id_sides.1,
        r.id_sides.0,
        r.id_front_names.1,
        r.id_front_names.0,
        1.0 - r.ocr_errors as f64 / r.ocr_chars.max(1) as f64,
        r.ocr_chars,
        r.sets.len(),
        r.seconds
    ));
    for s in &r.sets {
        md.push_str(&format!(
            "| {} | {} | {:?} | {} | {} |\n",
            s.item,
            s.defect.as_deref().unwrap_or("clean"),
            s.format,
            s.verdict.zh(),
            s.codes.join(", ")
        ));
    }
    md
}

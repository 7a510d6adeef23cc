//! Extractive answers: the guide's own words for the aspect asked, with its citation.
//!
//! Used when no generator is loaded, when a generated answer fails verification, and for the
//! follow-up facts a guide states directly. Faithful by construction: every sentence is a
//! guide field, and a field the guide does not state is said to be unstated, never filled in.

use banshi_knowledge::chunk::{chunk_body, chunk_guide, material_line, Chunk};
use banshi_knowledge::section::Section;
use banshi_knowledge::Guide;

use crate::citations::Source;
use crate::intent::Aspect;

/// A chunk as a numbered source.
pub fn source(n: usize, c: &Chunk) -> Source {
    Source { n, code: c.code.clone(), item: c.name.clone(), section: c.section, title: c.title.clone(), text: c.text.clone() }
}

/// The guide's chunk for `section`, if the guide states it.
pub fn section_chunk(g: &Guide, section: Section) -> Option<Chunk> {
    chunk_guide(g).into_iter().find(|c| c.section == section)
}

/// The answer to `aspect` of `g`, citing `[n]`; `None` when the guide does not state it.
pub fn aspect_answer(g: &Guide, aspect: Aspect, n: usize) -> Option<String> {
    let name = &g.name;
    Some(match aspect {
        Aspect::Materials if !g.materials.is_empty() => {
            let lines: Vec<String> = g.materials.iter().enumerate().map(|(i, m)| format!("{}. {}", i + 1, material_line(m))).collect();
            format!("办理“{name}”需要准备以下材料[{n}]：\n{}", lines.join("\n"))
        }
        Aspect::TimeLimit if g.legal_time_limit.is_some() || g.promised_time_limit.is_some() => {
            let mut parts = Vec::new();
            if let Some(t) = &g.legal_time_limit {
                parts.push(format!("法定办结时限为{}", t.display()));
            }
            if let Some(t) = &g.promised_time_limit {
                parts.push(format!("承诺办结时限为{}", t.display()));
            }
            format!("“{name}”的{}[{n}]。", parts.join("，"))
        }
        Aspect::Fees => match g.fees_display() {
            Some(f) => format!("“{name}”的收费标准：{f}[{n}]。"),
            None => return None,
        },
        Aspect::Place | Aspect::Online if !g.places.is_empty() || g.online_url.is_some() => {
            let mut parts: Vec<String> = g
                .places
                .iter()
                .map(|p| {
                    let mut s = p.name.clone();
                    if let Some(a) = &p.address {
                        s.push_str(&format!("，地址：{a}"));
                    }
                    if let Some(h) = &p.hours {
                        s.push_str(&format!("，办理时间：{h}"));
                    }
                    s
                })
                .collect();
            if let Some(u) = &g.online_url {
                parts.push(format!("网上办理：{u}"));
            }
            format!("“{name}”的办理地点：{}[{n}]。", parts.join("；"))
        }
        Aspect::Phone if g.consult_phone.is_some() || g.complaint_phone.is_some() => {
            let mut parts = Vec::new();
            if let Some(p) = &g.consult_phone {
                parts.push(format!("咨询电话{p}"));
            }
            if let Some(p) = &g.complaint_phone {
                parts.push(format!("监督投诉电话{p}"));
            }
            format!("“{name}”的{}[{n}]。", parts.join("，"))
        }
        Aspect::Conditions if !g.conditions.is_empty() => {
            let lines: Vec<String> = g.conditions.iter().enumerate().map(|(i, c)| format!("{}. {c}", i + 1)).collect();
            format!("办理“{name}”的受理条件[{n}]：\n{}", lines.join("\n"))
        }
        Aspect::Process if !g.process.is_empty() => {
            let lines: Vec<String> = g
                .process
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if s.description.is_empty() {
                        format!("{}. {}", i + 1, s.name)
                    } else {
                        format!("{}. {}：{}", i + 1, s.name, s.description)
                    }
                })
                .collect();
            format!("“{name}”的办理流程[{n}]：\n{}", lines.join("\n"))
        }
        Aspect::LegalBasis if !g.legal_basis.is_empty() => format!("“{name}”的设定依据：{}[{n}]。", g.legal_basis.join("；")),
        _ => return None,
    })
}

/// What to say when the guide does not state the aspect asked.
pub fn unstated(g: &Guide, aspect: Aspect) -> String {
    let what = match aspect {
        Aspect::Materials => "申请材料",
        Aspect::TimeLimit => "办理时限",
        Aspect::Fees => "收费标准",
        Aspect::Place | Aspect::Online => "办理地点",
        Aspect::Phone => "咨询电话",
        Aspect::Conditions => "受理条件",
        Aspect::Process => "办理流程",
        Aspect::LegalBasis => "设定依据",
        Aspect::General => "相关内容",
    };
    format!("“{}”的办事指南未载明{what}，建议咨询{}或转人工客服确认。", g.name, g.department)
}

/// An extractive answer to a question about `g`: the aspect's section if stated, otherwise the
/// best retrieved chunk of the item quoted. Returns the text and its sources.
pub fn answer(g: &Guide, aspect: Aspect, best_chunk: Option<&Chunk>) -> (String, Vec<Source>) {
    if aspect != Aspect::General {
        if let Some(chunk) = section_chunk(g, aspect.section()) {
            if let Some(text) = aspect_answer(g, aspect, 1) {
                return (text, vec![source(1, &chunk)]);
            }
        }
        if best_chunk.is_none() {
            return (unstated(g, aspect), Vec::new());
        }
    }
    let chunk = best_chunk.cloned().or_else(|| section_chunk(g, Section::Overview)).expect("every guide has an overview chunk");
    let body = chunk_body(&chunk.text).to_string();
    let text = if chunk.section.is_faq() {
        let answer = body.split_once("答：").map(|(_, a)| a.trim().to_string()).unwrap_or(body);
        format!("{answer}[1]")
    } else {
        format!("根据“{}”办事指南（{}）：{body}[1]", g.name, chunk.title)
    };
    (text, vec![source(1, &chunk)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citations::verify;

    fn guide() -> Guide {
        serde_json::from_str(include_str!("../../knowledge/guides/sample/sfz-huanling.json")).unwrap()
    }

    #[test]
    fn extractive_answers_verify_against_their_own_sources() {
        let g = guide();
        for aspect in [
            Aspect::Materials,
            Aspect::TimeLimit,
            Aspect::Fees,
            Aspect::Place,
            Aspect::Phone,
            Aspect::Conditions,
            Aspect::Process,
            Aspect::LegalBasis,
        ] {
            let (text, sources) = answer(&g, aspect, None);
            let v = verify(&text, &sources);
            assert!(v.passed, "{aspect:?}: {text}\n{v:?}");
        }
        let (fees, _) = answer(&g, Aspect::Fees, None);
        assert!(fees.contains("工本费20元"), "{fees}");
    }

    #[test]
    fn unstated_facts_are_said_to_be_unstated() {
        let mut g = guide();
        g.fees = None;
        let (text, sources) = answer(&g, Aspect::Fees, None);
        assert!(text.contains("未载明收费标准"), "{text}");
        assert!(sources.is_empty());
    }

    #[test]
    fn general_questions_quote_the_best_chunk() {
        let g = guide();
        let faq = chunk_guide(&g).into_iter().find(|c| c.section == Section::Faq(2)).unwrap();
        let (text, sources) = answer(&g, Aspect::General, Some(&faq));
        assert!(text.starts_with("可以。全国已实行居民身份证异地受理"), "{text}");
        assert_eq!(sources[0].section, Section::Faq(2));
    }
}

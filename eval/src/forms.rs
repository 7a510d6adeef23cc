//! The 四减 of the 一件事 bundles made measurable: for each bundle, fields asked in its merged
//! form against the fields of its items' separate forms, materials after de-duplication against
//! the separate lists, materials issued inside the bundle (shared, not submitted) or acceptable
//! as e-licences, applications and counter visits. Computed from the bundle and guide data
//! itself (the same `FormSpec` the chat fills), so the numbers follow the data.

use banshi_assistant::forms::FormSpec;
use banshi_knowledge::bundle::Bundle;
use banshi_knowledge::Guide;
use serde::Serialize;

use crate::EvalError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BundleRow {
    pub code: String,
    pub name: String,
    pub items: usize,
    /// Fields of the items' separate forms, added up.
    pub separate_fields: usize,
    /// Fields of the merged form (each key once).
    pub merged_fields: usize,
    /// Merged fields the citizen is asked (those not produced by an item of the bundle).
    pub asked_fields: usize,
    /// Materials of the items' separate lists, added up.
    pub separate_materials: usize,
    /// Materials after de-duplication.
    pub materials: usize,
    /// Of those, issued inside the bundle and shared (never submitted).
    pub produced_inside: usize,
    /// Of those, acceptable as an e-licence (免提交 for a holder who has it).
    pub e_licence_ok: usize,
    /// Counter visits when each item is done on its own (sum of the guides' stated visits).
    pub separate_visits: Option<u32>,
    pub visits: Option<u32>,
}

/// One row per bundle; a bundle whose items are missing is an error naming it.
pub fn bundle_rows(bundles: &[Bundle], guides: &[Guide]) -> Result<Vec<BundleRow>, EvalError> {
    bundles
        .iter()
        .map(|b| {
            let spec = FormSpec::for_bundle(b, guides).map_err(|e| EvalError::Dataset(format!("bundle {}: {e}", b.code)))?;
            let visits: Option<Vec<u32>> =
                b.items.iter().map(|i| guides.iter().find(|g| g.code == i.code).and_then(|g| g.visits)).collect();
            Ok(BundleRow {
                code: b.code.clone(),
                name: b.name.clone(),
                items: b.items.len(),
                separate_fields: spec.separate_fields,
                merged_fields: spec.fields.len(),
                asked_fields: spec.fields.iter().filter(|f| f.produced_by.is_none()).count(),
                separate_materials: spec.separate_materials,
                materials: spec.materials.len(),
                produced_inside: spec.materials.iter().filter(|m| m.produced_by.is_some()).count(),
                e_licence_ok: spec.materials.iter().filter(|m| m.produced_by.is_none() && m.e_licence.is_some()).count(),
                separate_visits: visits.map(|v| v.iter().sum()),
                visits: b.visits,
            })
        })
        .collect()
}

fn pct(before: usize, after: usize) -> String {
    if before == 0 {
        return "–".into();
    }
    format!("−{:.0}%", 100.0 * (before as f64 - after as f64) / before as f64)
}

/// The Markdown table of `rows`.
pub fn markdown(rows: &[BundleRow]) -> String {
    let mut md = String::from(
        "# 一件事 bundles: fields, materials, visits (四减)\n\n\
         | bundle | items | fields separate → asked | materials separate → merged | shared inside | e-licence ok | visits separate → bundle |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
    for r in rows {
        md.push_str(&format!(
            "| {} ({}) | {} | {} → {} ({}) | {} → {} ({}) | {} | {} | {} → {} |\n",
            r.name,
            r.code,
            r.items,
            r.separate_fields,
            r.asked_fields,
            pct(r.separate_fields, r.asked_fields),
            r.separate_materials,
            r.materials,
            pct(r.separate_materials, r.materials),
            r.produced_inside,
            r.e_licence_ok,
            opt(r.separate_visits),
            opt(r.visits),
        ));
    }
    md.push_str("\nasked = merged fields minus those an item of the bundle produces; shared inside = materials issued by an item of the bundle (not submitted); e-licence ok = further materials a holder of the e-licence need not submit.\n");
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_bundles_ask_less_than_their_separate_forms() {
        let dir = banshi_knowledge::bundled_guides_dir();
        let mut loaded = banshi_knowledge::import::load_path(&dir.join("sample")).unwrap();
        loaded.bundles = banshi_knowledge::import::load_path(&dir.join("bundles")).unwrap().bundles;
        let rows = bundle_rows(&loaded.bundles, &loaded.guides).unwrap();
        assert!(rows.len() >= 5);
        for r in &rows {
            assert!(r.asked_fields < r.separate_fields && r.materials < r.separate_materials, "{r:?}");
        }
        let md = markdown(&rows);
        assert!(md.contains("新生儿出生一件事") && md.contains('−'));
    }
}

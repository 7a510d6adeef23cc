//! The shipped knowledge base is consistent: every sample guide loads and has a form schema
//! (all of them are applied for), and every 一件事 bundle agrees with its items' guides.

use banshi_knowledge::bundle::Bundle;
use banshi_knowledge::import::load_path;

#[test]
fn sample_guides_have_forms_and_bundles_agree_with_them() {
    let dir = banshi_knowledge::bundled_guides_dir();
    let loaded = load_path(&dir.join("sample")).unwrap();
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    assert!(loaded.guides.len() >= 40);
    for g in &loaded.guides {
        let form = g.form.as_ref().unwrap_or_else(|| panic!("{} has no form schema", g.code));
        assert!(form.validate().is_empty(), "{}: {:?}", g.code, form.validate());
    }
    let bundles = load_path(&dir.join("bundles")).unwrap();
    assert!(bundles.problems.is_empty(), "{:?}", bundles.problems);
    assert!(bundles.bundles.len() >= 5);
    for b in &bundles.bundles {
        assert!(b.check(&loaded.guides).is_empty(), "{}: {:?}", b.code, b.check(&loaded.guides));
        let form = b.merged_form(&loaded.guides).unwrap();
        assert!(Bundle::asked_fields(&form) < form.separate_fields, "{}: merging saves fields", b.code);
        assert!(b.material_list(&loaded.guides).len() < b.separate_materials(&loaded.guides), "{}: merging saves materials", b.code);
    }
}

//! Every translation key the pages, templates and PDFs use exists in the catalog
//! (`crates/core/src/i18n/catalog.rs`) with its four translations.

use careslot_core::i18n::has_key;
use std::path::Path;

#[test]
fn every_key_used_by_templates_and_pages_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "templates",
        "src/web",
        "src/web/pages",
        "../consultation/src/api",
    ] {
        for e in std::fs::read_dir(root.join(dir)).expect("source directory") {
            let p = e.expect("directory entry").path();
            if p.is_file() {
                files.push(p);
            }
        }
    }
    assert!(
        files.len() > 30,
        "the scan found too few files: {}",
        files.len()
    );
    let mut missing = Vec::new();
    let mut used = 0usize;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable source");
        for pat in [".t(\"", ".tf(\"", "t(\""] {
            for (i, _) in text.match_indices(pat) {
                let rest = &text[i + pat.len()..];
                let key = &rest[..rest.find('"').unwrap_or(0)];
                if key.contains('.') {
                    used += 1;
                    if !has_key(key) {
                        missing.push(format!("{}: {key}", f.display()));
                    }
                }
            }
        }
    }
    assert!(used > 100, "the scan found too few keys: {used}");
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "keys without translations:\n{}",
        missing.join("\n")
    );
}

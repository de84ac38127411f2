//! Lints of the workspace's shape: the kernel stays small, vendors are listed by hand only in the
//! two registrations, and `docs/architecture.md`'s code map names every crate and module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{crate_dirs, read, rust_files, vendor_crates};
use crate::project_root;

/// The only source files that list the vendors: the sandbox's and the command line's.
const REGISTRATIONS: &[&str] = &[
    "crates/auth-sandbox/src/lib.rs",
    "crates/vendor-auth-cli/src/vendor.rs",
];

/// The kernel's limits (issue: a small auth-core).
const KERNEL_MAX_LINES: usize = 4_000;
const KERNEL_MAX_FILE_LINES: usize = 500;
const KERNEL_MAX_ROOT_NAMES: usize = 12;
/// Crates the kernel's normal dependency tree must not hold.
const KERNEL_FORBIDDEN: &[&str] = &["reqwest", "hyper", "fs4", "ring", "libc"];

/// The vendors' short names (`p21` for `p21-auth`).
fn vendor_names() -> Vec<String> {
    vendor_crates()
        .iter()
        .filter_map(|c| c.strip_suffix("-auth").map(str::to_owned))
        .collect()
}

/// A path relative to the workspace root, with `/` separators.
fn relative(path: &Path) -> String {
    path.strip_prefix(project_root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The code of `text`: comment lines and the ends of lines after `//` left out.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            Some(_) | None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `word` stands in `text` as a whole identifier.
fn has_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// Whether `prefix` starts an identifier path somewhere in `text` (`p21::` in `&p21::VENDOR`).
fn starts_path(text: &str, prefix: &str) -> bool {
    text.match_indices(prefix).any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The vendors whose crate (`p21_auth`, `"p21-auth"`) or sandbox module (`p21::`) the code of
/// `text` refers to.
fn vendors_referred(text: &str, vendors: &[String]) -> BTreeSet<String> {
    let code = code(text);
    vendors
        .iter()
        .filter(|v| {
            has_word(&code, &format!("{v}_auth"))
                || starts_path(&code, &format!("{v}_auth::"))
                || code.contains(&format!("\"{v}-auth\""))
                || starts_path(&code, &format!("{v}::"))
        })
        .cloned()
        .collect()
}

#[test]
fn the_hand_list_detector_itself_works() {
    let vendors = vec!["acme".to_owned(), "globex".to_owned()];
    let listed = "match v { Vendor::A => acme_auth::VENDOR, Vendor::B => \"globex-auth\" }";
    assert_eq!(vendors_referred(listed, &vendors).len(), 2);
    let sandbox = "const VENDORS: &[&Vendor] = &[&acme::VENDOR, &globex::VENDOR];";
    assert_eq!(vendors_referred(sandbox, &vendors).len(), 2);
    let commented = "// acme_auth and globex_auth, in a comment\nlet x = 1; // globex_auth";
    assert!(vendors_referred(commented, &vendors).is_empty());
    let one = "use acme_auth::Client; let s = \"acme_auth=trace\";";
    assert_eq!(vendors_referred(one, &vendors).len(), 1);
    assert!(vendors_referred("let notacme_auth = 1; myacme::x()", &vendors).is_empty());
}

/// A new vendor is a crate, a sandbox module and a line in each list: no other source file
/// lists the vendors (a `match` over them, an array of their crates).
#[test]
fn no_vendor_is_listed_by_hand_outside_the_registrations() {
    let root = project_root();
    let vendors = vendor_names();
    assert!(vendors.len() >= 4, "vendors found: {vendors:?}");
    let mut files = Vec::new();
    for dir in crate_dirs() {
        rust_files(&dir.join("src"), &mut files);
    }
    rust_files(&root.join("xtask/src"), &mut files);
    let mut lists = Vec::new();
    for file in files {
        let path = relative(&file);
        if REGISTRATIONS.contains(&path.as_str()) || path.starts_with("xtask/src/tidy/") {
            continue;
        }
        let own = |v: &String| {
            path.starts_with(&format!("crates/{v}-auth/"))
                || path == format!("crates/auth-sandbox/src/{v}.rs")
        };
        let named: Vec<String> = vendors_referred(&read(&file), &vendors)
            .into_iter()
            .filter(|v| !own(v))
            .collect();
        if named.len() >= 2 {
            lists.push(format!("{path} names {}", named.join(", ")));
        }
    }
    assert!(
        lists.is_empty(),
        "vendors are listed by hand outside {REGISTRATIONS:?}: {lists:?}"
    );
    for registration in REGISTRATIONS {
        let named = vendors_referred(&read(&root.join(registration)), &vendors);
        assert_eq!(
            named.len(),
            vendors.len(),
            "{registration} should list every vendor: {named:?}"
        );
    }
}

/// docs/adding-a-vendor.md names the registrations, the demo, and nothing it does not need.
#[test]
fn adding_a_vendor_names_exactly_the_lists() {
    let guide = read(&project_root().join("docs/adding-a-vendor.md"));
    for file in REGISTRATIONS
        .iter()
        .chain(&["crates/auth-testkit/examples/demo.rs"])
    {
        assert!(guide.contains(file), "docs/adding-a-vendor.md omits {file}");
    }
    assert!(
        guide.contains("exactly three source files"),
        "docs/adding-a-vendor.md should say how many files a vendor touches"
    );
}

/// The kernel never names a vendor, in code or in prose.
#[test]
fn the_kernel_names_no_vendor() {
    let root = project_root().join("crates/auth-core");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.push(root.join("README.md"));
    for file in files {
        let text = read(&file).to_lowercase();
        for vendor in vendor_names() {
            assert!(
                !has_word(&text, &vendor),
                "{} names {vendor}: auth-core is vendor-neutral",
                relative(&file)
            );
        }
    }
}

/// auth-core stays a small kernel: few lines, no large file, few names at its root, and no
/// HTTP client, filesystem locking or crypto in its normal dependency tree.
#[test]
fn the_kernel_stays_small() {
    let root = project_root().join("crates/auth-core");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut total = 0;
    for file in &files {
        let lines = read(file).lines().count();
        total += lines;
        assert!(
            lines <= KERNEL_MAX_FILE_LINES,
            "{} has {lines} lines (at most {KERNEL_MAX_FILE_LINES})",
            relative(file)
        );
    }
    assert!(
        total <= KERNEL_MAX_LINES,
        "auth-core has {total} source lines (at most {KERNEL_MAX_LINES})"
    );
    let lib = read(&root.join("src/lib.rs"));
    let names = root_names(&lib);
    assert!(
        names.len() <= KERNEL_MAX_ROOT_NAMES,
        "auth-core's root holds {} names: {names:?}",
        names.len()
    );
    let out = crate::cargo()
        .args([
            "tree",
            "--locked",
            "-p",
            "auth-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(
            !KERNEL_FORBIDDEN.contains(&name),
            "auth-core's normal dependency tree holds {line}"
        );
    }
}

/// The names a crate root re-exports (`pub use a::{B, C};` is two).
fn root_names(lib: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut statement = String::new();
    for line in code(lib).lines() {
        if statement.is_empty() && !line.trim_start().starts_with("pub use ") {
            continue;
        }
        statement.push_str(line.trim());
        if !statement.ends_with(';') {
            continue;
        }
        let body = statement
            .trim_start_matches("pub use ")
            .trim_end_matches(';')
            .to_owned();
        let items = match body.split_once('{') {
            Some((_, rest)) => rest.trim_end_matches('}').to_owned(),
            None => body,
        };
        for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let name = item.rsplit(" as ").next().unwrap_or(item);
            names.push(name.rsplit("::").next().unwrap_or(name).to_owned());
        }
        statement.clear();
    }
    names
}

#[test]
fn root_names_are_counted_per_item() {
    let lib =
        "pub mod a;\npub use a::{B, C};\npub use d::E as F;\npub use g::{\n    H,\n    I,\n};\n";
    assert_eq!(root_names(lib), ["B", "C", "F", "H", "I"]);
}

/// Top-level modules of a crate's `src/`: `x.rs` files and `x/` folders, crate roots aside.
fn modules(src: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(src) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                Some(format!("{name}/"))
            } else {
                (name.ends_with(".rs") && name != "lib.rs" && name != "main.rs").then_some(name)
            }
        })
        .collect();
    out.sort();
    out
}

/// The code map names every crate, and every top-level module in its crate's paragraph (the
/// vendor crates share one paragraph, `crates/<vendor>-auth/src/`).
#[test]
fn the_code_map_names_every_crate_and_module() {
    let root = project_root();
    let doc = read(&root.join("docs/architecture.md"));
    let map = doc
        .split("## Code map")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/architecture.md has a ## Code map");
    let paragraphs: Vec<&str> = map.split("\n- ").collect();
    let vendors = vendor_crates();
    let mut places: Vec<(String, PathBuf)> = crate_dirs()
        .into_iter()
        .map(|dir| {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let heading = if vendors.contains(&name) {
                "`crates/<vendor>-auth/src/`".to_owned()
            } else {
                format!("`crates/{name}/src/`")
            };
            (heading, dir.join("src"))
        })
        .collect();
    places.push(("`xtask/src/`".to_owned(), root.join("xtask/src")));
    let mut missing = Vec::new();
    for (heading, src) in places {
        let Some(paragraph) = paragraphs.iter().find(|p| p.starts_with(&heading)) else {
            missing.push(format!("{heading} (no paragraph)"));
            continue;
        };
        for module in modules(&src) {
            let stem = module.trim_end_matches(".rs").trim_end_matches('/');
            let named = paragraph.contains(&format!("`{module}"))
                || paragraph.contains(&format!("`{stem}`"))
                || paragraph.contains(&format!("`{stem}/"));
            if !named {
                missing.push(format!("{heading} {module}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md's code map does not name: {missing:?}"
    );
}

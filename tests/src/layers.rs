//! The layer check: no module of a crate imports one that (directly or through others) imports
//! it back. It reads the sources as text, so it needs nothing but the Rust toolchain in CI.
//!
//! - **Modules** are the files under `src/`: `lib.rs` is the root (`crate`), `a.rs` and
//!   `a/mod.rs` are `crate::a`, `a/b.rs` is `crate::a::b`. `main.rs` is a crate of its own that
//!   uses the library by name; it is left out, and the check refuses one that declares modules.
//! - **Edges** are the paths a module names outside test code (`#[cfg(test)]` items, such as
//!   `mod tests`, which naturally import their parent, are left out, as are comments and
//!   strings): `crate::…`, `super::…`, `self::…`, and paths that start with the name of one of
//!   its child modules (`pub use child::X`). A path is an edge to the longest prefix of it that
//!   is a module (`crate::a::b::Item` to `a::b` if that exists, else to `a`); a child naming
//!   its parent through `super::` is an edge child → parent. Declaring `mod child` is not an
//!   edge: a parent that re-exports a child is fine, but the child naming the parent back makes
//!   a cycle, and is reported.
//! - **A cycle** is a strongly connected component of more than one module. The report names
//!   one circle in it, with the file, line and path of each step.
//!
//! `lexer` blanks comments, literals and test code and cuts tokens, `paths` resolves the
//! paths a module names to modules, `cycles` finds the strongly connected components. A tool
//! such as cargo-modules resolves names exactly, but needs installing and a full rust-analyzer
//! load; shout's crates name modules by plain paths, which reading the text sees.

mod cycles;
mod lexer;
mod paths;

use std::path::Path;

pub use cycles::{cycles, Cycle, Graph, Reference};
use lexer::{code_only, is_ident, strip_test_code, tokens};
use paths::{absolute, longest_module, module_of, paths};

/// Reads every `.rs` file under `src`, as (path relative to `src`, text); `main.rs` is left
/// out (see the module header), after checking that it declares no modules.
pub fn read_sources(src: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                let relative = path.strip_prefix(src).expect("under src");
                let relative = relative.to_string_lossy().replace('\\', "/");
                files.push((relative, text));
            }
        }
    }
    files.sort();
    if let Some(at) = files.iter().position(|(name, _)| name == "main.rs") {
        let (_, main) = files.remove(at);
        assert!(
            !tokens(&strip_test_code(&code_only(&main)))
                .windows(2)
                .any(|w| w[0].text == "mod" && is_ident(&w[1].text)),
            "{}/main.rs declares modules: the layer check reads only the library's",
            src.display()
        );
    }
    files
}

/// The module graph of a crate whose `src/` holds `files` (path relative to `src`, text).
pub fn graph(files: &[(String, String)]) -> Graph {
    let mut graph = Graph::default();
    let mut parsed = Vec::new();
    for (file, text) in files {
        let module = module_of(file);
        let tokens = tokens(&strip_test_code(&code_only(text)));
        graph.modules.insert(module.clone());
        parsed.push((file, module, tokens));
    }
    for (file, module, tokens) in &parsed {
        for (line, path) in paths(tokens) {
            let Some(absolute) = absolute(&graph.modules, module, &path) else {
                continue;
            };
            let target = longest_module(&graph.modules, &absolute);
            if target != *module {
                let reference = Reference {
                    file: file.to_string(),
                    line,
                    path: absolute.join("::"),
                };
                graph
                    .edges
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_insert(reference);
            }
        }
    }
    graph
}

/// Checks the crate whose sources are under `src`: the graph if its layers run one way, else a
/// report of every cycle.
pub fn check(src: &Path) -> Result<Graph, String> {
    let graph = graph(&read_sources(src));
    let found = cycles(&graph);
    if found.is_empty() {
        return Ok(graph);
    }
    let mut report = format!(
        "{}: modules that import each other in a circle (move what they share below both):\n",
        src.display()
    );
    for cycle in found {
        report.push_str(&format!("{cycle}\n"));
    }
    Err(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph of fake files (path, text).
    fn graph_of(files: &[(&str, &str)]) -> Graph {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        graph(&files)
    }

    /// The modules `from` names.
    fn targets(g: &Graph, from: &str) -> Vec<String> {
        g.edges
            .get(from)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The circles found, each as its module names.
    fn circles(g: &Graph) -> Vec<Vec<String>> {
        cycles(g)
            .into_iter()
            .map(|c| c.steps.into_iter().map(|(m, _)| m).collect())
            .collect()
    }

    /// Two modules that import each other are a cycle, reported with where each names the other.
    #[test]
    fn two_modules_importing_each_other_are_a_cycle() {
        let g = graph_of(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::Thing;\n"),
            ("b.rs", "//! b\n\nuse crate::a::{self, Other};\n"),
        ]);
        assert_eq!(circles(&g), [["crate::a", "crate::b"]]);
        let report = cycles(&g)[0].to_string();
        assert!(report.contains("a.rs:1 names crate::b::Thing"), "{report}");
        assert!(report.contains("b.rs:3 names crate::a"), "{report}");
    }

    /// A parent that re-exports its child is fine; the child naming its parent back through
    /// `super::` closes a cycle.
    #[test]
    fn child_naming_its_reexporting_parent_is_a_cycle() {
        let parent = (
            "m/mod.rs",
            "mod child;\npub use child::Thing;\npub struct Shared;\n",
        );
        let one_way = graph_of(&[
            ("lib.rs", "mod m;"),
            parent,
            ("m/child.rs", "pub struct Thing;"),
        ]);
        assert_eq!(targets(&one_way, "crate::m"), ["crate::m::child"]);
        assert!(cycles(&one_way).is_empty());

        let back = graph_of(&[
            ("lib.rs", "mod m;"),
            parent,
            ("m/child.rs", "use super::Shared;\npub struct Thing;"),
        ]);
        assert_eq!(circles(&back), [["crate::m", "crate::m::child"]]);
    }

    /// Declaring `mod child` is no edge, so a child may name its parent when the parent does
    /// not use it; and a sibling named through `super::` is an edge to the sibling.
    #[test]
    fn declaring_a_module_is_no_edge() {
        let g = graph_of(&[
            ("lib.rs", "mod m;"),
            ("m.rs", "mod a;\nmod b;\npub struct Shared;"),
            ("m/a.rs", "use super::Shared;\nuse super::b::Tool;"),
            ("m/b.rs", "pub struct Tool;"),
        ]);
        assert_eq!(targets(&g, "crate::m"), Vec::<String>::new());
        assert_eq!(targets(&g, "crate::m::a"), ["crate::m", "crate::m::b"]);
        assert!(cycles(&g).is_empty());
    }

    /// A circle through three modules, named by `super::super`, in an expression and in a
    /// nested use group, is found.
    #[test]
    fn three_module_circle_is_found() {
        let g = graph_of(&[
            ("lib.rs", "mod x;\nmod y;\npub(crate) fn root() {}"),
            ("x/mod.rs", "mod deep;\n"),
            ("x/deep.rs", "fn f() { super::super::y::go(); }"),
            ("y.rs", "use crate::{Root, z::{self as zed}};\n"),
        ]);
        // y names the root; the root names nothing (declarations only): no circle.
        assert!(cycles(&g).is_empty(), "{:?}", g.edges);
        let g = graph_of(&[
            ("lib.rs", "mod x;\nmod y;\nmod z;"),
            ("x/mod.rs", "mod deep;\npub fn go() { deep::run() }"),
            ("x/deep.rs", "pub fn run() { super::super::y::go(); }"),
            (
                "y.rs",
                "use crate::{a, z::{self as zed, More}};\npub fn go() {}",
            ),
            ("z.rs", "pub fn f() { crate::x::go() }"),
        ]);
        assert_eq!(
            circles(&g),
            [["crate::x", "crate::x::deep", "crate::y", "crate::z"]]
        );
    }

    /// A path is an edge to its longest prefix that is a module.
    #[test]
    fn paths_go_to_the_longest_existing_module() {
        let g = graph_of(&[
            ("lib.rs", "pub mod a;\npub mod top;\n"),
            ("a.rs", "pub mod b;"),
            ("a/b.rs", ""),
            (
                "top.rs",
                "fn f() -> crate::a::b::Item { crate::a::Other::new(); }",
            ),
        ]);
        assert_eq!(targets(&g, "crate::top"), ["crate::a", "crate::a::b"]);
    }

    /// Test modules, test-only items, comments, strings and visibilities are not imports.
    #[test]
    fn test_code_comments_and_strings_are_not_imports() {
        let g = graph_of(&[
            ("lib.rs", "mod a;\nmod b;"),
            ("a.rs", "pub use crate::b::Thing;"),
            (
                "b.rs",
                r##"
//! See [`crate::a`].
pub(crate) struct Thing; pub(in crate::a) fn f() {}
/* crate::a::x /* nested */ crate::a::y */
const S: &str = "crate::a::z"; const R: &str = r#"crate::a::"w""#;
const C: char = '"'; fn g<'a>(x: &'a str) -> &'a str { x }
#[cfg(test)]
fn helper() { crate::a::helper(); }
#[cfg(test)]
use crate::a::Test;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::a::{more, stuff};
    fn t() { let s = "}"; }
}
"##,
            ),
        ]);
        assert_eq!(
            targets(&g, "crate::b"),
            Vec::<String>::new(),
            "{:?}",
            g.edges
        );
        assert!(cycles(&g).is_empty());
    }

    /// A macro's paths belong to where it is called, except `$crate::…`, which names the crate
    /// that defines it.
    #[test]
    fn macro_bodies_name_only_dollar_crate() {
        let g = graph_of(&[
            ("lib.rs", "mod a;\nmod b;\npub use a::Thing;"),
            (
                "a.rs",
                "pub struct Thing;\nmacro_rules! m { () => { use super::*; crate::b::f(); $crate::b::g() } }",
            ),
            ("b.rs", "pub fn f() {}"),
        ]);
        assert_eq!(targets(&g, "crate::a"), ["crate::b"]);
        assert!(cycles(&g).is_empty());
    }

    /// The root re-exporting a module that names the root back is a cycle too.
    #[test]
    fn root_reexport_named_back_is_a_cycle() {
        let g = graph_of(&[
            (
                "lib.rs",
                "mod config;\npub use config::Config;\npub const PORT: u16 = 1;",
            ),
            (
                "config.rs",
                "pub struct Config { port: u16 }\nconst P: u16 = crate::PORT;",
            ),
        ]);
        assert_eq!(circles(&g), [["crate", "crate::config"]]);
    }
}

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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;

/// The root module's name, as paths spell it.
const ROOT: &str = "crate";

/// Where one module names another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The file, relative to `src/`.
    pub file: String,
    /// Its line, from 1.
    pub line: usize,
    /// The path as resolved from the crate root (`crate::a::Item`).
    pub path: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} names {}", self.file, self.line, self.path)
    }
}

/// A crate's modules and which names which (the first reference found for each edge).
#[derive(Debug, Default)]
pub struct Graph {
    /// Every module, by its path (`crate`, `crate::a`, `crate::a::b`).
    pub modules: BTreeSet<String>,
    /// `edges[from][to]`: where `from` names `to`.
    pub edges: BTreeMap<String, BTreeMap<String, Reference>>,
}

/// A circle of modules: each names the next, and the last names the first.
#[derive(Debug)]
pub struct Cycle {
    /// Each step: a module and where it names the next one.
    pub steps: Vec<(String, Reference)>,
    /// Every module of the strongly connected component the circle lies in.
    pub component: Vec<String>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.steps.iter().map(|(m, _)| m.as_str()).collect();
        writeln!(f, "  {} -> {}", names.join(" -> "), names[0])?;
        for (_, reference) in &self.steps {
            writeln!(f, "    {reference}")?;
        }
        write!(
            f,
            "    (modules in this tangle: {})",
            self.component.join(", ")
        )
    }
}

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

/// The cycles of `graph`: one circle per strongly connected component of more than one module.
pub fn cycles(graph: &Graph) -> Vec<Cycle> {
    components(graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|component| Cycle {
            steps: circle(graph, &component),
            component,
        })
        .collect()
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

/// The module a file under `src/` holds.
fn module_of(file: &str) -> String {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" || stem == "main" || stem == "mod" {
        ROOT.to_owned()
    } else {
        format!("{ROOT}::{}", stem.replace('/', "::"))
    }
}

/// `text` with comments, string and character literals blanked out (newlines kept, so lines
/// still count).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some((open, hashes)) = raw_string_start(&chars, i) {
            // r"...", r#"..."#, br"...": ends at a quote followed by as many hashes.
            let mut j = i + open;
            while j < chars.len()
                && !(chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')))
            {
                j += 1;
            }
            let end = (j + 1 + hashes).min(chars.len());
            for &c in &chars[i..end] {
                blank(&mut out, c);
            }
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            if i < chars.len() {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '\'' && is_char_literal(&chars, i) {
            blank(&mut out, c);
            i += 1;
            if chars.get(i) == Some(&'\\') {
                out.push(' ');
                i += 1;
            }
            while i < chars.len() && chars[i] != '\'' {
                blank(&mut out, chars[i]);
                i += 1;
            }
            if i < chars.len() {
                out.push(' ');
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// If a raw string (`r"`, `r#"`, `br"`…) starts at `i`: the length of its opening (up to and
/// including the quote) and its number of hashes.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    // Not the end of an identifier such as `bar"`.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let r = if chars[i] == 'b' { i + 1 } else { i };
    if chars.get(r) != Some(&'r') {
        return None;
    }
    let hashes = chars[r + 1..].iter().take_while(|&&c| c == '#').count();
    let quote = r + 1 + hashes;
    (chars.get(quote) == Some(&'"')).then_some((quote + 1 - i, hashes))
}

/// Whether the quote at `i` opens a character literal (`'a'`, `'\n'`) rather than a lifetime
/// or a label (`'a`, `'static`).
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// `code` with every `#[cfg(test)]` item blanked out: a `mod tests { … }`, a test-only `fn`,
/// `use` or `impl`.
fn strip_test_code(code: &str) -> String {
    let attribute: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i + attribute.len() <= chars.len() {
        if chars[i..i + attribute.len()] == attribute[..] {
            let end = item_end(&chars, i + attribute.len());
            for c in &mut chars[i..end] {
                if *c != '\n' {
                    *c = ' ';
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
    chars.into_iter().collect()
}

/// Where the item starting at `i` ends: after its `;`, or after the `}` matching its first `{`
/// (further attributes on it included).
fn item_end(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < chars.len() {
        match chars[i] {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => return i + 1,
            '{' if depth == 0 => {
                let mut braces = 0usize;
                while i < chars.len() {
                    match chars[i] {
                        '{' => braces += 1,
                        '}' => {
                            braces -= 1;
                            if braces == 0 {
                                return i + 1;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                return i;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// A token of code: an identifier, `::`, or one other character; with its line.
#[derive(Debug, Clone)]
struct Token {
    text: String,
    line: usize,
}

/// The tokens of `code` (comments and literals already blanked out).
fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token { text, line });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// Whether `text` is an identifier (or keyword).
fn is_ident(text: &str) -> bool {
    text.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Every path the tokens name, with its line: the full paths of `use` trees
/// (`use a::{b, c::d}` gives `a::b` and `a::c::d`), and other paths of two or more segments.
/// Visibilities (`pub(crate)`, `pub(in crate::a)`) are not paths.
fn paths(tokens: &[Token]) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i].text;
        if t == "pub" && tokens.get(i + 1).is_some_and(|n| n.text == "(") {
            while i < tokens.len() && tokens[i].text != ")" {
                i += 1;
            }
        } else if t == "macro_rules" {
            // A macro's paths are resolved where it is called, except `$crate::…`.
            let end = group_end(tokens, i);
            for j in i..end {
                if tokens[j].text == "$" && tokens.get(j + 1).is_some_and(|t| t.text == ROOT) {
                    let (path, _) = path_at(tokens, j + 1);
                    out.push((tokens[j].line, path));
                }
            }
            i = end;
            continue;
        } else if t == "use" {
            i = use_tree(tokens, i + 1, Vec::new(), &mut out);
        } else if is_ident(t) && !(i > 0 && tokens[i - 1].text == "::") {
            let (path, next) = path_at(tokens, i);
            if path.len() > 1 {
                out.push((tokens[i].line, path));
            }
            i = next;
            continue;
        }
        i += 1;
    }
    out
}

/// The path whose first segment is token `i` (`a::b::c`), and the index after it.
fn path_at(tokens: &[Token], mut i: usize) -> (Vec<String>, usize) {
    let mut path = vec![tokens[i].text.clone()];
    i += 1;
    while i + 1 < tokens.len() && tokens[i].text == "::" && is_ident(&tokens[i + 1].text) {
        path.push(tokens[i + 1].text.clone());
        i += 2;
    }
    (path, i)
}

/// The index after the first bracketed group (`{…}`, `(…)`, `[…]`) from token `i` on.
fn group_end(tokens: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < tokens.len() {
        match tokens[i].text.as_str() {
            "{" | "(" | "[" => depth += 1,
            "}" | ")" | "]" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Reads the use tree starting at token `i` under `prefix`, adding each full path to `out`;
/// returns the index after it (its `;`, `,` or `}` left for the caller).
fn use_tree(
    tokens: &[Token],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(usize, Vec<String>)>,
) -> usize {
    let line = tokens.get(i).map_or(0, |t| t.line);
    // A leading `::` (`use ::std::x`) names an extern crate.
    if tokens.get(i).is_some_and(|t| t.text == "::") {
        i += 1;
        prefix.push("::".into());
    }
    while let Some(token) = tokens.get(i) {
        match token.text.as_str() {
            "{" => {
                i += 1;
                while tokens.get(i).is_some_and(|t| t.text != "}") {
                    i = use_tree(tokens, i, prefix.clone(), out);
                    if tokens.get(i).is_some_and(|t| t.text == ",") {
                        i += 1;
                    }
                }
                return i + 1;
            }
            "::" => i += 1,
            "as" => i += 2,
            "*" => i += 1,
            ";" | "," | "}" => break,
            name if is_ident(name) => {
                if name != "self" || prefix.is_empty() {
                    prefix.push(name.to_owned());
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if !prefix.is_empty() {
        out.push((line, prefix));
    }
    i
}

/// `path`, named in `module`, from the crate root; `None` if it leaves the crate (`std::…`,
/// another crate, a local item).
fn absolute(modules: &BTreeSet<String>, module: &str, path: &[String]) -> Option<Vec<String>> {
    let mut here: Vec<String> = module.split("::").map(str::to_owned).collect();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some(ROOT) => {
            here.truncate(1);
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                // `super` of the root is a compile error; stay at the root.
                if here.len() > 1 {
                    here.pop();
                }
                rest = &rest[1..];
            }
        }
        Some(first) if modules.contains(&format!("{module}::{first}")) => {}
        _ => return None,
    }
    here.extend(rest.iter().cloned());
    Some(here)
}

/// The longest prefix of `path` that is a module (at least the root).
fn longest_module(modules: &BTreeSet<String>, path: &[String]) -> String {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_else(|| ROOT.to_owned())
}

/// The strongly connected components of `graph` (Tarjan's algorithm), each sorted.
fn components(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.edges.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                component.sort();
                self.out.push(component);
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for module in &graph.modules {
        if !tarjan.index.contains_key(module.as_str()) {
            tarjan.visit(module);
        }
    }
    tarjan.out.sort();
    tarjan.out
}

/// A shortest circle through the first module of `component` (breadth first, inside it).
fn circle(graph: &Graph, component: &[String]) -> Vec<(String, Reference)> {
    let inside: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let start = component[0].as_str();
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    'search: while let Some(v) = queue.pop_front() {
        for w in graph.edges.get(v).into_iter().flat_map(|e| e.keys()) {
            let w = w.as_str();
            if !inside.contains(w) || came_from.contains_key(w) {
                continue;
            }
            came_from.insert(w, v);
            if w == start {
                break 'search;
            }
            queue.push_back(w);
        }
    }
    // Walk back from the start's predecessor to the start, then put the steps in order.
    let mut back = Vec::new();
    let mut at = came_from[start];
    while at != start {
        back.push(at);
        at = came_from[at];
    }
    let order: Vec<&str> = std::iter::once(start)
        .chain(back.into_iter().rev())
        .collect();
    (0..order.len())
        .map(|k| {
            let from = order[k];
            let to = order[(k + 1) % order.len()];
            (from.to_owned(), graph.edges[from][to].clone())
        })
        .collect()
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

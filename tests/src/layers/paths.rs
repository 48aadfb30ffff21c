//! The paths a module names, for the layer check: full paths of `use` trees and other paths
//! in code, resolved from the crate root (`crate::`, `super::`, `self::`, a child module), and
//! the module each one leads to.

use std::collections::BTreeSet;

use super::lexer::{is_ident, Token};

/// The root module's name, as paths spell it.
pub(super) const ROOT: &str = "crate";

/// The module a file under `src/` holds.
pub(super) fn module_of(file: &str) -> String {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" || stem == "main" || stem == "mod" {
        ROOT.to_owned()
    } else {
        format!("{ROOT}::{}", stem.replace('/', "::"))
    }
}

/// Every path the tokens name, with its line: the full paths of `use` trees
/// (`use a::{b, c::d}` gives `a::b` and `a::c::d`), and other paths of two or more segments.
/// Visibilities (`pub(crate)`, `pub(in crate::a)`) are not paths.
pub(super) fn paths(tokens: &[Token]) -> Vec<(usize, Vec<String>)> {
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
pub(super) fn absolute(
    modules: &BTreeSet<String>,
    module: &str,
    path: &[String],
) -> Option<Vec<String>> {
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
pub(super) fn longest_module(modules: &BTreeSet<String>, path: &[String]) -> String {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_else(|| ROOT.to_owned())
}

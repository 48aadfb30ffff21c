//! The docs hold together: every relative link and `#anchor` in README.md, CHANGELOG.md and
//! docs/*.md resolves (anchors as GitHub makes them from headings), and the layout table of
//! docs/design.md names every source file of the four crates, and no file that is gone. It
//! lives in shout-common because that crate builds fastest; it reads files only, with std.
//! Its own tests below feed it small broken trees, so it is known to fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The Markdown files whose links are checked, relative to the repository root; every
/// `docs/*.md` is added to them.
const CHECKED: &[&str] = &["README.md", "CHANGELOG.md"];

/// The crates' source folders whose `*.rs` files the layout table must name.
const SOURCE_DIRS: &[&str] = &["common/src", "server/src", "client/src", "tests/src"];

/// The file that holds the layout table, and the heading of its section.
const LAYOUT_FILE: &str = "docs/design.md";
const LAYOUT_HEADING: &str = "## Layout";

/// The repository root: this crate's parent folder.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("common/ lies in the workspace")
        .to_path_buf()
}

/// Whether `line` opens or closes a fenced code block (``` or ~~~, indented at most 3).
fn is_fence(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = line.trim_start_matches(' ');
    indent <= 3 && (rest.starts_with("```") || rest.starts_with("~~~"))
}

/// The lines of `text` outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if is_fence(line) {
            in_fence = !in_fence;
        } else if !in_fence {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// `line` without its inline code spans (a backtick run up to the next run of the same
/// length), so `[a](b)` written as code is not a link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let after = &rest[start + ticks..];
        let fence = &rest[start..start + ticks];
        match after.find(fence) {
            Some(end) => {
                // Keep the text (a heading's slug uses it), drop what could look like a link.
                out.push_str(&after[..end].replace(['[', ']', '(', ')'], " "));
                rest = &after[end + ticks..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The inline link and image targets of `line` (`[text](target)`, `![alt](target)`) and a
/// reference definition's (`[name]: target`), code spans left out.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        if let Some(close) = trimmed.find("]:") {
            if let Some(target) = trimmed[close + 2..].split_whitespace().next() {
                targets.push(target.trim_matches(['<', '>']).to_string());
            }
        }
    }
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        // The target ends at the parenthesis that closes it (targets may hold balanced ones).
        let mut depth = 0usize;
        let mut end = None;
        for (index, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(index);
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let inner = after[..end].trim();
        // A title after the target (`(file.md "title")`) is not part of it.
        let target = inner.split_whitespace().next().unwrap_or("");
        targets.push(target.trim_matches(['<', '>']).to_string());
        rest = &after[end..];
    }
    targets
}

/// The text GitHub shows for a heading's Markdown: links become their text, code and
/// emphasis marks go.
fn heading_text(markdown: &str) -> String {
    let mut text = String::new();
    let mut rest = markdown;
    // `[text](url)` -> `text`
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.replace(['`', '*'], "")
}

/// GitHub's anchor for a heading's text: lower case, every character that is not a letter,
/// a digit, a space, `-` or `_` removed, spaces made `-`.
fn slug(heading: &str) -> String {
    heading_text(heading)
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings (ATX `#` headings outside code blocks), a
/// repeated one numbered `-1`, `-2`, ... as GitHub does.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let title = line[hashes..].trim().trim_end_matches('#').trim_end();
        let base = slug(title);
        let count = counts.entry(base.clone()).or_insert(0);
        let mut anchor = base.clone();
        while seen.contains(&anchor) {
            *count += 1;
            anchor = format!("{base}-{count}");
        }
        seen.insert(anchor);
    }
    seen
}

/// `path` with `.` and `..` resolved lexically (no file system), or `None` if it climbs out
/// of its root.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Every broken link of the Markdown file `file` (relative to `root`), one line each.
fn broken_links(root: &Path, file: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let text = match fs::read_to_string(root.join(file)) {
        Ok(text) => text,
        Err(error) => return vec![format!("{file}: cannot be read: {error}")],
    };
    let own_anchors = anchors(&text);
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    for (number, line) in prose_lines(&text) {
        for target in link_targets(line) {
            let at = format!("{file}:{number}: link `{target}`");
            if target.is_empty() {
                broken.push(format!("{at}: empty target"));
                continue;
            }
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target.as_str(), None),
            };
            let target_file = if path.is_empty() {
                None
            } else {
                match normalise(&dir.join(path)) {
                    Some(resolved) if root.join(&resolved).exists() => Some(resolved),
                    Some(resolved) => {
                        broken.push(format!("{at}: {} does not exist", resolved.display()));
                        continue;
                    }
                    None => {
                        broken.push(format!("{at}: leads out of the repository"));
                        continue;
                    }
                }
            };
            let Some(fragment) = fragment else { continue };
            let target_anchors = match &target_file {
                None => own_anchors.clone(),
                Some(resolved) if resolved.extension().is_some_and(|ext| ext == "md") => {
                    match fs::read_to_string(root.join(resolved)) {
                        Ok(text) => anchors(&text),
                        Err(error) => {
                            broken.push(format!("{at}: cannot be read: {error}"));
                            continue;
                        }
                    }
                }
                Some(resolved) => {
                    broken.push(format!(
                        "{at}: an anchor into {}, which is not Markdown",
                        resolved.display()
                    ));
                    continue;
                }
            };
            if !target_anchors.contains(fragment) {
                broken.push(format!("{at}: no heading makes the anchor #{fragment}"));
            }
        }
    }
    broken
}

/// The Markdown files checked under `root`: [`CHECKED`] and every `docs/*.md`, sorted.
fn checked_files(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = CHECKED.iter().map(|file| file.to_string()).collect();
    let mut docs: Vec<String> = fs::read_dir(root.join("docs"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".md"))
                .map(|name| format!("docs/{name}"))
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    files.extend(docs);
    files
}

/// Every `*.rs` file under `dir` (relative to `root`), as paths from `root` with `/`.
fn rust_files(root: &Path, dir: &str, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{dir}/{name}");
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            rust_files(root, &path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The text of the section under `heading` in `text` (to the next heading of the same or a
/// higher level), outside code blocks; `None` if there is no such heading.
fn section<'a>(text: &'a str, heading: &str) -> Option<Vec<&'a str>> {
    let level = heading.len() - heading.trim_start_matches('#').len();
    let lines = prose_lines(text);
    let start = lines
        .iter()
        .position(|(_, line)| line.trim_end() == heading)?;
    let body = lines[start + 1..]
        .iter()
        .map(|(_, line)| *line)
        .take_while(|line| {
            let hashes = line.len() - line.trim_start_matches('#').len();
            !(hashes > 0 && hashes <= level && line[hashes..].starts_with(' '))
        })
        .collect();
    Some(body)
}

/// What is wrong with the layout table under `root`: source files it does not name (as
/// `` `server/src/pool.rs` ``, the path from the repository root in backticks), and source
/// paths it names that do not exist.
fn layout_gaps(root: &Path) -> Vec<String> {
    let text = match fs::read_to_string(root.join(LAYOUT_FILE)) {
        Ok(text) => text,
        Err(error) => return vec![format!("{LAYOUT_FILE}: cannot be read: {error}")],
    };
    let Some(body) = section(&text, LAYOUT_HEADING) else {
        return vec![format!("{LAYOUT_FILE}: no `{LAYOUT_HEADING}` section")];
    };
    let body = body.join("\n");
    let mut named = BTreeSet::new();
    for (index, piece) in body.split('`').enumerate() {
        if index % 2 == 1 && piece.ends_with(".rs") {
            named.insert(piece.to_string());
        }
    }
    let mut sources = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(root, dir, &mut sources);
    }
    sources.sort();
    let mut gaps: Vec<String> = sources
        .iter()
        .filter(|path| !named.contains(*path))
        .map(|path| format!("{LAYOUT_FILE}, {LAYOUT_HEADING}: `{path}` is not named in any row"))
        .collect();
    for path in &named {
        let in_crates = SOURCE_DIRS
            .iter()
            .any(|dir| path.starts_with(&format!("{dir}/")));
        if in_crates && !root.join(path).is_file() {
            gaps.push(format!(
                "{LAYOUT_FILE}, {LAYOUT_HEADING}: `{path}` does not exist"
            ));
        }
    }
    gaps
}

/// Every relative link and anchor in README.md, CHANGELOG.md and docs/*.md resolves.
#[test]
fn links_and_anchors_resolve() {
    let root = repo_root();
    let files = checked_files(&root);
    assert!(
        files.iter().any(|file| file.starts_with("docs/")),
        "no docs/*.md found under {}",
        root.display()
    );
    let broken: Vec<String> = files
        .iter()
        .flat_map(|file| broken_links(&root, file))
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// docs/design.md's layout table names every source file of the four crates, and only files
/// that exist.
#[test]
fn layout_table_names_every_source_file() {
    let gaps = layout_gaps(&repo_root());
    assert!(
        gaps.is_empty(),
        "the layout table is out of date:\n{}",
        gaps.join("\n")
    );
}

/// The test command in a shell block of `readme`: its first line that runs `cargo test`,
/// without a trailing comment and with single spaces.
fn readme_test_command(readme: &str) -> Option<String> {
    let mut in_fence = false;
    for line in readme.lines() {
        if is_fence(line) {
            in_fence = !in_fence;
        } else if in_fence && line.trim_start().starts_with("cargo test") {
            let command = line.split('#').next().unwrap_or("");
            return Some(command.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    None
}

/// The commands `.ci/run` runs that start with `cargo test` (after an `echo ...;`), with
/// single spaces.
fn ci_test_commands(script: &str) -> Vec<String> {
    script
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.rsplit(';').next())
        .map(|command| command.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|command| command.starts_with("cargo test"))
        .collect()
}

/// The test command written in the README's quick start is the one CI runs: `.ci/run` runs it
/// as written there, so a change to one must be made to the other.
#[test]
fn readme_test_command_is_what_ci_runs() {
    let root = repo_root();
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md is readable");
    let script = fs::read_to_string(root.join(".ci/run")).expect(".ci/run is readable");
    let command = readme_test_command(&readme).expect("README.md shows a `cargo test` command");
    assert_eq!(
        ci_test_commands(&script),
        vec![command.clone()],
        ".ci/run must run the README's test command, `{command}`, and no other"
    );
}

/// A fresh folder under the test target's temporary dir, holding `files` (path, text).
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("docs-check")
        .join(name);
    let _ = fs::remove_dir_all(&root);
    for (path, text) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("a file has a folder")).expect("temp dir");
        fs::write(path, text).expect("temp file");
    }
    root
}

/// Anchors are GitHub's: punctuation dropped, code marks dropped, repeats numbered.
#[test]
fn anchors_are_githubs() {
    let text = "# Hand-off vs `SO_REUSEPORT`\n## Finding the highest rate: `--find-max`\n\
                ## Reports, compare and merge: `shout report`\n### Options\n### Options\n\
                ## Options\n```\n# not a heading\n```\n## [Linked](x.md) *title*\n";
    let found = anchors(text);
    let expected: BTreeSet<String> = [
        "hand-off-vs-so_reuseport",
        "finding-the-highest-rate---find-max",
        "reports-compare-and-merge-shout-report",
        "options",
        "options-1",
        "options-2",
        "linked-title",
    ]
    .iter()
    .map(|anchor| anchor.to_string())
    .collect();
    assert_eq!(found, expected);
}

/// A link to a missing file, a missing anchor in this file or another, or an anchor into a
/// source file is reported; links in code blocks and code spans, and URLs, are not.
#[test]
fn broken_links_are_reported() {
    let root = tree(
        "broken",
        &[
            (
                "README.md",
                "# Top\n[ok](#top) [ok](docs/a.md#section-one) [ok](docs/a.md) [web](https://x.invalid/#no)\n\
                 [gone](docs/missing.md)\n[bad anchor](#nowhere)\n[bad other](docs/a.md#nowhere)\n\
                 ```\n[in code](#not-checked)\n```\n`[span](#not-checked)`\n[src](common/x.rs#L3)\n\
                 [ref]: docs/also-missing.md\n",
            ),
            ("docs/a.md", "# A\n## Section one\n[back](../README.md#top) [out](../../x.md)\n"),
            ("common/x.rs", "//! x\n"),
        ],
    );
    let mut broken = broken_links(&root, "README.md");
    broken.extend(broken_links(&root, "docs/a.md"));
    let joined = broken.join("\n");
    for expected in [
        "README.md:3: link `docs/missing.md`: docs/missing.md does not exist",
        "README.md:4: link `#nowhere`: no heading makes the anchor #nowhere",
        "README.md:5: link `docs/a.md#nowhere`: no heading makes the anchor #nowhere",
        "README.md:10: link `common/x.rs#L3`: an anchor into common/x.rs, which is not Markdown",
        "README.md:11: link `docs/also-missing.md`: docs/also-missing.md does not exist",
        "docs/a.md:3: link `../../x.md`: leads out of the repository",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
    assert_eq!(broken.len(), 6, "unexpected reports:\n{joined}");
}

/// A source file missing from the layout table, or named there but gone, is reported; one
/// named only outside the Layout section does not count.
#[test]
fn layout_gaps_are_reported() {
    let root = tree(
        "layout",
        &[
            (
                "docs/design.md",
                "# Design\n## Layout\n| `server/src/a.rs` | `client/src/gone.rs` |\n\
                 ## Other\n`server/src/b.rs`\n",
            ),
            ("server/src/a.rs", ""),
            ("server/src/b.rs", ""),
            ("tests/src/deep/c.rs", ""),
        ],
    );
    let gaps = layout_gaps(&root).join("\n");
    assert!(gaps.contains("`server/src/b.rs` is not named"), "{gaps}");
    assert!(
        gaps.contains("`tests/src/deep/c.rs` is not named"),
        "{gaps}"
    );
    assert!(
        gaps.contains("`client/src/gone.rs` does not exist"),
        "{gaps}"
    );
    assert!(!gaps.contains("`server/src/a.rs`"), "{gaps}");
}

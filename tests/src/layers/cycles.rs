//! The module graph of the layer check and its cycles: strongly connected components
//! (Tarjan's algorithm), and one circle through each with where each step imports the next.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

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

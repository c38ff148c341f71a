//! The image lineage graph: edges point from a parent image to the images built on it.

use std::collections::{BTreeMap, BTreeSet};

/// Lineage over image names. Parents are listed per child; children are derived.
#[derive(Clone, Debug, Default)]
pub struct Lineage {
    parents: BTreeMap<String, BTreeSet<String>>,
    children: BTreeMap<String, BTreeSet<String>>,
}

impl Lineage {
    pub fn new<'a>(nodes: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> Self {
        let mut lineage = Lineage::default();
        for (child, parents) in nodes {
            lineage.parents.entry(child.to_string()).or_default();
            lineage.children.entry(child.to_string()).or_default();
            for parent in parents {
                lineage
                    .parents
                    .get_mut(child)
                    .unwrap()
                    .insert(parent.to_string());
                lineage
                    .children
                    .entry(parent.to_string())
                    .or_default()
                    .insert(child.to_string());
            }
        }
        lineage
    }

    pub fn parents(&self, name: &str) -> impl Iterator<Item = &str> {
        self.parents
            .get(name)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn children(&self, name: &str) -> impl Iterator<Item = &str> {
        self.children
            .get(name)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Images with no parents, by name.
    pub fn roots(&self) -> impl Iterator<Item = &str> {
        self.parents
            .iter()
            .filter(|(_, p)| p.is_empty())
            .map(|(n, _)| n.as_str())
    }

    /// The first dependency cycle found, as a closed path `[a, b, c, a]` (a is built on c, …).
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Unvisited,
            OnStack,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = self
            .parents
            .keys()
            .map(|k| (k.as_str(), Mark::Unvisited))
            .collect();
        let names: Vec<&str> = marks.keys().copied().collect();
        for start in names {
            if marks[start] != Mark::Unvisited {
                continue;
            }
            // Iterative DFS following parent edges; `stack` is the current path.
            let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, self.parents(start).collect())];
            marks.insert(start, Mark::OnStack);
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    Some(next) => match marks.get(next).copied().unwrap_or(Mark::Done) {
                        Mark::Unvisited => {
                            marks.insert(next, Mark::OnStack);
                            stack.push((next, self.parents(next).collect()));
                        }
                        Mark::OnStack => {
                            let from = stack.iter().position(|(n, _)| *n == next).unwrap();
                            let mut cycle: Vec<String> =
                                stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                            cycle.push(next.to_string());
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    },
                    None => {
                        marks.insert(node, Mark::Done);
                        stack.pop();
                    }
                }
            }
        }
        None
    }

    /// Every image in an order where parents come before children (ties by name). Requires no cycle.
    pub fn topological_order(&self) -> Vec<String> {
        let mut remaining: BTreeMap<&str, usize> = self
            .parents
            .iter()
            .map(|(n, p)| (n.as_str(), p.len()))
            .collect();
        let mut ready: BTreeSet<&str> = remaining
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut order = Vec::with_capacity(remaining.len());
        while let Some(node) = ready.pop_first() {
            remaining.remove(node);
            order.push(node.to_string());
            for child in self.children(node) {
                if let Some(d) = remaining.get_mut(child) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(child);
                    }
                }
            }
        }
        order
    }

    /// `names` and everything they are built on.
    pub fn with_ancestors<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        self.closure(names, |n| self.parents(n).map(str::to_string).collect())
    }

    /// `names` and everything built on them.
    pub fn with_descendants<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<String> {
        self.closure(names, |n| self.children(n).map(str::to_string).collect())
    }

    fn closure<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        next: impl Fn(&str) -> Vec<String>,
    ) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = names.into_iter().map(str::to_string).collect();
        while let Some(n) = todo.pop() {
            if seen.insert(n.clone()) {
                todo.extend(next(&n));
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diamond() -> Lineage {
        Lineage::new([
            ("base", vec![]),
            ("hardened", vec!["base"]),
            ("web", vec!["hardened"]),
            ("worker", vec!["hardened"]),
            ("combo", vec!["web", "worker"]),
            ("other", vec![]),
        ])
    }

    #[test]
    fn order_puts_parents_first() {
        let order = diamond().topological_order();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert_eq!(order.len(), 6);
        assert!(pos("base") < pos("hardened"));
        assert!(pos("web") < pos("combo") && pos("worker") < pos("combo"));
        assert!(diamond().find_cycle().is_none());
    }

    #[test]
    fn closures() {
        let g = diamond();
        assert_eq!(
            g.with_ancestors(["web"]).into_iter().collect::<Vec<_>>(),
            ["base", "hardened", "web"]
        );
        assert_eq!(
            g.with_descendants(["hardened"])
                .into_iter()
                .collect::<Vec<_>>(),
            ["combo", "hardened", "web", "worker"]
        );
    }

    #[test]
    fn cycle_is_reported_as_a_closed_path() {
        let g = Lineage::new([
            ("a", vec!["c"]),
            ("b", vec!["a"]),
            ("c", vec!["b"]),
            ("d", vec![]),
        ]);
        let cycle = g.find_cycle().unwrap();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        let self_loop = Lineage::new([("a", vec!["a"])]);
        assert_eq!(self_loop.find_cycle().unwrap(), ["a", "a"]);
    }
}

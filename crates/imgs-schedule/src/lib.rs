//! Walking a DAG of builds: every node starts as soon as all its parents succeeded, at most `jobs` at
//! a time, the ready ones in the order given (parents before children, so the walk is deterministic
//! for a given set of finish times).
//!
//! Nodes may also hold resources (a cloud region, a builder type: plain keys to the walker), each
//! with its own limit ([`Limits`]): a ready node starts only when every key it holds is below its
//! limit, so EC2's per-region instance limits are respected however many images are ready. A node
//! held back by a key does not hold back the nodes after it that need other keys.
//!
//! Failure policy as cargo's: by default the first failure stops scheduling (running builds go on to
//! their own end, and clean up); with [`FailurePolicy::KeepGoing`] everything not downstream of a
//! failure is still built. A node that never ran says why ([`Skipped`]). Cancellation (Ctrl-C) stops
//! scheduling too; running builds see the same token and stop themselves.
//!
//! The walker owns no I/O: the caller's `work` function does the building, so the order, the limits and
//! the skip reasons are tested here with plain futures.

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Start nothing new after the first failure.
    #[default]
    FailFast,
    /// Build everything that does not depend on a failure.
    KeepGoing,
}

/// Why a node was not built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// A parent failed (or was itself skipped): the node cannot be built without it.
    ParentNotBuilt { parent: usize },
    /// Another build failed and the walk stopped scheduling (fail-fast).
    StoppedAfterFailure { failed: usize },
    /// The walk was cancelled before the node started.
    Cancelled,
}

/// What became of one node.
#[derive(Debug)]
pub enum NodeOutcome<T, E> {
    Done(T),
    Failed(E),
    Skipped(Skipped),
}

impl<T, E> NodeOutcome<T, E> {
    pub fn is_done(&self) -> bool {
        matches!(self, NodeOutcome::Done(_))
    }
}

/// A node's place in the graph: the indices of its parents (all smaller than its own index), and the
/// resources it holds while it runs (each key counted once per node).
#[derive(Clone, Debug, Default)]
pub struct DagNode {
    pub parents: Vec<usize>,
    pub resources: Vec<String>,
}

/// How many nodes may run at once: in all (`jobs`), and per resource key. A limit of 0, or a key
/// without a limit, bounds nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub jobs: usize,
    pub per_resource: BTreeMap<String, usize>,
}

impl Limits {
    /// At most `jobs` at once (0: no limit), nothing else.
    pub fn jobs(jobs: usize) -> Limits {
        Limits {
            jobs,
            per_resource: BTreeMap::new(),
        }
    }

    fn of(&self, key: &str) -> usize {
        match self.per_resource.get(key) {
            Some(&n) if n > 0 => n,
            _ => usize::MAX,
        }
    }
}

/// Runs `work(node, parents' outputs)` for every node, as described in the module docs; returns each
/// node's outcome, by index. `jobs` of 0 means no limit.
pub async fn walk<T, E, W, F>(
    nodes: &[DagNode],
    jobs: usize,
    policy: FailurePolicy,
    cancel: &CancellationToken,
    work: W,
) -> Vec<NodeOutcome<T, E>>
where
    T: Clone,
    W: FnMut(usize, Vec<(usize, T)>) -> F,
    F: Future<Output = Result<T, E>>,
{
    walk_limited(nodes, &Limits::jobs(jobs), policy, cancel, work).await
}

/// [`walk`] with per-resource limits besides `jobs`.
pub async fn walk_limited<T, E, W, F>(
    nodes: &[DagNode],
    limits: &Limits,
    policy: FailurePolicy,
    cancel: &CancellationToken,
    mut work: W,
) -> Vec<NodeOutcome<T, E>>
where
    T: Clone,
    W: FnMut(usize, Vec<(usize, T)>) -> F,
    F: Future<Output = Result<T, E>>,
{
    enum State<T, E> {
        Waiting,
        Running,
        Finished(NodeOutcome<T, E>),
    }
    let limit = if limits.jobs == 0 {
        usize::MAX
    } else {
        limits.jobs
    };
    // Each node's keys once, however often it names them.
    let held: Vec<Vec<&str>> = nodes
        .iter()
        .map(|node| {
            let mut keys: Vec<&str> = node.resources.iter().map(String::as_str).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        })
        .collect();
    let mut in_use: BTreeMap<&str, usize> = BTreeMap::new();
    let mut states: Vec<State<T, E>> = nodes.iter().map(|_| State::Waiting).collect();
    let mut running = FuturesUnordered::new();
    let mut first_failure: Option<usize> = None;

    loop {
        // Settle what can be settled without running anything, in index order so a chain of skips
        // resolves in one pass (parents come first).
        for index in 0..nodes.len() {
            if !matches!(states[index], State::Waiting) {
                continue;
            }
            let unbuildable_parent = nodes[index].parents.iter().copied().find(|&p| {
                matches!(
                    states[p],
                    State::Finished(NodeOutcome::Failed(_) | NodeOutcome::Skipped(_))
                )
            });
            if let Some(parent) = unbuildable_parent {
                states[index] =
                    State::Finished(NodeOutcome::Skipped(Skipped::ParentNotBuilt { parent }));
                continue;
            }
            let stop = if cancel.is_cancelled() {
                Some(Skipped::Cancelled)
            } else if policy == FailurePolicy::FailFast {
                first_failure.map(|failed| Skipped::StoppedAfterFailure { failed })
            } else {
                None
            };
            if let Some(reason) = stop {
                states[index] = State::Finished(NodeOutcome::Skipped(reason));
                continue;
            }
            let ready = nodes[index]
                .parents
                .iter()
                .all(|&p| matches!(states[p], State::Finished(NodeOutcome::Done(_))));
            let free = held[index]
                .iter()
                .all(|key| in_use.get(key).copied().unwrap_or(0) < limits.of(key));
            if ready && free && running.len() < limit {
                for key in &held[index] {
                    *in_use.entry(key).or_default() += 1;
                }
                let inputs = nodes[index]
                    .parents
                    .iter()
                    .map(|&p| match &states[p] {
                        State::Finished(NodeOutcome::Done(output)) => (p, output.clone()),
                        _ => unreachable!("checked above: every parent is done"),
                    })
                    .collect();
                let future = work(index, inputs);
                running.push(async move { (index, future.await) });
                states[index] = State::Running;
            }
        }
        let Some((index, result)) = running.next().await else {
            break;
        };
        for key in &held[index] {
            if let Some(n) = in_use.get_mut(key) {
                *n -= 1;
            }
        }
        states[index] = State::Finished(match result {
            Ok(output) => NodeOutcome::Done(output),
            Err(error) => {
                first_failure.get_or_insert(index);
                NodeOutcome::Failed(error)
            }
        });
    }
    states
        .into_iter()
        .map(|state| match state {
            State::Finished(outcome) => outcome,
            // Unreachable in practice: a node waits only while something runs that could unblock it.
            State::Waiting | State::Running => NodeOutcome::Skipped(Skipped::Cancelled),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::*;

    /// base → {a, b}; a → c; d stands alone.
    fn graph() -> Vec<DagNode> {
        let node = |parents: &[usize]| DagNode {
            parents: parents.to_vec(),
            ..DagNode::default()
        };
        vec![node(&[]), node(&[0]), node(&[0]), node(&[1]), node(&[])]
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    /// Runs the walk where each node takes `secs[i]` (virtual) seconds and fails when `fails[i]`;
    /// returns the outcomes and the (start, end) events in order.
    fn run(
        jobs: usize,
        policy: FailurePolicy,
        secs: [u64; 5],
        fails: [bool; 5],
    ) -> (Vec<NodeOutcome<String, String>>, Vec<String>) {
        let events = RefCell::new(Vec::new());
        let outcomes = rt().block_on(walk(
            &graph(),
            jobs,
            policy,
            &CancellationToken::new(),
            |i, parents: Vec<(usize, String)>| {
                let events = &events;
                async move {
                    events.borrow_mut().push(format!("start {i}"));
                    tokio::time::sleep(Duration::from_secs(secs[i])).await;
                    events.borrow_mut().push(format!("end {i}"));
                    let from: Vec<String> = parents.into_iter().map(|(_, o)| o).collect();
                    if fails[i] {
                        Err(format!("node {i} failed"))
                    } else {
                        Ok(format!("{i}<[{}]", from.join(",")))
                    }
                }
            },
        ));
        (outcomes, events.into_inner())
    }

    fn summary(outcomes: &[NodeOutcome<String, String>]) -> Vec<String> {
        outcomes
            .iter()
            .map(|o| match o {
                NodeOutcome::Done(t) => format!("done {t}"),
                NodeOutcome::Failed(e) => format!("failed: {e}"),
                NodeOutcome::Skipped(s) => format!("skipped: {s:?}"),
            })
            .collect()
    }

    #[test]
    fn children_start_when_their_parents_finish_and_receive_their_outputs() {
        let (outcomes, events) = run(0, FailurePolicy::FailFast, [1, 2, 1, 1, 5], [false; 5]);
        assert_eq!(
            summary(&outcomes),
            [
                "done 0<[]",
                "done 1<[0<[]]",
                "done 2<[0<[]]",
                "done 3<[1<[0<[]]]",
                "done 4<[]"
            ]
        );
        // Independent roots overlap; a child waits only for its own parent.
        assert_eq!(
            events,
            [
                "start 0", "start 4", "end 0", "start 1", "start 2", "end 2", "end 1", "start 3",
                "end 3", "end 4"
            ]
        );
    }

    #[test]
    fn jobs_bounds_how_many_run_at_once() {
        let (outcomes, events) = run(1, FailurePolicy::FailFast, [1, 1, 1, 1, 1], [false; 5]);
        assert!(outcomes.iter().all(NodeOutcome::is_done));
        // One at a time: every start follows the previous end.
        for pair in events.chunks(2) {
            assert_eq!(pair[0].replace("start", "end"), pair[1]);
        }
    }

    /// Node 1 failed: its descendant 3 is skipped, everything else is built.
    const NODE_1_FAILED: [&str; 5] = [
        "done 0<[]",
        "failed: node 1 failed",
        "done 2<[0<[]]",
        "skipped: ParentNotBuilt { parent: 1 }",
        "done 4<[]",
    ];

    /// Which of the five nodes fail.
    fn failing(node: usize) -> [bool; 5] {
        let mut fails = [false; 5];
        fails[node] = true;
        fails
    }

    #[test]
    fn fail_fast_starts_nothing_new_but_lets_running_builds_finish() {
        // 1 fails after 1 s while 2 and 4 are still running.
        let (outcomes, events) = run(0, FailurePolicy::FailFast, [1, 1, 2, 1, 5], failing(1));
        assert_eq!(summary(&outcomes), NODE_1_FAILED);
        assert!(events.contains(&"end 4".to_string()));
    }

    #[test]
    fn fail_fast_skips_ready_builds_that_had_not_started() {
        // With one job, 4 is still waiting when 0 fails.
        let (outcomes, _) = run(1, FailurePolicy::FailFast, [1; 5], failing(0));
        assert_eq!(
            summary(&outcomes),
            [
                "failed: node 0 failed",
                "skipped: ParentNotBuilt { parent: 0 }",
                "skipped: ParentNotBuilt { parent: 0 }",
                "skipped: ParentNotBuilt { parent: 1 }",
                "skipped: StoppedAfterFailure { failed: 0 }"
            ]
        );
    }

    #[test]
    fn keep_going_builds_everything_not_downstream_of_a_failure() {
        let (outcomes, _) = run(1, FailurePolicy::KeepGoing, [1; 5], failing(1));
        assert_eq!(summary(&outcomes), NODE_1_FAILED);
    }

    #[test]
    fn cancelling_stops_scheduling() {
        let cancel = CancellationToken::new();
        let outcomes: Vec<NodeOutcome<(), String>> = rt().block_on(walk(
            &graph(),
            1,
            FailurePolicy::KeepGoing,
            &cancel,
            |i, _| {
                let cancel = cancel.clone();
                async move {
                    if i == 0 {
                        cancel.cancel();
                    }
                    Ok(())
                }
            },
        ));
        assert!(outcomes[0].is_done());
        for i in [1, 2, 4] {
            assert!(matches!(
                outcomes[i],
                NodeOutcome::Skipped(Skipped::Cancelled)
            ));
        }
        assert!(matches!(
            outcomes[3],
            NodeOutcome::Skipped(Skipped::ParentNotBuilt { parent: 1 })
        ));
    }

    /// Runs independent nodes holding `keys[i]`, each for one (virtual) second, under `limits`;
    /// returns the most running at once per key and in all (key "*"), and whether all were done.
    fn most_at_once(keys: &[&[&str]], limits: &Limits) -> (BTreeMap<String, usize>, bool) {
        let nodes: Vec<DagNode> = keys
            .iter()
            .map(|k| DagNode {
                parents: vec![],
                resources: k.iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        let now: RefCell<BTreeMap<String, usize>> = RefCell::default();
        let most: RefCell<BTreeMap<String, usize>> = RefCell::default();
        let outcomes: Vec<NodeOutcome<(), ()>> = rt().block_on(walk_limited(
            &nodes,
            limits,
            FailurePolicy::FailFast,
            &CancellationToken::new(),
            |i, _| {
                let (now, most) = (&now, &most);
                let mut held: Vec<String> = keys[i].iter().map(|s| s.to_string()).collect();
                held.sort();
                held.dedup();
                held.push("*".into());
                async move {
                    for key in &held {
                        let n = {
                            let mut now = now.borrow_mut();
                            let n = now.entry(key.clone()).or_default();
                            *n += 1;
                            *n
                        };
                        let mut most = most.borrow_mut();
                        let m = most.entry(key.clone()).or_default();
                        *m = (*m).max(n);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    for key in &held {
                        *now.borrow_mut().get_mut(key).unwrap() -= 1;
                    }
                    Ok(())
                }
            },
        ));
        (most.into_inner(), outcomes.iter().all(NodeOutcome::is_done))
    }

    fn limits(jobs: usize, per: &[(&str, usize)]) -> Limits {
        Limits {
            jobs,
            per_resource: per.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        }
    }

    const EAST: &[&str] = &["region:us-east-1", "builder:amazon-ebs"];
    const WEST: &[&str] = &["region:us-west-2", "builder:amazon-ebs"];
    const LOCAL: &[&str] = &["builder:qemu"];

    #[test]
    fn a_resource_limit_bounds_the_nodes_holding_that_key_and_no_others() {
        let keys = [EAST, EAST, EAST, EAST, EAST, WEST, WEST, WEST, LOCAL, LOCAL];
        let (most, all_done) = most_at_once(
            &keys,
            &limits(0, &[("region:us-east-1", 2), ("region:us-west-2", 1)]),
        );
        assert!(all_done);
        assert_eq!(most["region:us-east-1"], 2);
        assert_eq!(most["region:us-west-2"], 1);
        // Held-back east nodes did not hold back the others: west and local ran beside them.
        assert_eq!(most["builder:qemu"], 2);
        assert_eq!(most["*"], 5);
    }

    #[test]
    fn every_key_a_node_holds_must_be_free_and_jobs_still_bound_the_total() {
        let keys = [EAST, EAST, EAST, WEST, WEST, WEST, LOCAL, LOCAL, LOCAL];
        let (most, all_done) = most_at_once(
            &keys,
            &limits(
                0,
                &[
                    ("region:us-east-1", 3),
                    ("region:us-west-2", 3),
                    ("builder:amazon-ebs", 2),
                ],
            ),
        );
        assert!(all_done);
        assert_eq!(most["builder:amazon-ebs"], 2);
        assert_eq!(most["builder:qemu"], 3);

        let (most, all_done) = most_at_once(&keys, &limits(2, &[("region:us-east-1", 1)]));
        assert!(all_done);
        assert_eq!(most["*"], 2);
        assert_eq!(most["region:us-east-1"], 1);
    }

    #[test]
    fn a_zero_or_missing_limit_bounds_nothing_and_a_key_named_twice_counts_once() {
        let twice: &[&str] = &["region:us-east-1", "region:us-east-1"];
        let (most, all_done) = most_at_once(
            &[twice, twice, twice, EAST],
            &limits(0, &[("region:us-east-1", 1), ("builder:amazon-ebs", 0)]),
        );
        assert!(
            all_done,
            "a node naming a key twice is not blocked by itself"
        );
        assert_eq!(most["region:us-east-1"], 1);
        let (most, _) = most_at_once(&[EAST, EAST, EAST], &Limits::default());
        assert_eq!(most["*"], 3);
    }

    #[test]
    fn a_limited_walk_keeps_the_failure_policy() {
        let nodes = vec![
            DagNode {
                parents: vec![],
                resources: vec!["r".into()],
            },
            DagNode {
                parents: vec![],
                resources: vec!["r".into()],
            },
        ];
        let outcomes: Vec<NodeOutcome<(), &str>> = rt().block_on(walk_limited(
            &nodes,
            &limits(0, &[("r", 1)]),
            FailurePolicy::FailFast,
            &CancellationToken::new(),
            |i, _| async move { if i == 0 { Err("no") } else { Ok(()) } },
        ));
        assert!(matches!(outcomes[0], NodeOutcome::Failed("no")));
        assert!(matches!(
            outcomes[1],
            NodeOutcome::Skipped(Skipped::StoppedAfterFailure { failed: 0 })
        ));
    }
}

//! Walking a DAG of builds: every node starts as soon as all its parents succeeded, at most `jobs` at
//! a time, the ready ones in the order given (parents before children, so the walk is deterministic
//! for a given set of finish times).
//!
//! Failure policy as cargo's: by default the first failure stops scheduling (running builds go on to
//! their own end, and clean up); with [`FailurePolicy::KeepGoing`] everything not downstream of a
//! failure is still built. A node that never ran says why ([`Skipped`]). Cancellation (Ctrl-C) stops
//! scheduling too; running builds see the same token and stop themselves.
//!
//! The walker owns no I/O: the caller's `work` function does the building, so the order, the limits and
//! the skip reasons are tested here with plain futures.

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

/// A node's place in the graph: the indices of its parents (all smaller than its own index).
#[derive(Clone, Debug, Default)]
pub struct DagNode {
    pub parents: Vec<usize>,
}

/// Runs `work(node, parents' outputs)` for every node, as described in the module docs; returns each
/// node's outcome, by index. `jobs` of 0 means no limit.
pub async fn walk<T, E, W, F>(
    nodes: &[DagNode],
    jobs: usize,
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
    let limit = if jobs == 0 { usize::MAX } else { jobs };
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
            if ready && running.len() < limit {
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
}

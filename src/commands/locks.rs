//! The apply locks of the hosts an apply runs on, and whether an
//! observation made before they were taken still stands.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use miette::Result;

use super::session::Session;
use crate::apply::lock;
use crate::observe;
use crate::printer::Printer;
use crate::remote::Transport;

/// The hosts' apply locks this apply took.
pub(super) struct Locks {
    pub(super) holder: String,
    held: Vec<Arc<dyn Transport>>,
    /// The apply generation each host had when its lock was taken; `None`
    /// for a lock this apply already held through another plan host.
    generations: HashMap<String, Option<String>>,
}

impl Locks {
    /// Take each host's lock, waiting up to `wait`; on an error, release
    /// those already taken.
    pub(super) async fn take(
        session: &Session<'_>,
        wait: Option<Duration>,
        printer: &Printer,
    ) -> Result<Locks> {
        let mut locks = Locks {
            holder: lock::holder(&session.plan.file.display().to_string()),
            held: Vec::new(),
            generations: HashMap::new(),
        };
        // Only observed hosts: nothing runs on the others.
        let observed = session
            .transports
            .iter()
            .filter(|(h, _)| session.states.contains_key(*h))
            .map(|(_, t)| t);
        for t in observed {
            match lock::acquire(t.as_ref(), &locks.holder, wait.unwrap_or_default(), printer).await
            {
                Ok(lock::Acquired::Taken { generation }) => {
                    locks.held.push(t.clone());
                    locks.generations.insert(t.host().to_string(), generation);
                }
                Ok(lock::Acquired::AlreadyHeld) => {
                    locks.generations.insert(t.host().to_string(), None);
                }
                Err(e) => {
                    locks.release().await;
                    return Err(e.into());
                }
            }
        }
        Ok(locks)
    }

    /// Whether no apply can have run on any host since `states` were
    /// observed: each observation saw no lock and the same generation the
    /// lock's taking saw. Anything not proven so (no generation yet, a
    /// lock shared by two plan hosts) counts as changed.
    pub(super) fn unchanged_since(&self, states: &HashMap<String, observe::HostState>) -> bool {
        !self.generations.is_empty()
            && self.generations.iter().all(|(host, at_lock)| {
                states.get(host).is_some_and(|s| {
                    s.lock.is_none() && at_lock.is_some() && s.generation == *at_lock
                })
            })
    }

    pub(super) async fn release(&self) {
        for t in &self.held {
            lock::release(t.as_ref(), &self.holder).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locks(at_lock: &[(&str, Option<&str>)]) -> Locks {
        Locks {
            holder: "me".into(),
            held: Vec::new(),
            generations: at_lock
                .iter()
                .map(|(h, g)| (h.to_string(), g.map(str::to_string)))
                .collect(),
        }
    }

    fn states(seen: &[(&str, Option<&str>, Option<&str>)]) -> HashMap<String, observe::HostState> {
        seen.iter()
            .map(|(h, lock, g)| {
                (
                    h.to_string(),
                    observe::HostState {
                        host: h.to_string(),
                        lock: lock.map(str::to_string),
                        generation: g.map(str::to_string),
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn an_observation_stands_only_when_proven_unchanged() {
        let seen = states(&[("a", None, Some("g1")), ("b", None, Some("g2"))]);
        assert!(locks(&[("a", Some("g1")), ("b", Some("g2"))]).unchanged_since(&seen));
        // another apply ran on b in between
        assert!(!locks(&[("a", Some("g1")), ("b", Some("g3"))]).unchanged_since(&seen));
        // no generation yet, or a lock shared with another plan host
        assert!(!locks(&[("a", Some("g1")), ("b", None)]).unchanged_since(&seen));
        let fresh = states(&[("a", None, None)]);
        assert!(!locks(&[("a", None)]).unchanged_since(&fresh));
        // another apply held the lock while it was observed
        let held = states(&[("a", Some("someone"), Some("g1"))]);
        assert!(!locks(&[("a", Some("g1"))]).unchanged_since(&held));
        // a host that was not observed
        assert!(!locks(&[("c", Some("g1"))]).unchanged_since(&seen));
        assert!(!locks(&[]).unchanged_since(&seen));
    }
}

//! Certificate policy processing (RFC 5280 §6.1.2–§6.1.5) with the default inputs S/MIME uses:
//! user-initial-policy-set = {anyPolicy}, initial-explicit-policy, initial-policy-mapping-inhibit
//! and initial-any-policy-inhibit all false. Policy constraints carried by the certificates of
//! the path are honoured.
//!
//! The valid_policy_tree is kept as levels of nodes; deletion marks nodes dead, so indices held
//! by children stay valid.

use super::cert::Cert;
use super::oid;

#[derive(Debug, Clone)]
struct Node {
    policy: Vec<u8>,
    expected: Vec<Vec<u8>>,
    parent: usize,
    alive: bool,
}

/// Bound on tree size: policy trees can grow with the product of policies per certificate
/// (the RFC's own warning); refuse paths that would make us do unbounded work.
const MAX_NODES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("no acceptable certificate policy")]
    NoPolicy,
    #[error("a policy mapping maps to or from anyPolicy")]
    AnyPolicyMapping,
    #[error("the certificate policies of the path are too numerous to process")]
    TooLarge,
}

#[derive(Debug)]
pub struct State {
    /// `None` is the RFC's NULL tree. `levels[0]` holds the root.
    levels: Option<Vec<Vec<Node>>>,
    explicit_policy: u32,
    policy_mapping: u32,
    inhibit_any_policy: u32,
    nodes: usize,
}

fn any_policy() -> Vec<u8> {
    oid::ANY_POLICY.as_bytes().to_vec()
}

fn is_any(p: &[u8]) -> bool {
    oid::is(p, &oid::ANY_POLICY)
}

impl State {
    /// §6.1.2 initialisation for a path of `n` certificates (trust anchor excluded).
    pub fn new(n: usize) -> Self {
        let start = u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
        let root = Node {
            policy: any_policy(),
            expected: vec![any_policy()],
            parent: 0,
            alive: true,
        };
        State {
            levels: Some(vec![vec![root]]),
            explicit_policy: start,
            policy_mapping: start,
            inhibit_any_policy: start,
            nodes: 1,
        }
    }

    /// §6.1.3 (d)–(f) for certificate `i` (1-based) of `n`.
    pub fn process(&mut self, cert: &Cert, i: usize, n: usize) -> Result<(), PolicyError> {
        match (&cert.ext.policies, self.levels.take()) {
            (Some(policies), Some(mut levels)) => {
                let mut next: Vec<Node> = Vec::new();
                let prev = levels.get(i - 1).cloned().unwrap_or_default();
                // (d)(1): each specific policy attaches below parents expecting it, or below
                // an anyPolicy parent when none does.
                for p in policies.iter().filter(|p| !is_any(p)) {
                    let mut matched = false;
                    for (idx, node) in prev.iter().enumerate() {
                        if node.alive && node.expected.iter().any(|e| e == p) {
                            push_bounded(&mut next, self.nodes, leaf(p, idx))?;
                            matched = true;
                        }
                    }
                    if !matched
                        && let Some(idx) = prev.iter().position(|n| n.alive && is_any(&n.policy))
                    {
                        push_bounded(&mut next, self.nodes, leaf(p, idx))?;
                    }
                }
                // (d)(2): anyPolicy in the certificate expands every expected policy not yet
                // present, unless inhibited (self-issued intermediates are exempt).
                let asserts_any = policies.iter().any(|p| is_any(p));
                if asserts_any && (self.inhibit_any_policy > 0 || (i < n && cert.is_self_issued()))
                {
                    for (idx, node) in prev.iter().enumerate().filter(|(_, n)| n.alive) {
                        for e in &node.expected {
                            let present = next.iter().any(|c| c.parent == idx && &c.policy == e);
                            if !present {
                                push_bounded(&mut next, self.nodes, leaf(e, idx))?;
                            }
                        }
                    }
                }
                self.nodes += next.len();
                if self.nodes > MAX_NODES {
                    return Err(PolicyError::TooLarge);
                }
                levels.truncate(i);
                levels.push(next);
                self.levels = prune(levels);
            }
            // (e): no policies extension → NULL tree.
            (None, _) | (_, None) => self.levels = None,
        }
        // (f)
        if self.explicit_policy == 0 && self.levels.is_none() {
            return Err(PolicyError::NoPolicy);
        }
        Ok(())
    }

    /// §6.1.4 (a), (b), (h), (i), (j) for intermediate certificate `i`.
    pub fn prepare_next(&mut self, cert: &Cert, i: usize) -> Result<(), PolicyError> {
        if let Some(mappings) = &cert.ext.policy_mappings {
            if mappings.iter().any(|(a, b)| is_any(a) || is_any(b)) {
                return Err(PolicyError::AnyPolicyMapping);
            }
            self.apply_mappings(mappings, i)?;
        }
        if !cert.is_self_issued() {
            self.explicit_policy = self.explicit_policy.saturating_sub(1);
            self.policy_mapping = self.policy_mapping.saturating_sub(1);
            self.inhibit_any_policy = self.inhibit_any_policy.saturating_sub(1);
        }
        if let Some((require, inhibit)) = cert.ext.policy_constraints {
            if let Some(r) = require {
                self.explicit_policy = self.explicit_policy.min(r);
            }
            if let Some(m) = inhibit {
                self.policy_mapping = self.policy_mapping.min(m);
            }
        }
        if let Some(skip) = cert.ext.inhibit_any_policy {
            self.inhibit_any_policy = self.inhibit_any_policy.min(skip);
        }
        Ok(())
    }

    fn apply_mappings(
        &mut self,
        mappings: &[(Vec<u8>, Vec<u8>)],
        i: usize,
    ) -> Result<(), PolicyError> {
        let Some(mut levels) = self.levels.take() else {
            return Ok(());
        };
        let mut issuer_policies: Vec<&Vec<u8>> = mappings.iter().map(|(a, _)| a).collect();
        issuer_policies.dedup();
        let mut added = 0usize;
        for idp in issuer_policies {
            let targets: Vec<Vec<u8>> = mappings
                .iter()
                .filter(|(a, _)| a == idp)
                .map(|(_, b)| b.clone())
                .collect();
            let Some(level) = levels.get_mut(i) else {
                break;
            };
            if self.policy_mapping > 0 {
                let mut found = false;
                for node in level.iter_mut().filter(|n| n.alive && &n.policy == idp) {
                    node.expected = targets.clone();
                    found = true;
                }
                if !found
                    && let Some(parent) = level
                        .iter()
                        .find(|n| n.alive && is_any(&n.policy))
                        .map(|n| n.parent)
                {
                    level.push(Node {
                        policy: idp.clone(),
                        expected: targets,
                        parent,
                        alive: true,
                    });
                    added += 1;
                }
            } else {
                for node in level.iter_mut().filter(|n| &n.policy == idp) {
                    node.alive = false;
                }
            }
        }
        self.nodes += added;
        if self.nodes > MAX_NODES {
            return Err(PolicyError::TooLarge);
        }
        self.levels = prune(levels);
        Ok(())
    }

    /// §6.1.5 (a), (b), (g) for the end entity; `Ok` when the path has an acceptable policy.
    pub fn wrap_up(&mut self, cert: &Cert) -> Result<(), PolicyError> {
        self.explicit_policy = self.explicit_policy.saturating_sub(1);
        if let Some((Some(0), _)) = cert.ext.policy_constraints {
            self.explicit_policy = 0;
        }
        // (g): with user-initial-policy-set = {anyPolicy} the intersection is the tree itself.
        if self.explicit_policy > 0 || self.levels.is_some() {
            Ok(())
        } else {
            Err(PolicyError::NoPolicy)
        }
    }
}

/// Adds a node unless the tree would exceed [`MAX_NODES`] (checked as nodes are made, so a
/// certificate with thousands of policies cannot allocate first and fail later).
fn push_bounded(level: &mut Vec<Node>, existing: usize, node: Node) -> Result<(), PolicyError> {
    if existing + level.len() >= MAX_NODES {
        return Err(PolicyError::TooLarge);
    }
    level.push(node);
    Ok(())
}

fn leaf(policy: &[u8], parent: usize) -> Node {
    Node {
        policy: policy.to_vec(),
        expected: vec![policy.to_vec()],
        parent,
        alive: true,
    }
}

/// §6.1.3 (d)(3): remove, bottom-up, every node above the deepest level that has no living
/// child. Returns `None` (the NULL tree) once the root goes.
fn prune(mut levels: Vec<Vec<Node>>) -> Option<Vec<Vec<Node>>> {
    for depth in (0..levels.len().saturating_sub(1)).rev() {
        let (upper, lower) = levels.split_at_mut(depth + 1);
        let (Some(parents), Some(children)) = (upper.last_mut(), lower.first()) else {
            continue;
        };
        for (idx, node) in parents.iter_mut().enumerate() {
            if node.alive && !children.iter().any(|c| c.alive && c.parent == idx) {
                node.alive = false;
            }
        }
    }
    let root_alive = levels
        .first()
        .and_then(|l| l.first())
        .is_some_and(|n| n.alive);
    let deepest_alive = levels.last().is_some_and(|l| l.iter().any(|n| n.alive));
    (root_alive && deepest_alive).then_some(levels)
}

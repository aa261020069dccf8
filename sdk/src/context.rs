//! Where the current segment or subsegment lives: a tokio task-local stack when inside a task
//! scope set by this crate (`in_segment`, `in_subsegment`, [`Entity::scope`]), else a
//! thread-local stack (sync code, guards entered on threads).
//!
//! Each stack holds only this task's or thread's entities, so there is no shared lock on the
//! hot path. Entries whose entity has already ended (a guard dropped on another thread) are
//! skipped and pruned when read.

use std::cell::{Cell, RefCell};
use std::future::Future;

use crate::entity::{Entity, Handle};

type Stack = RefCell<Vec<Handle>>;

tokio::task_local! {
    static TASK: Stack;
}

thread_local! {
    static THREAD: Stack = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the task's stack if this task has one, else on the thread's.
fn with_stack<R>(f: impl Fn(&Stack) -> R) -> Option<R> {
    match TASK.try_with(&f) {
        Ok(r) => Some(r),
        Err(_) => THREAD.try_with(&f).ok(),
    }
}

/// The innermost open entity.
pub(crate) fn current_handle() -> Option<Handle> {
    with_stack(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        while let Some(top) = s.last() {
            if top.is_ended() {
                s.pop();
            } else {
                return Some(top.clone());
            }
        }
        None
    })
    .flatten()
}

/// Runs `f` with the innermost open entity, borrowed from the stack (no reference count
/// traffic).
pub(crate) fn with_current<R>(f: impl FnOnce(&Handle) -> R) -> Option<R> {
    let f = Cell::new(Some(f));
    with_stack(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        while let Some(top) = s.last() {
            if top.is_ended() {
                s.pop();
            } else {
                let f = f.take()?;
                return Some(f(top));
            }
        }
        None
    })
    .flatten()
}

pub(crate) fn push(node: &Handle) {
    with_stack(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.push(node.clone());
        }
    });
}

/// Removes `node` from the current stack (wherever it is; normally the top).
pub(crate) fn remove(node: &Handle) {
    drop(take(node));
}

/// Removes `node` from the current stack and returns the stack's reference to it (the
/// caller ending the entity reuses it instead of dropping one reference and taking another).
pub(crate) fn take(node: &Handle) -> Option<Handle> {
    with_stack(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        // Normally the top: pop it without shifting anything.
        if s.last().is_some_and(|n| n.ptr_eq(node)) {
            s.pop()
        } else {
            let i = s.iter().rposition(|n| n.ptr_eq(node))?;
            Some(s.remove(i))
        }
    })
    .flatten()
}

/// Runs `fut` with `node` as its current entity (a new task-local scope).
pub(crate) async fn scope<F: Future>(node: Option<Handle>, fut: F) -> F::Output {
    TASK.scope(RefCell::new(node.into_iter().collect()), fut)
        .await
}

/// The entity that instrumentation would attach to now: the innermost open subsegment or
/// segment of this task or thread, or a no-op entity when there is none.
pub fn current() -> Entity {
    Entity::from_handle(current_handle())
}

//! A few threads kept warm for reads. Tokio's blocking pool starts a thread per
//! request in flight and wakes one for each: on a loaded two-core machine that costs a
//! GET more than its database work. Reads go to a lane when one is free or about to
//! be; when the lanes are busy (slow filters, large pages), to the blocking pool as
//! before, so that no read ever queues behind another.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// A job does its work and gives back how to deliver the answer, which its lane sends
/// once it counts itself free: whoever has the answer may find the lane free.
type Job = Box<dyn FnOnce() -> Box<dyn FnOnce() + Send> + Send>;

pub(super) struct Lanes {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    threads: usize,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Jobs queued or running.
    taken: usize,
    started: bool,
    closed: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        let mut state = self.state();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                let deliver = job();
                state = self.state();
                state.taken -= 1;
                drop(state);
                deliver();
                state = self.state();
            } else if state.closed {
                return;
            } else {
                state = self.work.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

impl Lanes {
    /// One lane per core the process may use; the threads start with the first read.
    pub(super) fn new() -> Lanes {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Lanes {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                threads,
            }),
        }
    }

    /// Runs `work` on a lane, or gives it back when every lane has a job waiting
    /// already. A panic in `work` is its answer's `Err`.
    pub(super) fn run<T, F>(&self, work: F) -> Result<oneshot::Receiver<std::thread::Result<T>>, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let mut state = self.shared.state();
        self.start(&mut state);
        if state.closed || state.taken >= 2 * self.shared.threads {
            return Err(work);
        }
        let (send, receive) = oneshot::channel();
        state.jobs.push_back(Box::new(move || {
            let answer = catch_unwind(AssertUnwindSafe(work));
            Box::new(move || {
                let _ = send.send(answer);
            })
        }));
        state.taken += 1;
        drop(state);
        self.shared.work.notify_one();
        Ok(receive)
    }

    /// Starts the threads, once.
    fn start(&self, state: &mut State) {
        if state.started {
            return;
        }
        state.started = true;
        for _ in 0..self.shared.threads {
            let shared = self.shared.clone();
            let started = std::thread::Builder::new()
                .name("scimap-read".into())
                .spawn(move || shared.run());
            if started.is_err() {
                state.closed = true;
                return;
            }
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.work.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_lane_and_panics_are_answers() {
        let lanes = Lanes::new();
        let answer = lanes.run(|| 6 * 7).ok().unwrap();
        assert_eq!(answer.blocking_recv().unwrap().unwrap(), 42);
        let answer = lanes.run(|| -> u8 { panic!("a bug") }).ok().unwrap();
        assert!(answer.blocking_recv().unwrap().is_err());
        assert_eq!(
            lanes
                .run(|| 1)
                .ok()
                .unwrap()
                .blocking_recv()
                .unwrap()
                .unwrap(),
            1
        );
    }

    #[test]
    fn busy_lanes_give_the_work_back() {
        let lanes = Lanes::new();
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let mut waiting = Vec::new();
        for _ in 0..2 * lanes.shared.threads {
            let held = held.clone();
            let answer = lanes.run(move || {
                let _ = held.lock().unwrap().recv();
            });
            waiting.push(answer.ok().unwrap());
        }
        assert!(lanes.run(|| ()).is_err(), "a lane took more than it should");
        drop(hold);
        for answer in waiting {
            answer.blocking_recv().unwrap().unwrap();
        }
        assert!(lanes.run(|| ()).is_ok());
    }
}
